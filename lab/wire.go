package lab

import (
	"net/netip"
	"os"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// targetNets are the target's addresses (lab/netns.sh): what the host
// sends from them is its own reaction to the probes.
var targetNets = []netip.Prefix{netip.MustParsePrefix(Sweep), netip.MustParsePrefix("2001:db8:2::/64")}

// Wire is what a capture on the scanner's veth (both directions) shows of
// the target's answers: the host's replies prove which probes its stack
// processed.
type Wire struct {
	Frames        int // frames in the capture, both directions
	SynAcks, Rsts int // TCP answers from a target address
	// Answered counts, per address the target answered, the distinct
	// target ports that sent it a SYN-ACK or RST: "the host answered N
	// probes" of a scan that probes each port once.
	Answered      map[netip.Addr]int
	ProtoUnreach  int // ICMP "protocol unreachable" from the target
	ParamProblems int // ICMPv6 parameter problems from the target
}

// AnsweredTotal is the number of (address, port) pairs the target answered.
func (w Wire) AnsweredTotal() int {
	n := 0
	for _, v := range w.Answered {
		n += v
	}
	return n
}

func fromTarget(a netip.Addr) bool {
	for _, p := range targetNets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// EachFrame calls fn with each frame of the pcap file, in place (fn must
// copy what it keeps), until the end of the file or the first record it
// cannot read: a tcpdump stopped mid-write leaves a cut last record.
func EachFrame(t testing.TB, pcap string, fn func(frame []byte)) {
	t.Helper()
	f, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", pcap, err)
	}
	for {
		data, _, err := r.ZeroCopyReadPacketData()
		if err != nil {
			return
		}
		fn(data)
	}
}

// ReadWire counts the target's answers in an Ethernet pcap (lab.Tcpdump's).
func ReadWire(t testing.TB, pcap string) Wire {
	t.Helper()
	w := Wire{Answered: map[netip.Addr]int{}}
	type pair struct {
		to   netip.Addr
		port layers.TCPPort
	}
	seen := map[pair]bool{}
	EachFrame(t, pcap, func(data []byte) {
		w.Frames++
		p := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		var src, dst netip.Addr
		switch ip := p.NetworkLayer().(type) {
		case *layers.IPv4:
			src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(ip.SrcIP)
			dst, _ = netip.AddrFromSlice(ip.DstIP)
		default:
			return
		}
		if !fromTarget(src) {
			return
		}
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			switch {
			case tcp.SYN && tcp.ACK:
				w.SynAcks++
			case tcp.RST:
				w.Rsts++
			default:
				return
			}
			if k := (pair{dst, tcp.SrcPort}); !seen[k] {
				seen[k] = true
				w.Answered[dst]++
			}
		}
		if icmp, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok &&
			icmp.TypeCode == layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeProtocol) {
			w.ProtoUnreach++
		}
		if icmp, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok && icmp.TypeCode.Type() == layers.ICMPv6TypeParameterProblem {
			w.ParamProblems++
		}
	})
	return w
}
