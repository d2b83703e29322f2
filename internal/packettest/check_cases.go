package packettest

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/scanwatch/scanwatch/detector"
)

// CheckCase is one case of capture's TestDecodeChecks, shared with sensor's
// XDP parity test: one frame and the decoder's verdict on it.
type CheckCase struct {
	Name   string
	Link   layers.LinkType
	Frame  []byte
	Strict bool   // decode with capture.ChecksumStrict
	Decap  string // tunnels to decapsulate, as capture.ParseTunnels reads them
	Events int
	Stat   string // the capture.DecodeStats counter that must be 1 (besides TCP/UDP for events)
	Check  func(t *testing.T, evs []detector.Event)
}

// CheckCases builds the header and checksum table.
func CheckCases(t testing.TB) []CheckCase {
	syn := PktOpts{Flags: "S", Dport: 22, Window: 1024, TTL: 41, ID: 54321, TCPOpts: MSSOpt}
	with := func(f func(*PktOpts)) PktOpts { o := syn; f(&o); return o }
	v6 := with(func(o *PktOpts) { o.V6 = true })
	udp := with(func(o *PktOpts) { o.UDP = true; o.Dport = 53 })
	udp6 := with(func(o *PktOpts) { o.UDP = true; o.Dport = 53; o.V6 = true })
	eth4, eth6 := 14, 14
	tcpCsum, udpCsum := eth4+20+16, eth4+20+6
	const all = "ipip,gre,vxlan"
	inner := BuildIP(t, syn)
	return []CheckCase{
		{Name: "valid SYN", Link: layers.LinkTypeEthernet, Frame: BuildEth(t, syn), Events: 1},
		{Name: "bad TCP checksum", Link: layers.LinkTypeEthernet, Frame: Flip(BuildEth(t, syn), tcpCsum), Stat: "BadChecksum"},
		{Name: "bad TCP checksum IPv6", Link: layers.LinkTypeEthernet, Frame: Flip(BuildEth(t, v6), eth6+40+16), Stat: "BadChecksum"},
		{Name: "bad UDP checksum", Link: layers.LinkTypeEthernet, Frame: Flip(BuildEth(t, udp), udpCsum), Stat: "BadChecksum"},
		{Name: "bad IPv4 header checksum", Link: layers.LinkTypeEthernet, Frame: Flip(BuildEth(t, syn), eth4+10), Stat: "BadIPChecksum"},
		{Name: "UDP over IPv4 without checksum", Link: layers.LinkTypeEthernet, Frame: Zero16(BuildEth(t, udp), udpCsum), Events: 1},
		{Name: "UDP over IPv6 without checksum is invalid", Link: layers.LinkTypeEthernet, Frame: Zero16(BuildEth(t, udp6), eth6+40+6), Stat: "BadChecksum"},
		{Name: "offloaded TCP checksum accepted", Link: layers.LinkTypeEthernet, Frame: Offload(BuildEth(t, syn), eth4, false, 6), Events: 1, Stat: "OffloadedChecksum"},
		{Name: "offloaded IPv6 TCP checksum accepted", Link: layers.LinkTypeEthernet, Frame: Offload(BuildEth(t, v6), eth6, true, 6), Events: 1, Stat: "OffloadedChecksum"},
		{Name: "offloaded UDP checksum accepted", Link: layers.LinkTypeEthernet, Frame: Offload(BuildEth(t, udp), eth4, false, 17), Events: 1, Stat: "OffloadedChecksum"},
		{Name: "offloaded checksum rejected when strict", Link: layers.LinkTypeEthernet, Frame: Offload(BuildEth(t, syn), eth4, false, 6), Strict: true, Stat: "OffloadedChecksum"},
		{Name: "SYN cut by the snap length is accepted unverified", Link: layers.LinkTypeEthernet, Events: 1, Stat: "Unverified",
			Frame: BuildEth(t, with(func(o *PktOpts) { o.Data = 100 }))[:eth4+20+24]},
		{Name: "data segments are not verified", Link: layers.LinkTypeEthernet, Events: 1,
			Frame: Flip(BuildEth(t, with(func(o *PktOpts) { o.Flags = "PA"; o.Data = 10 })), tcpCsum)},
		{Name: "bare ACK (nmap -sA) is verified", Link: layers.LinkTypeEthernet, Frame: Flip(BuildEth(t, with(func(o *PktOpts) { o.Flags = "A" })), tcpCsum), Stat: "BadChecksum"},
		{Name: "SYN+RST is not a SYN", Link: layers.LinkTypeEthernet, Frame: BuildEth(t, with(func(o *PktOpts) { o.Flags = "SR" })), Events: 1,
			Check: func(t *testing.T, evs []detector.Event) {
				if evs[0].Kind == detector.KindSYN {
					t.Error("SYN+RST classified as a SYN probe")
				}
			}},
		{Name: "16 IPv6 extension headers are walked", Link: layers.LinkTypeIPv6, Frame: ExtChain(BuildIP(t, v6), detector.MaxIPv6ExtHeaders), Events: 1,
			Check: func(t *testing.T, evs []detector.Event) {
				if evs[0].Kind != detector.KindSYN || evs[0].DstPort != 22 || evs[0].Evasion != 0 {
					t.Errorf("%+v", evs[0])
				}
			}},
		{Name: "17 IPv6 extension headers: header-chain evasion", Link: layers.LinkTypeIPv6, Frame: ExtChain(BuildIP(t, v6), detector.MaxIPv6ExtHeaders+1), Events: 1, Stat: "HeaderChain",
			Check: func(t *testing.T, evs []detector.Event) {
				e := evs[0]
				if e.Kind != detector.KindOther || e.Evasion != detector.EvasionHeaderChain || e.DstPort != 0 || e.Src != netip.MustParseAddr("2001:db8:1::10") {
					t.Errorf("%+v", e)
				}
			}},
		{Name: "hop-by-hop after another header is dropped", Link: layers.LinkTypeIPv6, Stat: "Malformed",
			Frame: func() []byte { p := ExtChain(BuildIP(t, v6), 2); p[40] = 0; return p }()},
		{Name: "8 VLAN tags", Link: layers.LinkTypeEthernet, Frame: BuildEth(t, with(func(o *PktOpts) { o.VLANs = []uint16{1, 2, 3, 4, 5, 6, 7, 8} })), Events: 1},
		{Name: "9 VLAN tags are not decoded", Link: layers.LinkTypeEthernet, Frame: BuildEth(t, with(func(o *PktOpts) { o.VLANs = []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9} })), Stat: "TooManyVLANs"},
		{Name: "IPIP: outer packet only", Link: layers.LinkTypeRaw, Frame: Tunnel4(t, layers.IPProtocolIPv4, nil, inner), Stat: "Tunneled"},
		{Name: "IPIP decapsulated", Link: layers.LinkTypeRaw, Frame: Tunnel4(t, layers.IPProtocolIPv4, nil, inner), Decap: all, Events: 1, Stat: "Decapsulated",
			Check: func(t *testing.T, evs []detector.Event) {
				if evs[0].Src != netip.MustParseAddr("198.51.100.10") || evs[0].Kind != detector.KindSYN {
					t.Errorf("inner event %+v", evs[0])
				}
			}},
		{Name: "IPv6 in IPv4: outer packet only", Link: layers.LinkTypeRaw, Frame: Tunnel4(t, layers.IPProtocolIPv6, nil, BuildIP(t, v6)), Stat: "Tunneled"},
		{Name: "IPv6 in IPv4 decapsulated", Link: layers.LinkTypeRaw, Frame: Tunnel4(t, layers.IPProtocolIPv6, nil, BuildIP(t, v6)), Decap: all, Events: 1, Stat: "Decapsulated"},
		{Name: "GRE: outer packet only", Link: layers.LinkTypeRaw, Frame: Tunnel4(t, layers.IPProtocolGRE, []byte{0, 0, 0x08, 0}, inner), Stat: "Tunneled"},
		{Name: "GRE decapsulated", Link: layers.LinkTypeRaw, Frame: Tunnel4(t, layers.IPProtocolGRE, []byte{0x20, 0, 0x08, 0, 0, 0, 0, 7}, inner), Decap: all, Events: 1, Stat: "Decapsulated"},
		{Name: "GRE decapsulation not named", Link: layers.LinkTypeRaw, Frame: Tunnel4(t, layers.IPProtocolGRE, []byte{0, 0, 0x08, 0}, inner), Decap: "ipip", Stat: "Tunneled"},
		{Name: "VXLAN: a UDP datagram to 4789", Link: layers.LinkTypeRaw, Frame: VXLAN(t, BuildEth(t, syn)), Events: 1,
			Check: func(t *testing.T, evs []detector.Event) {
				if evs[0].Kind != detector.KindUDP || evs[0].DstPort != VXLANPort || evs[0].Src != netip.AddrFrom4([4]byte(TunnelSrc)) {
					t.Errorf("%+v", evs[0])
				}
			}},
		{Name: "VXLAN decapsulated: the datagram and its inner SYN", Link: layers.LinkTypeRaw, Frame: VXLAN(t, BuildEth(t, syn)), Decap: all, Events: 2, Stat: "Decapsulated",
			Check: func(t *testing.T, evs []detector.Event) {
				if evs[0].Kind != detector.KindUDP || evs[1].Kind != detector.KindSYN || evs[1].Src != netip.MustParseAddr("198.51.100.10") {
					t.Errorf("%+v", evs)
				}
			}},
	}

}
