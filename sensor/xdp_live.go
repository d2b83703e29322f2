// Package sensor turns live traffic into detector events: it loads and
// attaches the XDP program (bpf/), reads its ring buffer and flow map, and
// exports its counters. Package capture does the same for capture files;
// both produce the same detector.Event, so the rules cannot tell them apart.
package sensor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/scanwatch/scanwatch/bpf"
	"github.com/scanwatch/scanwatch/detector"
)

// XDP attach modes for --xdp-mode.
const (
	ModeAuto    = "auto"    // native, falling back to generic
	ModeNative  = "native"  // in the driver: fastest, needs driver support
	ModeGeneric = "generic" // after the driver (SKB): works everywhere, slower
)

// LiveConfig says where and how to attach.
type LiveConfig struct {
	Iface   string
	Mode    string // ModeAuto, ModeNative or ModeGeneric
	Promisc bool   // for span/mirror ports: see frames not addressed to us
	// NoEgress leaves the egress program off: answered UDP then earns no
	// credit on a perimeter host (its replies leave by egress).
	NoEgress bool
	// Checksums is ChecksumsAuto (the default), ChecksumsStrict or
	// ChecksumsTolerant: whether offloaded checksums are accepted.
	Checksums string
	Program   ProgramConfig
	// SweepInterval is how often the flow map is read to make counts exact
	// between ring records; 0 means one second.
	SweepInterval time.Duration
	// FlushInterval bounds how long a record waits in the ring when the
	// kernel does not wake the reader (see ProgramConfig.WakeupBytes);
	// 0 means 100 ms.
	FlushInterval time.Duration
	Log           *slog.Logger
	// LinkLoss is what Run does when the interface goes away; the zero
	// value re-attaches when an interface of the same name returns.
	LinkLoss LinkLossPolicy
	// OnLink, if set, is called from Run each time the program leaves the
	// interface (false) or is attached to its successor (true). Attach
	// itself does not call it: the program is on the interface when
	// Attach returns.
	OnLink func(attached bool)
}

// Live is the XDP sensor attached to one interface.
type Live struct {
	Objs    *Objects
	Mode    string // the mode actually attached
	Ifindex int    // as at Attach; Run changes it when it re-attaches

	cfg     LiveConfig
	link    link.Link
	egress  link.Link // scanwatch_egress on the same interface (TCX), or nil
	rd      *ringbuf.Reader
	promisc int // AF_PACKET socket holding promiscuous mode, or -1
	tracker *flowTracker
	sup     *supervisor // follows the interface through netlink

	mu        sync.Mutex // serialises emit and the tracker
	emitted   uint64     // SYNs handed to the detector
	lastSweep SweepStats
	probes    uint64 // other probes handed to the detector
	// HTTP heads handed to the detector, and records that held none
	httpEvents, httpUnparsed uint64
	skips                    httpSkips // clients' skipped requests handed on
}

// Attach loads the program and attaches it to cfg.Iface through a bpf_link,
// so the program detaches when the process exits, however it exits.
func Attach(cfg LiveConfig) (_ *Live, err error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = time.Second
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 100 * time.Millisecond
	}
	// Subscribed before the interface is looked up: whatever happens to it
	// from here on is in the socket's queue when Run starts reading.
	w, err := openLinkWatch()
	if err != nil {
		return nil, err
	}
	ifc, err := net.InterfaceByName(cfg.Iface)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("no network interface %q here: list them with 'ip link' (inside the right network namespace)", cfg.Iface)
	}
	strict, err := strictChecksums(cfg.Checksums, cfg.Iface)
	if err != nil {
		w.Close()
		return nil, err
	}
	cfg.Program.StrictChecksums = strict
	if err := checkCapabilities(cfg.Promisc); err != nil {
		return nil, err
	}
	cfg.Log.Info("checksums", "iface", cfg.Iface, "offloaded", map[bool]string{true: "rejected", false: "accepted"}[strict])
	objs, err := LoadProgram(cfg.Program)
	if err != nil {
		w.Close()
		return nil, err
	}
	ns, err := currentNetns()
	if err != nil {
		cfg.Log.Debug("no /proc/thread-self/ns/net: re-attach assumes Run shares Attach's network namespace", "err", err)
	}
	l := &Live{Objs: objs, Ifindex: ifc.Index, cfg: cfg, promisc: -1, tracker: newFlowTracker(newKernelClock()),
		sup: &supervisor{w: w, netns: ns, st: linkState{name: cfg.Iface, index: ifc.Index}}}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if len(cfg.Program.HTTPPorts.List()) > 0 {
		l.tracker.maxRecord = maxRingRecordBytes
	}
	if err := l.attach(); err != nil {
		return nil, err
	}
	if l.rd, err = ringbuf.NewReader(objs.Events); err != nil {
		return nil, fmt.Errorf("opening the ring buffer: %w", err)
	}
	if cfg.Promisc {
		if err := l.setPromisc(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *Live) attach() error {
	modes := map[string][]link.XDPAttachFlags{
		ModeAuto:    {link.XDPDriverMode, link.XDPGenericMode},
		ModeNative:  {link.XDPDriverMode},
		ModeGeneric: {link.XDPGenericMode},
	}
	names := map[link.XDPAttachFlags]string{link.XDPDriverMode: ModeNative, link.XDPGenericMode: ModeGeneric}
	mode := l.cfg.Mode
	if mode == "" {
		mode = ModeAuto
	}
	tries, ok := modes[mode]
	if !ok {
		return fmt.Errorf("unknown XDP mode %q: use auto, native or generic", mode)
	}
	var errs []error
	for _, flags := range tries {
		lk, err := link.AttachXDP(link.XDPOptions{Program: l.Objs.ScanwatchXdp, Interface: l.Ifindex, Flags: flags})
		if err == nil {
			l.link, l.Mode = lk, names[flags]
			l.cfg.Log.Info("XDP program attached", "iface", l.cfg.Iface, "mode", l.Mode)
			if !l.cfg.NoEgress {
				l.attachEgress()
			}
			return nil
		}
		l.cfg.Log.Debug("XDP attach failed", "mode", names[flags], "err", err)
		switch {
		case errors.Is(err, os.ErrPermission):
			return errRefused("attaching XDP to "+l.cfg.Iface, err)
		case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
			other := ModeGeneric
			if flags == link.XDPGenericMode {
				other = ModeNative
			}
			return fmt.Errorf("another XDP program is already attached to %s (%s mode): if it is another scanwatch, stop that one; otherwise detach it (ip link set dev %s xdp off) or try --xdp-mode %s", l.cfg.Iface, names[flags], l.cfg.Iface, other)
		}
		errs = append(errs, fmt.Errorf("%s mode: %w", names[flags], err))
	}
	return fmt.Errorf("attaching XDP to %s failed: %w", l.cfg.Iface, errors.Join(errs...))
}

// attachEgress puts scanwatch_egress on the interface's TCX egress hook:
// the UDP replies this host sends credit the flows they answer, which XDP,
// seeing only what arrives, cannot. Without it (a kernel before 6.6 has
// no TCX) the sensor runs as before and says what is lost.
func (l *Live) attachEgress() {
	lk, err := link.AttachTCX(link.TCXOptions{Interface: l.Ifindex, Program: l.Objs.ScanwatchEgress, Attach: ebpf.AttachTCXEgress})
	if err != nil {
		l.cfg.Log.Warn("egress program not attached: UDP flows this host answers earn no credit, so an answered UDP client can look like a scan (Linux 6.6 or later has TCX)",
			"iface", l.cfg.Iface, "err", err)
		return
	}
	l.egress = lk
	l.cfg.Log.Info("egress program attached", "iface", l.cfg.Iface)
	// A failed TCX attach makes cilium/ebpf run its TCX feature test and
	// keep the result for good; run without capabilities (after
	// DropCapabilities) the test fails and every later error reads "tcx
	// not supported". One failing attach now, with them, settles it.
	_, _ = linkProbe(link.AttachTCX(link.TCXOptions{Program: l.Objs.ScanwatchEgress, Interface: math.MaxInt32, Attach: ebpf.AttachTCXEgress}))
}

// setPromisc joins the interface's promiscuous mode through an AF_PACKET
// membership, which the kernel drops when the socket closes: a crash cannot
// leave the card promiscuous. The socket itself receives nothing.
func (l *Live) setPromisc() error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return errRefused("opening an AF_PACKET socket for --promisc", err)
		}
		return fmt.Errorf("opening an AF_PACKET socket for --promisc: %w", err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(l.Ifindex), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		unix.Close(fd)
		return fmt.Errorf("setting %s promiscuous: %w", l.cfg.Iface, err)
	}
	l.promisc = fd
	return nil
}

// Run hands every counted SYN, and every HTTP head the kernel copied, to
// emit (never concurrently) until ctx ends, then sweeps the flow map once
// more so the counts are complete, and returns. emit gets a reused event
// and must copy what it keeps (an event's HTTP is its own). Run also
// follows the interface (see LiveConfig.LinkLoss); with LinkExit, losing
// it ends Run with an error.
func (l *Live) Run(ctx context.Context, emit func(*detector.Event)) error {
	readerDone := make(chan error, 1)
	go func() { readerDone <- l.readLoop(emit) }()
	l.sup.start()
	defer l.sup.end()

	tick := time.NewTicker(l.cfg.SweepInterval)
	defer tick.Stop()
	flush := time.NewTicker(l.cfg.FlushInterval)
	defer flush.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-readerDone:
			runErr = err
			readerDone = nil
			break loop
		case <-flush.C:
			if l.rd.AvailableBytes() > 0 {
				_ = l.rd.Flush()
			}
		case <-tick.C:
			if err := l.Sweep(emit); err != nil {
				l.cfg.Log.Warn("flow sweep failed", "err", err)
			}
		case b := <-l.sup.batches:
			if err := l.onBatch(b); err != nil {
				runErr = err
				break loop
			}
		case <-l.sup.retryC():
			l.onRetry()
		}
	}
	// Drain what the ring holds, then the final sweep makes counts exact.
	if readerDone != nil {
		_ = l.rd.Flush()
		l.waitFlushed()
		l.rd.Close()
		if err := <-readerDone; err != nil {
			runErr = err
		}
	}
	if err := l.Sweep(emit); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// waitFlushed gives the reader a moment to consume what Flush released.
func (l *Live) waitFlushed() {
	for i := 0; i < 100 && l.rd.AvailableBytes() > 0; i++ {
		time.Sleep(time.Millisecond)
	}
}

func (l *Live) readLoop(emit func(*detector.Event)) error {
	var rec ringbuf.Record
	var ev detector.Event
	defer func() {
		l.mu.Lock()
		l.tracker.ringGone = true
		l.mu.Unlock()
	}()
	for {
		err := l.rd.ReadInto(&rec)
		switch {
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		case errors.Is(err, ringbuf.ErrFlushed):
			continue
		case err != nil:
			return fmt.Errorf("reading the ring buffer: %w", err)
		}
		// Decoded and parsed before taking the lock, which the sweeps
		// share: only the tracker and emit need it.
		b := rec.RawSample
		r, isFlow := decodeRecord(b)
		isHTTP := !isFlow && isHTTPRecord(len(b))
		httpOK := isHTTP && httpEvent(b, l.tracker.clock, &ev)
		l.mu.Lock()
		l.tracker.consumed(len(b))
		switch {
		case isFlow:
			if l.tracker.fromRecord(&r, &ev) {
				l.count(&ev)
				emit(&ev)
			}
		case httpOK:
			l.httpEvents++
			if !ev.HTTP.Response {
				// The record's count is cumulative (bpf/http.h): the rules
				// get what is new since the last count handed on.
				ev.HTTP.Skipped = l.skips.take(ev.Src.As16(), ev.HTTP.Skipped)
			}
			emit(&ev)
		default:
			// An HTTP head httpwire does not read (or a record of no
			// size the program writes): counted, never an event.
			l.httpUnparsed++
		}
		l.mu.Unlock()
	}
}

// Sweep reads the whole flow map and hands on the SYNs that no record has
// reported yet (repeats below the report interval, records lost to a full
// ring). Callers other than Run must not call it concurrently with Run.
func (l *Live) Sweep(emit func(*detector.Event)) error {
	const batch = 4096
	keys := make([]bpf.ScanwatchFlowKey, batch)
	vals := make([]bpf.ScanwatchFlowValue, batch)
	var cursor ebpf.MapBatchCursor
	var ev detector.Event
	l.mu.Lock()
	defer l.mu.Unlock()
	start, flows := time.Now(), 0
	defer func() { l.lastSweep = SweepStats{Flows: flows, Took: time.Since(start), At: start} }()
	l.tracker.beginSweep()
	for {
		n, err := l.Objs.Flows.BatchLookup(&cursor, keys, vals, nil)
		flows += n
		for i := 0; i < n; i++ {
			if l.tracker.fromSweep(&keys[i], &vals[i], &ev) {
				l.count(&ev)
				emit(&ev)
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("sweeping the flow map: %w", err)
		}
	}
	pending := uint64(0)
	if !l.tracker.ringGone {
		pending = uint64(l.rd.AvailableBytes())
	}
	l.tracker.endSweep(pending)
	return l.sweepHTTPSkips(emit)
}

// SweepStats describe the last flow map sweep: how full the kernel's map
// is, and how long reading it took (a sweep holds the event path's lock).
type SweepStats struct {
	Flows int
	Took  time.Duration
	At    time.Time
}

// Health is read at scrape time: the last sweep, and the ring's fill.
type Health struct {
	Sweep                  SweepStats
	FlowCapacity           int
	RingPending, RingBytes int
}

// Health reports the sensor's own state for metrics.
func (l *Live) Health() Health {
	l.mu.Lock()
	h := Health{Sweep: l.lastSweep}
	l.mu.Unlock()
	h.FlowCapacity = int(l.Objs.Flows.MaxEntries())
	if l.rd != nil {
		h.RingPending, h.RingBytes = l.rd.AvailableBytes(), l.rd.BufferSize()
	}
	return h
}

// Do runs fn under the lock that serialises emit: for touching the
// detector from outside Run (a SIGHUP reload) while Run feeds it.
func (l *Live) Do(fn func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn()
}

func (l *Live) count(ev *detector.Event) {
	if ev.Kind == detector.KindSYN {
		l.emitted += ev.Packets()
	} else {
		l.probes += ev.Packets()
	}
}

// EmittedProbes is how many FIN, NULL, XMAS and UDP probes have reached
// the detector.
func (l *Live) EmittedProbes() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.probes
}

// HTTPEvents is how many HTTP heads have reached the detector, and
// unparsed how many HTTP records held none httpwire reads.
func (l *Live) HTTPEvents() (events, unparsed uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.httpEvents, l.httpUnparsed
}

// Emitted is how many SYNs have reached the detector.
func (l *Live) Emitted() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.emitted
}

// Close detaches the program and frees everything, in reverse order.
func (l *Live) Close() error {
	var errs []error
	if l.sup != nil {
		errs = append(errs, l.sup.w.Close(), l.sup.netns.Close())
	}
	if l.promisc >= 0 {
		errs = append(errs, unix.Close(l.promisc))
		l.promisc = -1
	}
	if l.rd != nil {
		errs = append(errs, l.rd.Close())
	}
	if l.link != nil {
		errs = append(errs, l.link.Close())
	}
	if l.egress != nil {
		errs = append(errs, l.egress.Close())
	}
	if l.Objs != nil {
		errs = append(errs, l.Objs.Close())
	}
	return errors.Join(errs...)
}
