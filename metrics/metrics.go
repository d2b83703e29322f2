// Package metrics exports scanwatch's state to Prometheus: kernel counters
// read at scrape time, scans and alert records by technique, the sensor's
// own health, build information. Metrics never carry a source address:
// per-source detail goes into alerts, so cardinality stays bounded whatever
// the traffic.
package metrics

import (
	"runtime"
	"time"

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
	FirstSights, ACKProbes, Credits, EgressCredits   uint64
	DetectorSYNs                                     uint64 // SYNs the sensor handed to the detector
	Actions                                          [5]uint64

	// What the program refused to count because the host would not
	// process it, and what it saw of evasion.
	ChecksumBad, ChecksumOffloaded, ChecksumUnverified uint64
	Fragments, FragmentDatagrams                       uint64
	FragmentQueueDrops, FragmentDrops                  uint64
	TinyFragments, HeaderChains, VLANDepth             uint64

	// HTTP heads (--http-ports): seen by the program, copied into the
	// ring, held back by a budget; then handed to the rules, or not
	// readable as a head.
	HTTPRequests, HTTPResponses, HTTPRecords uint64
	HTTPSuppressedClient, HTTPSuppressedCPU  uint64
	HTTPEvents, HTTPUnparsed                 uint64

	// The sensor's own health: the last flow map sweep and the ring's fill.
	FlowMapEntries, FlowMapCapacity int
	SweepSeconds                    float64
	RingPendingBytes, RingSizeBytes int
}

// Metrics holds the registry and the metrics scanwatch updates itself.
type Metrics struct {
	Registry *prometheus.Registry
	// Scans counts episodes (a source's scan, from its first alert to its
	// close) when they begin; Records counts every alert record written
	// (new, escalated, updated, final). Both by technique and name.
	Scans   *prometheus.CounterVec
	Records *prometheus.CounterVec
	Allowed *prometheus.CounterVec
	Evicted prometheus.Counter
	Events  prometheus.Counter
	// Spoofed one-probe sources cycle through the probation tier; its
	// evictions are the flood's footprint, not lost evidence.
	ProbationEvicted prometheus.Counter
	ClockHeld        prometheus.Counter

	// Operations: what an operator alerts on when the sensor itself is in
	// trouble rather than the network.
	Attached     *prometheus.GaugeVec   // 1 while the XDP program is on the interface
	LinkLost     *prometheus.CounterVec // the watched interface vanished
	WriteErrors  *prometheus.CounterVec // alert records not written, by output
	ReloadOK     prometheus.Gauge       // last allowlist reload succeeded (1) or not (0)
	ReloadTimeOK prometheus.Gauge       // Unix time of the last successful (re)load
	// AlertLatency is live only: from the probe that crossed a threshold
	// (or escalated) to its alert record leaving the detector.
	AlertLatency prometheus.Histogram
}

// Reloaded records the outcome of a configuration (re)load, as Prometheus
// records its own: a failed reload keeps the old configuration.
func (m *Metrics) Reloaded(ok bool, now time.Time) {
	if ok {
		m.ReloadOK.Set(1)
		m.ReloadTimeOK.Set(float64(now.UnixNano()) / 1e9)
		return
	}
	m.ReloadOK.Set(0)
}

// Alerted counts an alert record, and the episode it begins.
func (m *Metrics) Alerted(a detector.Alert) {
	tech, name := detector.LabelParts(a.Label)
	m.Records.WithLabelValues(tech, name, a.Status).Inc()
	if a.Status == detector.StatusNew {
		m.Scans.WithLabelValues(tech, name).Inc()
	}
}

// Suppressed counts an allowlisted source's would-be episode.
func (m *Metrics) Suppressed(a detector.Alert) {
	if a.Status == detector.StatusNew {
		m.Allowed.WithLabelValues(detector.LabelParts(a.Label)).Inc()
	}
}

// Build identifies the binary, as every Prometheus exporter's build_info
// does. Empty fields are reported as "unknown".
type Build struct {
	Version, Revision, Branch string
}

// New builds the registry. kernel may be nil (replay has no kernel side).
func New(build Build, kernel func() (KernelCounters, error)) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "scans_total",
			Help: "Scan episodes detected (counted at their first alert), by MITRE technique and name.",
		}, []string{"technique", "name"}),
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "alert_records_total",
			Help: "Alert records emitted, by technique, name and status (new, escalated, updated, final).",
		}, []string{"technique", "name", "status"}),
		Allowed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "allowlisted_scans_total",
			Help: "Scan episodes not alerted because the source is on the allowlist, by technique and name.",
		}, []string{"technique", "name"}),
		Evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "sources_evicted_total",
			Help: "Sources dropped, least recently active first, to respect --max-sources.",
		}),
		ProbationEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "probation_evicted_total",
			Help: "Sources with a single probe dropped from the probation tier (oldest first) to respect --max-probation; sources with scan evidence are never in it.",
		}),
		ClockHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "clock_held_events_total",
			Help: "Events stamped more than 24 h ahead of the rules' clock, which did not move it.",
		}),
		Attached: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "xdp_attached",
			Help: "1 while the XDP program is attached to the interface, 0 while the interface is gone (nothing is seen).",
		}, []string{"iface"}),
		LinkLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "link_lost_total",
			Help: "Times the watched interface vanished (deleted, renamed, moved to another namespace).",
		}, []string{"iface"}),
		WriteErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "alert_write_errors_total",
			Help: "Alert records that could not be written, by output (stdout, file); detection goes on.",
		}, []string{"output"}),
		AlertLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "alert_latency_seconds",
			Help:    "Live: time from the probe that crossed a threshold (or escalated a label) to its alert record.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
		ReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_successful",
			Help: "Whether the last configuration (allowlist) reload attempt was successful.",
		}),
		ReloadTimeOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration (allowlist) load or reload.",
		}),
	}
	// Every series exists at 0 from start-up, so increase() and rate() see
	// the first scan after a restart (a series born at 1 shows no increase).
	for _, l := range detector.Labels {
		tech, name := detector.LabelParts(l)
		m.Scans.WithLabelValues(tech, name)
		m.Allowed.WithLabelValues(tech, name)
		for _, st := range []string{detector.StatusNew, detector.StatusEscalated, detector.StatusUpdated, detector.StatusFinal} {
			m.Records.WithLabelValues(tech, name, st)
		}
	}
	for _, out := range []string{"stdout", "file"} {
		m.WriteErrors.WithLabelValues(out) // at 0 from the start, so rate() sees the first error
	}
	m.Reloaded(true, time.Now()) // the configuration read at start-up
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help: "A metric with a constant '1' value labelled by version, revision, branch, goversion, goos and goarch from which scanwatch was built.",
	}, []string{"version", "revision", "branch", "goversion", "goos", "goarch"})
	buildInfo.WithLabelValues(orUnknown(build.Version), orUnknown(build.Revision), orUnknown(build.Branch), runtime.Version(), runtime.GOOS, runtime.GOARCH).Set(1)
	reg.MustRegister(m.Scans, m.Records, m.Allowed, m.Evicted, m.ProbationEvicted, m.ClockHeld, buildInfo,
		m.Attached, m.LinkLost, m.WriteErrors, m.ReloadOK, m.ReloadTimeOK, m.AlertLatency,
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
	descFlows      = desc("flows_new_total", "(source, destination, port, probe kind) flows inserted in the kernel's flow map (a source's first probe is not: first_sight_flows_total).")
	descFirstSight = desc("first_sight_flows_total", "Flows of sources not seen before, reported once without a flow map insert (admission: a spoofed one-packet source costs no insert).")
	descACKProbes  = desc("ack_probe_packets_total", "Bare ACKs and FIN+ACKs on no live connection, counted as ACK and Maimon probes (also in probe_packets_total).")
	descCredits    = desc("credits_total", "TCP connections that showed use and UDP flows that were answered: the handshake credit that keeps clients from counting as scanners.")
	descEgressCred = desc("egress_credits_total", "Of credits_total, UDP flows credited by a reply this host sent, seen by the egress program.")
	descRingEvents = desc("ringbuf_events_total", "Records sent from the kernel through the ring buffer (flows and HTTP heads).")
	descRingDrops  = desc("ringbuf_dropped_total", "Records lost because the ring buffer was full; the flow map sweep still counts their SYNs, and a client's next HTTP record its lost requests.")
	descDetector   = desc("detector_syn_events_total", "SYNs handed from the sensor to the detector; equals scanwatch_syn_packets_total once the flow map is swept.")
	descActions    = prometheus.NewDesc(namespace+"_xdp_actions_total", "XDP verdicts returned, by action.", []string{"action"}, nil)
	descCsumBad    = desc("checksum_errors_total", "First probes of a flow, or reassembled datagrams, with a bad IP or transport checksum: the host drops them, so they are not counted.")
	descCsumOff    = desc("checksum_offloaded_total", "Probes whose checksum field holds only the pseudo-header sum (offload on a software link), accepted; rejected instead under --checksums strict.")
	descCsumUnver  = desc("checksum_unverified_total", "Probes too long to verify in the kernel (over 2048 bytes) or of unknown length, accepted unverified.")
	descFrags      = desc("fragments_total", "IP fragments of TCP or UDP datagrams seen.")
	descFragDgrams = desc("fragment_datagrams_total", "Datagrams whose fragments all arrived, judged whole.")
	descFragQDrops = desc("fragment_queue_drops_total", "Fragment queues dropped as Linux drops them: overlapping fragments, inconsistent lengths, zero-length fragments.")
	descFragDrops  = desc("fragment_drops_total", "Fragments the host discards on sight: IPv6 first fragments without their header chain, bad lengths, oversized datagrams, no room.")
	descEvasion    = prometheus.NewDesc(namespace+"_evasion_packets_total", "Evasion evidence: tiny_fragment (datagrams whose first fragment cannot hold the TCP flags), header_chain (IPv6 extension headers past 16), vlan_depth (more than 8 VLAN tags; not decoded).", []string{"reason"}, nil)
	descHTTPHeads  = prometheus.NewDesc(namespace+"_http_heads_total", "TCP segments on the --http-ports beginning an HTTP request (to the port) or response (from it), seen by the XDP program.", []string{"direction"}, nil)
	descHTTPRecs   = desc("http_records_total", "HTTP heads copied into the ring buffer.")
	descHTTPSupp   = prometheus.NewDesc(namespace+"_http_suppressed_total", "HTTP heads not copied because a budget was spent: the client's own, or the CPU's (many clients, spoofed or not). The client's next request record says how many of its requests were skipped.", []string{"budget"}, nil)
	descHTTPEvents = desc("http_events_total", "HTTP heads handed from the sensor to the rules.")
	descHTTPBad    = desc("http_unparsed_total", "HTTP records the sensor could not read as a request or status line: counted, never handed to the rules.")
	descFlowMap    = desc("flow_map_entries", "Flows in the kernel's LRU flow map at the last sweep; at capacity the least recently used are evicted.")
	descFlowCap    = desc("flow_map_capacity", "Size of the kernel's flow map.")
	descSweep      = desc("flow_sweep_duration_seconds", "How long the last flow map sweep took (it runs every second and holds the event path meanwhile).")
	descRingPend   = desc("ringbuf_pending_bytes", "Bytes waiting in the ring buffer at scrape time; near the size, records start to drop.")
	descRingSize   = desc("ringbuf_size_bytes", "Size of the ring buffer.")
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
	for _, d := range []*prometheus.Desc{descPackets, descSYN, descOtherTCP, descUDP, descNonTCP, descParse, descProbes, descFlows, descFirstSight, descACKProbes, descCredits, descEgressCred, descRingEvents, descRingDrops, descDetector, descActions,
		descCsumBad, descCsumOff, descCsumUnver, descFrags, descFragDgrams, descFragQDrops, descFragDrops, descEvasion,
		descHTTPHeads, descHTTPRecs, descHTTPSupp, descHTTPEvents, descHTTPBad,
		descFlowMap, descFlowCap, descSweep, descRingPend, descRingSize} {
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
		{descParse, k.ParseErrors}, {descProbes, k.Probes}, {descFlows, k.FlowsNew}, {descFirstSight, k.FirstSights},
		{descACKProbes, k.ACKProbes}, {descCredits, k.Credits}, {descEgressCred, k.EgressCredits}, {descRingEvents, k.RingbufEvents}, {descRingDrops, k.RingbufDrops}, {descDetector, k.DetectorSYNs},
		{descCsumBad, k.ChecksumBad}, {descCsumOff, k.ChecksumOffloaded}, {descCsumUnver, k.ChecksumUnverified}, {descFrags, k.Fragments},
		{descFragDgrams, k.FragmentDatagrams}, {descFragQDrops, k.FragmentQueueDrops}, {descFragDrops, k.FragmentDrops},
		{descHTTPRecs, k.HTTPRecords}, {descHTTPEvents, k.HTTPEvents}, {descHTTPBad, k.HTTPUnparsed}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n))
	}
	for reason, n := range map[string]uint64{"tiny_fragment": k.TinyFragments, "header_chain": k.HeaderChains, "vlan_depth": k.VLANDepth} {
		ch <- prometheus.MustNewConstMetric(descEvasion, prometheus.CounterValue, float64(n), reason)
	}
	for dir, n := range map[string]uint64{"request": k.HTTPRequests, "response": k.HTTPResponses} {
		ch <- prometheus.MustNewConstMetric(descHTTPHeads, prometheus.CounterValue, float64(n), dir)
	}
	for budget, n := range map[string]uint64{"client": k.HTTPSuppressedClient, "cpu": k.HTTPSuppressedCPU} {
		ch <- prometheus.MustNewConstMetric(descHTTPSupp, prometheus.CounterValue, float64(n), budget)
	}
	for _, g := range []struct {
		d *prometheus.Desc
		v float64
	}{{descFlowMap, float64(k.FlowMapEntries)}, {descFlowCap, float64(k.FlowMapCapacity)}, {descSweep, k.SweepSeconds},
		{descRingPend, float64(k.RingPendingBytes)}, {descRingSize, float64(k.RingSizeBytes)}} {
		ch <- prometheus.MustNewConstMetric(g.d, prometheus.GaugeValue, g.v)
	}
	for i, n := range k.Actions {
		ch <- prometheus.MustNewConstMetric(descActions, prometheus.CounterValue, float64(n), actionNames[i])
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
