package detector

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// syns returns n SYN events from src, to ports[i%len] on hosts[i%len].
func syns(src string, n int, ports []uint16, hosts []string) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{
			Time: t0.Add(time.Duration(i) * time.Millisecond), Src: netip.MustParseAddr(src),
			Dst: netip.MustParseAddr(hosts[i%len(hosts)]), DstPort: ports[i%len(ports)], Kind: KindSYN, Flags: FlagSYN,
		}
	}
	return out
}

func portRange(lo, n int) []uint16 {
	p := make([]uint16, n)
	for i := range p {
		p[i] = uint16(lo + i)
	}
	return p
}

func TestSeedRule(t *testing.T) {
	target := []string{"203.0.113.10"}
	sweep := make([]string, 256)
	for i := range sweep {
		sweep[i] = fmt.Sprintf("203.0.113.%d", i)
	}
	tests := []struct {
		name   string
		events []Event
		ignore PrefixSet
		want   []Alert // only Source, Label, TotalConns, UniqueDestPorts, UniqueDestHosts compared
	}{
		{"19 ports is quiet", syns("198.51.100.1", 19, portRange(1, 19), target), SeedIgnored, nil},
		{"20 ports is a PortScan", syns("198.51.100.1", 20, portRange(1, 20), target), SeedIgnored,
			[]Alert{{Source: netip.MustParseAddr("198.51.100.1"), Label: LabelPortScan, TotalConns: 20, UniqueDestPorts: 20, UniqueDestHosts: 1}}},
		{"49 ports is still a PortScan", syns("198.51.100.1", 49, portRange(1, 49), target), SeedIgnored,
			[]Alert{{Source: netip.MustParseAddr("198.51.100.1"), Label: LabelPortScan, TotalConns: 49, UniqueDestPorts: 49, UniqueDestHosts: 1}}},
		{"50 ports is a FullNetworkScan", syns("198.51.100.1", 50, portRange(1, 50), target), SeedIgnored,
			[]Alert{{Source: netip.MustParseAddr("198.51.100.1"), Label: LabelFullNetworkScan, TotalConns: 50, UniqueDestPorts: 50, UniqueDestHosts: 1}}},
		{"retransmissions count as conns, not ports", syns("198.51.100.1", 199, portRange(1, 19), target), SeedIgnored, nil},
		{"200 SYNs to one port is an IPSweep", syns("198.51.100.1", 200, []uint16{80}, target), SeedIgnored,
			[]Alert{{Source: netip.MustParseAddr("198.51.100.1"), Label: LabelIPSweep, TotalConns: 200, UniqueDestPorts: 1, UniqueDestHosts: 1}}},
		{"a /24 sweep on one port is an IPSweep with 256 hosts", syns("198.51.100.1", 256, []uint16{80}, sweep), SeedIgnored,
			[]Alert{{Source: netip.MustParseAddr("198.51.100.1"), Label: LabelIPSweep, TotalConns: 256, UniqueDestPorts: 1, UniqueDestHosts: 256}}},
		{"private sources are ignored", syns("10.1.2.3", 100, portRange(1, 100), target), SeedIgnored, nil},
		{"172.31/16 is inside 172.16/12", syns("172.31.15.102", 100, portRange(1, 100), target), SeedIgnored, nil},
		{"172.32/16 is outside 172.16/12", syns("172.32.0.1", 20, portRange(1, 20), target), SeedIgnored,
			[]Alert{{Source: netip.MustParseAddr("172.32.0.1"), Label: LabelPortScan, TotalConns: 20, UniqueDestPorts: 20, UniqueDestHosts: 1}}},
		{"IPv6 unique-local is ignored", syns("fd00::1", 100, portRange(1, 100), []string{"2001:db8::1"}), SeedIgnored, nil},
		{"IPv6 global counts", syns("2001:db8:1::10", 60, portRange(1, 60), []string{"2001:db8:2::10"}), SeedIgnored,
			[]Alert{{Source: netip.MustParseAddr("2001:db8:1::10"), Label: LabelFullNetworkScan, TotalConns: 60, UniqueDestPorts: 60, UniqueDestHosts: 1}}},
		{"--ignore-sources none watches private sources", syns("10.1.2.3", 20, portRange(1, 20), target), PrefixSet{},
			[]Alert{{Source: netip.MustParseAddr("10.1.2.3"), Label: LabelPortScan, TotalConns: 20, UniqueDestPorts: 20, UniqueDestHosts: 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSeed(Config{Ignore: tc.ignore})
			for i := range tc.events {
				s.Observe(&tc.events[i])
			}
			got := s.Flush()
			if len(got) != len(tc.want) {
				t.Fatalf("got %d alerts %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Source != w.Source || g.Label != w.Label || g.TotalConns != w.TotalConns ||
					g.UniqueDestPorts != w.UniqueDestPorts || g.UniqueDestHosts != w.UniqueDestHosts {
					t.Errorf("alert %d = %s %q conns=%d ports=%d hosts=%d, want %s %q conns=%d ports=%d hosts=%d", i,
						g.Source, g.Label, g.TotalConns, g.UniqueDestPorts, g.UniqueDestHosts,
						w.Source, w.Label, w.TotalConns, w.UniqueDestPorts, w.UniqueDestHosts)
				}
				last := tc.events[len(tc.events)-1].Time
				if !g.Timestamp.Equal(last) || !g.LastSeen.Equal(last) || !g.FirstSeen.Equal(tc.events[0].Time) {
					t.Errorf("times: timestamp %v first %v last %v; want last SYN %v, first %v", g.Timestamp, g.FirstSeen, g.LastSeen, last, tc.events[0].Time)
				}
				if g.Technique != "T1595" || g.Rules != "seed" {
					t.Errorf("technique %q rules %q", g.Technique, g.Rules)
				}
			}
		})
	}
}

func TestSeedCountsOnlySYNWithoutACK(t *testing.T) {
	s := NewSeed(Config{})
	for i, k := range []Kind{KindSYNACK, KindRST, KindOther, KindUDP} {
		for p := 0; p < 300; p++ {
			s.Observe(&Event{Time: t0, Src: netip.MustParseAddr("198.51.100.1"), Dst: netip.MustParseAddr("203.0.113.1"), DstPort: uint16(p), Kind: k})
		}
		if a := s.Flush(); len(a) != 0 {
			t.Fatalf("case %d (%v): got %d alerts, want none", i, k, len(a))
		}
	}
}

func TestSeedAggregatedCount(t *testing.T) {
	// The XDP sensor folds repeated SYNs into one event with Count.
	s := NewSeed(Config{})
	ev := Event{Time: t0, Src: netip.MustParseAddr("198.51.100.1"), Dst: netip.MustParseAddr("203.0.113.1"), DstPort: 80, Kind: KindSYN, Count: 150}
	s.Observe(&ev)
	ev.Count = 50
	s.Observe(&ev)
	a := s.Flush()
	if len(a) != 1 || a[0].TotalConns != 200 || a[0].Label != LabelIPSweep {
		t.Fatalf("got %+v, want one IPSweep with 200 conns", a)
	}
}

func TestSeedFlushStartsOver(t *testing.T) {
	s := NewSeed(Config{})
	evs := syns("198.51.100.1", 20, portRange(1, 20), []string{"203.0.113.1"})
	for i := range evs {
		s.Observe(&evs[i])
	}
	if len(s.Flush()) != 1 {
		t.Fatal("want one alert from the first input")
	}
	s.Observe(&evs[0])
	if a := s.Flush(); len(a) != 0 {
		t.Fatalf("second input carried state over: %+v", a)
	}
}

func TestSeedMillionSourcesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million sources")
	}
	// The bound: one million distinct sources in well under 256 MB.
	// Each sends SYNs to two ports, so all are promoted past probation (one
	// SYN each would cost probation's 43 bytes a source).
	const n = 1_000_000
	s := NewSeed(Config{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ev := Event{Time: t0, Dst: netip.MustParseAddr("203.0.113.1"), Kind: KindSYN}
	for i := 0; i < n; i++ {
		ev.Src = netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)})
		for _, p := range []uint16{443, 80} {
			ev.DstPort = p
			s.Observe(&ev)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := after.HeapAlloc - before.HeapAlloc
	t.Logf("%d sources (%d promoted): %.1f MB live heap, %.0f bytes per source", n, s.sources.len(), float64(used)/1e6, float64(used)/n)
	if s.sources.len() != n {
		t.Fatalf("%d promoted, want %d", s.sources.len(), n)
	}
	if used > 160<<20 {
		t.Fatalf("%d sources use %d MB; the bound is well under 256 MB", n, used>>20)
	}
	runtime.KeepAlive(s)
}

func TestSeedScanInsideSpoofedFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("two million spoofed sources")
	}
	for _, tc := range []struct {
		name  string
		rules func(cfg Config) Rules
	}{
		{"whole input", func(cfg Config) Rules { return NewSeed(cfg) }},
		{"windowed", func(cfg Config) Rules { cfg.Window = 5 * time.Minute; return NewSeedWindow(cfg) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probEvicted, evicted := 0, 0
			var alerts []Alert
			r := tc.rules(Config{OnProbationEvict: func() { probEvicted++ }, OnEvict: func() { evicted++ }, OnAlert: func(a Alert) { alerts = append(alerts, a) }})
			scanner := spoofedFlood(r.Observe)
			alerts = append(alerts, r.Flush()...)
			if probEvicted == 0 || evicted != 0 {
				t.Fatalf("%d probation and %d promoted evictions: want the probation cap reached, no promoted eviction", probEvicted, evicted)
			}
			if last := lastAlertOf(alerts, scanner); last.Label != LabelPortScan || last.UniqueDestPorts != 40 || last.TotalConns != 40 {
				t.Fatalf("the scan inside the flood: %+v", last)
			}
		})
	}
}

func TestSeedCapKeepsSourcesThatAlert(t *testing.T) {
	// Sources with two ports each are promoted; past MaxSeedSources one
	// that has not crossed a threshold is evicted, counted, and a scanner
	// that has stays and keeps counting.
	for _, window := range []time.Duration{0, 5 * time.Minute} {
		evicted := 0
		var alerts []Alert
		cfg := Config{MaxSeedSources: 1000, Window: window, OnEvict: func() { evicted++ }, OnAlert: func(a Alert) { alerts = append(alerts, a) }}
		r, _ := New("seed", cfg)
		scanner := promotedChurn(r)
		alerts = append(alerts, r.Flush()...)
		if evicted < 48_000 {
			t.Fatalf("window %v: only %d evictions counted", window, evicted)
		}
		if last := lastAlertOf(alerts, scanner); last.Label != LabelFullNetworkScan || last.UniqueDestPorts != 100 {
			t.Fatalf("window %v: the scanner: %+v", window, last)
		}
	}
}
