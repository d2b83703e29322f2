package detector

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// heapAfter returns the live heap growth while f runs (f's result kept).
func heapAfter(f func() any) (uint64, any) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return after.HeapAlloc - before.HeapAlloc, keep
}

// TestProbationBytesPerSource measures what a spoofed one-SYN source costs
// on probation, and what a promoted source costs, at the default caps:
// go test ./detector -run BytesPerSource -v
func TestProbationBytesPerSource(t *testing.T) {
	if testing.Short() {
		t.Skip("a million sources")
	}
	const n4, n6, nPromoted = 1_000_000, 250_000, 100_000
	fill := func(n int, addr func(int) netip.Addr, ports int) func() any {
		return func() any {
			d := NewDefault(Config{})
			ev := Event{Time: t0, Dst: netip.MustParseAddr("203.0.113.10"), Kind: KindSYN, Flags: FlagSYN}
			for i := 0; i < n; i++ {
				ev.Src = addr(i)
				if ev.Src.Is6() {
					ev.Dst = netip.MustParseAddr("2001:db8:2::10")
				}
				for p := range ports {
					ev.DstPort = uint16(80 + p)
					ev.Time = t0.Add(time.Duration(i) * time.Microsecond)
					d.Observe(&ev)
				}
			}
			return d
		}
	}
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}) }
	v6 := func(i int) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
	}
	for _, tc := range []struct {
		name  string
		n     int
		addr  func(int) netip.Addr
		ports int
		bound float64 // bytes per source
	}{
		{"IPv4 on probation", n4, v4, 1, 60},
		{"IPv6 on probation", n6, v6, 1, 120},
		{"IPv4 promoted (two ports)", nPromoted, v4, 2, 4000},
	} {
		used, keep := heapAfter(fill(tc.n, tc.addr, tc.ports))
		d := keep.(*Default)
		prob, promoted := d.Held()
		per := float64(used) / float64(tc.n)
		t.Logf("%s: %d sources (%d on probation, %d promoted): %.1f MB, %.0f bytes each", tc.name, tc.n, prob, promoted, float64(used)/1e6, per)
		if per > tc.bound {
			t.Errorf("%s: %.0f bytes per source, bound %.0f", tc.name, per, tc.bound)
		}
		runtime.KeepAlive(d)
	}
}

func TestProbationPromotion(t *testing.T) {
	src, dst := netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("203.0.113.10")
	syn := func(d *Default, port uint16, count uint32) {
		d.Observe(&Event{Time: t0, Src: src, Dst: dst, DstPort: port, Kind: KindSYN, Flags: FlagSYN, Count: count})
	}
	for _, tc := range []struct {
		name     string
		send     func(d *Default)
		promoted bool
	}{
		{"one SYN stays on probation", func(d *Default) { syn(d, 80, 0) }, false},
		{"a retransmitted SYN stays", func(d *Default) { syn(d, 80, 0); syn(d, 80, 0) }, false},
		{"a third SYN promotes", func(d *Default) { syn(d, 80, 0); syn(d, 80, 0); syn(d, 80, 0) }, true},
		{"a second port promotes", func(d *Default) { syn(d, 80, 0); syn(d, 81, 0) }, true},
		{"a folded burst promotes (XDP)", func(d *Default) { syn(d, 80, 1); syn(d, 80, 128) }, true},
		{"UDP to the same port number is another service", func(d *Default) {
			syn(d, 53, 0)
			d.Observe(&Event{Time: t0, Src: src, Dst: dst, DstPort: 53, Kind: KindUDP})
		}, true},
		{"martian sources are never held", func(d *Default) {
			for _, a := range []string{"0.1.2.3", "127.0.0.2", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::", "::1", "ff02::1", "::ffff:198.51.100.10"} {
				for p := range 30 {
					d.Observe(&Event{Time: t0, Src: netip.MustParseAddr(a), Dst: dst, DstPort: uint16(p), Kind: KindSYN, Flags: FlagSYN})
				}
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDefault(Config{})
			tc.send(d)
			_, promoted := d.Held()
			if (promoted == 1) != tc.promoted {
				t.Fatalf("promoted %d, want %v", promoted, tc.promoted)
			}
			if tc.promoted {
				s := d.lru.byAddr[src]
				if s == nil || s.targets.get(dst.As16()) == nil {
					t.Fatal("promotion lost the first probe")
				}
			}
		})
	}
}

func TestMartianSourcesNeverAlert(t *testing.T) {
	for _, src := range []string{"0.0.0.1", "127.0.0.1", "224.1.2.3", "239.255.255.250", "240.0.0.1", "::1", "ff05::2", "::"} {
		tr := newTraffic().vertical(src, "203.0.113.10", 100, KindSYN, FlagSYN).sweep(src, 30, 80)
		if finals, live, _ := runDefault(t, Config{}, tr.evs); len(finals)+len(live) != 0 {
			t.Errorf("%s: %d alerts from a martian source", src, len(finals)+len(live))
		}
	}
	// 100.64/10 (shared address space) is routable: it counts.
	tr := newTraffic().vertical("100.64.0.1", "203.0.113.10", 30, KindSYN, FlagSYN)
	if finals, _, _ := runDefault(t, Config{}, tr.evs); len(finals) != 1 {
		t.Errorf("100.64.0.1: %d alerts, want 1", len(finals))
	}
}

func TestProbationRingEvictsOldestFirst(t *testing.T) {
	p := probation{max: 4}
	a := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
	dst := netip.MustParseAddr("203.0.113.1")
	evicted := 0
	add := func(i int) {
		if p.add(a(i), firstProbe{first: int64(i), host: dst, port: 80, packets: 1, probes: 1 << ProbeSYN}) {
			evicted++
		}
	}
	for i := 1; i <= 4; i++ {
		add(i)
	}
	p.remove(a(2)) // promoted: its slot dies
	add(5)         // takes the oldest slot: source 1 is evicted
	add(6)         // reuses source 2's dead slot: no eviction
	if _, ok := p.get(a(1)); ok || evicted != 1 || p.len() != 4 {
		t.Fatalf("after wrapping: source 1 held %v, %d evictions, %d held", ok, evicted, p.len())
	}
	for _, i := range []int{3, 4, 5, 6} {
		if _, ok := p.get(a(i)); !ok {
			t.Fatalf("source %d lost", i)
		}
	}
	p.expire(4) // sources 3 and 4 are older than the cut
	if _, ok := p.get(a(4)); ok || p.len() != 2 {
		t.Fatalf("expire kept %d sources", p.len())
	}
	add(7)
	add(8)
	add(9) // the ring is full again (5, 6, 7, 8): 5 goes
	if _, ok := p.get(a(5)); ok || evicted != 2 {
		t.Fatalf("source 5 held %v, %d evictions", ok, evicted)
	}
}
