package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/metrics"
	"github.com/scanwatch/scanwatch/sensor"
)

// reloader is what SIGHUP does: reopen --alerts.file (logrotate has
// renamed it) and reread --allowlist, keeping every other piece of state.
type reloader struct {
	allowlist string
	rules     detector.Rules
	live      *sensor.Live
	file      *alertsFile
	m         *metrics.Metrics
	log       *slog.Logger
}

func (r *reloader) reload() {
	if r.file != nil {
		if err := r.file.Reopen(); err != nil {
			r.log.Error("SIGHUP: --alerts.file not reopened, still writing to the old file", "err", err)
		} else {
			r.log.Info("SIGHUP: --alerts.file reopened", "file", r.file.path)
		}
	}
	al, ok := r.rules.(interface{ SetAllowlist(detector.PrefixSet) })
	if r.allowlist == "" || !ok {
		if r.file == nil {
			r.log.Info("SIGHUP: no --allowlist or --alerts.file to reload")
		}
		return
	}
	// LoadAllowlist never blocks (non-blocking open, regular files only),
	// so this goroutine is always back for the next SIGHUP.
	set, err := detector.LoadAllowlist(r.allowlist)
	if err != nil {
		r.m.Reloaded(false, time.Now())
		r.log.Error("SIGHUP: allowlist not reloaded, keeping the old one", "err", err)
		return
	}
	r.live.Do(func() { al.SetAllowlist(set) })
	r.m.Reloaded(true, time.Now())
	r.log.Info("SIGHUP: allowlist reloaded", "file", r.allowlist, "prefixes", len(set))
}

// reloadOnHUP runs r.reload on each SIGHUP until ctx ends or stop is
// called. SIGHUPs that arrive during a reload fold into one more.
func reloadOnHUP(ctx context.Context, r *reloader) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				r.reload()
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}
