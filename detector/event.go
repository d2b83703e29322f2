// Package detector turns packet events into scan alerts. It is pure Go: no
// kernel, no I/O. The pcap replayer and the XDP sensor both produce Events, so
// a rule cannot tell a replayed capture from live traffic.
package detector

import (
	"net/netip"
	"time"
)

// Kind says what a packet is, as far as scan detection cares.
type Kind uint8

const (
	KindOther  Kind = iota // TCP with any other flag combination (ACK, FIN, data, ...)
	KindSYN                // SYN without ACK: a connection attempt or a SYN probe
	KindSYNACK             // SYN+ACK: a port answered "open"
	KindRST                // RST (with or without ACK): a port answered "closed"
	KindUDP                // any UDP datagram
)

var kindNames = [...]string{"other", "syn", "synack", "rst", "udp"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// TCP flag bits as they stand in the header's 13th byte.
const (
	FlagFIN uint8 = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// ClassifyTCP maps raw TCP flags to a Kind.
func ClassifyTCP(flags uint8) Kind {
	switch {
	case flags&FlagRST != 0:
		return KindRST
	case flags&(FlagSYN|FlagACK) == FlagSYN:
		return KindSYN
	case flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK:
		return KindSYNACK
	}
	return KindOther
}

// Event is one packet, or for the XDP sensor one aggregated burst of identical
// probes (Count > 1), described by the fields that scan rules need.
type Event struct {
	Time     time.Time // packet time: capture timestamp on replay, arrival on live
	Src, Dst netip.Addr
	SrcPort  uint16
	DstPort  uint16
	Kind     Kind
	Flags    uint8 // raw TCP flags; 0 for UDP

	// Header fields that tell scanner tools apart.
	TTL     uint8
	IPID    uint16 // 0 for IPv6
	Window  uint16
	MSSOnly bool  // TCP options are exactly one 4-byte MSS option
	OptLen  uint8 // bytes of TCP options (0: none, as masscan and zmap send)

	// Count is how many packets the event stands for. The XDP sensor folds
	// repeated SYNs to one (source, destination, port) into a single event
	// (or a later delta), so counts stay exact without a record per packet.
	// Zero means one.
	Count uint32
}

// Packets returns how many packets e represents.
func (e *Event) Packets() uint64 {
	if e.Count == 0 {
		return 1
	}
	return uint64(e.Count)
}
