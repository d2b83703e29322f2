package detector

import (
	"testing"
	"time"
)

func TestDefaultSlowScanStaysOneEpisode(t *testing.T) {
	// One new port every 40 s for 3 hours: the long window holds 90 ports
	// at a time, so the count stops growing after the first hour, but the
	// source keeps probing: one episode, one alert_id (the issue saw eleven).
	tr := newTraffic()
	for p := 1; p <= 3*3600/40; p++ {
		tr.syn("198.51.100.10", "203.0.113.10", uint16(p)).after(40 * time.Second)
	}
	finals, live, _ := runDefault(t, Config{}, tr.evs)
	ids := map[string]bool{}
	for _, a := range append(live, finals...) {
		ids[a.AlertID] = true
	}
	if len(ids) != 1 || len(finals) != 1 {
		t.Fatalf("%d alert_ids, %d finals: want one episode: %+v", len(ids), len(finals), finals)
	}
}

func TestDefaultFutureEventDoesNotMoveTheClock(t *testing.T) {
	// A scan in progress; one packet from elsewhere stamped ten years
	// ahead. The clock holds, so the scan is not closed and split in two.
	tr := newTraffic().vertical("198.51.100.10", "203.0.113.10", 30, KindSYN, FlagSYN)
	future := newTraffic().after(10*365*24*time.Hour).syn("192.0.2.66", "203.0.113.10", 80).evs
	tr.evs = append(tr.evs, future...)
	tr.after(time.Minute).vertical("198.51.100.10", "203.0.113.10", 60, KindSYN, FlagSYN)
	held := 0
	finals, live, _ := runDefault(t, Config{OnClockHeld: func() { held++ }}, tr.evs)
	ids := map[string]bool{}
	for _, a := range append(live, finals...) {
		ids[a.AlertID] = true
	}
	if held != 1 || len(ids) != 1 || len(finals) != 1 || finals[0].UniqueDestPorts != 60 {
		t.Fatalf("clock held %d times, %d alert_ids, finals %+v: want one 60-port episode", held, len(ids), finals)
	}
}

func TestDefaultRealClockJumpMovesTheClock(t *testing.T) {
	// A capture that resumes two days later: after jumpRun events that
	// agree, the clock moves, and the old scan closes as quiet.
	var live []Alert
	d := NewDefault(Config{OnAlert: func(a Alert) { live = append(live, a) }})
	tr := newTraffic().vertical("198.51.100.10", "203.0.113.10", 30, KindSYN, FlagSYN)
	tr.after(48*time.Hour).sweep("192.0.2.1", jumpRun+10, 443)
	for i := range tr.evs {
		d.Observe(&tr.evs[i])
	}
	closed := false
	for _, a := range live {
		closed = closed || (a.Status == StatusFinal && a.Source.String() == "198.51.100.10")
	}
	if !closed {
		t.Fatalf("want the first scan closed once the jump is accepted: %+v", live)
	}
	if d.clock.now != tr.evs[len(tr.evs)-1].Time.UnixNano() {
		t.Fatal("the clock did not follow the jump")
	}
}
