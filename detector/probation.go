package detector

import "net/netip"

// Probation is the cheap first tier of source state (issue 7, item 4). A
// source the rules have not seen before lives here with its first probe
// only, a few dozen bytes, until it shows scan evidence: a second distinct
// (host, port), or a third probe packet (so a flood on one port promotes
// too). Only then does it get full state, and its first probe is replayed
// into that state so no count is lost. Spoofed one-packet sources therefore
// cycle through this table, oldest first, and never reach the promoted tier
// where a real scanner lives: scanlogd's fixed table and Snort's memcap
// bound state the same way, but there one flood pushes everyone out.
//
// IPv4 sources probing IPv4 hosts (nearly all of them) are held with 4-byte
// addresses, IPv6 ones with 16: each family has its own ring of max entries,
// so a flood of spoofed IPv6 sources does not evict IPv4 ones either.
type probation struct {
	v4  probTier[[4]byte, v4Hash]
	v6  probTier[[16]byte, addrHash]
	max int

	// firsts4 and firsts6 point, per source prefix without aggregate state
	// (distributed.go), at the ring slot of one of its probation members, so
	// the prefix's next one-probe member finds it and the two open the
	// prefix's state together. A prefix with one member never gets that
	// state: a random spoofed flood lands about one source per /24. An entry
	// is dropped when its slot is reused, so each map holds at most one
	// entry per slot, within the ring's bound; a slot that died otherwise
	// (promoted, expired) is caught by mate's liveness check. Each is a
	// slotIndex keyed by the prefix of the source its slot holds: 4 bytes
	// a slot, as every spoofed IPv4 source pays for one.
	firsts4 slotIndex
	firsts6 slotIndex
}

// probeRec is a source's first probe, stored in the ring with its source:
// 24 bytes for IPv4, 48 for IPv6, plus the index's few bytes per key.
type probeRec[A comparable] struct {
	src     A
	host    A     // the probe's destination
	first   int64 // Unix ns of the first probe
	packets uint32
	port    uint16
	probes  uint8 // bit per Probe kind sent to (host, port)
	flags   uint8 // Evasion marks, recCompleted, recLive
}

const (
	// recCompleted: the source completed the handshake of its first probe
	// (replay of a capture with both directions).
	recCompleted = 1 << 6
	// recLive: the slot holds a source still on probation (not promoted,
	// expired or evicted).
	recLive = 1 << 7
)

// firstProbe is a probeRec with addresses, for the rules.
type firstProbe struct {
	first   int64
	host    netip.Addr
	port    uint16
	packets uint32
	probes  uint8
	flags   uint8
}

// sameService reports whether probe p to (dst, port) goes to the recorded
// (host, port, protocol).
func (r *firstProbe) sameService(dst netip.Addr, port uint16, p Probe) bool {
	return r.host == dst && r.port == port && (r.probes&(1<<ProbeUDP) != 0) == (p == ProbeUDP)
}

func (r *firstProbe) marks() Evasion { return Evasion(r.flags &^ (recCompleted | recLive)) }

// probTier is one family's table: records in a ring of insertion order,
// allocated in chunks as it fills, and an index from source to slot. A new
// source takes the slot after the newest; when the ring is full that is
// the oldest slot, whose source (if still on probation) is evicted.
// Promoted and expired sources leave dead slots that are reused in turn.
type probTier[A comparable, H keyHasher[A]] struct {
	index  slotIndex // by the source each slot holds
	chunks []*[probChunk]probeRec[A]
	next   int // slot the next source takes
	oldest int // expire's cursor: the oldest slot not yet found expired
	aged   int // written slots from oldest up to next
}

const probChunk = 4096

func (p *probTier[A, H]) slot(i int) *probeRec[A] {
	c := i / probChunk
	for c >= len(p.chunks) {
		p.chunks = append(p.chunks, new([probChunk]probeRec[A]))
	}
	return &p.chunks[c][i%probChunk]
}

// find is src's position in the index, or -1.
func (p *probTier[A, H]) find(src A, max int) int {
	var h H
	return p.index.find(h.hash(src), max, func(i uint32) bool { return p.slot(int(i)).src == src })
}

// hashAt is the index hash of the source slot i holds.
func (p *probTier[A, H]) hashAt(i uint32) uint64 {
	var h H
	return h.hash(p.slot(int(i)).src)
}

func (p *probTier[A, H]) get(src A, max int) (*probeRec[A], bool) {
	pos := p.find(src, max)
	if pos < 0 {
		return nil, false
	}
	return p.slot(int(p.index.slot(pos, max))), true
}

// add files a new source's record, evicting the slot's previous source if
// it is still on probation; it reports the slot, the source the slot held
// before (written: there was one, live or dead) and the eviction.
func (p *probTier[A, H]) add(r probeRec[A], max int) (slot uint32, old A, written, evicted bool) {
	sl := p.slot(p.next)
	if sl.flags&recLive != 0 { // the ring is full: sl is the oldest
		if pos := p.find(sl.src, max); pos >= 0 {
			p.index.removeAt(pos, max, p.hashAt)
		}
		evicted = true
	}
	slot, old, written = uint32(p.next), sl.src, sl.first != 0 || sl.flags != 0
	r.flags |= recLive
	*sl = r
	if pos := p.find(r.src, max); pos >= 0 {
		p.index.set(pos, slot, max)
	} else {
		var h H
		p.index.insert(h.hash(r.src), slot, max, p.hashAt)
	}
	p.next = (p.next + 1) % max
	if p.aged == max {
		p.oldest = p.next // sl was the oldest; the one after it is now
	} else {
		p.aged++
	}
	return slot, old, written, evicted
}

func (p *probTier[A, H]) remove(src A, max int) {
	pos := p.find(src, max)
	if pos < 0 {
		return
	}
	i := p.index.slot(pos, max)
	p.index.removeAt(pos, max, p.hashAt)
	p.slot(int(i)).flags &^= recLive
	// A scanner is promoted by its second probe, usually before any other
	// source arrives: give the newest slot back, so a run of scanners does
	// not fill the ring with dead slots.
	if newest := (p.next + max - 1) % max; int(i) == newest && p.aged > 0 {
		p.next = newest
		p.aged--
	}
}

// expire kills records older than cut, walking from the oldest slot while
// records are dead or old (insertion order is nearly time order).
func (p *probTier[A, H]) expire(cut int64, max int) {
	for p.aged > 0 {
		sl := p.slot(p.oldest)
		if sl.flags&recLive != 0 {
			if sl.first > cut {
				return
			}
			if pos := p.find(sl.src, max); pos >= 0 {
				p.index.removeAt(pos, max, p.hashAt)
			}
			sl.flags &^= recLive
		}
		p.oldest = (p.oldest + 1) % max
		p.aged--
	}
}

func (p *probation) len() int { return p.v4.index.n + p.v6.index.n }

func (p *probation) reset() { *p = probation{max: p.max} }

// fits reports whether src probing dst can be held on probation: an IPv4
// source with a non-IPv4 destination (no real packet has one) is not.
func fits(src, dst netip.Addr) bool { return src.Is4() == dst.Is4() }

// get returns src's first probe, if src is on probation.
func (p *probation) get(src netip.Addr) (firstProbe, bool) {
	if src.Is4() {
		if r, ok := p.v4.get(src.As4(), p.max); ok {
			return firstProbe{r.first, netip.AddrFrom4(r.host), r.port, r.packets, r.probes, r.flags}, true
		}
		return firstProbe{}, false
	}
	if r, ok := p.v6.get(src.As16(), p.max); ok {
		return firstProbe{r.first, netip.AddrFrom16(r.host), r.port, r.packets, r.probes, r.flags}, true
	}
	return firstProbe{}, false
}

// add puts src on probation (fits must hold) and reports whether that
// evicted the oldest source of its family.
func (p *probation) add(src netip.Addr, r firstProbe) bool { return p.addMember(src, r, 0, false) }

// addMember is add that, with first, also makes src the member of its
// prefix k (prefixKeyOf(src)) that the prefix's next member finds (mate).
func (p *probation) addMember(src netip.Addr, r firstProbe, k prefixKey, first bool) bool {
	// The slot's previous source no longer holds it: its prefix entry, if
	// it points there, goes before the slot is rewritten (an entry's key
	// is read from its slot).
	if src.Is4() {
		if old := p.v4.slot(p.v4.next); (old.first != 0 || old.flags != 0) && p.firsts4.n > 0 {
			if pos := p.first4(prefix24(old.src)); pos >= 0 && p.firsts4.slot(pos, p.max) == uint32(p.v4.next) {
				p.firsts4.removeAt(pos, p.max, p.prefixAt4)
			}
		}
		slot, _, _, evicted := p.v4.add(probeRec[[4]byte]{src.As4(), r.host.As4(), r.first, r.packets, r.port, r.probes, r.flags}, p.max)
		if first {
			if pos := p.first4(uint32(k)); pos >= 0 {
				p.firsts4.set(pos, slot, p.max)
			} else {
				p.firsts4.insert(prefixHash4(uint32(k)), slot, p.max, p.prefixAt4)
			}
		}
		return evicted
	}
	if old := p.v6.slot(p.v6.next); (old.first != 0 || old.flags != 0) && p.firsts6.n > 0 {
		if pos := p.first6(prefix64(old.src)); pos >= 0 && p.firsts6.slot(pos, p.max) == uint32(p.v6.next) {
			p.firsts6.removeAt(pos, p.max, p.prefixAt6)
		}
	}
	slot, _, _, evicted := p.v6.add(probeRec[[16]byte]{src.As16(), r.host.As16(), r.first, r.packets, r.port, r.probes, r.flags}, p.max)
	if first {
		if pos := p.first6(uint64(k)); pos >= 0 {
			p.firsts6.set(pos, slot, p.max)
		} else {
			p.firsts6.insert(prefixHash6(uint64(k)), slot, p.max, p.prefixAt6)
		}
	}
	return evicted
}

// first4 and first6 find prefix k's entry in firsts4 or firsts6, or -1.
func (p *probation) first4(k uint32) int {
	return p.firsts4.find(prefixHash4(k), p.max, func(i uint32) bool { return prefix24(p.v4.slot(int(i)).src) == k })
}

func (p *probation) first6(k uint64) int {
	return p.firsts6.find(prefixHash6(k), p.max, func(i uint32) bool { return prefix64(p.v6.slot(int(i)).src) == k })
}

func (p *probation) prefixAt4(i uint32) uint64 { return prefixHash4(prefix24(p.v4.slot(int(i)).src)) }

func (p *probation) prefixAt6(i uint32) uint64 { return prefixHash6(prefix64(p.v6.slot(int(i)).src)) }

// mate returns a member of src's prefix k other than src still on
// probation, found through firsts, and forgets the entry: the caller opens
// the prefix's state, which takes over from it.
func (p *probation) mate(src netip.Addr, k prefixKey) (netip.Addr, firstProbe, bool) {
	if src.Is4() {
		pos := p.first4(uint32(k))
		if pos < 0 {
			return netip.Addr{}, firstProbe{}, false
		}
		i := p.firsts4.slot(pos, p.max)
		p.firsts4.removeAt(pos, p.max, p.prefixAt4)
		r := p.v4.slot(int(i))
		if r.flags&recLive == 0 || prefix24(r.src) != uint32(k) || r.src == src.As4() {
			return netip.Addr{}, firstProbe{}, false
		}
		return netip.AddrFrom4(r.src), firstProbe{r.first, netip.AddrFrom4(r.host), r.port, r.packets, r.probes, r.flags}, true
	}
	pos := p.first6(uint64(k))
	if pos < 0 {
		return netip.Addr{}, firstProbe{}, false
	}
	i := p.firsts6.slot(pos, p.max)
	p.firsts6.removeAt(pos, p.max, p.prefixAt6)
	r := p.v6.slot(int(i))
	if r.flags&recLive == 0 || prefix64(r.src) != uint64(k) || r.src == src.As16() {
		return netip.Addr{}, firstProbe{}, false
	}
	return netip.AddrFrom16(r.src), firstProbe{r.first, netip.AddrFrom16(r.host), r.port, r.packets, r.probes, r.flags}, true
}

// update folds another probe to the same service into src's record.
func (p *probation) update(src netip.Addr, packets uint32, probes, flags uint8) {
	if src.Is4() {
		if r, ok := p.v4.get(src.As4(), p.max); ok {
			r.packets, r.probes, r.flags = packets, probes, flags|recLive
		}
		return
	}
	if r, ok := p.v6.get(src.As16(), p.max); ok {
		r.packets, r.probes, r.flags = packets, probes, flags|recLive
	}
}

func (p *probation) remove(src netip.Addr) {
	if src.Is4() {
		p.v4.remove(src.As4(), p.max)
		return
	}
	p.v6.remove(src.As16(), p.max)
}

// expire forgets first probes at or before cut (Unix ns): older than the
// long window, they are no evidence any more. Not counted as evictions.
func (p *probation) expire(cut int64) {
	p.v4.expire(cut, p.max)
	p.v6.expire(cut, p.max)
}
