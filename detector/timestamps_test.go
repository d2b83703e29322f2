package detector

import (
	"encoding/json"
	"testing"
	"time"
)

// Records of one episode never go back in time, even when the event that
// escalates it is older than the one that opened it (live: ring records
// and map sweeps from several CPUs arrive out of order).
func TestEpisodeTimestampsAreMonotonic(t *testing.T) {
	tr := newTraffic().after(10 * time.Second)
	for p := 1; p <= 20; p++ { // opens a PortScan at t0+10s
		tr.syn("198.51.100.10", "203.0.113.10", uint16(p))
	}
	tr.t = t0.Add(5 * time.Second) // older events escalate it
	for p := 21; p <= 60; p++ {
		tr.syn("198.51.100.10", "203.0.113.10", uint16(p))
	}
	for name, cfg := range map[string]Config{"default": {Window: DefaultWindow}, "seed": {Window: DefaultWindow}} {
		var live []Alert
		cfg.OnAlert = func(a Alert) { live = append(live, a) }
		r, err := New(name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i := range tr.evs {
			r.Observe(&tr.evs[i])
		}
		live = append(live, r.Flush()...)
		var escalated bool
		for i := 1; i < len(live); i++ {
			if live[i].Timestamp.Before(live[i-1].Timestamp) {
				t.Errorf("%s: %s record at %v is earlier than the %s record before it at %v", name, live[i].Status, live[i].Timestamp, live[i-1].Status, live[i-1].Timestamp)
			}
			escalated = escalated || live[i].Status == StatusEscalated
		}
		if !escalated {
			t.Errorf("%s: no escalation: %+v", name, live)
		}
	}
}

// Each record carries @timestamp, a message and its own record_id, the
// same on every run; the records of one episode share alert_id only.
func TestAlertJSONForSIEMs(t *testing.T) {
	tr := newTraffic()
	tr.vertical("198.51.100.10", "203.0.113.10", 600, KindSYN, FlagSYN)
	var live []Alert
	d := NewDefault(Config{Window: DefaultWindow, OnAlert: func(a Alert) { live = append(live, a) }})
	for i := range tr.evs {
		d.Observe(&tr.evs[i])
	}
	live = append(live, d.Flush()...)
	if len(live) < 3 {
		t.Fatalf("%d records, want new, escalated, updated, final", len(live))
	}
	ids := map[string]bool{}
	for _, a := range live {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		if m["@timestamp"] != m["timestamp"] || m["message"] == "" || m["record_id"] == "" {
			t.Fatalf("record lacks SIEM fields: %s", b)
		}
		if ids[m["record_id"].(string)] {
			t.Errorf("record_id %s repeated", m["record_id"])
		}
		ids[m["record_id"].(string)] = true
		if m["alert_id"] != live[0].AlertID {
			t.Errorf("alert_id changed within an episode: %s", b)
		}
		again, _ := json.Marshal(a)
		if string(again) != string(b) {
			t.Error("the same record encodes differently twice")
		}
	}
	if msg := live[len(live)-1].Message(); msg != "198.51.100.10 probed 600 ports of 203.0.113.10 (T1595 - FullNetworkScan, syn scan): final" {
		t.Errorf("message %q", msg)
	}
}
