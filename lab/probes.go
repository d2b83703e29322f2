package lab

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Probes is what an Ethernet capture of both directions (lab.Tcpdump on
// the target's veth) shows between one client and the target, counted
// independently of scanwatch's decoders: the wire's side of a credit test.
type Probes struct {
	SYNs       int // SYN without ACK from the client
	ACKProbes  int // bare ACKs from the client: no payload, no options (nmap -sA's shape)
	FINACKs    int // FIN+ACK with no payload or options from the client (nmap -sM's)
	TCPPayload int // TCP segments from the client carrying data
	Datagrams  int // UDP datagrams from the client
	// Distinct (target address, port) pairs the client sent each kind to.
	SYNPorts, ACKPorts, FINACKPorts, UDPPorts map[netip.AddrPort]bool
	// Distinct (target address, port) pairs the target answered with a
	// SYN-ACK (open), with a RST (closed, or the answer to an ACK or
	// FIN+ACK probe), or with a UDP datagram back from the port.
	SynAcked, Reset, UDPAnswered map[netip.AddrPort]bool
}

// ReadProbes counts the traffic between client and the target's addresses
// (IPv4 or IPv6) in pcap.
func ReadProbes(t testing.TB, pcap string, client netip.Addr) Probes {
	t.Helper()
	p := Probes{SYNPorts: map[netip.AddrPort]bool{}, ACKPorts: map[netip.AddrPort]bool{}, FINACKPorts: map[netip.AddrPort]bool{},
		UDPPorts: map[netip.AddrPort]bool{}, SynAcked: map[netip.AddrPort]bool{}, Reset: map[netip.AddrPort]bool{}, UDPAnswered: map[netip.AddrPort]bool{}}
	EachFrame(t, pcap, func(data []byte) {
		pkt := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		// The transport's length from the IP header, not the captured
		// bytes: the capture keeps only each frame's first 256.
		var src, dst netip.Addr
		var transport int
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
				return
			}
			src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
			transport = int(ip.Length) - int(ip.IHL)*4
		case *layers.IPv6:
			// No extension headers in the lab's traffic: the
			// transport follows the fixed header.
			if ip.NextHeader != layers.IPProtocolTCP && ip.NextHeader != layers.IPProtocolUDP {
				return
			}
			src, _ = netip.AddrFromSlice(ip.SrcIP)
			dst, _ = netip.AddrFromSlice(ip.DstIP)
			transport = int(ip.Length)
		default:
			return
		}
		up := src == client && fromTarget(dst)
		down := dst == client && fromTarget(src)
		if !up && !down {
			return
		}
		if tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			payload := transport - int(tcp.DataOffset)*4
			bare := payload == 0 && tcp.DataOffset == 5
			if up {
				at := netip.AddrPortFrom(dst, uint16(tcp.DstPort))
				switch {
				case tcp.SYN && !tcp.ACK && !tcp.RST && !tcp.FIN:
					p.SYNs++
					p.SYNPorts[at] = true
				case bare && tcp.ACK && !tcp.FIN && !tcp.SYN && !tcp.RST && !tcp.PSH && !tcp.URG:
					p.ACKProbes++
					p.ACKPorts[at] = true
				case bare && tcp.ACK && tcp.FIN && !tcp.SYN && !tcp.RST && !tcp.PSH && !tcp.URG:
					p.FINACKs++
					p.FINACKPorts[at] = true
				}
				if payload > 0 {
					p.TCPPayload++
				}
				return
			}
			from := netip.AddrPortFrom(src, uint16(tcp.SrcPort))
			switch {
			case tcp.SYN && tcp.ACK:
				p.SynAcked[from] = true
			case tcp.RST:
				p.Reset[from] = true
			}
			return
		}
		if udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			if up {
				p.Datagrams++
				p.UDPPorts[netip.AddrPortFrom(dst, uint16(udp.DstPort))] = true
			} else {
				p.UDPAnswered[netip.AddrPortFrom(src, uint16(udp.SrcPort))] = true
			}
		}
	})
	return p
}
