package sensor

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Test packets, built with gopacket's serializer so the decoder is checked
// against an independent encoder rather than bytes written by hand.

var (
	macScan = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macTgt  = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	scan4   = net.IP{198, 51, 100, 10}
	tgt4    = net.IP{203, 0, 113, 10}
	scan6   = net.ParseIP("2001:db8:1::10")
	tgt6    = net.ParseIP("2001:db8:2::10")
)

type pktOpts struct {
	v6       bool
	vlans    []uint16 // outermost first; the first is 802.1ad when there are two
	ipOpts   bool     // an IPv4 record-route option (IHL 8)
	ext6     bool     // IPv6 hop-by-hop + destination options before TCP
	udp      bool
	tcpOpts  []layers.TCPOption
	window   uint16
	ttl      uint8
	id       uint16
	flags    string // any of "SAFRPU"
	sport    uint16 // 40000 when 0
	dport    uint16
	fragment bool // IPv4 fragment with offset 8 (no TCP header of its own)
	data     int  // bytes of payload after the transport header (nmap --data-length)
}

func tcpLayer(o pktOpts) *layers.TCP {
	t := &layers.TCP{SrcPort: layers.TCPPort(srcPort(o)), DstPort: layers.TCPPort(o.dport), Seq: 1, Window: o.window, Options: o.tcpOpts}
	for _, c := range o.flags {
		switch c {
		case 'S':
			t.SYN = true
		case 'A':
			t.ACK = true
		case 'F':
			t.FIN = true
		case 'R':
			t.RST = true
		case 'P':
			t.PSH = true
		case 'U':
			t.URG = true
		}
	}
	return t
}

func srcPort(o pktOpts) uint16 {
	if o.sport == 0 {
		return 40000
	}
	return o.sport
}

// buildIP returns the IP packet (no link header) described by o.
func buildIP(t testing.TB, o pktOpts) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	var transport gopacket.SerializableLayer
	proto := layers.IPProtocolTCP
	if o.udp {
		proto = layers.IPProtocolUDP
		transport = &layers.UDP{SrcPort: layers.UDPPort(srcPort(o)), DstPort: layers.UDPPort(o.dport)}
	} else {
		transport = tcpLayer(o)
	}
	if o.v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: o.ttl, SrcIP: scan6, DstIP: tgt6, NextHeader: proto}
		if o.ext6 {
			ip.NextHeader = layers.IPProtocolIPv6HopByHop
			hbh := &layers.IPv6HopByHop{}
			hbh.NextHeader = layers.IPProtocolIPv6Destination
			hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
			ls = append(ls, ip, hbh, rawLayer(destOpts(proto)))
		} else {
			ls = append(ls, ip)
		}
		setNet(transport, ip)
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: o.ttl, Id: o.id, Protocol: proto, SrcIP: scan4, DstIP: tgt4}
		if o.ipOpts {
			ip.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 11, OptionData: []byte{4, 0, 0, 0, 0, 0, 0, 0, 0}}}
		}
		if o.fragment {
			ip.FragOffset = 1
			ls = append(ls, ip, gopacket.Payload(make([]byte, 20)))
			return serialize(t, ls...)
		}
		ls = append(ls, ip)
		setNet(transport, ip)
	}
	ls = append(ls, transport)
	if o.data > 0 {
		ls = append(ls, gopacket.Payload(make([]byte, o.data)))
	}
	return serialize(t, ls...)
}

func setNet(transport gopacket.SerializableLayer, ip gopacket.NetworkLayer) {
	switch l := transport.(type) {
	case *layers.TCP:
		l.SetNetworkLayerForChecksum(ip)
	case *layers.UDP:
		l.SetNetworkLayerForChecksum(ip)
	}
}

// destOpts is an 8-byte IPv6 destination-options header with PadN.
func destOpts(next layers.IPProtocol) []byte {
	return []byte{byte(next), 0, 1, 4, 0, 0, 0, 0}
}

type rawLayer []byte

func (r rawLayer) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	p, err := b.PrependBytes(len(r))
	copy(p, r)
	return err
}
func (r rawLayer) LayerType() gopacket.LayerType { return gopacket.LayerTypePayload }

// buildEth wraps buildIP in Ethernet, with the VLAN tags of o.
func buildEth(t testing.TB, o pktOpts) []byte {
	t.Helper()
	ipType := layers.EthernetTypeIPv4
	if o.v6 {
		ipType = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{SrcMAC: macScan, DstMAC: macTgt, EthernetType: ipType}
	ls := []gopacket.SerializableLayer{eth}
	for i, id := range o.vlans {
		next := ipType
		if i+1 < len(o.vlans) {
			next = layers.EthernetTypeDot1Q
		}
		if i == 0 {
			eth.EthernetType = layers.EthernetTypeDot1Q
			if len(o.vlans) > 1 {
				eth.EthernetType = layers.EthernetTypeQinQ
			}
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: id, Type: next})
	}
	ls = append(ls, gopacket.Payload(buildIP(t, o)))
	return serialize(t, ls...)
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// withSLL prefixes an IP packet with a Linux cooked v1 header.
func withSLL(ip []byte, v6 bool) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], 0) // packet type: to us
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6) // address length
	copy(h[6:], macScan)
	binary.BigEndian.PutUint16(h[14:], etherType(v6))
	return append(h, ip...)
}

// withSLL2 prefixes an IP packet with a Linux cooked v2 header.
func withSLL2(ip []byte, v6 bool) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], etherType(v6))
	binary.BigEndian.PutUint32(h[4:], 2) // interface index
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[11] = 6
	copy(h[12:], macScan)
	return append(h, ip...)
}

// withNull prefixes a BSD loopback header (host byte order family).
func withNull(ip []byte, v6 bool) []byte {
	fam := uint32(2)
	if v6 {
		fam = 24 // AF_INET6 on NetBSD/OpenBSD; gopacket maps 24, 28 and 30
	}
	h := binary.LittleEndian.AppendUint32(nil, fam)
	return append(h, ip...)
}

func etherType(v6 bool) uint16 {
	if v6 {
		return 0x86dd
	}
	return 0x0800
}

var mssOpt = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}

var linuxOpts = []layers.TCPOption{
	{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
	{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
	{OptionType: layers.TCPOptionKindNop},
	{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
}
