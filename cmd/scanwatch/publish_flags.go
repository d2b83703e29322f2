package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/fleet"
)

// natsFlags are how run, replay and correlate reach NATS: NATS's own
// credentials (creds file, nkey seed) and TLS.
type natsFlags struct {
	creds, nkey, ca, cert, key string
}

func (n *natsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.creds, "nats.creds", "", "NATS user credentials file (JWT and nkey seed, as nsc writes it)")
	fs.StringVar(&n.nkey, "nats.nkey", "", "NATS nkey user seed file (SU...)")
	fs.StringVar(&n.ca, "nats.tls.ca", "", "CA bundle the NATS server's certificate must chain to (use tls:// URLs)")
	fs.StringVar(&n.cert, "nats.tls.cert", "", "client certificate for mutual TLS with NATS (with --nats.tls.key)")
	fs.StringVar(&n.key, "nats.tls.key", "", "client key for --nats.tls.cert")
}

func (n *natsFlags) auth() fleet.Auth {
	return fleet.Auth{Creds: n.creds, NKey: n.nkey, CA: n.ca, Cert: n.cert, Key: n.key}
}

// publishFlags are --publish and its companions, on run and replay.
type publishFlags struct {
	url, subject, sensor, stream string
	queue, batch, shards         int
	interval, flushTimeout       time.Duration
	nats                         natsFlags
}

func (p *publishFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.url, "publish", "", "also publish probe summaries to NATS JetStream at this URL (nats://HOST:4222), for scanwatch correlate; detection here is unchanged")
	fs.StringVar(&p.sensor, "publish.sensor", "", "this sensor's id in the fleet (default: the host name)")
	fs.StringVar(&p.subject, "publish.subject", "", "subject to publish to (default scanwatch.probes.<sensor>); must fall under the stream's subjects")
	fs.StringVar(&p.stream, "publish.stream", fleet.DefaultStream, "JetStream stream, created (on scanwatch.probes.>) if missing")
	fs.IntVar(&p.shards, "publish.shards", 1, "split probes by source /24 (IPv6 /64) over this many subjects, scanwatch.probes.shard<i>.<sensor>, one correlator each (--filter-subject 'scanwatch.probes.shard<i>.>')")
	fs.IntVar(&p.queue, "publish.queue", 1024, "batches held while NATS is away or slow; beyond it new batches are dropped and counted")
	fs.IntVar(&p.batch, "publish.batch", 1000, "probe records per batch at most")
	fs.DurationVar(&p.interval, "publish.interval", 100*time.Millisecond, "a batch goes out at least this often while probes come")
	fs.DurationVar(&p.flushTimeout, "publish.flush-timeout", 10*time.Second, "at exit, how long to wait for NATS to take what is queued")
	p.nats.register(fs)
}

// start makes the publisher, or returns nil without --publish. live:
// the sensor's clock is the wall clock and idle heartbeats are sent.
func (p *publishFlags) start(live bool, log *slog.Logger) (*fleet.Publisher, error) {
	if p.url == "" {
		return nil, nil
	}
	if err := fleet.CheckURL(p.url); err != nil {
		return nil, usageError{fmt.Errorf("--publish %w", err)}
	}
	if p.sensor == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, usageError{fmt.Errorf("--publish.sensor: no host name to default to (%w): give an id", err)}
		}
		p.sensor = strings.ReplaceAll(h, ".", "_")
	}
	if err := fleet.CheckSensorID(p.sensor); err != nil {
		return nil, usageError{fmt.Errorf("--publish.sensor: %w", err)}
	}
	if p.subject != "" && (strings.ContainsAny(p.subject, " *>") || strings.HasPrefix(p.subject, ".") || strings.HasSuffix(p.subject, ".")) {
		return nil, usageError{fmt.Errorf("--publish.subject %q: give a literal subject such as scanwatch.probes.%s (no wildcards or spaces)", p.subject, p.sensor)}
	}
	if p.shards < 1 || p.shards > fleet.MaxShards {
		return nil, usageError{fmt.Errorf("--publish.shards %d: use 1 to %d", p.shards, fleet.MaxShards)}
	}
	if p.queue < 1 || p.batch < 1 || p.batch > fleet.MaxBatchRecords || p.interval <= 0 {
		return nil, usageError{fmt.Errorf("--publish.queue %d, --publish.batch %d, --publish.interval %v: use a queue of at least 1, batches of 1 to %d records, an interval above 0",
			p.queue, p.batch, p.interval, fleet.MaxBatchRecords)}
	}
	opts, err := p.nats.auth().Options()
	if err != nil {
		return nil, usageError{err}
	}
	cfg := fleet.PublisherConfig{URL: p.url, Sensor: p.sensor, Subject: p.subject, Stream: fleet.StreamConfig{Name: p.stream}, Options: opts,
		MaxRecords: p.batch, Interval: p.interval, Queue: p.queue, Shards: p.shards, WallClock: live, Log: log}
	if live {
		cfg.Heartbeat = 5 * time.Second
	}
	pub, err := fleet.NewPublisher(cfg)
	if err != nil {
		return nil, usageError{err}
	}
	log.Info("publishing probe summaries", "url", p.url, "sensor", p.sensor, "subject", cmpOr(p.subject, fleet.DefaultSubject+"."+p.sensor))
	return pub, nil
}

func cmpOr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// tee feeds each event to the publisher, then the rules.
func tee(pub *fleet.Publisher, observe func(*detector.Event)) func(*detector.Event) {
	if pub == nil {
		return observe
	}
	return func(ev *detector.Event) {
		pub.Observe(ev)
		observe(ev)
	}
}

// closePublisher sends what is queued and says what was lost.
func closePublisher(pub *fleet.Publisher, timeout time.Duration, log *slog.Logger) error {
	if pub == nil {
		return nil
	}
	err := pub.Close(timeout)
	s := pub.Stats()
	log.Info("publisher closed", "records", s.Records.Load(), "published", s.Published.Load(), "dropped", s.Dropped.Load(),
		"batches", s.BatchesSent.Load(), "publish_errors", s.Errors.Load())
	return err
}

// registerPublisher adds the publisher's metrics to reg.
func registerPublisher(reg *prometheus.Registry, pub *fleet.Publisher) {
	if pub != nil {
		reg.MustRegister(fleet.PublisherCollector{S: pub.Stats()})
	}
}
