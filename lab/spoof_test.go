package lab

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// The flood file holds the scan's two halves around every spoofed SYN,
// each spoofed source once, none in the lab's own /64s.
func TestWriteSpoofedFlood(t *testing.T) {
	p := filepath.Join(t.TempDir(), "flood.pcap")
	const spoofed, ports = 5000, 40
	if err := WriteSpoofedFlood(p, "02:00:00:00:00:01", "02:00:00:00:00:02", spoofed, ports, 1); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var scanAt []int
	sources := map[string]bool{}
	for i := 0; ; i++ {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		pkt := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.Default)
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil || !tcp.SYN || tcp.ACK {
			t.Fatalf("packet %d is not a SYN", i)
		}
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			if ip.SrcIP.String() != ScanIP || int(tcp.DstPort) != len(scanAt)+1 {
				t.Fatalf("packet %d: %s port %d", i, ip.SrcIP, tcp.DstPort)
			}
			scanAt = append(scanAt, i)
		case *layers.IPv6:
			s := ip.SrcIP.String()
			if sources[s] || ip.SrcIP[4] == 0 || tcp.DstPort != 80 {
				t.Fatalf("packet %d: spoofed %s port %d (repeated or inside the lab's /64s)", i, s, tcp.DstPort)
			}
			sources[s] = true
		}
	}
	if len(scanAt) != ports || len(sources) != spoofed {
		t.Fatalf("%d scan probes, %d spoofed sources", len(scanAt), len(sources))
	}
	if gap := scanAt[ports/2] - scanAt[ports/2-1] - 1; gap != spoofed {
		t.Errorf("%d spoofed SYNs between the halves, want %d", gap, spoofed)
	}
	if err := WriteSpoofedFlood(p, "02:00:00:00:00:01", "02:00:00:00:00:02", MaxSpoofed+1, ports, 1); err == nil {
		t.Error("past MaxSpoofed: want an error")
	}
}
