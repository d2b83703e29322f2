package detector

import "net/netip"

// source is what the default rules keep per source address.
type source struct {
	addr        netip.Addr
	prev, next  *source // LRU list, most recent first
	first, last int64   // Unix ns of its first and latest event

	targets  map[[16]byte]*target // vertical scans: per destination host
	services map[uint32]*service  // horizontal sweeps: per (protocol, port)
	sweeping map[uint32]struct{}  // services that crossed the sweep threshold

	syns  slidingCount        // SYNs in the short window (floods)
	acks  slidingCount        // handshakes it completed, short window
	pairs slidingSet[pairKey] // distinct (host, port) its SYNs went to
	fp    fingerprint         // tool attribution
	eps   map[episodeKey]*episode
}

type pairKey struct {
	host [16]byte
	port uint16
}

// target is one destination host as seen from one source.
type target struct {
	first   int64
	tcp     tieredSet[uint16] // TCP ports probed (any probe type)
	udp     tieredSet[uint16] // UDP ports probed
	done    tieredSet[uint16] // TCP ports whose handshake the source completed
	syn     tieredSet[uint16] // TCP ports it sent a SYN to
	probes  uint16            // bit per Probe seen
	packets uint64            // probes since the target was first seen
}

// service is one (protocol, port) as seen from one source.
type service struct {
	first   int64
	hosts   tieredSet[[16]byte]
	done    tieredSet[[16]byte] // hosts whose handshake on this port completed
	probes  uint16
	packets uint64
}

func serviceKey(udp bool, port uint16) uint32 {
	if udp {
		return 1<<16 | uint32(port)
	}
	return uint32(port)
}

// sourceLRU holds sources under a hard cap, evicting the least recently
// active: a flood of spoofed one-packet sources cycles through the tail
// while a real scanner, active all along, stays at the head.
type sourceLRU struct {
	byAddr     map[netip.Addr]*source
	head, tail *source
}

func (l *sourceLRU) touch(s *source) {
	if l.head == s {
		return
	}
	l.unlink(s)
	s.next = l.head
	if l.head != nil {
		l.head.prev = s
	}
	l.head = s
	if l.tail == nil {
		l.tail = s
	}
}

func (l *sourceLRU) unlink(s *source) {
	if s.prev != nil {
		s.prev.next = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	if l.head == s {
		l.head = s.next
	}
	if l.tail == s {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

func (l *sourceLRU) remove(s *source) {
	l.unlink(s)
	delete(l.byAddr, s.addr)
}
