package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/scanwatch/scanwatch/capture"
	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/fleet"
)

// replaySynopsis is replay's help text above its flags.
const replaySynopsis = `replay [flags] FILE...

FILE is a pcap or pcapng capture, optionally gzip-compressed (told by its
magic number, not its name); - reads standard input, as tcpdump -r - does:
  tcpdump -U -i eth0 -w - | scanwatch replay -
  zcat x.pcap.gz | scanwatch replay -
(a file called - is ./-). A FIFO, a pipe or standard input from one is a
stream: its final alerts are written as their episodes close, after --window
of quiet in the capture's own time (--rules seed judges the whole input, so
at its end), and --format table prints fixed-width rows as they come instead
of one aligned table at the end. SIGINT or SIGTERM stops a replay at once, even
on a FIFO no writer has opened yet or a stalled pipe, and prints the alerts for
what was read (exit status 0).`

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	var rf replayFlags
	var pf publishFlags
	fs := newFlagSet("replay", replaySynopsis, stdout, stderr)
	c.register(fs.FlagSet)
	rf.register(fs.FlagSet)
	pf.register(fs.FlagSet)
	files, cfg, log, err := c.parse(fs, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	opts, err := rf.options()
	if err != nil {
		return err
	}
	opts.Decode.Credit = c.rules == "default" // the seed rule counts SYNs alone
	if len(files) == 0 {
		fs.Usage()
		return usageError{errors.New("no capture file given: scanwatch replay FILE.pcap, or - for standard input")}
	}
	if err := checkStdin(files); err != nil {
		return usageError{err}
	}
	pub, err := pf.start(false, log)
	if err != nil {
		return err
	}
	r := &replayer{opts: opts, stderr: stderr, log: log, publish: pub}
	// Replay judges whole files: of an episode's alerts (new, escalated,
	// updated, final) it prints the final one, with the file's counts.
	cfg.OnAlert = r.onAlert
	// What the rules had to let go of, told per file like the decoder's
	// warnings: state bounds an attacker can press on.
	var evicted, probation, held int
	cfg.OnEvict = func() { evicted++ }
	cfg.OnProbationEvict = func() { probation++ }
	cfg.OnClockHeld = func() { held++ }
	warnRules := func(name string) {
		if evicted > 0 {
			log.Warn(fmt.Sprintf("evicted %d sources with scan evidence, least recently active first, to respect --max-sources", evicted), "file", name)
		}
		if probation > 0 {
			log.Warn(fmt.Sprintf("evicted %d one-probe sources from probation (--max-probation): a flood of spoofed sources, or a very large capture", probation), "file", name)
		}
		if held > 0 {
			log.Warn(fmt.Sprintf("%d events stamped more than 24 h ahead did not move the rules' clock", held), "file", name)
		}
		evicted, probation, held = 0, 0, 0
	}
	if r.rules, err = detector.New(c.rules, cfg); err != nil {
		return usageError{err}
	}
	if r.out, err = newReplayWriter(c.format, stdout, len(files) > 1, c.rules == "default", anyStream(files)); err != nil {
		return fmt.Errorf("writing alerts: %w", err)
	}
	var failed []error
	for _, name := range files {
		err := r.replay(ctx, name)
		warnRules(name)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failed = append(failed, err)
		}
	}
	if err := r.out.Close(); err != nil {
		return fmt.Errorf("writing alerts: %w", err)
	}
	if err := closePublisher(pub, pf.flushTimeout, log); err != nil {
		failed = append(failed, fmt.Errorf("publishing: %w", err))
	}
	if ctx.Err() != nil {
		return nil // interrupted: what was read has been reported
	}
	return errors.Join(failed...)
}

// replayer judges inputs one after the other with one rule set.
type replayer struct {
	opts   capture.ReplayOptions
	rules  detector.Rules
	out    alertWriter
	stderr io.Writer
	// publish, with --publish, also gets every event (fleet/).
	publish *fleet.Publisher
	log     *slog.Logger

	finals []detector.Alert // of the file being read, written at its end
	// While a stream is read its final alerts are written at once, under
	// its name; the first write error ends its replay through cancel.
	stream   string
	writeErr error
	cancel   context.CancelFunc
}

func (r *replayer) onAlert(a detector.Alert) {
	switch {
	case a.Status != detector.StatusFinal:
	case r.stream == "":
		r.finals = append(r.finals, a)
	case r.writeErr == nil:
		a.Input = r.stream
		if r.writeErr = r.out.Write(a); r.writeErr != nil {
			r.cancel()
		}
	}
}

// replay judges one input on its own, as the LogScale query judges its
// search range: the rules are flushed at the end of every input. Alerts
// for the readable part of a damaged file, or for what was read before an
// interrupt, are written before its error is returned.
func (r *replayer) replay(ctx context.Context, name string) error {
	in, err := openReplayInput(ctx, name)
	if err != nil {
		if ctx.Err() != nil {
			r.log.Info("interrupted while opening (a FIFO waits for its writer): nothing read", "file", name)
		}
		return err
	}
	defer in.Close()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.finals, r.writeErr, r.cancel = r.finals[:0], nil, cancel
	if in.Stream {
		r.stream = name
		defer func() { r.stream = "" }()
	}
	cr := &countingReader{r: in}
	bar := newProgress(r.stderr, filepath.Base(name), in.Size) // none for a stream: no size
	stats, rerr := capture.ReplayWith(rctx, cr, r.opts, tee(r.publish, r.rules.Observe), func(int64) { bar.update(cr.n) })
	bar.done()
	rest := r.rules.Flush() // sorted
	if !in.Stream {
		rest = append(r.finals, rest...)
		detector.SortAlerts(rest)
	}
	for _, a := range rest {
		if r.writeErr != nil {
			break
		}
		a.Input = name
		r.writeErr = r.out.Write(a)
	}
	if r.writeErr != nil {
		return fmt.Errorf("writing alerts: %w", r.writeErr)
	}
	for _, w := range stats.Warnings() {
		r.log.Warn(w, "file", name)
	}
	for _, n := range stats.Notes() {
		r.log.Info(n, "file", name)
	}
	r.log.Debug("replayed", "file", name, "packets", stats.Decode.Packets, "tcp", stats.Decode.TCP, "udp", stats.Decode.UDP, "events", stats.Events,
		"http_requests", stats.Decode.HTTPRequests, "http_responses", stats.Decode.HTTPResponses)
	switch {
	case rerr == nil:
		return nil
	case ctx.Err() != nil:
		r.log.Info("interrupted: the alerts above cover what was read", "file", name, "packets", stats.Decode.Packets)
		return ctx.Err()
	case errors.Is(rerr, capture.ErrTruncated) || errors.Is(rerr, capture.ErrCorrupt):
		return inputError{fmt.Errorf("%s: %w; alerts above cover the %d packets before the damage", name, rerr, stats.Decode.Packets)}
	}
	return inputError{fmt.Errorf("%s: %w", name, rerr)}
}

func explainOpen(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errors.New("no such file: check the path")
	case errors.Is(err, os.ErrPermission):
		return errors.New("permission denied: make the file readable or run as its owner")
	}
	return err
}

// countingReader tells the progress bar how far into the file we are,
// compressed or not.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
