package detector

import (
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// WebEvidence is what a web scanning alert shows of the client's requests,
// in the alert's "http" object (README.md, "Alert schema").
type WebEvidence struct {
	Requests          uint64            `json:"requests"`           // in the window, with those the live sensor counted but did not copy
	DistinctPaths     int               `json:"distinct_paths"`     // non-static, id-like segments folded
	ProbePaths        int               `json:"probe_paths"`        // distinct paths on the probe list
	InjectionRequests int               `json:"injection_requests"` // distinct requests with an injection payload
	FailedPaths       int               `json:"failed_paths"`       // distinct non-static paths answered 4xx (where responses were seen)
	Status            map[string]uint64 `json:"status,omitempty"`   // responses seen, by status code
	Signals           []string          `json:"signals"`            // what crossed a threshold, e.g. "user_agent:nikto"
	Injections        []string          `json:"injections,omitempty"`
	ProbeCategories   []string          `json:"probe_categories,omitempty"`
	SamplePaths       []string          `json:"sample_paths,omitempty"` // first requests with evidence, "METHOD target"
	UserAgents        []string          `json:"user_agents,omitempty"`
	Hosts             []string          `json:"hosts,omitempty"` // Host headers sent
}

// webEpisode is one client's web scan, under one alert_id.
type webEpisode struct {
	id      string
	label   string
	alerted int   // requests at the last alert
	active  int64 // event time of its latest request with evidence
	sent    Alert
}

var webRank = map[string]int{LabelWordlistScan: 1, LabelVulnScan: 2}

// reportWeb alerts when c's episode opens, its label escalates (a wordlist
// scan that starts injecting), or its requests grow tenfold.
func (d *Default) reportWeb(c *webClient, label string, size int, t int64) {
	ep := c.ep
	status := ""
	switch {
	case ep == nil:
		ep = &webEpisode{id: episodeID(c.addr, episodeKey{kind: epWeb}, t), label: label}
		c.ep = ep
		status = StatusNew
	case webRank[label] > webRank[ep.label]:
		ep.label = label
		status = StatusEscalated
	case size >= 10*ep.alerted:
		status = StatusUpdated
	}
	ep.active = max(ep.active, t)
	if status == "" {
		return
	}
	ep.alerted = size
	a := d.describeWeb(c, ep)
	a.Status, a.Timestamp = status, time.Unix(0, t).UTC()
	if a.Timestamp.Before(ep.sent.Timestamp) {
		a.Timestamp = ep.sent.Timestamp
	}
	ep.sent = a
	d.sendFor(c.addr, a)
}

// closeWeb ends c's episode once it has been quiet a whole window (or at
// once with all) with a final alert.
func (d *Default) closeWeb(c *webClient, all bool) {
	ep := c.ep
	if ep == nil || !all && ep.active > d.now-int64(d.window) {
		return
	}
	a := d.describeWeb(c, ep)
	if a.HTTP.Requests < ep.sent.HTTP.Requests {
		a = ep.sent // the window has moved past the peak: report the peak
	}
	a.Status, a.Timestamp = StatusFinal, time.Unix(0, max(c.last, ep.sent.Timestamp.UnixNano())).UTC()
	c.ep = nil
	d.sendFor(c.addr, a)
}

func (d *Default) describeWeb(c *webClient, ep *webEpisode) Alert {
	th := &d.web.th
	tech, _ := LabelParts(ep.label)
	a := Alert{Source: c.addr, Label: ep.label, Technique: tech, Rules: "default", AlertID: ep.id,
		FirstSeen: time.Unix(0, c.first).UTC(), LastSeen: time.Unix(0, c.last).UTC(),
		Window: d.window.String(), ScanType: "http", TotalConns: c.requests.total, Estimated: c.over}
	hosts := map[netip.Addr]struct{}{}
	var ports []uint16
	for ap := range c.dsts {
		hosts[ap.Addr()] = struct{}{}
		if !slices.Contains(ports, ap.Port()) {
			ports = append(ports, ap.Port())
		}
	}
	slices.Sort(ports)
	a.UniqueDestHosts, a.UniqueDestPorts, a.DestPorts = len(hosts), len(ports), ports
	if len(hosts) == 1 {
		for h := range hosts {
			a.DestHost = &h
		}
	}
	e := &WebEvidence{Requests: c.requests.total, DistinctPaths: c.paths.len(), ProbePaths: c.probes.len(),
		InjectionRequests: c.injected.len(), FailedPaths: c.failed.len(),
		Injections: slices.Clone(c.classes), ProbeCategories: slices.Clone(c.categories),
		SamplePaths: slices.Clone(c.samples), UserAgents: slices.Clone(c.agents), Hosts: slices.Clone(c.hosts)}
	if e.FailedPaths < th.FailedPaths && e.DistinctPaths < th.Paths && d.webSlow(c) {
		// A slow wordlist: its counts are the long window's.
		e.DistinctPaths, e.FailedPaths, e.Requests = c.pathsLong.len(), c.failLong.len(), c.total
		a.Window, a.TotalConns = d.long.String(), c.total
	}
	if len(c.status) > 0 {
		e.Status = make(map[string]uint64, len(c.status))
		for code, n := range c.status {
			e.Status[strconv.Itoa(int(code))] = n
		}
	}
	if c.agent.tool != "" {
		a.Tool = c.agent.tool
		if c.agentN >= uint64(th.UserAgent) {
			e.Signals = append(e.Signals, "user_agent:"+c.agent.tool)
		}
	}
	if e.InjectionRequests >= th.Injections || d.webStrong(c) {
		e.Signals = append(e.Signals, "injection")
	}
	if e.ProbePaths >= th.ProbePaths {
		e.Signals = append(e.Signals, "probe_paths")
	}
	if e.FailedPaths >= th.FailedPaths {
		e.Signals = append(e.Signals, "failed_paths")
	}
	if e.DistinctPaths >= th.Paths {
		e.Signals = append(e.Signals, "distinct_paths")
	}
	if e.Signals == nil {
		e.Signals = []string{}
	}
	a.HTTP = e
	return a
}
