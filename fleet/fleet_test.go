package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/natstest"
)

var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// sweep returns a source's SYNs to port 22 of 203.0.113.from..to, one
// every 100 ms from at.
func sweep(src string, from, to int, at time.Time) []detector.Event {
	var evs []detector.Event
	for h := from; h <= to; h++ {
		evs = append(evs, detector.Event{Time: at.Add(time.Duration(h-from) * 100 * time.Millisecond), Src: netip.MustParseAddr(src),
			Dst: netip.AddrFrom4([4]byte{203, 0, 113, byte(h)}), SrcPort: 40000, DstPort: 22, Kind: detector.KindSYN, Flags: detector.FlagSYN,
			TTL: 50, Window: 1024, MSSOnly: true, OptLen: 4})
	}
	return evs
}

func defaultRules(onAlert func(detector.Alert)) (detector.Rules, error) {
	return detector.NewDefault(detector.Config{Window: detector.DefaultWindow, OnAlert: onAlert}), nil
}

// alone runs the default rules over evs as one sensor would.
func alone(evs []detector.Event) []detector.Alert {
	var out []detector.Alert
	r := detector.NewDefault(detector.Config{Window: detector.DefaultWindow, OnAlert: func(a detector.Alert) { out = append(out, a) }})
	for i := range evs {
		r.Observe(&evs[i])
	}
	return append(out, r.Flush()...)
}

func publish(t *testing.T, url, sensor string, evs []detector.Event) *Publisher {
	t.Helper()
	p, err := NewPublisher(PublisherConfig{URL: url, Sensor: sensor, MaxRecords: 7})
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		p.Observe(&evs[i])
	}
	if err := p.Close(10 * time.Second); err != nil {
		t.Fatalf("%s: %v", sensor, err)
	}
	return p
}

type collected struct {
	mu sync.Mutex
	a  []detector.Alert
}

func (c *collected) add(a detector.Alert) { c.mu.Lock(); c.a = append(c.a, a); c.mu.Unlock() }
func (c *collected) all() []detector.Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.a)
}

func drain(t *testing.T, url string) []detector.Alert {
	t.Helper()
	var got collected
	c, err := NewCorrelator(CorrelatorConfig{URL: url, Drain: true, Rules: defaultRules, OnAlert: got.add})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return got.all()
}

// Two sensors each see half of a 40-host sweep: neither alerts, the
// correlator alerts one IPSweep over 40 hosts naming both.
func TestSplitSweep(t *testing.T) {
	srv := natstest.Start(t)
	a, b := sweep("198.51.100.7", 1, 20, t0), sweep("198.51.100.7", 21, 40, t0.Add(2*time.Second))
	for name, evs := range map[string][]detector.Event{"a": a, "b": b} {
		if got := alone(evs); len(got) != 0 {
			t.Fatalf("sensor %s alone alerts: %+v", name, got)
		}
	}
	publish(t, srv.URL, "sensor-a", a)
	publish(t, srv.URL, "sensor-b", b)
	got := drain(t, srv.URL)
	// One episode: new when the 25th host is probed (from sensor-b, so
	// both have seen part of it), final with all 40.
	if len(got) != 2 || got[0].AlertID != got[1].AlertID || got[0].Status != detector.StatusNew || got[1].Status != detector.StatusFinal {
		t.Fatalf("correlator alerts %+v, want one episode: new, then final", got)
	}
	for _, al := range got {
		if al.Label != detector.LabelSweep || al.Source != netip.MustParseAddr("198.51.100.7") || !slices.Equal(al.Sensors, []string{"sensor-a", "sensor-b"}) {
			t.Fatalf("alert %+v: want an IPSweep from 198.51.100.7 naming sensor-a and sensor-b", al)
		}
	}
	if got[1].UniqueDestHosts != 40 || got[1].TotalConns != 40 {
		t.Fatalf("final alert: %d hosts, %d probes; want 40 and 40", got[1].UniqueDestHosts, got[1].TotalConns)
	}
}

// fleetTraffic is several sources' sweeps over three sensors, spread over
// 20 minutes of event time so episodes open and close along the stream.
func fleetTraffic() map[string][]detector.Event {
	out := map[string][]detector.Event{}
	for i := range 12 {
		src := fmt.Sprintf("198.51.100.%d", 10+i)
		at := t0.Add(time.Duration(i) * 100 * time.Second)
		for s := range 3 {
			sensor := fmt.Sprintf("s%d", s)
			out[sensor] = append(out[sensor], sweep(src, 1+s*12, 12+s*12, at.Add(time.Duration(s)*time.Second))...)
		}
	}
	for _, evs := range out {
		slices.SortFunc(evs, func(x, y detector.Event) int { return x.Time.Compare(y.Time) })
	}
	return out
}

func follow(t *testing.T, url, consumer string, got *collected, stopAfter uint64) *CorrelatorStats {
	t.Helper()
	c, err := NewCorrelator(CorrelatorConfig{URL: url, Consumer: consumer, Rules: defaultRules, OnAlert: got.add, Fetch: 5, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for {
		s := c.Stats()
		processed := s.Messages.Load() - s.Rebuilt.Load()
		if (stopAfter > 0 && processed >= stopAfter) || (s.Pending.Load() == 0 && s.LastSeq.Load() > 0 && stopAfter == 0 && processed > 0) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("correlator ended early: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return c.Stats()
}

// A correlator stopped mid-stream and started again emits exactly the
// alert records one uninterrupted correlator emits: no probe lost (the
// counts match), no alert repeated.
func TestCorrelatorResume(t *testing.T) {
	srv := natstest.Start(t)
	// The sensors publish side by side, in event time, as a fleet does.
	type tagged struct {
		p  *Publisher
		ev detector.Event
	}
	var all []tagged
	for sensor, evs := range fleetTraffic() {
		p, err := NewPublisher(PublisherConfig{URL: srv.URL, Sensor: sensor, MaxRecords: 7, Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			all = append(all, tagged{p, ev})
		}
	}
	slices.SortStableFunc(all, func(x, y tagged) int { return x.ev.Time.Compare(y.ev.Time) })
	pubs := map[*Publisher]bool{}
	for i := range all {
		all[i].p.Observe(&all[i].ev)
		pubs[all[i].p] = true
	}
	for p := range pubs {
		if err := p.Close(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var ref, split collected
	refStats := follow(t, srv.URL, "reference", &ref, 0)
	first := follow(t, srv.URL, "interrupted", &split, refStats.Messages.Load()/2)
	second := follow(t, srv.URL, "interrupted", &split, 0)
	if second.Rebuilt.Load() == 0 || second.Rebuilt.Load() != first.LastSeq.Load() {
		t.Fatalf("second run rebuilt %d messages, want the %d the first acknowledged", second.Rebuilt.Load(), first.LastSeq.Load())
	}
	if second.LastSeq.Load() != refStats.LastSeq.Load() {
		t.Fatalf("second run ended at sequence %d, the stream at %d", second.LastSeq.Load(), refStats.LastSeq.Load())
	}
	ids := func(as []detector.Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.RecordID()+" "+a.Status+" "+a.Label+fmt.Sprint(a.UniqueDestHosts, a.Sensors))
		}
		return out
	}
	want, got := ids(ref.all()), ids(split.all())
	if len(want) == 0 {
		t.Fatal("the reference correlator alerted nothing: the traffic does not test resuming")
	}
	if !slices.Equal(got, want) {
		t.Fatalf("interrupted correlator's alerts differ from an uninterrupted one's:\n got %q\nwant %q", got, want)
	}
	if first.Alerts.Load() == 0 || second.Alerts.Load() == 0 {
		t.Fatalf("alerts before the stop %d, after %d: the stop should fall mid-stream, between alerts", first.Alerts.Load(), second.Alerts.Load())
	}
}

// With nats-server gone the publisher never blocks: batches queue up to
// the bound, then drop and are counted; once the server is back, the
// queued batches are delivered.
func TestPublisherOutage(t *testing.T) {
	srv := natstest.Start(t)
	p, err := NewPublisher(PublisherConfig{URL: srv.URL, Sensor: "edge", MaxRecords: 10, Queue: 5, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	evs := sweep("198.51.100.9", 1, 200, t0)
	// The sensor's own detection, fed beside the publisher as run and
	// replay feed it (tee in cmd/scanwatch).
	var local []detector.Alert
	rules := detector.NewDefault(detector.Config{Window: detector.DefaultWindow, OnAlert: func(a detector.Alert) { local = append(local, a) }})
	observe := func(ev *detector.Event) { p.Observe(ev); rules.Observe(ev) }
	for i := range evs[:50] {
		observe(&evs[i])
	}
	waitFor(t, "the first 5 batches published", func() bool { return p.Stats().BatchesSent.Load() == 5 })
	srv.Stop()
	waitFor(t, "the publisher to see the server gone", func() bool { return !p.Stats().Connected.Load() })
	start := time.Now()
	for i := range evs[50:] {
		observe(&evs[50+i])
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("150 Observe calls took %v with NATS down: it must not wait for NATS", d)
	}
	if len(local) == 0 || local[0].UniqueDestHosts < detector.DefaultThresholds.SweepHosts {
		t.Fatalf("local detection during the outage: %+v, want the sweep alerted", local)
	}
	s := p.Stats()
	// 15 batches cut: one may be in the sender's hands, 5 queued, the rest dropped.
	if s.BatchesDropped.Load() < 9 || s.Dropped.Load() != 10*s.BatchesDropped.Load() {
		t.Fatalf("dropped %d batches (%d records) with the server down, want at least 9 (10 records each)", s.BatchesDropped.Load(), s.Dropped.Load())
	}
	dropped := s.BatchesDropped.Load()
	srv.Restart()
	waitFor(t, "the queued batches delivered", func() bool { return s.BatchesSent.Load()+s.BatchesDropped.Load() == 20 })
	if err := p.Close(10 * time.Second); err == nil {
		t.Fatal("Close reported no loss after drops")
	}
	if s.BatchesDropped.Load() != dropped || s.Published.Load() != 200-s.Dropped.Load() {
		t.Fatalf("after the outage: published %d records, dropped %d; want every record not dropped published", s.Published.Load(), s.Dropped.Load())
	}
	// What JetStream holds is what was published, once each.
	var got collected
	c, err := NewCorrelator(CorrelatorConfig{URL: srv.URL, Drain: true, Rules: defaultRules, OnAlert: got.add})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := c.Stats().Records.Load(); n != s.Published.Load() {
		t.Fatalf("the stream holds %d records, the publisher published %d", n, s.Published.Load())
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
