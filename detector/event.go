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

	// Credit is no packet but a sensor's finding about one: the source's
	// connection to Dst:DstPort (TCP), or its datagrams to it (UDP), showed
	// real use. Both sensors apply one rule (credit.go in capture, the XDP
	// program's credit path): TCP payload from the client on a connection
	// it opened, or its ACK of the server's data; a UDP reply from the
	// probed port. A completed handshake alone is no credit: a connect scan
	// of open ports completes every one and sends nothing. Count is how
	// many connections (TCP) or reports (UDP) it stands for.
	KindCreditTCP
	KindCreditUDP
)

var kindNames = [...]string{"other", "syn", "synack", "rst", "udp", "credit-tcp", "credit-udp"}

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
	case flags&(FlagSYN|FlagACK|FlagFIN) == FlagSYN:
		// What Linux takes as a connection attempt: it drops SYN+FIN at a
		// listening socket (a FIN probe, stealthProbe), SYN+RST always.
		// The XDP program's probe_of says the same.
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

	// Evasion marks what about the packet's shape no legitimate stack
	// does (fragmenting a probe, a tiny first fragment, a header chain
	// past what the sensor walks). Both sensors set it the same way.
	Evasion Evasion

	// Payload is the TCP or UDP payload length in bytes, as the IP length
	// fields give it (0 when unknown).
	Payload uint16

	// Established: the sensor saw this TCP connection open (a SYN in
	// either direction on its addresses and ports) within the last minute,
	// so an ACK on it is no ACK probe. The XDP program keeps the same
	// fact in a filter and does not report such ACKs at all.
	Established bool

	// HTTP is set on a TCP data segment that begins an HTTP request or
	// response on a port the sensors inspect (--http-ports); nil otherwise.
	HTTP *HTTP

	// Count is how many packets the event stands for. The XDP sensor folds
	// repeated SYNs to one (source, destination, port) into a single event
	// (or a later delta), so counts stay exact without a record per packet.
	// Zero means one.
	Count uint32

	// Sensor says which fleet sensor saw the event, as an index the
	// correlator assigns to each sensor id (scanwatch correlate); 0 on a
	// single sensor. SensorTracker turns it into an alert's Sensors.
	Sensor uint16
}

// Packets returns how many packets e represents.
func (e *Event) Packets() uint64 {
	if e.Count == 0 {
		return 1
	}
	return uint64(e.Count)
}

// Evasion is a set of evasion marks a sensor found on a packet. A mark is
// set only on packets the target's stack would process (a fragmented probe
// counts once its datagram is complete), so spoofed debris the host drops
// accuses nobody.
type Evasion uint8

const (
	// EvasionFragmented: the probe arrived in IP fragments (nmap -f,
	// --mtu). No stack fragments a SYN of its own accord.
	EvasionFragmented Evasion = 1 << iota
	// EvasionTinyFragment: the first fragment was too short to hold the
	// TCP flags (RFC 1858's tiny-fragment attack); the flags came in a
	// later fragment.
	EvasionTinyFragment
	// EvasionHeaderChain: more IPv6 extension headers than the sensor
	// walks (MaxIPv6ExtHeaders); the transport header was not reached, so
	// the event carries no port and Kind is KindOther.
	EvasionHeaderChain
	evasionCount = iota
)

// MaxIPv6ExtHeaders is how many IPv6 extension headers both sensors walk
// before they give up on reaching the transport header. The XDP program's
// MAX_IPV6_EXT must equal it (a test checks).
const MaxIPv6ExtHeaders = 16

var evasionNames = [evasionCount]string{"fragmented", "tiny_fragment", "header_chain"}

// Names lists the marks in e, in a fixed order, as the alert's evasion
// field shows them.
func (e Evasion) Names() []string {
	var out []string
	for i, n := range evasionNames {
		if e&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}
