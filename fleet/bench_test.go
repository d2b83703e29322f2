package fleet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/natstest"
)

// sensorTraffic is one sensor's share of internet background scanning:
// most sources send one probe (the spoofed and the one-shot scanners),
// a few sweep, all to the sensor's own /24 of targets. Data only: no
// packet is sent anywhere.
func sensorTraffic(sensor, n int) []detector.Event {
	r := rand.New(rand.NewPCG(uint64(sensor), 7))
	evs := make([]detector.Event, n)
	for i := range evs {
		var src netip.Addr
		if r.IntN(10) == 0 {
			src = netip.AddrFrom4([4]byte{198, 51, 100, byte(r.IntN(50))}) // 50 sweepers
		} else {
			src = netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
		evs[i] = detector.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Src: src,
			Dst: netip.AddrFrom4([4]byte{10, byte(sensor >> 8), byte(sensor), byte(r.IntN(256))}), SrcPort: uint16(r.IntN(65536)),
			DstPort: []uint16{22, 23, 80, 443, 3389, 8080}[r.IntN(6)], Kind: detector.KindSYN, Flags: detector.FlagSYN, TTL: 50, Window: 1024}
	}
	return evs
}

// BenchmarkFleet publishes N sensors' probe records through a real
// nats-server and judges them with one correlator (--drain: as fast as
// the stream can be read), reporting both rates in probes per second.
// Each sensor publishes concurrently from its own connection.
func BenchmarkFleet(b *testing.B) {
	srv := natstest.Start(b)
	const perSensor = 50_000
	for _, sensors := range []int{1, 4, 16} {
		traffic := make([][]detector.Event, sensors)
		for s := range traffic {
			traffic[s] = sensorTraffic(s, perSensor)
		}
		b.Run(fmt.Sprintf("sensors=%d", sensors), func(b *testing.B) {
			var pubTime, corTime, folTime time.Duration
			var bytes uint64
			for b.Loop() {
				resetStream(b, srv.URL)
				start := time.Now()
				var wg sync.WaitGroup
				var batched atomic.Uint64
				for s := range sensors {
					wg.Go(func() {
						p, err := NewPublisher(PublisherConfig{URL: srv.URL, Sensor: fmt.Sprintf("sensor-%d", s), Queue: 1 << 12})
						if err != nil {
							b.Error(err)
							return
						}
						for i := range traffic[s] {
							p.Observe(&traffic[s][i])
						}
						if err := p.Close(time.Minute); err != nil {
							b.Error(err)
						}
						batched.Add(p.Stats().Records.Load())
					})
				}
				wg.Wait()
				pubTime += time.Since(start)
				bytes += streamState(b, srv.URL).Bytes
				start = time.Now()
				c, err := NewCorrelator(CorrelatorConfig{URL: srv.URL, Drain: true, Rules: defaultRules, OnAlert: func(detector.Alert) {}})
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				corTime += time.Since(start)
				// The same stream through a durable consumer, each batch
				// acknowledged and the acknowledgement confirmed.
				start = time.Now()
				f, err := NewCorrelator(CorrelatorConfig{URL: srv.URL, Consumer: fmt.Sprintf("bench-%d", b.N), Rules: defaultRules, OnAlert: func(detector.Alert) {}})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				fdone := make(chan error, 1)
				go func() { fdone <- f.Run(ctx) }()
				last := streamState(b, srv.URL).LastSeq
				for f.Stats().LastSeq.Load() < last {
					time.Sleep(time.Millisecond)
				}
				folTime += time.Since(start)
				cancel()
				if err := <-fdone; err != nil {
					b.Fatal(err)
				}
				// Records, not probes: repeats of a flow within a second
				// fold into one record's count.
				if got := c.Stats().Records.Load(); got != batched.Load() {
					b.Fatalf("correlated %d records, published %d", got, batched.Load())
				}
			}
			probes := float64(b.N * sensors * perSensor)
			b.ReportMetric(probes/pubTime.Seconds(), "publish_probes/s")
			b.ReportMetric(probes/corTime.Seconds(), "correlate_probes/s")
			b.ReportMetric(probes/folTime.Seconds(), "follow_probes/s")
			b.ReportMetric(float64(bytes)/probes, "stored_bytes/probe")
		})
	}
}

func resetStream(b *testing.B, url string) {
	b.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(context.Background(), DefaultStream); err != nil && err != jetstream.ErrStreamNotFound {
		b.Fatal(err)
	}
}
