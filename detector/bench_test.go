package detector

import (
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The default rules' per-event cost on the two extremes: scanners sending
// runs of probes (the replay benchmark's shape: 100 sources x 1000 ports),
// and a spoofed flood where every SYN is a new source. Public API only, so
// the same file measures any revision: go test ./detector -run '^$' -bench .
func BenchmarkDefaultScanners(b *testing.B) {
	ev := Event{Dst: netip.MustParseAddr("203.0.113.10"), Kind: KindSYN, Flags: FlagSYN, Window: 1024, MSSOnly: true, OptLen: 4}
	for b.Loop() {
		d := NewDefault(Config{})
		for i := 0; i < 100_000; i++ {
			ev.Time = t0.Add(time.Duration(i) * 10 * time.Microsecond)
			ev.Src = netip.AddrFrom4([4]byte{198, 51, byte(i / 1000 >> 8), byte(i / 1000)})
			ev.DstPort = uint16(i%1000 + 1)
			d.Observe(&ev)
		}
		d.Flush()
	}
	b.ReportMetric(float64(b.N)*100_000/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDefaultSpoofedFlood(b *testing.B) {
	ev := Event{Dst: netip.MustParseAddr("203.0.113.10"), DstPort: 80, Kind: KindSYN, Flags: FlagSYN}
	for b.Loop() {
		d := NewDefault(Config{})
		for i := 0; i < 200_000; i++ {
			ev.Time = t0.Add(time.Duration(i) * time.Microsecond)
			ev.Src = netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)})
			d.Observe(&ev)
		}
		d.Flush()
	}
	b.ReportMetric(float64(b.N)*200_000/b.Elapsed().Seconds(), "events/s")
}

// spoofedAddr is the i-th of a stream of IPv4 sources spread over the
// whole address space as a random spoofer's are (most /24s get one), with
// martians skipped: the rules keep nothing for those.
func spoofedAddr(i int) netip.Addr {
	for x := uint64(i); ; x += 1 << 40 {
		v := uint32(mix64(x))
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		if !martian(a) {
			return a
		}
	}
}

// heapAfterGC is the live heap once garbage is collected.
func heapAfterGC() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkDefaultMemory reports what the default rules hold: bytes per
// one-probe source (a spoofed SYN each, all on probation), bytes per
// (source, host, port) pair of promoted scanners over several hosts and of
// vertical scanners of one host (services held back), and the live heap after
// a million spoofed one-SYN sources at the default caps (the issue's
// flood). Live heap, not RSS: the process's RSS is about this times
// (1 + GOGC/100) at the collector's peak.
func BenchmarkDefaultMemory(b *testing.B) {
	var perSource, perPair, perVertical, flood float64
	for b.Loop() {
		const sources = 200_000
		base := heapAfterGC()
		d := NewDefault(Config{})
		ev := Event{Dst: netip.MustParseAddr("203.0.113.10"), DstPort: 80, Kind: KindSYN, Flags: FlagSYN}
		for i := 0; i < sources; i++ {
			ev.Time, ev.Src = t0.Add(time.Duration(i)*time.Microsecond), spoofedAddr(i)
			d.Observe(&ev)
		}
		perSource = float64(heapAfterGC()-base) / sources
		runtime.KeepAlive(d)

		// 200 scanners, each 10 hosts x 100 ports, SYNs only.
		const scanners, hosts, ports = 200, 10, 100
		base = heapAfterGC()
		d = NewDefault(Config{})
		n := 0
		for s := 0; s < scanners; s++ {
			ev.Src = netip.AddrFrom4([4]byte{198, 18, byte(s >> 8), byte(s)})
			for h := 0; h < hosts; h++ {
				ev.Dst = netip.AddrFrom4([4]byte{203, 0, 113, byte(h + 1)})
				for p := 0; p < ports; p++ {
					ev.Time, ev.DstPort = t0.Add(time.Duration(n)*time.Microsecond), uint16(p+1)
					d.Observe(&ev)
					n++
				}
			}
		}
		perPair = float64(heapAfterGC()-base) / float64(n)
		runtime.KeepAlive(d)

		// 200 scanners, each 1000 ports of one host.
		base = heapAfterGC()
		d = NewDefault(Config{})
		ev.Dst = netip.MustParseAddr("203.0.113.10")
		n = 0
		for s := 0; s < scanners; s++ {
			ev.Src = netip.AddrFrom4([4]byte{198, 18, byte(s >> 8), byte(s)})
			for p := 0; p < 1000; p++ {
				ev.Time, ev.DstPort = t0.Add(time.Duration(n)*time.Microsecond), uint16(p+1)
				d.Observe(&ev)
				n++
			}
		}
		perVertical = float64(heapAfterGC()-base) / float64(n)
		runtime.KeepAlive(d)

		const million = 1_000_000
		base = heapAfterGC()
		d = NewDefault(Config{})
		ev.Dst, ev.DstPort = netip.MustParseAddr("203.0.113.10"), 80
		for i := 0; i < million; i++ {
			ev.Time, ev.Src = t0.Add(time.Duration(i)*time.Microsecond), spoofedAddr(i)
			d.Observe(&ev)
		}
		flood = float64(heapAfterGC()-base) / 1e6
		runtime.KeepAlive(d)
	}
	b.ReportMetric(perSource, "B/source")
	b.ReportMetric(perPair, "B/pair")
	b.ReportMetric(perVertical, "B/vertical-pair")
	b.ReportMetric(flood, "MB/1M-spoofed")
}

// BenchmarkDefaultSpoofedMillionRSS is the figure: the process's
// peak RSS (VmHWM) after a million spoofed one-SYN sources through the
// default rules at the default caps. Peak RSS is the whole process's, so
// run it alone: go test ./detector -run '^$' -bench SpoofedMillionRSS
func BenchmarkDefaultSpoofedMillionRSS(b *testing.B) {
	ev := Event{Dst: netip.MustParseAddr("203.0.113.10"), DstPort: 80, Kind: KindSYN, Flags: FlagSYN}
	for b.Loop() {
		d := NewDefault(Config{})
		for i := 0; i < 1_000_000; i++ {
			ev.Time, ev.Src = t0.Add(time.Duration(i)*time.Microsecond), spoofedAddr(i)
			d.Observe(&ev)
		}
		d.Flush()
	}
	b.ReportMetric(float64(peakRSS())/1e6, "MB-peak-RSS")
}

// peakRSS is the process's VmHWM in bytes, 0 where /proc cannot tell.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
