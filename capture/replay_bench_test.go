package capture

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// The replay benchmarks share one generated capture of benchPackets SYNs
// (1,000 sources x 1,000 ports, nmap-like headers) so their packets/s can be
// compared as ratios from one run: make bench.
const benchPackets = 1_000_000

var (
	benchOnce sync.Once
	benchFile string
	benchErr  error
)

// TestMain removes the shared capture once the benchmarks are done: 76 MB
// a run, which piled up in the temporary directory.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchFile != "" {
		os.RemoveAll(filepath.Dir(benchFile))
	}
	os.Exit(code)
}

func benchCapture(b *testing.B) string {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scanwatch-bench")
		if err != nil {
			benchErr = err
			return
		}
		benchFile = filepath.Join(dir, "syn-1m.pcap")
		benchErr = writeSynCapture(b, benchFile, benchPackets)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchFile
}

// writeSynCapture patches addresses and ports into one serialized template
// rather than serializing a million packets.
func writeSynCapture(tb testing.TB, path string, n int) error {
	tmpl := packettest.BuildEth(tb, packettest.PktOpts{Flags: "S", Dport: 1, Window: 1024, TTL: 50, TCPOpts: packettest.MSSOpt})
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr, 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], LinkEthernet)
	w.Write(hdr)
	rec := make([]byte, 16+len(tmpl))
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(rec, uint32(1_780_000_000+i/100_000))
		binary.LittleEndian.PutUint32(rec[4:], uint32(i%100_000)*10)
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(tmpl)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(tmpl)))
		p := rec[16:]
		copy(p, tmpl)
		src := i / 1000
		p[14+12+2], p[14+12+3] = byte(src>>8), byte(src) // source 198.51.x.y
		binary.BigEndian.PutUint16(p[14+20+2:], uint16(i%1000+1))
		fixChecksums4(p[14:])
		w.Write(rec)
	}
	return w.Flush()
}

// fixChecksums4 recomputes the IPv4 header and TCP checksums of a patched
// packet: replay verifies them on every probe.
func fixChecksums4(ip []byte) {
	ihl := int(ip[0]&0x0f) * 4
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(ip[:ihl], 0)))
	seg := ip[ihl:binary.BigEndian.Uint16(ip[2:])]
	seg[16], seg[17] = 0, 0
	src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
	binary.BigEndian.PutUint16(seg[16:], ^fold(sum16(seg, pseudoSum(src, dst, false, 6, len(seg)))))
}

// benchReplay replays the shared capture through the rules newRules
// builds, decoding as scanwatch replay does for them (credit events only
// for the default rules: cmd/scanwatch/replay.go); finals reports how many
// final alerts the run produced.
func benchReplay(b *testing.B, credit bool, newRules func() (detector.Rules, func() int)) {
	opts := DefaultReplayOptions()
	opts.Decode.Credit = credit
	path := benchCapture(b)
	b.ResetTimer()
	var pkts uint64
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		rules, finals := newRules()
		st, err := ReplayWith(context.Background(), f, opts, rules.Observe, nil)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		if n := len(rules.Flush()) + finals(); n != 1000 {
			b.Fatalf("%d final alerts, want one per source", n)
		}
		pkts += st.Decode.Packets
	}
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkReplay is scanwatch's replay: read, decode, run the starting rule.
func BenchmarkReplay(b *testing.B) {
	benchReplay(b, false, func() (detector.Rules, func() int) {
		return detector.NewSeed(detector.Config{Ignore: detector.SeedIgnored}), func() int { return 0 }
	})
}

// BenchmarkReplayDefaultRules is the same replay through the default rule
// set, which keeps windows, per-host and per-port state for every source.
func BenchmarkReplayDefaultRules(b *testing.B) {
	benchReplay(b, true, func() (detector.Rules, func() int) {
		n := 0
		rules := detector.NewDefault(detector.Config{Ignore: detector.SeedIgnored, OnAlert: func(a detector.Alert) {
			if a.Status == detector.StatusFinal {
				n++
			}
		}})
		return rules, func() int { return n }
	})
}

// BenchmarkReplayNewPacket is the baseline the decoder is measured against:
// the same file through gopacket.NewPacket, the convenient per-packet API.
func BenchmarkReplayNewPacket(b *testing.B) {
	path := benchCapture(b)
	b.ResetTimer()
	var pkts uint64
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		cr, err := OpenCapture(f)
		if err != nil {
			b.Fatal(err)
		}
		rules := detector.NewSeed(detector.Config{Ignore: detector.SeedIgnored})
		var ev detector.Event
		for {
			rec, err := cr.Next()
			if err != nil {
				break
			}
			pkts++
			p := gopacket.NewPacket(rec.Data, layers.LinkTypeEthernet, gopacket.DecodeOptions{NoCopy: true, Lazy: true})
			tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			ip, _ := p.NetworkLayer().(*layers.IPv4)
			if tcp == nil || ip == nil || !tcp.SYN || tcp.ACK {
				continue
			}
			ev = detector.Event{Time: timeFromNanos(rec.Nanos), Kind: detector.KindSYN, DstPort: uint16(tcp.DstPort)}
			ev.Src, ev.Dst = addr4(ip.SrcIP), addr4(ip.DstIP)
			rules.Observe(&ev)
		}
		f.Close()
	}
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkTcpdumpFilter times tcpdump reading the same file through the
// SYN filter, the yardstick the issue sets (filter only, no analysis).
func BenchmarkTcpdumpFilter(b *testing.B) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		b.Skip("tcpdump not installed")
	}
	path := benchCapture(b)
	b.ResetTimer()
	var pkts uint64
	for b.Loop() {
		cmd := exec.Command(tcpdump, "-nn", "-r", path, "-w", "/dev/null", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		pkts += benchPackets
	}
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "pkts/s")
}

func addr4(ip []byte) netip.Addr {
	if v4 := net.IP(ip).To4(); v4 != nil {
		return netip.AddrFrom4([4]byte(v4))
	}
	return netip.Addr{}
}
