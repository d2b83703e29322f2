package detector

import (
	"fmt"
	"testing"
	"time"
)

func TestDefaultDistributedScans(t *testing.T) {
	const target = "203.0.113.10"
	split := func(src func(i int) string, dst string) []Event {
		tr := newTraffic()
		for i := range 40 {
			for p := range 5 {
				tr.syn(src(i), dst, uint16(1000+i*5+p))
			}
		}
		return tr.evs
	}
	sweep := newTraffic()
	for i := range 40 {
		for h := range 5 {
			sweep.syn(fmt.Sprintf("198.51.100.%d", 10+i), fmt.Sprintf("203.0.113.%d", i*5+h), 22)
		}
	}
	clients := newTraffic() // 40 clients of one /24 using one service
	for i := range 40 {
		for c := range 5 {
			clients.connect(fmt.Sprintf("198.51.100.%d", 10+i), target, uint16(30000+c), 443)
		}
	}
	page := newTraffic() // several clients of one /24 loading a page from 13 servers
	for i := range 5 {
		for h := 1; h <= 13; h++ {
			page.connect(fmt.Sprintf("198.51.100.%d", 10+i), fmt.Sprintf("203.0.113.%d", h), uint16(31000+h), 80)
		}
	}
	health := newTraffic() // health checkers in one /24 reaching 30 hosts
	for round := range 3 {
		for i := range 4 {
			for h := 1; h <= 30; h++ {
				health.connect(fmt.Sprintf("198.51.100.%d", 40+i), fmt.Sprintf("203.0.113.%d", h), uint16(32000+round*30+h), 443)
			}
		}
		health.after(10 * time.Second)
	}
	for _, tc := range []struct {
		name           string
		evs            []Event
		label          string
		ports, members int
	}{
		{"40 sources of one /24, 5 ports each: 200 ports together",
			split(func(i int) string { return fmt.Sprintf("198.51.100.%d", 10+i) }, target), LabelDistributed, 200, 40},
		{"the same from 40 different /24s is not one network", split(func(i int) string { return fmt.Sprintf("192.0.%d.1", i) }, target), "", 0, 0},
		{"40 sources of one /24, 5 hosts each on port 22", sweep.evs, LabelDistributed, 1, 40},
		{"40 clients of one /24 using one service", clients.evs, "", 0, 0},
		{"clients of one /24 loading a page from 13 servers", page.evs, "", 0, 0},
		{"health checkers of one /24 whose connections complete", health.evs, "", 0, 0},
		{"IPv6: 40 sources of one /64",
			split(func(i int) string { return fmt.Sprintf("2001:db8:1:1::%x", 10+i) }, "2001:db8:2::10"), LabelDistributed, 200, 40},
		{"IPv6: 40 sources of 40 /64s of one /48",
			split(func(i int) string { return fmt.Sprintf("2001:db8:1:%x::1", i) }, "2001:db8:2::10"), "", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			finals, _, _ := runDefault(t, Config{}, tc.evs)
			if tc.label == "" {
				if len(finals) != 0 {
					t.Fatalf("want quiet: %+v", finals)
				}
				return
			}
			if len(finals) != 1 {
				t.Fatalf("%d alerts, want one: %+v", len(finals), finals)
			}
			a := finals[0]
			if a.Label != tc.label || len(a.MemberSources) != tc.members || a.Technique != "T1595" || a.AlertID == "" {
				t.Fatalf("got %q with %d members: %+v", a.Label, len(a.MemberSources), a)
			}
			if a.UniqueDestPorts != tc.ports && !(tc.ports == 1 && a.UniqueDestHosts == 200) {
				t.Fatalf("ports %d hosts %d", a.UniqueDestPorts, a.UniqueDestHosts)
			}
		})
	}
}

func TestDefaultDistributedNotWhenAMemberScansAlone(t *testing.T) {
	// One member scans 60 ports itself, others add a few: its own alert
	// says it; no DistributedScan repeats it.
	tr := newTraffic().vertical("198.51.100.10", "203.0.113.10", 60, KindSYN, FlagSYN)
	for i := range 5 {
		for p := range 3 {
			tr.syn(fmt.Sprintf("198.51.100.%d", 20+i), "203.0.113.10", uint16(100+i*3+p))
		}
	}
	finals, _, _ := runDefault(t, Config{}, tr.evs)
	if len(finals) != 1 || finals[0].Label != LabelFullNetworkScan {
		t.Fatalf("want the member's own scan only: %+v", finals)
	}
}
