package detector

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestSensorTracker(t *testing.T) {
	names := func(i uint16) string { return fmt.Sprintf("s%02d", i) }
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ev := func(src string, sensor uint16, at time.Duration) *Event {
		return &Event{Time: t0.Add(at), Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("203.0.113.1"), Kind: KindSYN, Sensor: sensor}
	}
	t.Run("union, sorted, once each", func(t *testing.T) {
		tr := SensorTracker{Name: names}
		for _, s := range []uint16{3, 1, 3, 2, 0} {
			tr.Observe(ev("198.51.100.7", s, 0))
		}
		a := Alert{Source: netip.MustParseAddr("198.51.100.7")}
		tr.Annotate(&a)
		if !slices.Equal(a.Sensors, []string{"s01", "s02", "s03"}) {
			t.Fatalf("sensors %v", a.Sensors)
		}
	})
	t.Run("members of a distributed scan", func(t *testing.T) {
		tr := SensorTracker{Name: names}
		tr.Observe(ev("198.51.100.7", 1, 0))
		tr.Observe(ev("198.51.100.8", 2, 0))
		a := Alert{Source: netip.MustParseAddr("198.51.100.0"), MemberSources: []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("198.51.100.8")}}
		tr.Annotate(&a)
		if !slices.Equal(a.Sensors, []string{"s01", "s02"}) {
			t.Fatalf("sensors %v", a.Sensors)
		}
	})
	t.Run("a single sensor's events are not tracked", func(t *testing.T) {
		tr := SensorTracker{Name: names}
		tr.Observe(ev("198.51.100.7", 0, 0))
		a := Alert{Source: netip.MustParseAddr("198.51.100.7")}
		tr.Annotate(&a)
		if a.Sensors != nil || tr.Held() != 0 {
			t.Fatalf("sensors %v, held %d", a.Sensors, tr.Held())
		}
	})
	t.Run("bounded", func(t *testing.T) {
		tr := SensorTracker{Name: names, MaxSources: 10, Keep: time.Minute}
		for i := range 20 {
			tr.Observe(ev(fmt.Sprintf("192.0.2.%d", i), 1, 0))
		}
		if tr.Held() != 10 || tr.Untracked != 10 {
			t.Fatalf("held %d, untracked %d; want 10 and 10", tr.Held(), tr.Untracked)
		}
		for s := range uint16(100) {
			tr.Observe(ev("192.0.2.1", s+1, 0))
		}
		a := Alert{Source: netip.MustParseAddr("192.0.2.1")}
		tr.Annotate(&a)
		if len(a.Sensors) != MaxSensorsListed {
			t.Fatalf("%d sensors listed, want %d", len(a.Sensors), MaxSensorsListed)
		}
		// Two minutes on, everything idle for more than Keep goes.
		tr.Observe(ev("198.51.100.9", 1, 2*time.Minute))
		if tr.Held() != 1 {
			t.Fatalf("held %d after expiry, want 1", tr.Held())
		}
	})
}

// Advance closes an episode quiet for a whole window, as a later event
// would, and a time behind the clock changes nothing.
func TestAdvanceClosesQuietEpisodes(t *testing.T) {
	var got []Alert
	d := NewDefault(Config{Window: time.Minute, OnAlert: func(a Alert) { got = append(got, a) }})
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for h := range 30 {
		d.Observe(&Event{Time: t0.Add(time.Duration(h) * time.Millisecond), Src: netip.MustParseAddr("198.51.100.7"),
			Dst: netip.AddrFrom4([4]byte{203, 0, 113, byte(h + 1)}), DstPort: 22, Kind: KindSYN, Flags: FlagSYN})
	}
	if len(got) != 1 || got[0].Status != StatusNew {
		t.Fatalf("alerts %+v, want one new", got)
	}
	d.Advance(t0.Add(-time.Hour))
	d.Advance(t0.Add(30 * time.Second))
	if len(got) != 1 {
		t.Fatalf("advancing less than a window closed the episode: %+v", got)
	}
	d.Advance(t0.Add(2 * time.Minute))
	if len(got) != 2 || got[1].Status != StatusFinal || got[1].UniqueDestHosts != 30 {
		t.Fatalf("alerts %+v, want the final with 30 hosts after a quiet window", got)
	}
}
