package detector

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
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

// A scan split one probe per address never promotes a member, so the
// prefix must count probation's first probes too (one SYN each here).
func TestDefaultDistributedOneProbeMembers(t *testing.T) {
	const target = "203.0.113.10"
	oneEach := func(n int, src func(i int) string, dst func(i int) string, port func(i int) uint16) []Event {
		tr := newTraffic()
		for i := range n {
			tr.syn(src(i), dst(i), port(i))
		}
		return tr.evs
	}
	in24 := func(i int) string { return fmt.Sprintf("198.51.100.%d", 1+i) }
	host := func(int) string { return target }
	distinctPort := func(i int) uint16 { return uint16(1000 + i) }
	clients := newTraffic() // 30 clients of one /24, one page each from 30 servers
	for i := range 30 {
		clients.connect(in24(i), fmt.Sprintf("203.0.113.%d", 1+i), 40000, 443)
	}
	for _, tc := range []struct {
		name                  string
		evs                   []Event
		ports, hosts, members int // ports 0: want quiet
	}{
		{"200 addresses of one /24, one SYN each to a distinct port of one host",
			oneEach(200, in24, host, distinctPort), 200, 1, maxMembersListed},
		{"the same 200 probes from 200 /24s",
			oneEach(200, func(i int) string { return fmt.Sprintf("192.0.%d.1", i) }, host, distinctPort), 0, 0, 0},
		{"200 one-SYN clients of one /24 to the same port of one host",
			oneEach(200, in24, host, func(int) uint16 { return 443 }), 0, 0, 0},
		{"30 addresses of one /24, one SYN each to port 443 of a distinct host",
			oneEach(30, in24, func(i int) string { return fmt.Sprintf("203.0.113.%d", 1+i) }, func(int) uint16 { return 443 }), 1, 30, 30},
		{"30 clients of one /24 whose one connection each to 30 servers completes", clients.evs, 0, 0, 0},
		{"IPv6: 200 addresses of one /64, one SYN each",
			oneEach(200, func(i int) string { return fmt.Sprintf("2001:db8:1:1::%x", 1+i) }, func(int) string { return "2001:db8:2::10" }, distinctPort),
			200, 1, maxMembersListed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			finals, _, _ := runDefault(t, Config{}, tc.evs)
			if tc.ports == 0 {
				if len(finals) != 0 {
					t.Fatalf("want quiet: %+v", finals)
				}
				return
			}
			if len(finals) != 1 {
				t.Fatalf("%d alerts, want one: %+v", len(finals), finals)
			}
			a := finals[0]
			if a.Label != LabelDistributed || a.UniqueDestPorts != tc.ports || a.UniqueDestHosts != tc.hosts || len(a.MemberSources) != tc.members {
				t.Fatalf("got %q, %d ports, %d hosts, %d members: %+v", a.Label, a.UniqueDestPorts, a.UniqueDestHosts, len(a.MemberSources), a)
			}
			// total_conns counts every member's probes, listed or not.
			if a.MemberSources[0].String() != tc.evs[0].Src.String() || a.TotalConns != uint64(len(tc.evs)) {
				t.Fatalf("members %v, total_conns %d", a.MemberSources, a.TotalConns)
			}
		})
	}
}

// A million random one-SYN spoofed sources (any routable /24, random
// ports of the scanned host) with the 200-address one-probe scan spread
// through them: the scan is still found with every port, and the heap
// stays bounded. Random sources pair up in some 30,000 /24s, which fill the
// prefix table; those hold a key or two and are evicted before the scan.
func TestDefaultDistributedInsideSpoofedFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a million spoofed sources")
	}
	const flood, members = 1_000_000, 200
	var alerts []Alert
	used, keep := heapAfter(func() any {
		d := NewDefault(Config{OnAlert: func(a Alert) { alerts = append(alerts, a) }})
		rng := rand.New(rand.NewPCG(7, 7))
		dst := netip.MustParseAddr("203.0.113.10")
		ev := Event{Time: t0, Dst: dst, Kind: KindSYN, Flags: FlagSYN}
		for i := range flood {
			ev.Time = ev.Time.Add(time.Microsecond)
			if i%(flood/members) == 0 {
				ev.Src, ev.DstPort = netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i/(flood/members))}), uint16(1000+i/(flood/members))
				d.Observe(&ev)
			}
			b := rng.Uint32()
			a := [4]byte{byte(1 + b%223), byte(b >> 8), byte(b >> 16), byte(b >> 24)}
			if a[0] == 127 || a == [4]byte{198, 51, 100, a[3]} {
				continue
			}
			ev.Src, ev.DstPort = netip.AddrFrom4(a), uint16(rng.Uint32())
			d.Observe(&ev)
		}
		return d
	})
	d := keep.(*Default)
	prob, promoted := d.Held()
	t.Logf("%d on probation, %d promoted, %d prefixes held, %d prefix index entries", prob, promoted, len(d.prefixes), d.prob.firsts4.n)
	var found []Alert
	for _, a := range append(alerts, d.Flush()...) {
		if a.Label == LabelDistributed && a.Status == StatusFinal {
			found = append(found, a)
		}
	}
	t.Logf("heap %.1f MB for %d sources; %d DistributedScan", float64(used)/1e6, flood+members, len(found))
	if len(found) != 1 || found[0].Source.String() != "198.51.100.0" || found[0].UniqueDestPorts != members || len(found[0].MemberSources) != maxMembersListed {
		t.Fatalf("want the /24's scan with %d ports: %+v", members, found)
	}
	// Probation (ring, index and the prefix index: some 60 bytes a random
	// source) and the prefix table at its cap, 16,384 prefixes, most of them
	// a flood's stray pairs at about 2 KB; measured 95 MB.
	if used > 150e6 {
		t.Fatalf("heap grew %.1f MB", float64(used)/1e6)
	}
}
