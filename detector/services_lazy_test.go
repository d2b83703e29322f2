package detector

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
	"unsafe"
)

// TestHeldServicesChangeNothing runs random event streams through the
// default rules twice in lockstep, with services held back (sources'
// services_lazy.go, prefixes' prefix_lazy.go) and kept from the first
// probe, and requires the same alerts, byte for byte (compared sorted:
// closeQuiet walks a map, so alerts closed together come in any order);
// the same key budget and service count for every source and prefix
// throughout; and at the end, services built from each log equal to those
// kept, field for field, in the same table order. The streams mix what builds the services from a log: a
// second host after many ports of one, credit, gaps past the long window,
// events out of order, runs past the log's bound, evasion marks and every
// probe kind; three sources share a /24. Small thresholds make sweeps,
// floods and prefix alerts common.
func TestHeldServicesChangeNothing(t *testing.T) {
	defer func() { holdServices = true }()
	for seed := range uint64(120) {
		r := rand.New(rand.NewPCG(seed, 7))
		evs := randomStream(r, seed%3 == 0)
		cfg := Config{}
		if seed%2 == 1 {
			cfg.Thresholds = Thresholds{PortScanPorts: 5, FullScanPorts: 12, SweepHosts: 3, FloodSYNs: 40, FloodRate: 5}
		}
		if seed%5 == 0 {
			cfg.MaxSources = 4
		}
		var held, kept []string
		dh, dk := NewDefault(withAlerts(t, cfg, &held)), NewDefault(withAlerts(t, cfg, &kept))
		for i := range evs {
			a, b := evs[i], evs[i]
			holdServices = true
			dh.Observe(&a)
			holdServices = false
			dk.Observe(&b)
			if i%16 == 0 || i == len(evs)-1 {
				sameState(t, seed, i, dh, dk)
			}
		}
		for s := dh.lru.tail; s != nil; s = s.prev {
			s.materialize()
			k := dk.lru.byAddr[s.addr]
			if !slices.Equal(s.services.keys, k.services.keys) {
				t.Fatalf("seed %d: %s built services %v, kept %v", seed, s.addr, s.services.keys, k.services.keys)
			}
			for i := range s.services.len() {
				if *s.services.val(i) != *k.services.val(i) {
					t.Fatalf("seed %d: %s service %d built %+v, kept %+v", seed, s.addr, s.services.keys[i], *s.services.val(i), *k.services.val(i))
				}
			}
		}
		samePrefixServices(t, seed, dh, dk)
		held, kept = append(held, alertJSON(t, dh.Flush())...), append(kept, alertJSON(t, dk.Flush())...)
		slices.Sort(held)
		slices.Sort(kept)
		if len(held) != len(kept) {
			t.Fatalf("seed %d: %d alerts held back, %d kept", seed, len(held), len(kept))
		}
		for i := range held {
			if held[i] != kept[i] {
				t.Fatalf("seed %d, alert %d:\nheld %s\nkept %s", seed, i, held[i], kept[i])
			}
		}
	}
}

// sameState compares what the two runs hold for every source.
func sameState(t *testing.T, seed uint64, i int, dh, dk *Default) {
	t.Helper()
	if len(dh.lru.byAddr) != len(dk.lru.byAddr) {
		t.Fatalf("seed %d, event %d: %d sources held back, %d kept", seed, i, len(dh.lru.byAddr), len(dk.lru.byAddr))
	}
	for a, s := range dh.lru.byAddr {
		k := dk.lru.byAddr[a]
		if k == nil || s.budget != k.budget || s.serviceCount() != k.services.len() {
			t.Fatalf("seed %d, event %d, source %s: held back budget %+v, %d services; kept %+v, %d", seed, i, a, s.budget, s.serviceCount(), k.budget, k.services.len())
		}
	}
	if len(dh.prefixes) != len(dk.prefixes) {
		t.Fatalf("seed %d, event %d: %d prefixes held back, %d kept", seed, i, len(dh.prefixes), len(dk.prefixes))
	}
	for key, p := range dh.prefixes {
		k := dk.prefixes[key]
		if k == nil || p.src.budget != k.src.budget || p.serviceCount() != k.services.len() {
			t.Fatalf("seed %d, event %d, prefix %s: held back budget %+v, %d services; kept %+v, %d", seed, i, p.src.addr, p.src.budget, p.serviceCount(), k.src.budget, k.services.len())
		}
	}
}

// samePrefixServices builds each prefix's services from its log and
// compares them with those kept.
func samePrefixServices(t *testing.T, seed uint64, dh, dk *Default) {
	t.Helper()
	for key, p := range dh.prefixes {
		p.materialize()
		k := dk.prefixes[key]
		if !slices.Equal(p.services.keys, k.services.keys) {
			t.Fatalf("seed %d: prefix %s built services %v, kept %v", seed, p.src.addr, p.services.keys, k.services.keys)
		}
		for i := range p.services.len() {
			a, b := p.services.val(i), k.services.val(i)
			if a.first != b.first || a.alone != b.alone || !sameTiers(&a.keys, &b.keys) || !sameTiers(&a.done, &b.done) {
				t.Fatalf("seed %d: prefix %s service %d built %+v, kept %+v", seed, p.src.addr, p.services.keys[i], *a, *b)
			}
		}
	}
}

// sameTiers compares two host sets' contents (not their pointers).
func sameTiers(a, b *hostTiers) bool {
	x, y := *a, *b
	x.more, y.more = nil, nil
	if x != y || (a.more == nil) != (b.more == nil) {
		return false
	}
	if a.more == nil {
		return true
	}
	m, n := a.more, b.more
	if !slices.Equal(m.last.keys, n.last.keys) || !slices.Equal(m.keys, n.keys) || !slices.Equal(m.runs, n.runs) ||
		m.shortRun != n.shortRun || m.shortKey != n.shortKey || (m.over == nil) != (n.over == nil) {
		return false
	}
	for i := range m.last.len() {
		if *m.last.val(i) != *n.last.val(i) {
			return false
		}
	}
	return true
}

func withAlerts(t *testing.T, cfg Config, out *[]string) Config {
	cfg.OnAlert = func(a Alert) { *out = append(*out, alertJSON(t, []Alert{a})...) }
	return cfg
}

func alertJSON(t *testing.T, as []Alert) []string {
	var out []string
	for _, a := range as {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// randomStream is a few sources probing a few hosts in runs, as scanners
// do, with clients' credited connections and answered UDP among them.
// With oneHost, the /24's sources probe one host, mostly.
func randomStream(r *rand.Rand, oneHost bool) []Event {
	srcs := []netip.Addr{
		netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("198.51.100.8"),
		netip.MustParseAddr("198.51.100.9"), netip.MustParseAddr("192.0.2.33"),
		netip.MustParseAddr("2001:db8:1::5"),
	}
	hosts := []netip.Addr{
		netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2"),
		netip.MustParseAddr("203.0.113.3"), netip.MustParseAddr("203.0.113.4"),
	}
	hosts6 := []netip.Addr{netip.MustParseAddr("2001:db8:2::1"), netip.MustParseAddr("2001:db8:2::2")}
	now := t0
	var evs []Event
	for range 40 + r.IntN(40) {
		si := r.IntN(len(srcs))
		src := srcs[si]
		hs := hosts
		if src.Is6() {
			hs = hosts6
		}
		host := hs[r.IntN(len(hs))]
		if si < 2 && r.IntN(10) > 0 {
			host = hs[si] // a vertical scanner of one host, mostly
		}
		if oneHost && si < 3 && r.IntN(20) > 0 {
			host = hs[0]
		}
		// A run: one host's ports, or one port over hosts.
		n := 1 + r.IntN(80)
		if r.IntN(10) == 0 {
			n = 2100 + r.IntN(300) // past the log's bound
		}
		sweep := r.IntN(4) == 0 && host != hs[si%len(hs)] && !oneHost
		port := uint16(1 + r.IntN(200))
		kind := [...]Kind{KindSYN, KindSYN, KindSYN, KindUDP, KindOther}[r.IntN(5)]
		for i := range n {
			ev := Event{Src: src, Dst: host, SrcPort: uint16(40000 + r.IntN(1000)), Kind: kind, Window: 1024, OptLen: 4, MSSOnly: true}
			switch {
			case sweep:
				ev.Dst = hs[i%len(hs)]
				ev.DstPort = port
			case n > 2000:
				ev.DstPort = uint16(1 + r.IntN(3000))
			default:
				ev.DstPort = uint16(1 + r.IntN(300))
			}
			switch kind {
			case KindSYN:
				ev.Flags = FlagSYN
			case KindOther:
				ev.Flags, ev.OptLen, ev.MSSOnly = [...]uint8{FlagACK, FlagFIN, 0}[r.IntN(3)], 0, false
			}
			if r.IntN(40) == 0 {
				ev.Evasion = EvasionFragmented
			}
			if r.IntN(8) == 0 {
				ev.Count = uint32(1 + r.IntN(5))
			}
			now = now.Add(time.Duration(r.IntN(3000)) * time.Microsecond)
			ev.Time = now
			if r.IntN(20) == 0 {
				ev.Time = now.Add(-time.Duration(r.IntN(2000)) * time.Millisecond) // out of order
			}
			evs = append(evs, ev)
			if r.IntN(12) == 0 {
				// The source used the connection, or its datagram was answered.
				c := Event{Time: ev.Time, Src: src, Dst: ev.Dst, DstPort: ev.DstPort, Kind: KindCreditTCP}
				if kind == KindUDP {
					c.Kind = KindCreditUDP
				}
				evs = append(evs, c)
			}
		}
		switch r.IntN(8) {
		case 0:
			now = now.Add(DefaultLongWindow + time.Duration(r.IntN(600))*time.Second)
		case 1, 2:
			// Most of a long window: a source active past it whose old
			// ports leave its sets.
			now = now.Add(DefaultLongWindow * 3 / 4)
		case 3:
			now = now.Add(time.Duration(r.IntN(120)) * time.Second)
		}
	}
	return evs
}

// TestLogProbeBounds: a count an entry cannot hold is refused (the caller
// builds the services); a run whose count or second an entry cannot take
// starts an entry of its own; a full log takes merges only.
func TestLogProbeBounds(t *testing.T) {
	const b = 1_000_000 // the log's first second
	w := instant{sec: b}
	var l lazyLog
	if l.logProbe(80, ProbeSYN, 1<<8, b*1e9, w) {
		t.Fatal("a count past 8 bits was logged")
	}
	if !l.logProbe(80, ProbeSYN, 1<<8-1, b*1e9+7, w) || !l.logProbe(80, ProbeSYN, 1, b*1e9, w) || l.n != 2 {
		t.Fatalf("%d entries, want the second probe in an entry of its own", l.n)
	}
	if e := l.chunks[0][0]; l.first(&e) != b*1e9+7 {
		t.Fatalf("first entry's time %d, want %d", l.first(&e), int64(b*1e9+7))
	}
	for i, sec := range []int64{b + 1<<8, b - 1, b - 2} { // too late for the run, then out of order twice
		if !l.logProbe(80, ProbeSYN, 1, sec*1e9, instant{sec: sec}) || l.n != 3+i {
			t.Fatalf("second %d: %d entries, want %d", sec, l.n, 3+i)
		}
	}
	if !l.logProbe(80, ProbeSYN, 1, (b-1)*1e9, instant{sec: b - 1}) || l.n != 5 {
		t.Fatalf("%d entries: a probe of the run's port a second later was not merged", l.n)
	}
	// Seconds an entry cannot hold, from the log's first, and a stamp
	// before 1970: refused, so the caller builds the services.
	for _, sec := range []int64{b + 1<<15, b - 1<<15 - 1} {
		if l.logProbe(81, ProbeSYN, 1, sec*1e9, instant{sec: sec}) {
			t.Fatalf("second %d logged, %d from the log's first", sec, sec-b)
		}
	}
	if l.logProbe(81, ProbeSYN, 1, -1, instant{sec: 0}) {
		t.Fatal("a stamp before 1970 was logged")
	}
	for _, sec := range []int64{b + 1<<15 - 1, b - 1<<15} {
		if !l.logProbe(82, ProbeSYN, 1, sec*1e9+5, instant{sec: sec}) {
			t.Fatalf("second %d refused, %d from the log's first", sec, sec-b)
		}
		last := l.chunks[len(l.chunks)-1]
		if e := last[len(last)-1]; l.first(&e) != sec*1e9+5 {
			t.Fatalf("second %d: entry's time %d", sec, l.first(&e))
		}
	}
	for i := l.n; i < lazyMaxEntries; i++ {
		if !l.logProbe(uint32(i), ProbeSYN, 1, b*1e9, w) {
			t.Fatalf("entry %d refused below the bound", i)
		}
	}
	if l.logProbe(1<<16, ProbeUDP, 1, b*1e9, w) || !l.logProbe(lazyMaxEntries-1, ProbeFIN, 1, b*1e9, w) {
		t.Fatal("a full log took a new entry, or refused a merge")
	}
	last := l.chunks[len(l.chunks)-1]
	if e := last[len(last)-1]; e.key != lazyMaxEntries-1|(1<<ProbeSYN|1<<ProbeFIN)<<svProbeShift || e.packets != 2 {
		t.Fatalf("merged entry %+v", e)
	}
	if unsafe.Sizeof(svProbe{}) != 12 {
		t.Fatalf("an entry is %d bytes, want 12", unsafe.Sizeof(svProbe{}))
	}
}
