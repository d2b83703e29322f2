package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scanwatch/scanwatch/detector"
)

// PublisherConfig says where a sensor's probe summaries go.
type PublisherConfig struct {
	URL     string // nats://HOST:4222, or a comma list of a cluster's servers
	Sensor  string // this sensor's id, in every batch; CheckSensorID
	Subject string // default DefaultSubject + "." + Sensor
	// Shards > 1 splits the records by source prefix (ShardOf) over
	// that many subjects, DefaultSubject.shard<i>.<sensor>, one per
	// correlator (--filter-subject scanwatch.probes.shard<i>.>). Subject
	// must then be empty.
	Shards  int
	Stream  StreamConfig
	Options []nats.Option // Auth.Options

	MaxRecords int           // records per batch; default 1000
	Interval   time.Duration // a batch is sent at least this often while probes come; default 100 ms
	Queue      int           // batches held while NATS is slow or away; default 1024
	// Heartbeat: while no probe comes, an empty batch carrying the
	// sensor's clock is sent this often, so the correlator's event time
	// moves on and closes quiet scans. 0: none (a replay's clock only
	// moves with its packets).
	Heartbeat time.Duration
	// WallClock: the sensor's clock is the wall clock (live, whose events
	// are stamped on arrival); otherwise the newest event time (replay).
	WallClock bool
	Log       *slog.Logger
}

// Publisher batches a sensor's events and publishes them to JetStream
// without ever making detection wait: Observe appends to the batch being
// filled, a full or due batch goes to a bounded queue, and one goroutine
// sends the queue in order. When the queue is full (NATS down or slower
// than the sensor) the new batch is dropped and counted; what is queued
// is delivered once the connection is back. Each batch has a message id
// (sensor, start time, sequence), so a publish retried after a lost
// acknowledgement is stored once (JetStream's duplicate window).
type Publisher struct {
	cfg   PublisherConfig
	nc    *nats.Conn
	js    jetstream.JetStream
	epoch string
	log   *slog.Logger

	mu     sync.Mutex
	shards []*shardBuf
	clock  int64 // newest event time
	seq    uint64
	sentAt time.Time // last batch cut
	closed bool

	queue  chan queued
	done   chan struct{}
	cancel context.CancelFunc
	stats  PublisherStats
}

// PublisherStats are the publisher's counters, read by its metrics.
type PublisherStats struct {
	Events          atomic.Uint64 // events observed
	Records         atomic.Uint64 // records batched (events folded into flows)
	Published       atomic.Uint64 // records JetStream acknowledged
	Dropped         atomic.Uint64 // records dropped: queue full, or undelivered at exit
	BatchesSent     atomic.Uint64
	BatchesDropped  atomic.Uint64
	Errors          atomic.Uint64 // failed publish attempts (each retried)
	Connected       atomic.Bool
	QueueLen        func() int
	QueueCap        int
	LastPublishedAt atomic.Int64 // Unix ns of the last acknowledged batch
}

// shardBuf is the batch being filled for one subject.
type shardBuf struct {
	subject string
	cur     []detector.Event
	fold    map[flowKey]int // index in cur of each flow's record
}

type queued struct {
	b       *Batch
	subject string
}

// MaxShards bounds --publish.shards.
const MaxShards = 256

// ShardOf says which of n shards a source belongs to: by its /24 (IPv4)
// or /64 (IPv6), the prefixes the DistributedScan rule groups sources by,
// so every rule sees all of a prefix's probes in one shard.
func ShardOf(src netip.Addr, n int) int {
	if n <= 1 {
		return 0
	}
	var h uint64 = 14695981039346656037 // FNV-1a
	b := src.Unmap().AsSlice()
	if len(b) == 4 {
		b = b[:3]
	} else {
		b = b[:8]
	}
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return int(h % uint64(n))
}

// flowKey is what the XDP sensor folds probes by: one (source,
// destination, destination port, TCP flags, kind) is one flow.
type flowKey struct {
	src, dst [16]byte
	port     uint16
	flags    uint8
	kind     detector.Kind
}

// foldSpan: identical probes within this much event time of a record's
// first are folded into its count; later ones start a new record, so no
// count moves more than this far from its packet's time.
const foldSpan = int64(time.Second)

// CheckSensorID reports whether id can name a sensor: a NATS subject
// token (no dots, spaces or wildcards), at most MaxSensorID bytes.
func CheckSensorID(id string) error {
	if id == "" || len(id) > MaxSensorID {
		return fmt.Errorf("sensor id %q: give 1 to %d characters", id, MaxSensorID)
	}
	for _, r := range id {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r == 0x7f {
			return fmt.Errorf("sensor id %q: %q cannot stand in a NATS subject token: use letters, digits, - and _", id, r)
		}
	}
	return nil
}

// NewPublisher connects (in the background: an absent server is retried
// with back-off, and batches queue meanwhile) and starts the sender.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if err := CheckSensorID(cfg.Sensor); err != nil {
		return nil, err
	}
	if err := CheckURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("--publish %w", err)
	}
	if cfg.Shards > MaxShards {
		return nil, fmt.Errorf("--publish.shards %d: at most %d", cfg.Shards, MaxShards)
	}
	if cfg.Shards > 1 && cfg.Subject != "" {
		return nil, fmt.Errorf("--publish.shards %d with --publish.subject %q: sharded subjects are %s.shard<i>.<sensor>; give one or the other", cfg.Shards, cfg.Subject, DefaultSubject)
	}
	if cfg.Subject == "" {
		cfg.Subject = DefaultSubject + "." + cfg.Sensor
	}
	if !strings.HasSuffix(cfg.Subject, "."+cfg.Sensor) {
		// The correlator takes the subject's last token for the sensor's
		// id, which NATS permissions can then vouch for.
		return nil, fmt.Errorf("--publish.subject %q must end in .%s, the sensor's id (the correlator checks it)", cfg.Subject, cfg.Sensor)
	}
	cfg.MaxRecords = min(max(cfg.MaxRecords, 0), MaxBatchRecords)
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = 1000
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 100 * time.Millisecond
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{cfg: cfg, log: cfg.Log.With("publish", cfg.Subject), epoch: strconv.FormatInt(time.Now().UnixNano(), 36),
		queue: make(chan queued, cfg.Queue), done: make(chan struct{}), sentAt: time.Now()}
	for i := range max(cfg.Shards, 1) {
		sub := cfg.Subject
		if cfg.Shards > 1 {
			sub = fmt.Sprintf("%s.shard%d.%s", DefaultSubject, i, cfg.Sensor)
		}
		p.shards = append(p.shards, &shardBuf{subject: sub, fold: make(map[flowKey]int)})
	}
	p.stats.QueueLen = func() int { return len(p.queue) }
	p.stats.QueueCap = cfg.Queue
	nc, err := connect(cfg.URL, "scanwatch sensor "+cfg.Sensor, cfg.Options, p.log, p.stats.Connected.Store)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("JetStream on %s: %w", cfg.URL, err)
	}
	p.nc, p.js = nc, js
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.send(ctx)
	go p.tick(ctx)
	return p, nil
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() *PublisherStats { return &p.stats }

// Observe adds ev to the batch being filled. It never blocks on NATS; it
// is safe to call from the detection goroutine while the ticker cuts
// batches.
func (p *Publisher) Observe(ev *detector.Event) {
	p.stats.Events.Add(1)
	t := ev.Time.UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.clock = max(p.clock, t)
	sb := p.shards[0]
	if len(p.shards) > 1 {
		sb = p.shards[ShardOf(ev.Src, len(p.shards))]
	}
	if ev.HTTP == nil {
		k := flowKey{src: ev.Src.As16(), dst: ev.Dst.As16(), port: ev.DstPort, flags: ev.Flags, kind: ev.Kind}
		if i, ok := sb.fold[k]; ok {
			r := &sb.cur[i]
			if t-r.Time.UnixNano() < foldSpan && t >= r.Time.UnixNano() && r.Evasion == ev.Evasion && r.Established == ev.Established &&
				uint64(r.Count)+ev.Packets() < 1<<32 {
				r.Count += uint32(ev.Packets())
				return
			}
		}
		sb.fold[k] = len(sb.cur)
	}
	e := *ev
	e.Count = uint32(ev.Packets())
	e.Sensor = 0
	sb.cur = append(sb.cur, e)
	if len(sb.cur) >= p.cfg.MaxRecords {
		p.cutShard(sb, false)
	}
}

// cutLocked queues every shard's batch being filled (or, with empty, a
// heartbeat on each: every shard's correlator needs the clock).
func (p *Publisher) cutLocked(empty bool) {
	for _, sb := range p.shards {
		p.cutShard(sb, empty)
	}
}

func (p *Publisher) cutShard(sb *shardBuf, empty bool) {
	if len(sb.cur) == 0 && !empty {
		return
	}
	p.seq++
	b := &Batch{Sensor: p.cfg.Sensor, Seq: p.seq, Events: sb.cur}
	if p.cfg.WallClock {
		b.Clock = time.Now()
	} else if p.clock != 0 {
		b.Clock = time.Unix(0, p.clock)
	}
	sb.cur = make([]detector.Event, 0, min(len(sb.cur), p.cfg.MaxRecords))
	clear(sb.fold)
	p.sentAt = time.Now()
	p.stats.Records.Add(uint64(len(b.Events)))
	select {
	case p.queue <- queued{b, sb.subject}:
	default:
		p.drop(b)
	}
}

func (p *Publisher) drop(b *Batch) {
	if p.stats.BatchesDropped.Add(1) == 1 || p.stats.BatchesDropped.Load()%1000 == 0 {
		p.log.Warn("publish queue full (NATS away or slower than the sensor): probe batches dropped; local detection goes on",
			"dropped_batches", p.stats.BatchesDropped.Load(), "queue", p.cfg.Queue)
	}
	p.stats.Dropped.Add(uint64(len(b.Events)))
}

// tick cuts a batch every Interval, or a heartbeat when the sensor has
// been quiet for Heartbeat.
func (p *Publisher) tick(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// While NATS is away, batches are cut only when full: a quiet
		// sensor would otherwise fill the queue with a nearly empty
		// batch every Interval, and the outage it rides out would be
		// bounded by time instead of by records (Queue x MaxRecords).
		if !p.stats.Connected.Load() {
			continue
		}
		p.mu.Lock()
		if !p.closed {
			hb := p.cfg.Heartbeat > 0 && time.Since(p.sentAt) >= p.cfg.Heartbeat
			p.cutLocked(hb)
		}
		p.mu.Unlock()
	}
}

// send publishes the queue in order; a batch that fails is retried with
// back-off until it goes or the publisher is closed.
func (p *Publisher) send(ctx context.Context) {
	defer close(p.done)
	var buf []byte
	streamOK := false
	for q := range p.queue {
		b := q.b
		buf = AppendBatch(buf[:0], b)
		id := p.cfg.Sensor + "-" + p.epoch + "-" + strconv.FormatUint(b.Seq, 10)
		failing := false
		for attempt := 0; ; attempt++ {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			var err error
			if !streamOK {
				// The first publish, or one after "no stream": make the
				// stream if nobody has.
				_, err = ensureStream(pctx, p.js, p.cfg.Stream)
				streamOK = err == nil
			}
			if err == nil {
				_, err = p.js.Publish(pctx, q.subject, buf, jetstream.WithMsgID(id))
				if errors.Is(err, jetstream.ErrNoStreamResponse) {
					streamOK = false
				}
			}
			cancel()
			if err == nil {
				p.stats.Published.Add(uint64(len(b.Events)))
				p.stats.BatchesSent.Add(1)
				p.stats.LastPublishedAt.Store(time.Now().UnixNano())
				if failing {
					p.log.Info("publishing again", "queued_batches", len(p.queue))
				}
				break
			}
			p.stats.Errors.Add(1)
			if ctx.Err() != nil {
				p.drop(b)
				break
			}
			if !failing {
				failing = true
				p.log.Warn("publishing a probe batch failed; retrying with back-off, later batches queue", "err", err, "seq", b.Seq)
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff(attempt)):
			}
		}
	}
}

// Close sends what is batched and queued, waiting at most timeout for
// NATS to take it; what is still undelivered then is dropped and counted.
// It returns an error saying how much was lost, if any.
func (p *Publisher) Close(timeout time.Duration) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.cutLocked(false)
	p.closed = true
	close(p.queue)
	p.mu.Unlock()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cancel()
		<-p.done
	}
	p.cancel()
	// Drain what the sender never reached.
	for q := range p.queue {
		p.drop(q.b)
	}
	p.nc.Close()
	if n := p.stats.Dropped.Load(); n > 0 {
		return fmt.Errorf("%d of %d probe records were not delivered to NATS (%d batches dropped)", n, p.stats.Records.Load(), p.stats.BatchesDropped.Load())
	}
	return nil
}
