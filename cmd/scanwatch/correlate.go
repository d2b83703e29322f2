package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/fleet"
	"github.com/scanwatch/scanwatch/metrics"
)

const correlateSynopsis = `correlate --nats nats://HOST:4222 [flags]

Reads the probe summaries that sensors publish (scanwatch run or replay
with --publish) from a NATS JetStream stream, and runs the default rules
over every sensor's probes together, in event time: a scan spread over many
sensors, none of which sees enough of it to alert, alerts here, naming the
sensors that saw parts of it ("sensors"). A durable consumer keeps its
place: restarted, the correlator rebuilds its state from the stream up to
the last message it acknowledged and goes on, repeating no alert. With
--drain it judges what the stream holds now, prints the final alerts (as
replay does for a file) and exits.`

type correlateFlags struct {
	commonFlags
	url, stream, consumer, filter string
	drain                         bool
	listenAddrs                   listFlag
	webConfig, metricsPath        string
	alertsFile                    string
	nats                          natsFlags
}

func runCorrelate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f correlateFlags
	fs := newFlagSet("correlate", correlateSynopsis, stdout, stderr)
	f.register(fs.FlagSet)
	fs.StringVar(&f.url, "nats", "", "NATS server URL, nats://HOST:4222 (a comma list for a cluster); required")
	fs.StringVar(&f.stream, "stream", fleet.DefaultStream, "JetStream stream of probe summaries, created (on scanwatch.probes.>) if missing")
	fs.StringVar(&f.consumer, "consumer", fleet.DefaultConsumer, "durable consumer name: one correlator per name; each shard its own")
	fs.StringVar(&f.filter, "filter-subject", "", "judge only this part of the stream, e.g. scanwatch.probes.shard3.> for one shard (default: all of it)")
	fs.BoolVar(&f.drain, "drain", false, "judge what the stream holds now, print the final alerts and exit; acknowledges nothing")
	f.listenAddrs = newListFlag("127.0.0.1:9596")
	fs.Var(&f.listenAddrs, "web.listen-address", "address for /metrics, repeatable (loopback by default); empty disables it")
	fs.StringVar(&f.webConfig, "web.config.file", "", "exporter-toolkit web configuration (TLS, basic auth) for /metrics")
	fs.StringVar(&f.metricsPath, "web.telemetry-path", "/metrics", "path under which to expose metrics")
	fs.StringVar(&f.alertsFile, "alerts.file", "", "also append alerts as JSON Lines (ECS with --format ecs) to this file; records already in it are not written again after a restart; reopened on SIGHUP")
	f.nats.register(fs.FlagSet)
	pos, cfg, log, err := f.parse(fs, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usageError{fmt.Errorf("unexpected argument %q: scanwatch correlate takes flags only", pos[0])}
	case f.url == "":
		fs.Usage()
		return usageError{errors.New("--nats is required: the NATS server the sensors publish to, e.g. --nats nats://127.0.0.1:4222")}
	case f.rules != "default":
		return usageError{fmt.Errorf("--rules %q: correlate runs the default rules (the seed rule has no windows in event time to share)", f.rules)}
	}
	if err := fleet.CheckURL(f.url); err != nil {
		return usageError{fmt.Errorf("--nats %w", err)}
	}
	opts, err := f.nats.auth().Options()
	if err != nil {
		return usageError{err}
	}
	signal.Ignore(syscall.SIGPIPE)
	var file *alertsFile
	var written map[string]struct{}
	if f.alertsFile != "" {
		if written, err = recordsIn(f.alertsFile); err != nil {
			return usageError{err}
		}
		if file, err = openAlertsFile(f.alertsFile); err != nil {
			return usageError{err}
		}
	}
	m := metrics.New(buildInfo(), nil)
	out := &alertSink{stdout: correlateWriter(f.format, stdout), file: file, ecs: f.format == "ecs", log: log,
		failed: func(output string) { m.WriteErrors.WithLabelValues(output).Inc() }}
	defer func() {
		if err := out.Close(); err != nil {
			log.Error("closing the alert outputs", "err", err)
		}
	}()
	cfg.Window = f.window
	cfg.OnSuppressed = m.Suppressed
	cfg.OnEvict = m.Evicted.Inc
	cfg.OnProbationEvict = m.ProbationEvicted.Inc
	cfg.OnClockHeld = m.ClockHeld.Inc
	var rules *detector.Default
	c, err := fleet.NewCorrelator(fleet.CorrelatorConfig{URL: f.url, Options: opts, Stream: fleet.StreamConfig{Name: f.stream},
		Consumer: f.consumer, FilterSubject: f.filter, Drain: f.drain, Log: log,
		Rules: func(onAlert func(detector.Alert)) (detector.Rules, error) {
			cfg.OnAlert = onAlert
			rules = detector.NewDefault(cfg)
			return rules, nil
		},
		OnAlert: func(a detector.Alert) {
			if f.drain && a.Status != detector.StatusFinal {
				return // as replay: the final record of each episode
			}
			if _, ok := written[a.RecordID()]; ok {
				return // written before a restart
			}
			m.Alerted(a)
			out.Write(a)
		}})
	if err != nil {
		return usageError{err}
	}
	m.Registry.MustRegister(fleet.CorrelatorCollector{S: c.Stats()})
	if addrs := f.listenAddrs.nonEmpty(); len(addrs) > 0 && !f.drain {
		if err := m.Serve(ctx, metrics.Web{Addrs: addrs, Path: f.metricsPath, ConfigFile: f.webConfig}, log); err != nil {
			return usageError{err}
		}
	}
	m.WatchRules(func() (st detector.Stats) {
		c.Do(func() { st = rules.Stats() })
		return st
	}, f.maxSources)
	// SIGHUP reopens --alerts.file and rereads --allowlist and
	// --http-lists between two messages, as run does between two events.
	stopHUP := reloadOnHUP(ctx, &reloader{allowlist: f.allowlist, httpLists: f.httpLists, rules: rules, live: c, file: file, m: m, log: log})
	defer stopHUP()
	return c.Run(ctx)
}

// correlateWriter is run's live output, with the sensors in the table.
func correlateWriter(format string, w io.Writer) alertWriter {
	if format != "table" {
		return newStreamWriter(format, w, true)
	}
	cols := tableColumns(true, true, false)
	cols = append(cols, column{"Sensors", 0, func(a *detector.Alert) string { return orDash(strings.Join(a.Sensors, ",")) }})
	return &streamTable{w: w, cols: cols}
}

// recordsIn returns the record ids already in an alerts file (its last
// 16 MiB: a restart only repeats the last few), so a correlator killed
// between writing an alert and acknowledging its message does not write
// it twice.
func recordsIn(path string) (map[string]struct{}, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--alerts.file %s: %w", path, err)
	}
	defer f.Close()
	const tail = 16 << 20
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > tail {
		if _, err := f.Seek(st.Size()-tail, io.SeekStart); err != nil {
			return nil, fmt.Errorf("--alerts.file %s: %w", path, err)
		}
	}
	seen := map[string]struct{}{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("{")) {
			continue // the cut first line of the tail, or not ours
		}
		var r struct {
			RecordID string `json:"record_id"`
			Event    struct {
				ID string `json:"id"`
			} `json:"event"`
		}
		if json.Unmarshal(line, &r) != nil {
			continue
		}
		if id := cmpOr(r.RecordID, r.Event.ID); id != "" {
			seen[id] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		slog.Default().Warn("reading --alerts.file for records already written stopped early", "file", path, "err", err)
	}
	return seen, nil
}
