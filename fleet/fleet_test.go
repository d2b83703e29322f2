package fleet

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
	alerts, _ := drainWith(t, url)
	return alerts
}

// drainWith judges what the stream holds, as --drain does, and returns
// the alerts and the correlator, for its counts.
func drainWith(t *testing.T, url string) ([]detector.Alert, *Correlator) {
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
	return got.all(), c
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

// follow runs a correlator on the durable consumer until it has judged
// the stream up to sequence last, or (stopAtAlert > 0) stops it from the
// alert callback at its stopAtAlert-th alert: mid-stream, at a point
// that does not depend on timing.
func follow(t *testing.T, url, consumer string, got *collected, last uint64, stopAtAlert int) *CorrelatorStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := 0
	onAlert := func(a detector.Alert) {
		got.add(a)
		if n++; n == stopAtAlert {
			cancel()
		}
	}
	c, err := NewCorrelator(CorrelatorConfig{URL: url, Consumer: consumer, Rules: defaultRules, OnAlert: onAlert, Fetch: 5})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for stopAtAlert == 0 && c.Stats().LastSeq.Load() < last {
		select {
		case err := <-done:
			t.Fatalf("correlator ended at sequence %d of %d: %v", c.Stats().LastSeq.Load(), last, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if stopAtAlert == 0 {
		cancel()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatal("correlator timed out")
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
	last := streamState(t, srv.URL).LastSeq
	refStats := follow(t, srv.URL, "reference", &ref, last, 0)
	first := follow(t, srv.URL, "interrupted", &split, 0, len(ref.all())/2)
	second := follow(t, srv.URL, "interrupted", &split, last, 0)
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
	if first.LastSeq.Load() >= last || second.Alerts.Load() == 0 {
		t.Fatalf("stopped at sequence %d of %d, %d alerts after: the stop should fall mid-stream, between alerts", first.LastSeq.Load(), last, second.Alerts.Load())
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
	_, c := drainWith(t, srv.URL)
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

// streamState is what the server says of the probe stream now.
func streamState(tb testing.TB, url string) jetstream.StreamState {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), DefaultStream)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return info.State
}

// Sharded by source prefix, each correlator judges its shard's sources
// alone, and together they alert what one correlator over everything
// alerts.
func TestShardedCorrelators(t *testing.T) {
	srv := natstest.Start(t)
	const shards = 4
	// Two scanners whose /24s fall in different shards.
	a := netip.MustParseAddr("198.51.100.7")
	var b netip.Addr
	for i := range 256 {
		b = netip.AddrFrom4([4]byte{192, 0, byte(i), 9})
		if ShardOf(b, shards) != ShardOf(a, shards) {
			break
		}
	}
	for s, half := range [][2]int{{1, 20}, {21, 40}} {
		p, err := NewPublisher(PublisherConfig{URL: srv.URL, Sensor: fmt.Sprintf("edge-%d", s), Shards: shards, MaxRecords: 5})
		if err != nil {
			t.Fatal(err)
		}
		evs := append(sweep(a.String(), half[0], half[1], t0), sweep(b.String(), half[0], half[1], t0.Add(time.Minute))...)
		for i := range evs {
			p.Observe(&evs[i])
		}
		if err := p.Close(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var union []string
	for i := range shards {
		var got collected
		c, err := NewCorrelator(CorrelatorConfig{URL: srv.URL, Drain: true, FilterSubject: fmt.Sprintf("%s.shard%d.>", DefaultSubject, i),
			Rules: defaultRules, OnAlert: got.add})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, al := range got.all() {
			if ShardOf(al.Source, shards) != i {
				t.Fatalf("shard %d alerts %s, a source of shard %d", i, al.Source, ShardOf(al.Source, shards))
			}
			union = append(union, al.RecordID())
		}
	}
	var whole []string
	for _, al := range drain(t, srv.URL) {
		whole = append(whole, al.RecordID())
	}
	slices.Sort(union)
	slices.Sort(whole)
	if len(whole) != 4 || !slices.Equal(union, whole) {
		t.Fatalf("sharded correlators alerted %q, one over the whole stream %q; want the same 4 (new and final of two sweeps)", union, whole)
	}
}

// A correlator following the stream rides out a nats-server restart:
// it reconnects and goes on, and its alerts are those of a correlator
// that never saw the server go.
func TestCorrelatorRidesOutServerRestart(t *testing.T) {
	srv := natstest.Start(t)
	first, second := sweep("198.51.100.7", 1, 20, t0), sweep("198.51.100.7", 21, 40, t0.Add(5*time.Second))
	publish(t, srv.URL, "edge-a", first)
	var got collected
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := NewCorrelator(CorrelatorConfig{URL: srv.URL, Rules: defaultRules, OnAlert: got.add})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	last := streamState(t, srv.URL).LastSeq
	waitFor(t, "the first half judged", func() bool { return c.Stats().LastSeq.Load() == last })
	srv.Stop()
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	publish(t, srv.URL, "edge-b", second)
	last = streamState(t, srv.URL).LastSeq
	waitFor(t, "the second half judged after the restart", func() bool { return c.Stats().LastSeq.Load() == last })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var ref collected
	follow(t, srv.URL, "reference", &ref, last, 0)
	ids := func(as []detector.Alert) (out []string) {
		for _, a := range as {
			out = append(out, a.RecordID())
		}
		return out
	}
	if g, w := ids(got.all()), ids(ref.all()); len(w) == 0 || !slices.Equal(g, w) {
		t.Fatalf("across the restart %q, uninterrupted %q", g, w)
	}
}

// HTTP heads travel too: a wordlist scan spread over two sensors (two
// load-balanced front ends, 60 distinct paths each, under the 100 the
// web rules ask of one client) is a WordlistScan at the correlator.
func TestSplitWordlist(t *testing.T) {
	srv := natstest.Start(t)
	const ua = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"
	half := func(from int, dst string) []detector.Event {
		var evs []detector.Event
		for i := from; i < from+60; i++ {
			target := fmt.Sprintf("/word%c%c%d", 'a'+i%26, 'a'+i/26%26, i)
			head := "GET " + target + " HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: " + ua + "\r\n\r\n"
			evs = append(evs, detector.Event{Time: t0.Add(time.Duration(i) * 50 * time.Millisecond), Src: netip.MustParseAddr("198.51.100.7"),
				Dst: netip.MustParseAddr(dst), SrcPort: 40000, DstPort: 80, Kind: detector.KindOther, Flags: detector.FlagACK | detector.FlagPSH,
				HTTP: &detector.HTTP{Method: "GET", Target: target, Host: "shop.example", UserAgent: ua, Head: head}})
		}
		return evs
	}
	a, b := half(0, "203.0.113.80"), half(60, "203.0.113.81")
	for name, evs := range map[string][]detector.Event{"a": a, "b": b} {
		if got := alone(evs); len(got) != 0 {
			t.Fatalf("front end %s alone alerts: %+v", name, got)
		}
	}
	publish(t, srv.URL, "web-a", a)
	publish(t, srv.URL, "web-b", b)
	var final *detector.Alert
	for _, al := range drain(t, srv.URL) {
		if al.Status == detector.StatusFinal {
			final = &al
		}
	}
	if final == nil || final.Label != detector.LabelWordlistScan || !slices.Equal(final.Sensors, []string{"web-a", "web-b"}) || final.HTTP == nil || final.HTTP.DistinctPaths != 120 {
		t.Fatalf("correlator's final alert %+v: want a WordlistScan over 120 paths naming web-a and web-b", final)
	}
}

// A batch claiming a sensor id its subject does not end in is refused:
// with NATS permissions per subject, a sensor cannot speak for another.
func TestCorrelatorRefusesForeignSensorID(t *testing.T) {
	srv := natstest.Start(t)
	publish(t, srv.URL, "edge-a", sweep("198.51.100.7", 1, 3, t0)) // makes the stream
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	forged := AppendBatch(nil, &Batch{Sensor: "edge-b", Seq: 1, Events: sweep("198.51.100.7", 4, 40, t0)})
	if _, err := js.Publish(context.Background(), DefaultSubject+".edge-a", forged); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), DefaultSubject+".edge-a", []byte(`{"not":"a batch"}`)); err != nil {
		t.Fatal(err)
	}
	alerts, c := drainWith(t, srv.URL)
	if s := c.Stats(); s.Invalid.Load() != 2 || s.Records.Load() != 3 || len(alerts) != 0 {
		t.Fatalf("invalid %d, records %d, alerts %d: want the forged batch and the stray message refused, edge-a's 3 probes judged, no alert",
			s.Invalid.Load(), s.Records.Load(), len(alerts))
	}
}
