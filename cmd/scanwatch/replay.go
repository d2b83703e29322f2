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
)

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c commonFlags
	var r replayFlags
	fs := newFlagSet("replay", "replay [flags] FILE...", stderr)
	c.register(fs)
	r.register(fs)
	files, cfg, log, err := c.parse(fs, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	opts, err := r.options()
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fs.Usage()
		return usageError{errors.New("no capture file given: scanwatch replay FILE.pcap")}
	}
	// Replay judges whole files: of an episode's alerts (new, escalated,
	// updated, final) it prints the final one, with the file's counts.
	var finals []detector.Alert
	cfg.OnAlert = func(a detector.Alert) {
		if a.Status == detector.StatusFinal {
			finals = append(finals, a)
		}
	}
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
	rules, err := detector.New(c.rules, cfg)
	if err != nil {
		return usageError{err}
	}
	out := newAlertWriter(c.format, stdout, len(files) > 1, c.rules == "default")
	var failed []error
	for _, name := range files {
		finals = finals[:0]
		err := replayFile(ctx, name, opts, rules, func() []detector.Alert {
			all := append(finals, rules.Flush()...)
			detector.SortAlerts(all)
			return all
		}, out, stderr, log)
		warnRules(name)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failed = append(failed, err)
		}
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("writing alerts: %w", err)
	}
	if ctx.Err() != nil {
		return nil // interrupted: what was read has been reported
	}
	return errors.Join(failed...)
}

// replayFile judges one file on its own, as the LogScale query judges its
// search range: the rules are flushed at the end of every file. Alerts for the
// readable part of a damaged file are written before its error is returned.
func replayFile(ctx context.Context, name string, opts capture.ReplayOptions, rules detector.Rules, flush func() []detector.Alert, out alertWriter, stderr io.Writer, log *slog.Logger) error {
	f, err := os.Open(name)
	if err != nil {
		return inputError{fmt.Errorf("%s: %w", name, explainOpen(err))}
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		if fi.IsDir() {
			return inputError{fmt.Errorf("%s is a directory: name capture files, e.g. %s/*.pcap", name, name)}
		}
		size = fi.Size()
	}
	cr := &countingReader{r: f}
	bar := newProgress(stderr, filepath.Base(name), size)
	stats, rerr := capture.ReplayWith(ctx, cr, opts, rules.Observe, func(int64) { bar.update(cr.n) })
	bar.done()
	for _, a := range flush() {
		a.Input = name
		if err := out.Write(a); err != nil {
			return fmt.Errorf("writing alerts: %w", err)
		}
	}
	for _, w := range stats.Warnings() {
		log.Warn(w, "file", name)
	}
	for _, n := range stats.Notes() {
		log.Info(n, "file", name)
	}
	log.Debug("replayed", "file", name, "packets", stats.Decode.Packets, "tcp", stats.Decode.TCP, "udp", stats.Decode.UDP, "events", stats.Events)
	switch {
	case rerr == nil:
		return nil
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
