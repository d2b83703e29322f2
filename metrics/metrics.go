// Package metrics exports scanwatch's state to Prometheus: kernel counters
// read at scrape time, alert totals by label, build information. Metrics
// never carry a source address: per-source detail goes into alerts, so
// cardinality stays bounded whatever the traffic.
package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/scanwatch/scanwatch/detector"
)

const namespace = "scanwatch"

// KernelCounters is what the XDP program counts; ok is false when the
// counters cannot be read (the scrape then reports an error).
type KernelCounters struct {
	Packets, SYN, OtherTCP, UDP, NonTCP, ParseErrors uint64
	Probes, FlowsNew, RingbufEvents, RingbufDrops    uint64
	DetectorSYNs                                     uint64 // SYNs the sensor handed to the detector
	Actions                                          [5]uint64
}

// Metrics holds the registry and the metrics scanwatch updates itself.
type Metrics struct {
	Registry *prometheus.Registry
	Alerts   *prometheus.CounterVec
	Floods   prometheus.Counter
	Allowed  *prometheus.CounterVec
	Evicted  prometheus.Counter
	Events   prometheus.Counter
}

// Alerted counts an alert: raised (new) or escalated; updates and closing
// alerts of an episode are not new alerts.
func (m *Metrics) Alerted(a detector.Alert) {
	if a.Status != detector.StatusNew && a.Status != detector.StatusEscalated {
		return
	}
	m.Alerts.WithLabelValues(a.Label).Inc()
	if a.Label == detector.LabelFlood && a.Status == detector.StatusNew {
		m.Floods.Inc()
	}
}

// Suppressed counts an allowlisted source's would-be alert.
func (m *Metrics) Suppressed(a detector.Alert) {
	if a.Status == detector.StatusNew || a.Status == detector.StatusEscalated {
		m.Allowed.WithLabelValues(a.Label).Inc()
	}
}

// New builds the registry. kernel may be nil (replay has no kernel side).
func New(version string, kernel func() (KernelCounters, error)) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "alerts_total",
			Help: "Alerts raised, by label (technique and kind of scan).",
		}, []string{"label"}),
		Floods: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "synflood_alerts_total",
			Help: "SYN floods (T1499.001) raised: denial of service, kept apart from scans.",
		}),
		Allowed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "allowlisted_alerts_total",
			Help: "Alerts not raised because the source is on the allowlist, by label.",
		}, []string{"label"}),
		Evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "sources_evicted_total",
			Help: "Sources dropped, least recently active first, to respect --max-sources.",
		}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help: "A metric with a constant '1' value labelled by version and Go version.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(m.Alerts, m.Floods, m.Allowed, m.Evicted, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if kernel != nil {
		reg.MustRegister(&kernelCollector{read: kernel})
	}
	return m
}

var (
	descPackets    = desc("packets_total", "Frames the XDP program saw.")
	descSYN        = desc("syn_packets_total", "TCP SYN-without-ACK packets counted in the kernel.")
	descOtherTCP   = desc("other_tcp_packets_total", "TCP packets other than SYN-without-ACK.")
	descUDP        = desc("udp_packets_total", "UDP packets.")
	descNonTCP     = desc("other_packets_total", "Frames that are not TCP or UDP over IP, or later IP fragments.")
	descParse      = desc("parse_errors_total", "Frames whose headers were cut short or inconsistent.")
	descProbes     = desc("probe_packets_total", "FIN, NULL and XMAS probes and UDP datagrams reported as probes by the kernel (SYNs are counted apart).")
	descFlows      = desc("flows_new_total", "(source, destination, port, probe kind) flows first seen by the kernel.")
	descRingEvents = desc("ringbuf_events_total", "Records sent from the kernel through the ring buffer.")
	descRingDrops  = desc("ringbuf_dropped_total", "Records lost because the ring buffer was full; the flow map sweep still counts their SYNs.")
	descDetector   = desc("detector_syn_events_total", "SYNs handed from the sensor to the detector; equals scanwatch_syn_packets_total once the flow map is swept.")
	descActions    = prometheus.NewDesc(namespace+"_xdp_actions_total", "XDP verdicts returned, by action.", []string{"action"}, nil)
	actionNames    = [5]string{"aborted", "drop", "pass", "tx", "redirect"}
)

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, nil, nil)
}

// kernelCollector reads the per-CPU counters at scrape time, as
// cloudflare/ebpf_exporter does: no polling loop, always current.
type kernelCollector struct {
	read func() (KernelCounters, error)
}

func (c *kernelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPackets, descSYN, descOtherTCP, descUDP, descNonTCP, descParse, descProbes, descFlows, descRingEvents, descRingDrops, descDetector, descActions} {
		ch <- d
	}
}

func (c *kernelCollector) Collect(ch chan<- prometheus.Metric) {
	k, err := c.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descPackets, err)
		return
	}
	for _, v := range []struct {
		d *prometheus.Desc
		n uint64
	}{{descPackets, k.Packets}, {descSYN, k.SYN}, {descOtherTCP, k.OtherTCP}, {descUDP, k.UDP}, {descNonTCP, k.NonTCP},
		{descParse, k.ParseErrors}, {descProbes, k.Probes}, {descFlows, k.FlowsNew}, {descRingEvents, k.RingbufEvents}, {descRingDrops, k.RingbufDrops}, {descDetector, k.DetectorSYNs}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n))
	}
	for i, n := range k.Actions {
		ch <- prometheus.MustNewConstMetric(descActions, prometheus.CounterValue, float64(n), actionNames[i])
	}
}
