package detector

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestDefaultEvasionMarks(t *testing.T) {
	const src, dst = "198.51.100.10", "203.0.113.10"
	marked := func(tr *traffic, from int, marks Evasion) []Event {
		for i := from; i < len(tr.evs); i++ {
			tr.evs[i].Evasion = marks
		}
		return tr.evs
	}
	chain := func(n int) []Event {
		var evs []Event
		for i := range n {
			evs = append(evs, Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Src: netip.MustParseAddr("2001:db8:1::10"),
				Dst: netip.MustParseAddr("2001:db8:2::10"), Kind: KindOther, Evasion: EvasionHeaderChain})
		}
		return evs
	}
	type want struct {
		label   string
		evasion []string
		ports   int
	}
	for _, tc := range []struct {
		name  string
		evs   []Event
		want  []want
		lives int // alerts that went out live
	}{
		{"nmap -f, 60 ports: the scan label stands, with the marks",
			marked(newTraffic().vertical(src, dst, 60, KindSYN, FlagSYN), 0, EvasionFragmented),
			[]want{{LabelFullNetworkScan, []string{"fragmented"}, 60}}, 3}, // EvasiveProbe new, escalated to PortScan, then to FullNetworkScan
		{"three tiny-fragment SYNs: EvasiveProbe",
			marked(newTraffic().vertical(src, dst, 3, KindSYN, FlagSYN), 0, EvasionFragmented|EvasionTinyFragment),
			[]want{{LabelEvasive, []string{"fragmented", "tiny_fragment"}, 3}}, 1},
		{"one fragmented SYN is enough",
			marked(newTraffic().vertical(src, dst, 1, KindSYN, FlagSYN), 0, EvasionFragmented),
			[]want{{LabelEvasive, []string{"fragmented"}, 1}}, 1},
		{"a hundred fragmented SYNs to one port: one alert, not one per packet",
			marked(newTraffic().vertical(src, dst, 1, KindSYN, FlagSYN).vertical(src, dst, 1, KindSYN, FlagSYN).vertical(src, dst, 1, KindSYN, FlagSYN), 0, EvasionFragmented),
			[]want{{LabelEvasive, []string{"fragmented"}, 1}}, 1},
		{"an over-long IPv6 header chain", chain(5), []want{{LabelEvasive, []string{"header_chain"}, 0}}, 1},
		{"fragmented UDP (EDNS answers) is no evidence",
			marked(newTraffic().vertical(src, dst, 3, KindUDP, 0), 0, EvasionFragmented), nil, 0},
		{"a clean scan carries no marks",
			newTraffic().vertical(src, dst, 30, KindSYN, FlagSYN).evs, []want{{LabelPortScan, nil, 30}}, 1},
		{"marks on a few probes of a scan name the scan's evasion",
			marked(newTraffic().vertical(src, dst, 30, KindSYN, FlagSYN), 29, EvasionFragmented),
			[]want{{LabelPortScan, []string{"fragmented"}, 30}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			finals, live, _ := runDefault(t, Config{}, tc.evs)
			if len(finals) != len(tc.want) || len(live) != tc.lives {
				t.Fatalf("%d finals (want %d), %d live (want %d): %+v", len(finals), len(tc.want), len(live), tc.lives, live)
			}
			for i, a := range live {
				if want := StatusEscalated; i > 0 && a.Status != want {
					t.Errorf("live alert %d: %s, want %s", i, a.Status, want)
				}
			}
			for i, w := range tc.want {
				g := finals[i]
				if g.Label != w.label || !slices.Equal(g.Evasion, w.evasion) || g.UniqueDestPorts != w.ports || g.Technique != "T1595" {
					t.Errorf("got %q %v ports=%d %s, want %q %v %d", g.Label, g.Evasion, g.UniqueDestPorts, g.Technique, w.label, w.evasion, w.ports)
				}
				for _, a := range live {
					if a.AlertID != g.AlertID {
						t.Errorf("more than one alert_id: %+v", live)
					}
				}
			}
		})
	}
}

func TestSeedIgnoresEvasionMarks(t *testing.T) {
	evs := syns("198.51.100.1", 3, portRange(1, 3), []string{"203.0.113.1"})
	for i := range evs {
		evs[i].Evasion = EvasionFragmented | EvasionTinyFragment
	}
	s := NewSeed(Config{})
	for i := range evs {
		s.Observe(&evs[i])
	}
	if a := s.Flush(); len(a) != 0 {
		t.Fatalf("the seed rule is the LogScale query: %+v", a)
	}
}
