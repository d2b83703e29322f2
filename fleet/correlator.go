package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scanwatch/scanwatch/detector"
)

// CorrelatorConfig says which stream to judge and with what.
type CorrelatorConfig struct {
	URL     string
	Options []nats.Option
	Stream  StreamConfig
	// Consumer is the durable consumer's name: one correlator per name
	// (two sharing one would split the probes between two detectors).
	// Default DefaultConsumer.
	Consumer string
	// FilterSubject limits the correlator to part of the stream: one
	// shard (scanwatch.probes.3.>) when correlators are sharded by
	// source prefix. Empty: the whole stream.
	FilterSubject string
	// Rules builds the detector; its alerts must go to onAlert, which
	// names the sensors and passes them to OnAlert.
	Rules   func(onAlert func(detector.Alert)) (detector.Rules, error)
	OnAlert func(detector.Alert)
	// Drain judges what the stream holds when Run starts, through an
	// ephemeral consumer that acknowledges nothing, then closes every
	// episode (Flush) and returns: a whole fleet's captures judged at
	// once, as replay judges one file.
	Drain bool
	Fetch int // messages per pull; default 256
	Log   *slog.Logger
}

// ackWait is how long the server waits for an acknowledgement before it
// delivers a message again. Short, because a message delivered to a pull
// request of a correlator that has just stopped waits that long before
// its successor gets it; a redelivery of a message already processed
// costs nothing but a skip (the correlator knows the last sequence it
// judged).
const ackWait = 10 * time.Second

// DefaultConsumer is the durable consumer's default name.
const DefaultConsumer = "scanwatch-correlate"

// Correlator runs the detector over every sensor's probes.
//
// Resuming: the detector's state is memory, rebuilt from the stream. The
// durable consumer's acknowledgement floor says which messages a previous
// run had finished; on start the correlator reads the stream from its
// first message up to that floor with alerts held back (they went out
// before), because the detector is a function of its input in event time
// and so rebuilds exactly the state it had. Then it takes the messages
// after the floor from the durable consumer, each acknowledged (and the
// acknowledgement confirmed) after its alerts are written. The one gap: a
// correlator killed after writing a message's alerts and before the
// server confirmed its acknowledgement writes them again on restart, with
// the same alert_id and record_id, so a SIEM drops the copy.
type Correlator struct {
	cfg     CorrelatorConfig
	log     *slog.Logger
	rules   detector.Rules
	tracker detector.SensorTracker
	sensors map[string]uint16
	names   []string // by index - 1
	// rebuilding: alerts are the previous run's, already written.
	rebuilding bool
	last       uint64 // stream sequence last processed
	batch      Batch
	stats      CorrelatorStats
	// mu is held while the detector runs, so Do can reach it from
	// another goroutine (SIGHUP reloads, metrics scrapes).
	mu sync.Mutex
}

// Do runs fn while no message is being judged: the detector may be
// touched there (SetAllowlist, Stats).
func (c *Correlator) Do(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn()
}

// CorrelatorStats are the correlator's counters, read by its metrics.
type CorrelatorStats struct {
	Messages   atomic.Uint64 // probe batches processed
	Rebuilt    atomic.Uint64 // of them, read again at start-up to rebuild state
	Duplicates atomic.Uint64 // delivered again after being processed: skipped
	Invalid    atomic.Uint64 // not a probe batch: acknowledged and skipped
	Records    atomic.Uint64 // events fed to the detector
	Alerts     atomic.Uint64 // alert records emitted
	Suppressed atomic.Uint64 // alerts of rebuilt messages, not emitted again
	Sensors    atomic.Int64  // distinct sensor ids seen
	Untracked  atomic.Uint64 // sensors beyond 65,535: their events carry no sensor
	LastSeq    atomic.Uint64 // stream sequence last processed
	Pending    atomic.Uint64 // messages after it the consumer still holds: the lag
	LagNanos   atomic.Int64  // wall time from the last message's store to its processing
	EventTime  atomic.Int64  // newest event time of the last batch (Unix ns)
}

// NewCorrelator checks cfg; Run does the work.
func NewCorrelator(cfg CorrelatorConfig) (*Correlator, error) {
	if err := CheckURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("--nats %w", err)
	}
	if cfg.Rules == nil || cfg.OnAlert == nil {
		return nil, errors.New("fleet: correlator needs Rules and OnAlert")
	}
	if cfg.Consumer == "" {
		cfg.Consumer = DefaultConsumer
	}
	if cfg.Fetch <= 0 {
		cfg.Fetch = 256
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Correlator{cfg: cfg, log: cfg.Log, sensors: map[string]uint16{}}
	c.tracker.Name = func(i uint16) string { return c.names[i-1] }
	rules, err := cfg.Rules(c.onAlert)
	if err != nil {
		return nil, err
	}
	c.rules = rules
	return c, nil
}

// Stats returns the correlator's counters.
func (c *Correlator) Stats() *CorrelatorStats { return &c.stats }

func (c *Correlator) onAlert(a detector.Alert) {
	c.tracker.Annotate(&a)
	if c.rebuilding {
		c.stats.Suppressed.Add(1)
		return
	}
	c.stats.Alerts.Add(1)
	c.cfg.OnAlert(a)
}

// Run judges the stream until ctx ends (or, with Drain, until what the
// stream held at the start is judged). A stop leaves episodes open: the
// next run rebuilds and goes on with them.
func (c *Correlator) Run(ctx context.Context) error {
	nc, err := connect(c.cfg.URL, "scanwatch correlate", c.cfg.Options, c.log, func(bool) {})
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream on %s: %w", c.cfg.URL, err)
	}
	var stream jetstream.Stream
	for attempt := 0; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		stream, err = ensureStream(sctx, js, c.cfg.Stream)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if attempt == 0 {
			c.log.Warn("stream not reachable yet; retrying with back-off", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff(attempt)):
		}
	}
	if c.cfg.Drain {
		return c.drain(ctx, js, stream)
	}
	return c.follow(ctx, js, stream)
}

func (c *Correlator) filter() []string {
	if c.cfg.FilterSubject == "" {
		return nil
	}
	return []string{c.cfg.FilterSubject}
}

// drain judges the stream up to its last message now, then flushes.
func (c *Correlator) drain(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream) error {
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", c.cfg.Stream.filled().Name, err)
	}
	if info.State.Msgs > 0 {
		if err := c.readTo(ctx, js, info.State.LastSeq); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.rules.Flush() {
		c.onAlert(a)
	}
	return nil
}

// readTo feeds the stream's messages up to sequence last (of those the
// filter takes) through an ordered consumer, acknowledging nothing.
func (c *Correlator) readTo(ctx context.Context, js jetstream.JetStream, last uint64) error {
	name := c.cfg.Stream.filled().Name
	oc, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{FilterSubjects: c.filter(), DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", name, err)
	}
	for c.last < last {
		if ctx.Err() != nil {
			return nil
		}
		// No more than are left to read, so the last pull ends with the
		// last message instead of waiting out its time.
		b, err := oc.Fetch(int(min(uint64(c.cfg.Fetch), last-c.last)), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("reading stream %s: %w", name, err)
		}
		n := 0
		for m := range b.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil || meta.Sequence.Stream > last {
				continue
			}
			c.process(m.Subject(), m.Data(), meta)
		}
		if b.Error() != nil && !errors.Is(b.Error(), nats.ErrTimeout) {
			return fmt.Errorf("reading stream %s: %w", name, b.Error())
		}
		if n == 0 {
			// Nothing more the filter takes up to last (the rest is
			// other shards' or was removed by the stream's limits).
			c.stats.Pending.Store(0)
			return nil
		}
	}
	return nil
}

// follow resumes the durable consumer: rebuild up to its floor, then
// judge and acknowledge each message after it.
func (c *Correlator) follow(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream) error {
	name := c.cfg.Stream.filled().Name
	ccfg := jetstream.ConsumerConfig{Durable: c.cfg.Consumer, AckPolicy: jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubject: c.cfg.FilterSubject, AckWait: ackWait, MaxAckPending: 4 * c.cfg.Fetch,
		Description: "scanwatch correlate: every sensor's probes through one detector"}
	cons, err := stream.Consumer(ctx, c.cfg.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = stream.CreateConsumer(ctx, ccfg)
	}
	if err != nil {
		return fmt.Errorf("durable consumer %s on stream %s: %w", c.cfg.Consumer, name, err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("durable consumer %s: %w", c.cfg.Consumer, err)
	}
	if ci.Config.FilterSubject != c.cfg.FilterSubject {
		return fmt.Errorf("durable consumer %s filters %q, not %q: give each shard its own --consumer", c.cfg.Consumer, ci.Config.FilterSubject, c.cfg.FilterSubject)
	}
	c.log.Debug("durable consumer", "ack_floor", ci.AckFloor.Stream, "delivered", ci.Delivered.Stream, "ack_pending", ci.NumAckPending,
		"pending", ci.NumPending, "waiting", ci.NumWaiting, "redelivered", ci.NumRedelivered)
	if ci.NumWaiting > 0 {
		c.log.Warn("another client is pulling from this durable consumer (or one that stopped within the last second): two correlators on one name split the probes between two detectors; give each its own --consumer",
			"consumer", c.cfg.Consumer, "waiting_pulls", ci.NumWaiting)
	}
	if ci.NumAckPending > 0 {
		// A previous run died holding delivered, unacknowledged
		// messages: the server would hold them back for the ack wait
		// (a minute). Only the floor matters, so start the consumer
		// afresh just after it.
		if err := stream.DeleteConsumer(ctx, c.cfg.Consumer); err != nil {
			return fmt.Errorf("restarting durable consumer %s after its floor: %w", c.cfg.Consumer, err)
		}
		ccfg.DeliverPolicy, ccfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, ci.AckFloor.Stream+1
		if cons, err = stream.CreateConsumer(ctx, ccfg); err != nil {
			return fmt.Errorf("restarting durable consumer %s after its floor: %w", c.cfg.Consumer, err)
		}
		c.log.Info("a previous run left messages unacknowledged: the consumer starts again after the last acknowledged one",
			"unacknowledged", ci.NumAckPending, "from_sequence", ccfg.OptStartSeq)
	}
	if floor := ci.AckFloor.Stream; floor > 0 {
		start := time.Now()
		c.rebuilding = true
		err := c.readTo(ctx, js, floor)
		c.rebuilding = false
		if err != nil {
			return err
		}
		c.log.Info("rebuilt the detector from the stream up to the last acknowledged message", "sequence", floor,
			"messages", c.stats.Rebuilt.Load(), "alerts_held_back", c.stats.Suppressed.Load(), "took", time.Since(start).Round(time.Millisecond))
		c.last = max(c.last, floor)
	}
	c.log.Info("correlating", "stream", name, "consumer", c.cfg.Consumer, "filter", c.cfg.FilterSubject, "from_sequence", c.last+1)
	failing := false
	for ctx.Err() == nil {
		b, err := cons.Fetch(c.cfg.Fetch, jetstream.FetchMaxWait(time.Second))
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("durable consumer %s was deleted under the correlator: restart it (it rebuilds from the stream)", c.cfg.Consumer)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if !failing {
				failing = true
				c.log.Warn("fetching from the durable consumer failed (NATS away?); retrying every second", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if failing {
			failing = false
			c.log.Info("fetching from the durable consumer again")
		}
		n := 0
		for m := range b.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				_ = m.Term()
				continue
			}
			if meta.Sequence.Stream <= c.last {
				c.stats.Duplicates.Add(1)
			} else {
				c.process(m.Subject(), m.Data(), meta)
			}
			// Confirmed, so a restart after this point never sees the
			// message again; not under ctx, so a stop does not leave the
			// message just judged unacknowledged.
			actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := m.DoubleAck(actx); err != nil {
				c.log.Warn("acknowledging a message failed: it will be delivered again and skipped", "sequence", meta.Sequence.Stream, "err", err)
			}
			cancel()
		}
		if n == 0 {
			// Caught up: nothing waits, and the lag gauges say so
			// rather than keep the last message's.
			c.stats.Pending.Store(0)
			c.stats.LagNanos.Store(0)
		}
		if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			c.log.Warn("fetch ended early", "err", err)
		}
	}
	return nil
}

// process feeds one message's batch to the detector.
func (c *Correlator) process(subject string, data []byte, meta *jetstream.MsgMetadata) {
	seq := meta.Sequence.Stream
	c.last = seq
	c.stats.LastSeq.Store(seq)
	c.stats.Pending.Store(meta.NumPending)
	c.stats.LagNanos.Store(int64(time.Since(meta.Timestamp)))
	if c.rebuilding {
		c.stats.Rebuilt.Add(1)
	}
	b := &c.batch
	c.mu.Lock()
	defer c.mu.Unlock()
	err := DecodeBatch(data, b)
	if err == nil && !strings.HasSuffix(subject, "."+b.Sensor) {
		// The subject's last token is the sensor's id (publishers
		// enforce it), so NATS permissions on scanwatch.probes.<id>
		// authenticate it: a batch claiming another sensor's id is
		// refused.
		err = fmt.Errorf("batch of sensor %q on subject %q, which is not that sensor's", b.Sensor, subject)
	}
	if err != nil {
		if c.stats.Invalid.Add(1) <= 10 {
			c.log.Warn("skipping a message that is no probe batch of its subject's sensor", "sequence", seq, "subject", subject, "err", err)
		}
		return
	}
	c.stats.Messages.Add(1)
	idx := c.sensorIndex(b.Sensor)
	var newest int64
	for i := range b.Events {
		ev := &b.Events[i]
		ev.Sensor = idx
		c.tracker.Observe(ev)
		c.rules.Observe(ev)
		newest = max(newest, ev.Time.UnixNano())
	}
	c.stats.Records.Add(uint64(len(b.Events)))
	if newest != 0 {
		c.stats.EventTime.Store(newest)
	}
	if adv, ok := c.rules.(interface{ Advance(time.Time) }); ok && !b.Clock.IsZero() {
		adv.Advance(b.Clock)
	}
}

func (c *Correlator) sensorIndex(id string) uint16 {
	if i, ok := c.sensors[id]; ok {
		return i
	}
	if len(c.names) >= 1<<16-1 {
		c.stats.Untracked.Add(1)
		return 0
	}
	c.names = append(c.names, id)
	i := uint16(len(c.names))
	c.sensors[id] = i
	c.stats.Sensors.Store(int64(len(c.names)))
	return i
}
