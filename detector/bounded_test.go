package detector

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// The memory bomb, scaled: one source sending SYNs to a million
// IPv6 hosts on three ports. Per-source tables are capped, counts past the
// caps are estimates, and the sweep is still reported with a host count
// near the truth.
func TestDefaultOneSourceMillionHostsIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("three million probes")
	}
	const hosts = 1_000_000
	var alerts []Alert
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := NewDefault(Config{OnAlert: func(a Alert) { alerts = append(alerts, a) }})
	ev := Event{Src: netip.MustParseAddr("2001:db8:1::10"), Kind: KindSYN, Flags: FlagSYN}
	for i := 0; i < hosts; i++ {
		ev.Dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		for _, p := range []uint16{22, 80, 443} {
			ev.Time, ev.DstPort = t0.Add(time.Duration(i)*20*time.Microsecond), p
			d.Observe(&ev)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	s := d.lru.byAddr[ev.Src]
	t.Logf("1 source, %d hosts x 3 ports: %.1f MB live heap, %d targets, %d services, budget %+v", hosts, float64(used)/1e6, s.targets.len(), s.services.len(), s.budget)
	if used > 32<<20 || s.targets.len() > maxTargets {
		t.Fatalf("%d MB held, %d targets: per-source state is not bounded", used>>20, s.targets.len())
	}
	alerts = append(alerts, d.Flush()...)
	last := lastAlertOf(alerts, ev.Src)
	if last.Label != LabelSweep || !last.Estimated || len(last.DestPorts) != 3 {
		t.Fatalf("want an estimated sweep of 3 ports: %+v", last)
	}
	if h := float64(last.UniqueDestHosts); h < hosts*0.95 || h > hosts*1.05 {
		t.Fatalf("estimated %d hosts, truth %d: beyond 5%%", last.UniqueDestHosts, hosts)
	}
	t.Logf("final alert: %d hosts (estimated), %d conns", last.UniqueDestHosts, last.TotalConns)
}

// Past maxExactKeys a vertical scan keeps growing as an estimate: every
// port of one host is a FullNetworkScan of about 65,535 ports.
func TestDefaultAllPortsOfOneHostIsEstimated(t *testing.T) {
	tr := newTraffic()
	for p := 1; p <= 65535; p++ {
		tr.pkt("198.51.100.10", "203.0.113.10", 40000, uint16(p), KindSYN, FlagSYN)
	}
	finals, _, _ := runDefault(t, Config{}, tr.evs)
	if len(finals) != 1 || !finals[0].Estimated || finals[0].Label != LabelFullNetworkScan {
		t.Fatalf("want one estimated FullNetworkScan: %+v", finals)
	}
	if n := float64(finals[0].UniqueDestPorts); n < 65535*0.95 || n > 65535*1.05 {
		t.Fatalf("%d ports estimated, truth 65535", finals[0].UniqueDestPorts)
	}
}
