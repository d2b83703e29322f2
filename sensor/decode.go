package sensor

import (
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/scanwatch/scanwatch/detector"
)

// DecodeStats counts what the decoder saw. Malformed packets are skipped and
// counted, never fatal: one bad frame must not cost the alerts of the rest.
type DecodeStats struct {
	Packets     uint64 // frames offered
	TCP         uint64
	UDP         uint64
	NotIP       uint64 // ARP, LLDP, ICMP-only, fragments after the first, ...
	Malformed   uint64 // headers that contradict themselves or are cut short
	Unsupported uint64 // frames of a link type we do not decode
}

// Decoder turns frames into events with gopacket's DecodingLayerParser over
// preallocated layers: no allocation per packet, unlike gopacket.NewPacket.
type Decoder struct {
	eth   layers.Ethernet
	dot1q layers.Dot1Q
	sll   layers.LinuxSLL
	sll2  linuxSLL2
	loop  layers.Loopback
	ip4   ipv4Header
	ip6   layers.IPv6
	ext   layers.IPv6ExtensionSkipper
	tcp   tcpHeader
	udp   layers.UDP

	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType

	// A file has one link type (pcapng: a few), so the parser of the last
	// frame is the likely one for the next.
	lastLink   uint32
	lastParser *gopacket.DecodingLayerParser

	Stats DecodeStats
}

// NewDecoder returns a decoder for every supported link type.
func NewDecoder() *Decoder {
	d := &Decoder{parsers: map[gopacket.LayerType]*gopacket.DecodingLayerParser{}, decoded: make([]gopacket.LayerType, 0, 12)}
	for _, first := range []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layerTypeSLL2, layers.LayerTypeLoopback, layers.LayerTypeIPv4, layers.LayerTypeIPv6} {
		p := gopacket.NewDecodingLayerParser(first)
		// Anything past what we decode (ICMP, application data) ends the
		// walk quietly; an error then means a broken header.
		p.IgnoreUnsupported = true
		// A slice indexed by layer type instead of the default map: the
		// lookup per layer was a seventh of the replay's time.
		p.SetDecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
		for _, l := range []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.ext, &d.tcp, &d.udp} {
			p.AddDecodingLayer(l)
		}
		d.parsers[first] = p
	}
	return d
}

func (d *Decoder) firstLayer(link uint32, data []byte) gopacket.LayerType {
	switch link {
	case LinkEthernet:
		return layers.LayerTypeEthernet
	case LinkSLL:
		return layers.LayerTypeLinuxSLL
	case LinkSLL2:
		return layerTypeSLL2
	case LinkNull, LinkLoop:
		return layers.LayerTypeLoopback
	case LinkIPv4:
		return layers.LayerTypeIPv4
	case LinkIPv6:
		return layers.LayerTypeIPv6
	case LinkRaw:
		if len(data) > 0 && data[0]>>4 == 6 {
			return layers.LayerTypeIPv6
		}
		return layers.LayerTypeIPv4
	}
	return gopacket.LayerTypeZero
}

// Decode fills ev from one frame and reports whether it is a TCP or UDP
// packet over IP. nanos is the capture time.
func (d *Decoder) Decode(link uint32, data []byte, nanos int64, ev *detector.Event) bool {
	d.Stats.Packets++
	p := d.lastParser
	if link != d.lastLink || p == nil || link == LinkRaw {
		p = d.parsers[d.firstLayer(link, data)]
		d.lastLink, d.lastParser = link, p
	}
	if p == nil {
		d.Stats.Unsupported++
		return false
	}
	err := p.DecodeLayers(data, &d.decoded)
	var ipv gopacket.LayerType
	var transport gopacket.LayerType
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4, layers.LayerTypeIPv6:
			// The innermost IP header (tunnels) describes the transport.
			ipv = t
		case layers.LayerTypeTCP, layers.LayerTypeUDP:
			transport = t
		}
	}
	if err != nil {
		// The layers before the error were decoded, but a packet whose
		// headers contradict themselves is not evidence of anything.
		d.Stats.Malformed++
		return false
	}
	if ipv == 0 || transport == 0 {
		d.Stats.NotIP++
		return false
	}
	*ev = detector.Event{}
	ev.Time = timeFromNanos(nanos)
	if ipv == layers.LayerTypeIPv4 {
		ev.Src = netip.AddrFrom4(d.ip4.Src)
		ev.Dst = netip.AddrFrom4(d.ip4.Dst)
		ev.TTL, ev.IPID = d.ip4.TTL, d.ip4.ID
	} else {
		ev.Src = netip.AddrFrom16([16]byte(d.ip6.SrcIP.To16())).Unmap()
		ev.Dst = netip.AddrFrom16([16]byte(d.ip6.DstIP.To16())).Unmap()
		ev.TTL = d.ip6.HopLimit
	}
	if transport == layers.LayerTypeUDP {
		d.Stats.UDP++
		ev.Kind = detector.KindUDP
		ev.SrcPort, ev.DstPort = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
		return true
	}
	d.Stats.TCP++
	t := &d.tcp
	ev.SrcPort, ev.DstPort = t.SrcPort, t.DstPort
	ev.Flags = t.Flags
	ev.Kind = detector.ClassifyTCP(ev.Flags)
	ev.Window = t.Window
	ev.MSSOnly = t.MSSOnly
	ev.OptLen = uint8(len(t.Contents) - 20)
	return true
}
