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
)

// reloader is what SIGHUP does: reopen --alerts.file (logrotate has
// renamed it) and reread --allowlist and --http-lists, keeping every other
// piece of state.
type reloader struct {
	allowlist string
	httpLists string
	rules     detector.Rules
	live      interface{ Do(func()) } // runs a function beside the detector: *sensor.Live, *fleet.Correlator
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
	if r.allowlist == "" && r.httpLists == "" {
		if r.file == nil {
			r.log.Info("SIGHUP: no --allowlist, --http-lists or --alerts.file to reload")
		}
		return
	}
	ok := true
	if r.allowlist != "" {
		ok = r.reloadAllowlist() && ok
	}
	if r.httpLists != "" {
		ok = r.reloadWebLists() && ok
	}
	r.m.Reloaded(ok, time.Now())
}

// reloadAllowlist rereads --allowlist; on an error the old one stays.
func (r *reloader) reloadAllowlist() bool {
	al, ok := r.rules.(interface{ SetAllowlist(detector.PrefixSet) })
	if !ok {
		return true
	}
	// LoadAllowlist never blocks (non-blocking open, regular files only),
	// so this goroutine is always back for the next SIGHUP.
	set, err := detector.LoadAllowlist(r.allowlist)
	if err != nil {
		r.log.Error("SIGHUP: allowlist not reloaded, keeping the old one", "err", err)
		return false
	}
	r.live.Do(func() { al.SetAllowlist(set) })
	r.log.Info("SIGHUP: allowlist reloaded", "file", r.allowlist, "prefixes", len(set))
	return true
}

// reloadWebLists rereads --http-lists; on an error the old lists stay.
func (r *reloader) reloadWebLists() bool {
	wl, ok := r.rules.(interface{ SetWebLists(*detector.WebLists) })
	if !ok {
		return true
	}
	lists, err := detector.LoadWebLists(r.httpLists)
	if err != nil {
		r.log.Error("SIGHUP: --http-lists not reloaded, keeping the old lists", "err", err)
		return false
	}
	r.live.Do(func() { wl.SetWebLists(lists) })
	r.log.Info("SIGHUP: web lists reloaded", "dir", r.httpLists, "entries", lists.Entries)
	return true
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
