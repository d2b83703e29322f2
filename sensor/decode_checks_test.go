package sensor

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/scanwatch/scanwatch/detector"
)

// counters names the decoder's per-packet verdict counters, so a case can
// say which one a frame must land in (and that no other moved).
func counters(s DecodeStats) map[string]uint64 {
	return map[string]uint64{
		"TCP": s.TCP, "UDP": s.UDP, "NotIP": s.NotIP, "Malformed": s.Malformed,
		"BadChecksum": s.BadChecksum, "BadIPChecksum": s.BadIPChecksum, "OffloadedChecksum": s.OffloadedChecksum,
		"Unverified": s.Unverified, "HeaderChain": s.HeaderChain, "TooManyVLANs": s.TooManyVLANs,
		"Tunneled": s.Tunneled, "Decapsulated": s.Decapsulated,
	}
}

// offload rewrites a frame's transport checksum as CHECKSUM_PARTIAL leaves
// it on the sending host: the folded pseudo-header sum.
func offload(f []byte, ipOff int, v6 bool, proto uint8) []byte {
	f = append([]byte(nil), f...)
	ip := f[ipOff:]
	var src, dst netip.Addr
	var seg []byte
	if v6 {
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		seg = ip[40:]
	} else {
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		seg = ip[20:binary.BigEndian.Uint16(ip[2:])]
	}
	at := 16
	if proto == 17 {
		at = 6
	}
	binary.BigEndian.PutUint16(seg[at:], fold(pseudoSum(src, dst, v6, proto, len(seg))))
	return f
}

func flip(f []byte, at int) []byte {
	f = append([]byte(nil), f...)
	f[at] ^= 0x5a
	return f
}

func zero16(f []byte, at int) []byte {
	f = append([]byte(nil), f...)
	f[at], f[at+1] = 0, 0
	return f
}

// extChain inserts n 8-byte destination-options headers after an IPv6
// packet's fixed header.
func extChain(pkt []byte, n int) []byte {
	out := append([]byte(nil), pkt[:40]...)
	upper := pkt[6]
	if n > 0 {
		out[6] = 60
	}
	for i := range n {
		next := byte(60)
		if i == n-1 {
			next = upper
		}
		out = append(out, destOpts(layers.IPProtocol(next))...)
	}
	out = append(out, pkt[40:]...)
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	return out
}

var tunnelSrc = net.IP{192, 0, 2, 99}

// tunnel4 wraps inner in an outer IPv4 packet of protocol proto, after the
// header bytes hdr (GRE's, say).
func tunnel4(t testing.TB, proto layers.IPProtocol, hdr, inner []byte) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: tunnelSrc, DstIP: tgt4}
	return serialize(t, ip, gopacket.Payload(append(append([]byte(nil), hdr...), inner...)))
}

// vxlan wraps an Ethernet frame in IPv4/UDP to 4789 and a VXLAN header.
func vxlan(t testing.TB, frame []byte) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: tunnelSrc, DstIP: tgt4}
	udp := &layers.UDP{SrcPort: 51000, DstPort: vxlanPort}
	udp.SetNetworkLayerForChecksum(ip)
	hdr := []byte{0x08, 0, 0, 0, 0, 0, 42, 0} // I flag, VNI 42
	return serialize(t, ip, udp, gopacket.Payload(append(hdr, frame...)))
}

// checkCase is one case of TestDecodeChecks, shared with the XDP parity test.
type checkCase struct {
	name   string
	link   uint32
	frame  []byte
	opts   DecodeOptions
	events int
	stat   string // the counter that must be 1 (besides TCP/UDP for events)
	check  func(t *testing.T, evs []detector.Event)
}

func checkCases(t testing.TB) []checkCase {
	syn := pktOpts{flags: "S", dport: 22, window: 1024, ttl: 41, id: 54321, tcpOpts: mssOpt}
	with := func(f func(*pktOpts)) pktOpts { o := syn; f(&o); return o }
	v6 := with(func(o *pktOpts) { o.v6 = true })
	udp := with(func(o *pktOpts) { o.udp = true; o.dport = 53 })
	udp6 := with(func(o *pktOpts) { o.udp = true; o.dport = 53; o.v6 = true })
	eth4, eth6 := 14, 14
	tcpCsum, udpCsum := eth4+20+16, eth4+20+6
	all := DecodeOptions{Decapsulate: TunnelIPIP | TunnelGRE | TunnelVXLAN}
	strict := DecodeOptions{Checksums: ChecksumStrict}
	inner := buildIP(t, syn)
	return []checkCase{
		{name: "valid SYN", link: LinkEthernet, frame: buildEth(t, syn), events: 1},
		{name: "bad TCP checksum", link: LinkEthernet, frame: flip(buildEth(t, syn), tcpCsum), stat: "BadChecksum"},
		{name: "bad TCP checksum IPv6", link: LinkEthernet, frame: flip(buildEth(t, v6), eth6+40+16), stat: "BadChecksum"},
		{name: "bad UDP checksum", link: LinkEthernet, frame: flip(buildEth(t, udp), udpCsum), stat: "BadChecksum"},
		{name: "bad IPv4 header checksum", link: LinkEthernet, frame: flip(buildEth(t, syn), eth4+10), stat: "BadIPChecksum"},
		{name: "UDP over IPv4 without checksum", link: LinkEthernet, frame: zero16(buildEth(t, udp), udpCsum), events: 1},
		{name: "UDP over IPv6 without checksum is invalid", link: LinkEthernet, frame: zero16(buildEth(t, udp6), eth6+40+6), stat: "BadChecksum"},
		{name: "offloaded TCP checksum accepted", link: LinkEthernet, frame: offload(buildEth(t, syn), eth4, false, 6), events: 1, stat: "OffloadedChecksum"},
		{name: "offloaded IPv6 TCP checksum accepted", link: LinkEthernet, frame: offload(buildEth(t, v6), eth6, true, 6), events: 1, stat: "OffloadedChecksum"},
		{name: "offloaded UDP checksum accepted", link: LinkEthernet, frame: offload(buildEth(t, udp), eth4, false, 17), events: 1, stat: "OffloadedChecksum"},
		{name: "offloaded checksum rejected when strict", link: LinkEthernet, frame: offload(buildEth(t, syn), eth4, false, 6), opts: strict, stat: "OffloadedChecksum"},
		{name: "SYN cut by the snap length is accepted unverified", link: LinkEthernet, events: 1, stat: "Unverified",
			frame: buildEth(t, with(func(o *pktOpts) { o.data = 100 }))[:eth4+20+24]},
		{name: "data segments are not verified", link: LinkEthernet, events: 1,
			frame: flip(buildEth(t, with(func(o *pktOpts) { o.flags = "PA"; o.data = 10 })), tcpCsum)},
		{name: "bare ACK (nmap -sA) is verified", link: LinkEthernet, frame: flip(buildEth(t, with(func(o *pktOpts) { o.flags = "A" })), tcpCsum), stat: "BadChecksum"},
		{name: "SYN+RST is not a SYN", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.flags = "SR" })), events: 1,
			check: func(t *testing.T, evs []detector.Event) {
				if evs[0].Kind == detector.KindSYN {
					t.Error("SYN+RST classified as a SYN probe")
				}
			}},
		{name: "16 IPv6 extension headers are walked", link: LinkIPv6, frame: extChain(buildIP(t, v6), detector.MaxIPv6ExtHeaders), events: 1,
			check: func(t *testing.T, evs []detector.Event) {
				if evs[0].Kind != detector.KindSYN || evs[0].DstPort != 22 || evs[0].Evasion != 0 {
					t.Errorf("%+v", evs[0])
				}
			}},
		{name: "17 IPv6 extension headers: header-chain evasion", link: LinkIPv6, frame: extChain(buildIP(t, v6), detector.MaxIPv6ExtHeaders+1), events: 1, stat: "HeaderChain",
			check: func(t *testing.T, evs []detector.Event) {
				e := evs[0]
				if e.Kind != detector.KindOther || e.Evasion != detector.EvasionHeaderChain || e.DstPort != 0 || e.Src != netip.MustParseAddr("2001:db8:1::10") {
					t.Errorf("%+v", e)
				}
			}},
		{name: "hop-by-hop after another header is dropped", link: LinkIPv6, stat: "Malformed",
			frame: func() []byte { p := extChain(buildIP(t, v6), 2); p[40] = 0; return p }()},
		{name: "8 VLAN tags", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.vlans = []uint16{1, 2, 3, 4, 5, 6, 7, 8} })), events: 1},
		{name: "9 VLAN tags are not decoded", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.vlans = []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9} })), stat: "TooManyVLANs"},
		{name: "IPIP: outer packet only", link: LinkRaw, frame: tunnel4(t, layers.IPProtocolIPv4, nil, inner), stat: "Tunneled"},
		{name: "IPIP decapsulated", link: LinkRaw, frame: tunnel4(t, layers.IPProtocolIPv4, nil, inner), opts: all, events: 1, stat: "Decapsulated",
			check: func(t *testing.T, evs []detector.Event) {
				if evs[0].Src != netip.MustParseAddr("198.51.100.10") || evs[0].Kind != detector.KindSYN {
					t.Errorf("inner event %+v", evs[0])
				}
			}},
		{name: "IPv6 in IPv4: outer packet only", link: LinkRaw, frame: tunnel4(t, layers.IPProtocolIPv6, nil, buildIP(t, v6)), stat: "Tunneled"},
		{name: "IPv6 in IPv4 decapsulated", link: LinkRaw, frame: tunnel4(t, layers.IPProtocolIPv6, nil, buildIP(t, v6)), opts: all, events: 1, stat: "Decapsulated"},
		{name: "GRE: outer packet only", link: LinkRaw, frame: tunnel4(t, layers.IPProtocolGRE, []byte{0, 0, 0x08, 0}, inner), stat: "Tunneled"},
		{name: "GRE decapsulated", link: LinkRaw, frame: tunnel4(t, layers.IPProtocolGRE, []byte{0x20, 0, 0x08, 0, 0, 0, 0, 7}, inner), opts: all, events: 1, stat: "Decapsulated"},
		{name: "GRE decapsulation not named", link: LinkRaw, frame: tunnel4(t, layers.IPProtocolGRE, []byte{0, 0, 0x08, 0}, inner), opts: DecodeOptions{Decapsulate: TunnelIPIP}, stat: "Tunneled"},
		{name: "VXLAN: a UDP datagram to 4789", link: LinkRaw, frame: vxlan(t, buildEth(t, syn)), events: 1,
			check: func(t *testing.T, evs []detector.Event) {
				if evs[0].Kind != detector.KindUDP || evs[0].DstPort != vxlanPort || evs[0].Src != netip.AddrFrom4([4]byte(tunnelSrc)) {
					t.Errorf("%+v", evs[0])
				}
			}},
		{name: "VXLAN decapsulated: the datagram and its inner SYN", link: LinkRaw, frame: vxlan(t, buildEth(t, syn)), opts: all, events: 2, stat: "Decapsulated",
			check: func(t *testing.T, evs []detector.Event) {
				if evs[0].Kind != detector.KindUDP || evs[1].Kind != detector.KindSYN || evs[1].Src != netip.MustParseAddr("198.51.100.10") {
					t.Errorf("%+v", evs)
				}
			}},
	}

}

func TestDecodeChecks(t *testing.T) {
	tests := checkCases(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoderWith(tc.opts)
			var evs []detector.Event
			var ev detector.Event
			if d.Decode(tc.link, tc.frame, 1, &ev) {
				evs = append(evs, ev)
				for d.More(&ev) {
					evs = append(evs, ev)
				}
			}
			if len(evs) != tc.events {
				t.Fatalf("%d events, want %d (stats %+v)", len(evs), tc.events, d.Stats)
			}
			for name, n := range counters(d.Stats) {
				want := uint64(0)
				switch {
				case name == tc.stat:
					want = 1
				case name == "TCP" || name == "UDP":
					continue
				}
				if n != want {
					t.Errorf("%s = %d, want %d", name, n, want)
				}
			}
			if tc.check != nil {
				tc.check(t, evs)
			}
		})
	}
}

func TestParseTunnels(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Tunnels
		ok   bool
	}{
		{"", 0, true}, {"ipip", TunnelIPIP, true}, {"gre,vxlan", TunnelGRE | TunnelVXLAN, true},
		{" IPIP , gre ", TunnelIPIP | TunnelGRE, true}, {"ipsec", 0, false}, {"gre,", 0, false},
	} {
		got, err := ParseTunnels(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseTunnels(%q) = %v, %v", tc.in, got, err)
		}
	}
}
