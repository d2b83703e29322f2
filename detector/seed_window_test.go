package detector

import (
	"net/netip"
	"testing"
	"time"
)

// spaced returns SYNs from src to ports[i%len] every gap.
func spaced(src string, n int, gap time.Duration, ports []uint16) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{Time: t0.Add(time.Duration(i) * gap), Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("203.0.113.10"),
			DstPort: ports[i%len(ports)], Kind: KindSYN}
	}
	return out
}

type alertSummary struct {
	status, label string
	conns         uint64
	ports         int
}

func TestSeedWindow(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		live   []alertSummary // alerts as they happen
		final  []alertSummary // from Flush
	}{
		{"19 ports stays quiet", spaced("198.51.100.1", 19, 100*time.Millisecond, portRange(1, 19)), nil, nil},
		{"30 ports in 3 s alerts at the 20th", spaced("198.51.100.1", 30, 100*time.Millisecond, portRange(1, 30)),
			[]alertSummary{{StatusNew, LabelPortScan, 20, 20}},
			[]alertSummary{{StatusFinal, LabelPortScan, 30, 30}}},
		{"60 ports escalates at the 50th", spaced("198.51.100.1", 60, 10*time.Millisecond, portRange(1, 60)),
			[]alertSummary{{StatusNew, LabelPortScan, 20, 20}, {StatusEscalated, LabelFullNetworkScan, 50, 50}},
			[]alertSummary{{StatusFinal, LabelFullNetworkScan, 60, 60}}},
		{"exactly at the threshold needs no summary", spaced("198.51.100.1", 20, time.Second, portRange(1, 20)),
			[]alertSummary{{StatusNew, LabelPortScan, 20, 20}}, nil},
		{"30 ports over 30 minutes never fills a 5-minute window", spaced("198.51.100.1", 30, time.Minute, portRange(1, 30)), nil, nil},
		{"200 SYNs to one port within the window", spaced("198.51.100.1", 250, 10*time.Millisecond, []uint16{80}),
			[]alertSummary{{StatusNew, LabelIPSweep, 200, 1}},
			[]alertSummary{{StatusFinal, LabelIPSweep, 250, 1}}},
		{"ignored sources stay ignored", spaced("192.168.1.1", 60, time.Millisecond, portRange(1, 60)), nil, nil},
		{"a scan that goes on re-alerts once per window", spaced("198.51.100.1", 12*60, time.Second, portRange(1, 100)),
			// 100 ports cycle every 100 s; the window holds at most 300 s.
			[]alertSummary{{StatusNew, LabelPortScan, 20, 20}, {StatusEscalated, LabelFullNetworkScan, 50, 50},
				{StatusNew, LabelFullNetworkScan, 300, 100}, {StatusNew, LabelFullNetworkScan, 300, 100}},
			nil}, // the window's counts are those of the last alert: nothing to add
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var live []Alert
			r := NewSeedWindow(Config{Ignore: SeedIgnored, Window: 5 * time.Minute, OnAlert: func(a Alert) { live = append(live, a) }})
			for i := range tc.events {
				r.Observe(&tc.events[i])
			}
			compareAlerts(t, "live", live, tc.live)
			compareAlerts(t, "flush", r.Flush(), tc.final)
		})
	}
}

func compareAlerts(t *testing.T, what string, got []Alert, want []alertSummary) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d alerts, want %d: %+v", what, len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Status != w.status || g.Label != w.label || g.TotalConns != w.conns || g.UniqueDestPorts != w.ports {
			t.Errorf("%s alert %d: %s %q conns=%d ports=%d, want %s %q %d %d", what, i, g.Status, g.Label, g.TotalConns, g.UniqueDestPorts, w.status, w.label, w.conns, w.ports)
		}
	}
}

func TestSeedWindowClosesQuietEpisodes(t *testing.T) {
	var live []Alert
	r := NewSeedWindow(Config{Window: time.Minute, OnAlert: func(a Alert) { live = append(live, a) }})
	evs := spaced("198.51.100.1", 30, 10*time.Millisecond, portRange(1, 30))
	// Ten minutes later another source speaks: the first one's episode is
	// closed with its final counts and its state freed.
	later := Event{Time: t0.Add(10 * time.Minute), Src: netip.MustParseAddr("198.51.100.2"), Dst: netip.MustParseAddr("203.0.113.10"), DstPort: 1, Kind: KindSYN}
	for i := range evs {
		r.Observe(&evs[i])
	}
	r.Observe(&later)
	compareAlerts(t, "live", live, []alertSummary{{StatusNew, LabelPortScan, 20, 20}, {StatusFinal, LabelPortScan, 30, 30}})
	// The active one has sent one SYN: it is on probation, not promoted.
	if len(r.sources) != 0 || r.prob.len() != 1 {
		t.Fatalf("%d sources kept, %d on probation: want only the active one, on probation", len(r.sources), r.prob.len())
	}
}

func TestSeedWindowMatchesWholeInputWhenItCoversIt(t *testing.T) {
	// Within one window, the windowed rule's last word equals the
	// whole-input verdict: what makes live and replay comparable.
	evs := append(syns("198.51.100.1", 700, portRange(1, 70), []string{"203.0.113.10"}),
		syns("198.51.100.2", 256, []uint16{80}, []string{"203.0.113.1", "203.0.113.2"})...)
	whole := NewSeed(Config{})
	var last = map[netip.Addr]Alert{}
	win := NewSeedWindow(Config{Window: 5 * time.Minute, OnAlert: func(a Alert) { last[a.Source] = a }})
	for i := range evs {
		whole.Observe(&evs[i])
		win.Observe(&evs[i])
	}
	for _, a := range win.Flush() {
		last[a.Source] = a
	}
	for _, w := range whole.Flush() {
		g := last[w.Source]
		if g.Label != w.Label || g.TotalConns != w.TotalConns || g.UniqueDestPorts != w.UniqueDestPorts || g.UniqueDestHosts != w.UniqueDestHosts {
			t.Errorf("%s: windowed %q %d/%d/%d, whole input %q %d/%d/%d", w.Source, g.Label, g.TotalConns, g.UniqueDestPorts, g.UniqueDestHosts,
				w.Label, w.TotalConns, w.UniqueDestPorts, w.UniqueDestHosts)
		}
	}
}
