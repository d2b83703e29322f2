// Package packettest builds the packets, fragments and capture files the
// tests of capture/ and sensor/ feed to the replay decoder and to the XDP
// program, and holds the case tables both implementations must agree on
// (the parity test in sensor/ runs capture's tables through the kernel).
// Packets are built with gopacket's serializer, so the decoders are checked
// against an independent encoder rather than bytes written by hand; for the
// same reason the checksums here are computed apart from capture's.
//
// It imports nothing of ours but detector/ (the evasion marks and limits
// the tables name), so capture's own white-box tests can use it.
package packettest

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// The scanner's and the target's addresses in every packet built here.
var (
	MACScan = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	MACTgt  = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	Scan4   = net.IP{198, 51, 100, 10}
	Tgt4    = net.IP{203, 0, 113, 10}
	Scan6   = net.ParseIP("2001:db8:1::10")
	Tgt6    = net.ParseIP("2001:db8:2::10")
)

// PktOpts describes one test packet, from Scan4/Scan6 to Tgt4/Tgt6.
type PktOpts struct {
	V6       bool
	VLANs    []uint16 // outermost first; the first is 802.1ad when there are two
	IPOpts   bool     // an IPv4 record-route option (IHL 8)
	Ext6     bool     // IPv6 hop-by-hop + destination options before TCP
	UDP      bool
	TCPOpts  []layers.TCPOption
	Window   uint16
	TTL      uint8
	ID       uint16
	Flags    string // any of "SAFRPUEC" (E: ECE, C: CWR)
	Sport    uint16 // 40000 when 0
	Dport    uint16
	Fragment bool   // IPv4 fragment with offset 8 (no TCP header of its own)
	Data     int    // bytes of payload after the transport header (nmap --data-length)
	Payload  []byte // payload after the transport header; overrides Data
}

func tcpLayer(o PktOpts) *layers.TCP {
	t := &layers.TCP{SrcPort: layers.TCPPort(srcPort(o)), DstPort: layers.TCPPort(o.Dport), Seq: 1, Window: o.Window, Options: o.TCPOpts}
	SetFlags(t, o.Flags)
	return t
}

// SetFlags sets t's flags from any of "SAFRPUEC" (E: ECE, C: CWR).
func SetFlags(t *layers.TCP, flags string) {
	for _, c := range flags {
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
		case 'E':
			t.ECE = true
		case 'C':
			t.CWR = true
		}
	}
}

func srcPort(o PktOpts) uint16 {
	if o.Sport == 0 {
		return 40000
	}
	return o.Sport
}

// BuildIP returns the IP packet (no link header) described by o.
func BuildIP(t testing.TB, o PktOpts) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	var transport gopacket.SerializableLayer
	proto := layers.IPProtocolTCP
	if o.UDP {
		proto = layers.IPProtocolUDP
		transport = &layers.UDP{SrcPort: layers.UDPPort(srcPort(o)), DstPort: layers.UDPPort(o.Dport)}
	} else {
		transport = tcpLayer(o)
	}
	if o.V6 {
		ip := &layers.IPv6{Version: 6, HopLimit: o.TTL, SrcIP: Scan6, DstIP: Tgt6, NextHeader: proto}
		if o.Ext6 {
			ip.NextHeader = layers.IPProtocolIPv6HopByHop
			hbh := &layers.IPv6HopByHop{}
			hbh.NextHeader = layers.IPProtocolIPv6Destination
			hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
			ls = append(ls, ip, hbh, rawLayer(DestOpts(proto)))
		} else {
			ls = append(ls, ip)
		}
		setNet(transport, ip)
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: o.TTL, Id: o.ID, Protocol: proto, SrcIP: Scan4, DstIP: Tgt4}
		if o.IPOpts {
			ip.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 11, OptionData: []byte{4, 0, 0, 0, 0, 0, 0, 0, 0}}}
		}
		if o.Fragment {
			ip.FragOffset = 1
			ls = append(ls, ip, gopacket.Payload(make([]byte, 20)))
			return Serialize(t, ls...)
		}
		ls = append(ls, ip)
		setNet(transport, ip)
	}
	ls = append(ls, transport)
	switch {
	case o.Payload != nil:
		ls = append(ls, gopacket.Payload(o.Payload))
	case o.Data > 0:
		ls = append(ls, gopacket.Payload(make([]byte, o.Data)))
	}
	return Serialize(t, ls...)
}

func setNet(transport gopacket.SerializableLayer, ip gopacket.NetworkLayer) {
	switch l := transport.(type) {
	case *layers.TCP:
		l.SetNetworkLayerForChecksum(ip)
	case *layers.UDP:
		l.SetNetworkLayerForChecksum(ip)
	}
}

// DestOpts is an 8-byte IPv6 destination-options header with PadN.
func DestOpts(next layers.IPProtocol) []byte {
	return []byte{byte(next), 0, 1, 4, 0, 0, 0, 0}
}

type rawLayer []byte

func (r rawLayer) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	p, err := b.PrependBytes(len(r))
	copy(p, r)
	return err
}
func (r rawLayer) LayerType() gopacket.LayerType { return gopacket.LayerTypePayload }

// BuildEth wraps buildIP in Ethernet, with the VLAN tags of o.
func BuildEth(t testing.TB, o PktOpts) []byte {
	t.Helper()
	ipType := layers.EthernetTypeIPv4
	if o.V6 {
		ipType = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{SrcMAC: MACScan, DstMAC: MACTgt, EthernetType: ipType}
	ls := []gopacket.SerializableLayer{eth}
	for i, id := range o.VLANs {
		next := ipType
		if i+1 < len(o.VLANs) {
			next = layers.EthernetTypeDot1Q
		}
		if i == 0 {
			eth.EthernetType = layers.EthernetTypeDot1Q
			if len(o.VLANs) > 1 {
				eth.EthernetType = layers.EthernetTypeQinQ
			}
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: id, Type: next})
	}
	ls = append(ls, gopacket.Payload(BuildIP(t, o)))
	return Serialize(t, ls...)
}

// Serialize runs gopacket's serializer with lengths and checksums computed.
func Serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// WithSLL prefixes an IP packet with a Linux cooked v1 header.
func WithSLL(ip []byte, v6 bool) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], 0) // packet type: to us
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6) // address length
	copy(h[6:], MACScan)
	binary.BigEndian.PutUint16(h[14:], etherType(v6))
	return append(h, ip...)
}

// WithSLL2 prefixes an IP packet with a Linux cooked v2 header.
func WithSLL2(ip []byte, v6 bool) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], etherType(v6))
	binary.BigEndian.PutUint32(h[4:], 2) // interface index
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[11] = 6
	copy(h[12:], MACScan)
	return append(h, ip...)
}

// WithNull prefixes a BSD loopback header (host byte order family).
func WithNull(ip []byte, v6 bool) []byte {
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

// TimestampOpts are the options Linux puts on every segment of a
// connection: two NOPs and a timestamp.
var TimestampOpts = []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
	{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 2}}}

// MSSOpt is the lone MSS option nmap's SYN probes carry.
var MSSOpt = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}

// LinuxOpts is a SYN option list longer than the MSS alone: MSS, SACK
// permitted, NOP, window scale.
var LinuxOpts = []layers.TCPOption{
	{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
	{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
	{OptionType: layers.TCPOptionKindNop},
	{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
}
