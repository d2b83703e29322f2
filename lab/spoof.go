package lab

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// MaxSpoofed bounds WriteSpoofedFlood: tcpreplay pushes about 50k packets/s
// into a veth here, so this is a few seconds of flood.
const MaxSpoofed = 500_000

// WriteSpoofedFlood writes an Ethernet pcap for tcpreplay: a SYN scan of
// ports 1..ports from ScanIP to TgtIP whose first half comes before a flood
// of spoofed sources, each sending one SYN to port 80 of TgtIP6, and whose
// second half comes after it. Between the halves there are then more fake
// sources than the default rules hold (--max-sources, 100,000) when
// spoofed exceeds that: a source table that admits every new address
// evicts the scanner and splits its scan in two.
//
// The spoofed sources are random IPv6 addresses in 2001:db8::/32 (the only
// documentation range with room for them) outside the lab's two /64s: the
// target has no route back, so its stack processes each SYN (TcpInSegs)
// without a neighbour-discovery storm. Their /48s differ too, and each goes
// to the one port, so no prefix among them is a scan of its own.
func WriteSpoofedFlood(path string, srcMAC, dstMAC string, spoofed, ports int, seed uint64) error {
	if spoofed > MaxSpoofed || ports < 1 || ports > 65535 {
		return fmt.Errorf("spoofed flood: %d sources, %d ports is past the bounds (%d, 65535)", spoofed, ports, MaxSpoofed)
	}
	fw, err := createFrames(path, srcMAC, dstMAC)
	if err != nil {
		return err
	}
	defer fw.f.Close()
	smac, dmac, write := fw.smac, fw.dmac, fw.write
	rng := rand.New(rand.NewPCG(seed, 0x5ca9))
	scan4, tgt4 := net.ParseIP(ScanIP).To4(), net.ParseIP(TgtIP).To4()
	tgt6 := net.ParseIP(TgtIP6)
	probe := func(port int) error {
		ip := &layers.IPv4{Version: 4, TTL: 64, Id: uint16(port), Protocol: layers.IPProtocolTCP, SrcIP: scan4, DstIP: tgt4}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(port), Seq: uint32(port), SYN: true, Window: 1024}
		tcp.SetNetworkLayerForChecksum(ip)
		return write(&layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv4}, ip, tcp)
	}
	for port := 1; port <= ports/2; port++ {
		if err := probe(port); err != nil {
			return err
		}
	}
	for range spoofed {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: spoofedSource6(rng).AsSlice(), DstIP: tgt6}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(1024 + rng.IntN(60000)), DstPort: 80, Seq: rng.Uint32(), SYN: true, Window: 64240}
		tcp.SetNetworkLayerForChecksum(ip)
		if err := write(&layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv6}, ip, tcp); err != nil {
			return err
		}
	}
	for port := ports/2 + 1; port <= ports; port++ {
		if err := probe(port); err != nil {
			return err
		}
	}
	return fw.f.Close()
}

// WriteChurnFlood writes an Ethernet pcap of packets spoofed SYNs that
// churn a flow table: about half go to heavy flows (sources in
// 192.0.2.0/24, each repeating one (destination, port) in 203.0.113.0/24
// many times, so repeats and their periodic reports interleave with new
// flows), the rest to one-SYN flows from random sources, IPv4 in
// 192.0.2.0/24 to random ports of 203.0.113.0/24 and IPv6 in 2001:db8::/32
// (outside the lab's /64s) to port 80 of TgtIP6. Every frame is a SYN.
func WriteChurnFlood(path, srcMAC, dstMAC string, packets, heavy int, seed uint64) error {
	if packets > MaxSpoofed || heavy < 1 || heavy > 254*254 {
		return fmt.Errorf("churn flood: %d packets, %d heavy flows is past the bounds (%d, %d)", packets, heavy, MaxSpoofed, 254*254)
	}
	fw, err := createFrames(path, srcMAC, dstMAC)
	if err != nil {
		return err
	}
	defer fw.f.Close()
	smac, dmac := fw.smac, fw.dmac
	rng := rand.New(rand.NewPCG(seed, 0xc4a2))
	tgt6 := net.ParseIP(TgtIP6)
	for range packets {
		var ip gopacket.NetworkLayer
		tcp := &layers.TCP{SrcPort: layers.TCPPort(1024 + rng.IntN(60000)), Seq: rng.Uint32(), SYN: true, Window: 1024}
		eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv4}
		switch r := rng.IntN(4); {
		case r < 2: // a heavy flow
			k := rng.IntN(heavy)
			ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
				SrcIP: net.IPv4(192, 0, 2, byte(1+k%254)), DstIP: net.IPv4(203, 0, 113, byte(1+k/254))}
			tcp.DstPort = layers.TCPPort(1 + k%1000)
		case r == 2: // a one-SYN IPv4 flow
			ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
				SrcIP: net.IPv4(192, 0, 2, byte(1+rng.IntN(254))), DstIP: net.IPv4(203, 0, 113, byte(1+rng.IntN(254)))}
			tcp.DstPort = layers.TCPPort(1 + rng.IntN(65535))
		default: // a one-SYN IPv6 flow
			ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: spoofedSource6(rng).AsSlice(), DstIP: tgt6}
			eth.EthernetType = layers.EthernetTypeIPv6
			tcp.DstPort = 80
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			return err
		}
		if err := fw.write(eth, ip.(gopacket.SerializableLayer), tcp); err != nil {
			return err
		}
	}
	return fw.f.Close()
}

// frames writes Ethernet frames between two MACs into a pcap, one
// microsecond apart.
type frames struct {
	f          *os.File
	w          *pcapgo.Writer
	smac, dmac net.HardwareAddr
	buf        gopacket.SerializeBuffer
	ts         time.Time
}

func createFrames(path, srcMAC, dstMAC string) (*frames, error) {
	smac, err := net.ParseMAC(srcMAC)
	if err != nil {
		return nil, err
	}
	dmac, err := net.ParseMAC(dstMAC)
	if err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(1514, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return nil, err
	}
	return &frames{f: f, w: w, smac: smac, dmac: dmac, buf: gopacket.NewSerializeBuffer(), ts: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
}

func (fw *frames) write(ls ...gopacket.SerializableLayer) error {
	if err := gopacket.SerializeLayers(fw.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return err
	}
	fw.ts = fw.ts.Add(time.Microsecond)
	b := fw.buf.Bytes()
	return fw.w.WritePacket(gopacket.CaptureInfo{Timestamp: fw.ts, CaptureLength: len(b), Length: len(b)}, b)
}

// spoofedSource6 is a random address in 2001:db8::/32 whose third group is
// 0x0100 or above: never the lab's 2001:db8:1:: or 2001:db8:2::.
func spoofedSource6(rng *rand.Rand) netip.Addr {
	var a [16]byte
	a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
	g := 0x0100 + rng.IntN(0xff00)
	a[4], a[5] = byte(g>>8), byte(g)
	for j := 6; j < 16; j++ {
		a[j] = byte(rng.Uint32())
	}
	return netip.AddrFrom16(a)
}
