package capture

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/credit"
	"github.com/scanwatch/scanwatch/internal/httpwire"
)

// MaxVLANTags is how many 802.1Q/802.1ad tags (any mix) both sensors walk;
// a frame with more is not decoded and is counted. The XDP program's
// MAX_VLAN_TAGS must equal it.
const MaxVLANTags = 8

// maxTunnelDepth bounds nested decapsulation (--decapsulate), so a packet
// of tunnels in tunnels costs a fixed amount of work.
const maxTunnelDepth = 3

// maxEvents is how many events one frame can yield: a VXLAN datagram is an
// event itself and so may be each tunnel level's inner packet.
const maxEvents = maxTunnelDepth + 1

// DecodeStats counts what the decoder saw. Malformed packets are skipped and
// counted, never fatal: one bad frame must not cost the alerts of the rest.
type DecodeStats struct {
	Packets     uint64 // frames offered
	TCP         uint64 // TCP events (inner packets of tunnels included)
	UDP         uint64
	NotIP       uint64 // ARP, LLDP, ICMP, fragments of other protocols, ...
	Malformed   uint64 // headers that contradict themselves or are cut short
	Unsupported uint64 // frames of a link type we do not decode

	// Packets the target's stack would discard, so not events.
	BadChecksum   uint64 // TCP or UDP checksum wrong
	BadIPChecksum uint64 // IPv4 header checksum wrong
	// OffloadedChecksum counts TCP/UDP checksums left to the card
	// (captured on the sending host): accepted unverified, or rejected
	// with ChecksumStrict.
	OffloadedChecksum uint64
	// Unverified counts probes cut by the snap length (or whose IP length
	// was left to segmentation offload): their checksum cannot be
	// verified; accepted.
	Unverified uint64

	// HeaderChain counts IPv6 packets with more than
	// detector.MaxIPv6ExtHeaders extension headers: each is one event
	// marked detector.EvasionHeaderChain, with no port.
	HeaderChain uint64
	// TooManyVLANs counts frames with more than MaxVLANTags tags: not
	// decoded, so no source is known.
	TooManyVLANs uint64
	// Tunneled counts IPIP, IPv6-in-IP and GRE packets whose tunnel is not
	// decapsulated: only the outermost packet counts, and it is not TCP or
	// UDP. Decapsulated counts those whose inner packet was judged.
	Tunneled     uint64
	Decapsulated uint64

	// HTTPRequests and HTTPResponses count the segments read as an HTTP
	// request to, or a response from, a port in DecodeOptions.HTTPPorts
	// (the events carrying an HTTP head).
	HTTPRequests  uint64
	HTTPResponses uint64

	Defrag DefragStats
}

// Tunnels is a set of tunnel types the host terminates (--decapsulate).
type Tunnels uint8

const (
	TunnelIPIP  Tunnels = 1 << iota // IP in IP: protocols 4 and 41 (IPv4 or IPv6 inside)
	TunnelGRE                       // GRE (47) carrying IPv4, IPv6 or Ethernet
	TunnelVXLAN                     // VXLAN: UDP to port 4789 carrying Ethernet
)

var tunnelNames = []struct {
	name string
	t    Tunnels
}{{"ipip", TunnelIPIP}, {"gre", TunnelGRE}, {"vxlan", TunnelVXLAN}}

// ParseTunnels reads a comma list of tunnel names (ipip, gre, vxlan); an
// empty string is none.
func ParseTunnels(s string) (Tunnels, error) {
	var t Tunnels
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
next:
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		for _, n := range tunnelNames {
			if f == n.name {
				t |= n.t
				continue next
			}
		}
		return 0, fmt.Errorf("unknown tunnel %q: name any of ipip, gre, vxlan, comma-separated", f)
	}
	return t, nil
}

// DecodeOptions say what the host under judgement does with packets.
type DecodeOptions struct {
	Checksums   ChecksumMode
	Decapsulate Tunnels
	// HTTPPorts are the TCP ports whose requests and responses are read
	// (--http-ports); nil or empty reads none. The caller passes the set
	// it means, so a zero DecodeOptions stays a SYN decoder.
	HTTPPorts *httpwire.Ports
	// Credit derives the default rules' credit events (internal/credit)
	// and marks ACKs on connections seen open, as the XDP program does;
	// the seed rule needs neither and skips the cost.
	Credit bool
}

// Decoder turns frames into events. It parses headers by hand: no
// allocation per packet on the unfragmented path, a bound on every
// header chain, and only the outermost IP packet unless its tunnel is
// named in DecodeOptions.Decapsulate.
type Decoder struct {
	opts   DecodeOptions
	defrag *defragger

	// Events of the current frame: the first goes to the caller's Event,
	// the rest wait for More.
	out     *detector.Event
	extra   [maxEvents - 1]detector.Event
	nev     int
	taken   int
	nanos   int64
	scratch [maxTunnelDepth + 1][]byte // reassembly buffers, one per tunnel level
	credit  *credit.Table              // nil without DecodeOptions.Credit

	Stats DecodeStats
}

// NewDecoder returns a decoder with the default options: checksums
// tolerant of offload, no decapsulation.
func NewDecoder() *Decoder { return NewDecoderWith(DecodeOptions{}) }

// NewDecoderWith returns a decoder with the given options.
func NewDecoderWith(o DecodeOptions) *Decoder {
	d := &Decoder{opts: o}
	d.defrag = newDefragger(&d.Stats.Defrag)
	if o.Credit {
		d.credit = credit.New(credit.RandomKeys())
	}
	return d
}

// Decode fills ev from one frame and reports whether it yielded an event: a
// TCP or UDP packet over IP (possibly completing a fragmented datagram), or
// an IPv6 header chain too long to walk. nanos is the capture time. A frame
// can yield more than one event (a VXLAN datagram and its decapsulated
// inner packet): More returns the others.
func (d *Decoder) Decode(link uint32, data []byte, nanos int64, ev *detector.Event) bool {
	d.Stats.Packets++
	d.out, d.nev, d.taken, d.nanos = ev, 0, 0, nanos
	switch link {
	case LinkEthernet:
		d.ethernet(data, 0)
	case LinkSLL:
		if len(data) < 16 {
			d.Stats.Malformed++
			break
		}
		d.etherType(binary.BigEndian.Uint16(data[14:]), data[16:], 0)
	case LinkSLL2:
		if len(data) < 20 {
			d.Stats.Malformed++
			break
		}
		d.etherType(binary.BigEndian.Uint16(data), data[20:], 0)
	case LinkNull, LinkLoop:
		d.loopback(data)
	case LinkIPv4:
		d.ipv4(data, 0)
	case LinkIPv6:
		d.ipv6(data, 0)
	case LinkRaw:
		if len(data) > 0 && data[0]>>4 == 6 {
			d.ipv6(data, 0)
		} else {
			d.ipv4(data, 0)
		}
	default:
		d.Stats.Unsupported++
	}
	return d.nev > 0
}

// More copies the frame's next event into ev, if there is one.
func (d *Decoder) More(ev *detector.Event) bool {
	if d.taken+1 >= d.nev {
		return false
	}
	*ev = d.extra[d.taken]
	d.taken++
	return true
}

// Finish ends a capture: fragment queues still incomplete are counted.
func (d *Decoder) Finish() { d.defrag.finish() }

// event returns a zeroed event to fill, or nil when the frame has yielded
// as many as it may.
func (d *Decoder) event() *detector.Event {
	var ev *detector.Event
	switch {
	case d.nev == 0:
		ev = d.out
	case d.nev < maxEvents:
		ev = &d.extra[d.nev-1]
	default:
		return nil
	}
	d.nev++
	*ev = detector.Event{Time: timeFromNanos(d.nanos)}
	return ev
}

func (d *Decoder) ethernet(data []byte, depth int) {
	if len(data) < 14 {
		d.Stats.Malformed++
		return
	}
	d.etherType(binary.BigEndian.Uint16(data[12:]), data[14:], depth)
}

// etherType decodes what follows an EtherType, VLAN tags first.
func (d *Decoder) etherType(typ uint16, p []byte, depth int) {
	for tags := 0; typ == 0x8100 || typ == 0x88a8; tags++ {
		if tags == MaxVLANTags {
			d.Stats.TooManyVLANs++
			return
		}
		if len(p) < 4 {
			d.Stats.Malformed++
			return
		}
		typ = binary.BigEndian.Uint16(p[2:])
		p = p[4:]
	}
	switch typ {
	case 0x0800:
		d.ipv4(p, depth)
	case 0x86dd:
		d.ipv6(p, depth)
	default:
		d.Stats.NotIP++
	}
}

// loopback decodes the BSD null/loop header: a 4-byte address family in
// either byte order (as gopacket reads it: the family is below 256).
func (d *Decoder) loopback(data []byte) {
	if len(data) < 4 {
		d.Stats.Malformed++
		return
	}
	fam := binary.LittleEndian.Uint32(data)
	if data[0] == 0 && data[1] == 0 {
		fam = binary.BigEndian.Uint32(data)
	}
	switch fam {
	case 2:
		d.ipv4(data[4:], 0)
	case 10, 24, 28, 30: // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, Darwin
		d.ipv6(data[4:], 0)
	default:
		if fam > 0xff {
			d.Stats.Malformed++
		} else {
			d.Stats.NotIP++
		}
	}
}
