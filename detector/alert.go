package detector

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// Labels of the starting rule. Dashboards key on these strings; keep them.
const (
	LabelFullNetworkScan = "T1595 - FullNetworkScan"
	LabelPortScan        = "T1595 - PortScan"
	LabelIPSweep         = "T1595 - IPSweep"
)

// labelRank orders labels for escalation: a vertical scan outranks a
// sweep or flood, a full scan a port scan. An unknown label ranks 0.
var labelRank = map[string]int{LabelIPSweep: 1, LabelSweep: 1, LabelFlood: 1, LabelEvasive: 1, LabelDistributed: 1,
	LabelPortScan: 2, LabelFullNetworkScan: 3}

// Alert statuses: live rules alert as a threshold is crossed ("new"), again
// when the label escalates, and close an episode with the final counts.
// Replay judges a whole file at once, so its alerts are "final".
const (
	StatusNew       = "new"
	StatusEscalated = "escalated"
	StatusUpdated   = "updated" // counts grew tenfold since the last alert
	StatusFinal     = "final"
)

// Alert is one source judged to be scanning. Its JSON form is the output
// schema documented in README.md; add fields, never rename them.
type Alert struct {
	Timestamp       time.Time  `json:"timestamp"` // the record's time: its episode's latest probe, never before an earlier record of the episode
	Source          netip.Addr `json:"source"`
	Label           string     `json:"label"`
	Technique       string     `json:"technique"`
	TotalConns      uint64     `json:"total_conns"`
	UniqueDestPorts int        `json:"unique_dest_ports"`
	UniqueDestHosts int        `json:"unique_dest_hosts"`
	FirstSeen       time.Time  `json:"first_seen"`
	LastSeen        time.Time  `json:"last_seen"`
	Rules           string     `json:"rules"`
	Status          string     `json:"status"` // StatusNew, StatusEscalated, StatusUpdated or StatusFinal
	Input           string     `json:"input,omitempty"`
	// Live: the sensor that saw it, for a SIEM collecting many.
	Host      string `json:"host,omitempty"`
	Interface string `json:"interface,omitempty"`

	// The default rule set says more about each episode.
	AlertID        string       `json:"alert_id,omitempty"`  // stable over an episode's updates
	ScanType       string       `json:"scan_type,omitempty"` // syn, connect, fin, null, xmas, maimon, ack, udp, mixed
	DestHost       *netip.Addr  `json:"dest_host,omitempty"` // the target of a vertical scan or flood
	DestPorts      []uint16     `json:"dest_ports,omitempty"`
	Window         string       `json:"window,omitempty"` // the window whose thresholds were crossed
	Tool           string       `json:"tool,omitempty"`   // nmap, masscan or zmap where the fingerprint is clear
	RelatedSources []netip.Addr `json:"related_sources,omitempty"`
	// Evasion names the evasion marks seen on the source's probes
	// (Evasion.Names): fragmented, tiny_fragment, header_chain.
	Evasion []string `json:"evasion,omitempty"`
	// Estimated: a count (ports or hosts) went past what the rules count
	// exactly per source (4096 keys per set, 65,536 per source) and is a
	// HyperLogLog estimate (about 1.6% standard error) beyond that.
	Estimated bool `json:"estimated,omitempty"`
	// MemberSources: for a DistributedScan (Source is then the prefix's
	// first address), the member addresses seen, sorted, up to 64.
	MemberSources []netip.Addr `json:"member_sources,omitempty"`
	// HTTP: for a web scan (T1595.002, T1595.003), what its requests showed.
	HTTP *WebEvidence `json:"http,omitempty"`
	// Sensors: for an alert of scanwatch correlate, the ids of the fleet
	// sensors that saw the source's (or its members') probes, sorted
	// (SensorTracker).
	Sensors []string `json:"sensors,omitempty"`
}

// SortAlerts orders alerts by time, then source, so output is reproducible.
func SortAlerts(a []Alert) {
	slices.SortFunc(a, func(x, y Alert) int {
		if c := x.Timestamp.Compare(y.Timestamp); c != 0 {
			return c
		}
		if c := x.Source.Compare(y.Source); c != 0 {
			return c
		}
		return cmp.Compare(x.Label, y.Label)
	})
}
