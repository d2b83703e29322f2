package fleet

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/natstest"
	"github.com/scanwatch/scanwatch/lab"
	"github.com/scanwatch/scanwatch/sensor"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root (XDP in lab namespaces); CI runs as root")
	}
	t.Skip("needs root: sudo make test")
}

// liveSensor is one XDP sensor in a lab's target namespace, detecting
// locally and publishing, as scanwatch run --publish does.
type liveSensor struct {
	live  *sensor.Live
	pub   *Publisher
	mu    sync.Mutex
	local []detector.Alert
	rules *detector.Default
	done  chan error
}

func startLiveSensor(t *testing.T, l *lab.Lab, url, id string, ctx context.Context) *liveSensor {
	t.Helper()
	return startLiveSensorWith(t, l, PublisherConfig{URL: url, Sensor: id, WallClock: true, Heartbeat: time.Second}, ctx)
}

func startLiveSensorWith(t *testing.T, l *lab.Lab, pc PublisherConfig, ctx context.Context) *liveSensor {
	t.Helper()
	s := &liveSensor{done: make(chan error, 1)}
	err := l.InTargetNS(func() error {
		var err error
		s.live, err = sensor.Attach(sensor.LiveConfig{Iface: l.VethTgt, Mode: sensor.ModeAuto})
		return err
	})
	if err != nil {
		t.Fatalf("attach in %s: %+v", l.NSTgt, err)
	}
	t.Cleanup(func() { s.live.Close() })
	// The publisher's connection is made from this goroutine's thread,
	// in the test's own namespace, where nats-server listens.
	if s.pub, err = NewPublisher(pc); err != nil {
		t.Fatal(err)
	}
	s.rules = detector.NewDefault(detector.Config{Window: detector.DefaultWindow, OnAlert: func(a detector.Alert) {
		s.mu.Lock()
		s.local = append(s.local, a)
		s.mu.Unlock()
	}})
	go func() {
		s.done <- s.live.Run(ctx, func(ev *detector.Event) {
			s.pub.Observe(ev)
			s.rules.Observe(ev)
		})
	}()
	waitFor(t, pc.Sensor+" connected to NATS", s.pub.Stats().Connected.Load)
	return s
}

// Two XDP sensors, each on its own lab's target, each see real nmap SYNs
// to 20 hosts of the same 40-host sweep from the same scanner address:
// neither alerts, the correlator alerts the sweep naming both.
func TestPrivilegedFleetLiveSplitSweep(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "nmap")
	srv := natstest.Start(t)
	labA, labB := lab.New(t), lab.New(t)
	ctx, stopSensors := context.WithCancel(context.Background())
	defer stopSensors()
	a := startLiveSensor(t, labA, srv.URL, "xdp-a", ctx)
	b := startLiveSensor(t, labB, srv.URL, "xdp-b", ctx)

	var got collected
	cctx, stopCorrelator := context.WithCancel(context.Background())
	defer stopCorrelator()
	c, err := NewCorrelator(CorrelatorConfig{URL: srv.URL, Rules: defaultRules, OnAlert: got.add})
	if err != nil {
		t.Fatal(err)
	}
	cdone := make(chan error, 1)
	go func() { cdone <- c.Run(cctx) }()

	for _, run := range []struct {
		l     *lab.Lab
		hosts string
	}{{labA, "203.0.113.1-20"}, {labB, "203.0.113.21-40"}} {
		nctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := run.l.Nmap(nctx, "-sS", "-n", "-Pn", "-p22", "--max-retries", "0", run.hosts).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("nmap %s: %v\n%s", run.hosts, err, out)
		}
	}
	var sweep detector.Alert
	waitFor(t, "the correlator's sweep alert", func() bool {
		for _, al := range got.all() {
			if al.Source.String() == lab.ScanIP && al.Label == detector.LabelSweep {
				sweep = al
				return true
			}
		}
		return false
	})
	if !slices.Equal(sweep.Sensors, []string{"xdp-a", "xdp-b"}) || sweep.UniqueDestHosts < detector.DefaultThresholds.SweepHosts {
		t.Fatalf("correlator alert %+v: want an IPSweep naming xdp-a and xdp-b", sweep)
	}
	stopSensors()
	for name, s := range map[string]*liveSensor{"xdp-a": a, "xdp-b": b} {
		if err := <-s.done; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		local := append(s.local, s.rules.Flush()...)
		for _, al := range local {
			if al.Source.String() == lab.ScanIP {
				t.Fatalf("sensor %s alone alerted on its half: %+v", name, al)
			}
		}
		if err := s.pub.Close(10 * time.Second); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s: %d events, %d records published, %d dropped", name, s.pub.Stats().Events.Load(), s.pub.Stats().Published.Load(), s.pub.Stats().Dropped.Load())
	}
	stopCorrelator()
	if err := <-cdone; err != nil {
		t.Fatal(err)
	}
	// All 40 hosts reached the stream: the drained view closes the
	// episode with every one of them.
	for _, al := range drain(t, srv.URL) {
		if al.Source.String() == lab.ScanIP && al.Status == detector.StatusFinal {
			if al.UniqueDestHosts != 40 || !slices.Equal(al.Sensors, []string{"xdp-a", "xdp-b"}) {
				t.Fatalf("final alert %+v: want 40 hosts, both sensors", al)
			}
			t.Logf("live: %s %s over %d hosts, sensors %v; drained final %d hosts", sweep.Label, sweep.Status, sweep.UniqueDestHosts, sweep.Sensors, al.UniqueDestHosts)
			return
		}
	}
	t.Fatal("no final sweep alert from the drained stream")
}

// With nats-server stopped, a live sensor goes on detecting (its own
// alert for a 60-host sweep), its publish queue fills and then drops,
// counted; when the server is back, what was queued is delivered.
func TestPrivilegedFleetLiveOutage(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "nmap")
	srv := natstest.Start(t)
	l := lab.New(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	s := startLiveSensorWith(t, l, PublisherConfig{URL: srv.URL, Sensor: "xdp", WallClock: true, MaxRecords: 5, Queue: 3}, ctx)
	srv.Stop()
	waitFor(t, "the publisher to see the server gone", func() bool { return !s.pub.Stats().Connected.Load() })
	nctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	out, err := l.Nmap(nctx, "-sS", "-n", "-Pn", "-p22", "--max-retries", "0", "203.0.113.1-60").CombinedOutput()
	cancel()
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	st := s.pub.Stats()
	waitFor(t, "all 60 SYNs through the sensor", func() bool { return st.Events.Load() >= 60 })
	waitFor(t, "the local sweep alert", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.local) > 0
	})
	// 60 records in batches of 5: one batch in the sender's hands, 3
	// queued, the rest dropped.
	waitFor(t, "batches dropped while NATS is away", func() bool { return st.BatchesDropped.Load() >= 8 })
	dropped := st.Dropped.Load()
	s.mu.Lock()
	first := s.local[0]
	s.mu.Unlock()
	t.Logf("NATS down: local alert %s over %d hosts; %d of %d records dropped, %d batches queued", first.Label, first.UniqueDestHosts,
		dropped, st.Records.Load(), st.QueueLen())
	srv.Restart()
	waitFor(t, "the queued batches delivered", func() bool { return st.Published.Load()+st.Dropped.Load() >= st.Records.Load() && st.QueueLen() == 0 })
	stop()
	if err := <-s.done; err != nil {
		t.Fatal(err)
	}
	_ = s.pub.Close(10 * time.Second)
	if st.Published.Load() < 20 || st.Dropped.Load() != dropped {
		t.Fatalf("after the outage: %d records published, %d dropped (%d before the restart); want the 4 held batches (20 records) delivered and nothing more dropped",
			st.Published.Load(), st.Dropped.Load(), dropped)
	}
	_, c := drainWith(t, srv.URL)
	if n := c.Stats().Records.Load(); n != st.Published.Load() {
		t.Fatalf("the stream holds %d records, the sensor published %d", n, st.Published.Load())
	}
}
