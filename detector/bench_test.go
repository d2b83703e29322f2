package detector

import (
	"net/netip"
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
