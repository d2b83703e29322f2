package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/httpwire"
	"github.com/scanwatch/scanwatch/metrics"
	"github.com/scanwatch/scanwatch/sensor"
)

type runFlags struct {
	commonFlags
	iface       string
	xdpMode     string
	promisc     bool
	egress      bool
	listenAddrs listFlag
	webConfig   string
	metricsPath string
	checksums   string
	alertsFile  string
	httpPorts   func() (*httpwire.Ports, error)
	link        linkFlags
	publish     publishFlags
}

func runLive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f runFlags
	fs := newFlagSet("run", "run --iface IFACE [flags]", stdout, stderr)
	f.register(fs.FlagSet)
	fs.StringVar(&f.iface, "iface", "", "network interface to watch (required)")
	fs.StringVar(&f.xdpMode, "xdp-mode", sensor.ModeAuto, "XDP attach mode: auto (native, else generic), native or generic")
	fs.BoolVar(&f.promisc, "promisc", false, "put the interface in promiscuous mode, for span/mirror ports")
	fs.BoolVar(&f.egress, "egress", true, "also watch what this host sends (a read-only TCX egress program): its UDP replies credit the flows they answer; --egress=false saves every outgoing packet its few ns")
	f.listenAddrs = newListFlag(metrics.DefaultListenAddress)
	fs.Var(&f.listenAddrs, "web.listen-address", "address for /metrics, repeatable (loopback by default; e.g. :9595 for Prometheus on another host); empty disables it")
	fs.StringVar(&f.webConfig, "web.config.file", "", "exporter-toolkit web configuration (TLS, basic auth) for /metrics: https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md")
	fs.StringVar(&f.metricsPath, "web.telemetry-path", "/metrics", "path under which to expose metrics")
	fs.StringVar(&f.checksums, "checksums", sensor.ChecksumsAuto, "offloaded checksums (pseudo-header only): auto accepts them on software links (veth, tun) and rejects them on NICs; strict or tolerant")
	fs.StringVar(&f.alertsFile, "alerts.file", "", "also append alerts as JSON Lines (in ECS with --format ecs) to this file; reopened on SIGHUP (logrotate without copytruncate)")
	f.httpPorts = addHTTPFlags(fs.FlagSet)
	f.link.register(fs.FlagSet)
	f.publish.register(fs.FlagSet)
	pos, cfg, log, err := f.parse(fs, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usageError{fmt.Errorf("unexpected argument %q: scanwatch run takes flags only (did you mean replay?)", pos[0])}
	case f.iface == "":
		fs.Usage()
		return usageError{errors.New("--iface is required: the interface to watch, e.g. --iface eth0")}
	case f.xdpMode != sensor.ModeAuto && f.xdpMode != sensor.ModeNative && f.xdpMode != sensor.ModeGeneric:
		return usageError{fmt.Errorf("--xdp-mode %q: use auto, native or generic", f.xdpMode)}
	case f.checksums != sensor.ChecksumsAuto && f.checksums != sensor.ChecksumsStrict && f.checksums != sensor.ChecksumsTolerant:
		return usageError{fmt.Errorf("--checksums %q: use auto, strict or tolerant", f.checksums)}
	}
	linkLoss, err := f.link.policy(fs.FlagSet)
	if err != nil {
		return err
	}
	httpPorts, err := f.httpPorts()
	if err != nil {
		return err
	}

	// A reader that goes away must not kill the sensor: with SIGPIPE
	// ignored, a write to a closed stdout returns EPIPE, which the alert
	// sink logs and counts while detection goes on.
	signal.Ignore(syscall.SIGPIPE)
	var file *alertsFile
	if f.alertsFile != "" {
		if file, err = openAlertsFile(f.alertsFile); err != nil {
			return usageError{err}
		}
	}

	var onLink func(attached bool) // set once the metrics exist; only live.Run calls it
	live, err := sensor.Attach(sensor.LiveConfig{Iface: f.iface, Mode: f.xdpMode, Promisc: f.promisc, NoEgress: !f.egress, Checksums: f.checksums, Log: log,
		LinkLoss: linkLoss, OnLink: func(attached bool) { onLink(attached) }, Program: sensor.ProgramConfig{HTTPPorts: httpPorts}})
	if err != nil {
		if file != nil {
			file.Close()
		}
		return err
	}
	defer live.Close()

	m := metrics.New(buildInfo(), func() (metrics.KernelCounters, error) { return kernelCounters(live) })
	onLink = linkMetrics(m, f.iface)
	pub, err := f.publish.start(true, log)
	if err != nil {
		return err
	}
	defer func() { _ = closePublisher(pub, f.publish.flushTimeout, log) }() // what it lost is logged there
	registerPublisher(m.Registry, pub)
	if addrs := f.listenAddrs.nonEmpty(); len(addrs) > 0 {
		if err := m.Serve(ctx, metrics.Web{Addrs: addrs, Path: f.metricsPath, ConfigFile: f.webConfig}, log); err != nil {
			return usageError{err}
		}
	}
	// Everything privileged is open (the metrics ports too, which may be
	// below 1024): from here on keep only what this kernel needs.
	if _, err := live.DropCapabilities(linkLoss == sensor.LinkReattach); err != nil {
		log.Warn("capabilities not dropped: the process keeps those it started with", "err", err)
	}
	out := &alertSink{stdout: newStreamWriter(f.format, stdout, f.rules == "default"), file: file, ecs: f.format == "ecs", log: log,
		failed: func(output string) { m.WriteErrors.WithLabelValues(output).Inc() }}
	cfg.Window = f.window
	cfg.OnSuppressed = m.Suppressed
	cfg.OnEvict = m.Evicted.Inc
	cfg.OnProbationEvict = m.ProbationEvicted.Inc
	cfg.OnClockHeld = m.ClockHeld.Inc
	host, _ := os.Hostname()
	cfg.OnAlert = func(a detector.Alert) {
		a.Host, a.Interface = host, f.iface
		if a.Status == detector.StatusNew || a.Status == detector.StatusEscalated {
			m.AlertLatency.Observe(time.Since(a.Timestamp).Seconds())
		}
		m.Alerted(a)
		out.Write(a)
	}
	rules, err := detector.New(f.rules, cfg)
	if err != nil {
		return usageError{err}
	}
	if sr, ok := rules.(detector.StatsReporter); ok {
		m.WatchRules(func() (st detector.Stats) {
			live.Do(func() { st = sr.Stats() })
			return st
		}, f.maxSources)
	}
	log.Info("watching", "iface", f.iface, "mode", live.Mode, "rules", f.rules, "window", f.window, "http_ports", cmp.Or(httpPorts.String(), "none"))
	stopHUP := reloadOnHUP(ctx, &reloader{allowlist: f.allowlist, httpLists: f.httpLists, rules: rules, live: live, file: file, m: m, log: log})
	defer stopHUP()
	runErr := live.Run(ctx, tee(pub, rules.Observe))
	// Stopped by a signal (or the reader failed): close every episode with
	// its final counts, then detach (deferred).
	for _, a := range rules.Flush() {
		cfg.OnAlert(a)
	}
	if err := out.Close(); err != nil {
		log.Error("closing the alert outputs", "err", err)
	}
	if c, err := live.Objs.ReadCounters(); err == nil {
		log.Info("stopped", "packets", c.Values[sensor.CntPackets], "syn", c.Values[sensor.CntSYN],
			"ringbuf_events", c.Values[sensor.CntRingbufEvents], "ringbuf_drops", c.Values[sensor.CntRingbufDrops], "syn_to_detector", live.Emitted(),
			"probes", c.Values[sensor.CntProbes], "probes_to_detector", live.EmittedProbes(),
			"http_records", c.Values[sensor.CntHTTPRecords], "http_to_detector", httpEvents(live))
	}
	return runErr
}

func httpEvents(live *sensor.Live) uint64 {
	n, _ := live.HTTPEvents()
	return n
}

// kernelCounters is read at each scrape: the program's per-CPU counters and
// the sensor's count of SYNs handed on, so nothing is counted twice on the
// event path.
func kernelCounters(live *sensor.Live) (metrics.KernelCounters, error) {
	c, err := live.Objs.ReadCounters()
	if err != nil {
		return metrics.KernelCounters{}, err
	}
	v := c.Values
	h := live.Health()
	httpEvents, httpUnparsed := live.HTTPEvents()
	return metrics.KernelCounters{
		FlowMapEntries: h.Sweep.Flows, FlowMapCapacity: h.FlowCapacity, SweepSeconds: h.Sweep.Took.Seconds(),
		RingPendingBytes: h.RingPending, RingSizeBytes: h.RingBytes,
		Packets: v[sensor.CntPackets], SYN: v[sensor.CntSYN], OtherTCP: v[sensor.CntOtherTCP], UDP: v[sensor.CntUDP],
		NonTCP: v[sensor.CntNonTCP], ParseErrors: v[sensor.CntParseError], Probes: v[sensor.CntProbes], FlowsNew: v[sensor.CntFlowsNew],
		FirstSights: v[sensor.CntFirstSight], ACKProbes: v[sensor.CntACKProbes], Credits: v[sensor.CntCredits], EgressCredits: v[sensor.CntEgressCredits],
		RingbufEvents: v[sensor.CntRingbufEvents], RingbufDrops: v[sensor.CntRingbufDrops], Actions: c.Actions,
		DetectorSYNs: live.Emitted(),
		ChecksumBad:  v[sensor.CntCsumBad], ChecksumOffloaded: v[sensor.CntCsumOffload], ChecksumUnverified: v[sensor.CntCsumUnverified],
		Fragments: v[sensor.CntFragments], FragmentDatagrams: v[sensor.CntFragDatagrams],
		FragmentQueueDrops: v[sensor.CntFragOverlap], FragmentDrops: v[sensor.CntFragDropped],
		TinyFragments: v[sensor.CntTinyFragment], HeaderChains: v[sensor.CntHeaderChain], VLANDepth: v[sensor.CntVLANDepth],
		HTTPRequests: v[sensor.CntHTTPRequests], HTTPResponses: v[sensor.CntHTTPResponses], HTTPRecords: v[sensor.CntHTTPRecords],
		HTTPSuppressedClient: v[sensor.CntHTTPSuppressedSource], HTTPSuppressedCPU: v[sensor.CntHTTPSuppressedCPU],
		HTTPEvents: httpEvents, HTTPUnparsed: httpUnparsed,
	}, nil
}
