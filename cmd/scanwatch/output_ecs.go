package main

import (
	"encoding/json"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/scanwatch/scanwatch/detector"
)

// ecsVersion is the Elastic Common Schema release the records follow.
const ecsVersion = "8.11.0"

// ecsWriter writes alerts as ECS documents, one per line: what Elastic's
// SIEM, and LogScale's and Splunk's ECS parsers, map without a custom
// pipeline. scanwatch's own fields go under "scanwatch".
type ecsWriter struct{ enc *json.Encoder }

func (e *ecsWriter) Write(a detector.Alert) error { return e.enc.Encode(toECS(&a)) }
func (e *ecsWriter) Close() error                 { return nil }

func newECSWriter(w io.Writer) *ecsWriter { return &ecsWriter{enc: json.NewEncoder(w)} }

type ecsDoc struct {
	Timestamp   time.Time    `json:"@timestamp"`
	Message     string       `json:"message"`
	ECS         ecsVer       `json:"ecs"`
	Event       ecsEvent     `json:"event"`
	Source      ecsEndpoint  `json:"source"`
	Destination *ecsEndpoint `json:"destination,omitempty"`
	Network     *ecsNetwork  `json:"network,omitempty"`
	Rule        ecsRule      `json:"rule"`
	Threat      ecsThreat    `json:"threat"`
	Observer    ecsObserver  `json:"observer"`
	Related     ecsRelated   `json:"related"`
	UserAgent   *ecsUA       `json:"user_agent,omitempty"`
	Scanwatch   ecsScanwatch `json:"scanwatch"`
}

// ecsUA is a web scan's first User-Agent (all of them are in
// scanwatch.http.user_agents).
type ecsUA struct {
	Original string `json:"original"`
}

type ecsVer struct {
	Version string `json:"version"`
}

type ecsEvent struct {
	Kind     string    `json:"kind"`
	Category []string  `json:"category"`
	Type     []string  `json:"type"`
	Action   string    `json:"action"` // the record's status: new, escalated, updated, final
	ID       string    `json:"id"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration int64     `json:"duration"` // nanoseconds, as ECS says
	Severity int       `json:"severity"`
	Module   string    `json:"module"`
	Dataset  string    `json:"dataset"`
}

type ecsEndpoint struct {
	IP   string `json:"ip,omitempty"`
	Port uint16 `json:"port,omitempty"`
}

type ecsNetwork struct {
	Transport string `json:"transport"`
}

type ecsRule struct {
	Name     string `json:"name"`
	Ruleset  string `json:"ruleset"`
	Category string `json:"category"`
}

type ecsThreat struct {
	Framework string       `json:"framework"`
	Tactic    ecsRef       `json:"tactic"`
	Technique ecsTechnique `json:"technique"`
}

type ecsRef struct {
	ID        []string `json:"id"`
	Name      []string `json:"name"`
	Reference []string `json:"reference"`
}

type ecsTechnique struct {
	ecsRef
	Subtechnique *ecsRef `json:"subtechnique,omitempty"`
}

type ecsObserver struct {
	Hostname string      `json:"hostname,omitempty"`
	Type     string      `json:"type"`
	Vendor   string      `json:"vendor"`
	Product  string      `json:"product"`
	Version  string      `json:"version"`
	Ingress  *ecsIngress `json:"ingress,omitempty"`
}

type ecsIngress struct {
	Interface struct {
		Name string `json:"name"`
	} `json:"interface"`
}

type ecsRelated struct {
	IP []string `json:"ip"`
}

// ecsScanwatch is what ECS has no field for.
type ecsScanwatch struct {
	AlertID         string   `json:"alert_id,omitempty"`
	Label           string   `json:"label"`
	TotalConns      uint64   `json:"total_conns"`
	UniqueDestPorts int      `json:"unique_dest_ports"`
	UniqueDestHosts int      `json:"unique_dest_hosts"`
	ScanType        string   `json:"scan_type,omitempty"`
	Tool            string   `json:"tool,omitempty"`
	DestPorts       []uint16 `json:"dest_ports,omitempty"`
	Window          string   `json:"window,omitempty"`
	Evasion         []string `json:"evasion,omitempty"`
	Estimated       bool     `json:"estimated,omitempty"`
	Input           string   `json:"input,omitempty"`
	Sensors         []string `json:"sensors,omitempty"`
	// HTTP is a web scan's evidence, as in the JSON Lines alert.
	HTTP *detector.WebEvidence `json:"http,omitempty"`
}

// mitre names the tactic, technique and sub-technique of a label.
type mitre struct{ tactic, tacticName, tech, techName, sub, subName string }

var mitreOf = map[string]mitre{
	"T1595":     {"TA0043", "Reconnaissance", "T1595", "Active Scanning", "", ""},
	"T1595.001": {"TA0043", "Reconnaissance", "T1595", "Active Scanning", "T1595.001", "Scanning IP Blocks"},
	"T1595.002": {"TA0043", "Reconnaissance", "T1595", "Active Scanning", "T1595.002", "Vulnerability Scanning"},
	"T1595.003": {"TA0043", "Reconnaissance", "T1595", "Active Scanning", "T1595.003", "Wordlist Scanning"},
	"T1499.001": {"TA0040", "Impact", "T1499", "Endpoint Denial of Service", "T1499.001", "OS Exhaustion Flood"},
}

func attackURL(id string) string {
	if p, sub, ok := strings.Cut(id, "."); ok {
		return "https://attack.mitre.org/techniques/" + p + "/" + sub + "/"
	}
	if len(id) > 2 && id[:2] == "TA" {
		return "https://attack.mitre.org/tactics/" + id + "/"
	}
	return "https://attack.mitre.org/techniques/" + id + "/"
}

func toECS(a *detector.Alert) ecsDoc {
	tech, name := detector.LabelParts(a.Label)
	m, ok := mitreOf[tech]
	if !ok {
		m = mitreOf["T1595"]
	}
	severity := 47 // medium: reconnaissance
	if tech == "T1499.001" {
		severity = 73 // high: an attack on availability
	}
	d := ecsDoc{
		Timestamp: a.Timestamp, Message: a.Message(), ECS: ecsVer{ecsVersion},
		Event: ecsEvent{Kind: "alert", Category: []string{"network", "intrusion_detection"}, Type: []string{"info"},
			Action: a.Status, ID: a.RecordID(), Start: a.FirstSeen, End: a.LastSeen, Duration: a.LastSeen.Sub(a.FirstSeen).Nanoseconds(),
			Severity: severity, Module: "scanwatch", Dataset: "scanwatch.alert"},
		Source: ecsEndpoint{IP: a.Source.String()},
		Rule:   ecsRule{Name: a.Label, Ruleset: a.Rules, Category: tech + " " + name},
		Threat: ecsThreat{Framework: "MITRE ATT&CK",
			Tactic:    ecsRef{ID: []string{m.tactic}, Name: []string{m.tacticName}, Reference: []string{attackURL(m.tactic)}},
			Technique: ecsTechnique{ecsRef: ecsRef{ID: []string{m.tech}, Name: []string{m.techName}, Reference: []string{attackURL(m.tech)}}}},
		Observer: ecsObserver{Hostname: a.Host, Type: "sensor", Vendor: "scanwatch", Product: "scanwatch", Version: version},
		Scanwatch: ecsScanwatch{AlertID: a.AlertID, Label: a.Label, TotalConns: a.TotalConns, UniqueDestPorts: a.UniqueDestPorts,
			UniqueDestHosts: a.UniqueDestHosts, ScanType: a.ScanType, Tool: a.Tool, DestPorts: a.DestPorts, Window: a.Window,
			Evasion: a.Evasion, Estimated: a.Estimated, Input: a.Input, Sensors: a.Sensors, HTTP: a.HTTP},
	}
	if a.HTTP != nil && len(a.HTTP.UserAgents) > 0 && a.HTTP.UserAgents[0] != "" {
		d.UserAgent = &ecsUA{Original: a.HTTP.UserAgents[0]}
	}
	if m.sub != "" {
		d.Threat.Technique.Subtechnique = &ecsRef{ID: []string{m.sub}, Name: []string{m.subName}, Reference: []string{attackURL(m.sub)}}
	}
	if a.Interface != "" {
		d.Observer.Ingress = &ecsIngress{}
		d.Observer.Ingress.Interface.Name = a.Interface
	}
	if a.DestHost != nil {
		d.Destination = &ecsEndpoint{IP: a.DestHost.String()}
	}
	if len(a.DestPorts) == 1 {
		if d.Destination == nil {
			d.Destination = &ecsEndpoint{}
		}
		d.Destination.Port = a.DestPorts[0]
	}
	switch a.ScanType {
	case "udp":
		d.Network = &ecsNetwork{Transport: "udp"}
	case "", "mixed":
	default:
		d.Network = &ecsNetwork{Transport: "tcp"}
	}
	ips := []netip.Addr{a.Source}
	if a.DestHost != nil {
		ips = append(ips, *a.DestHost)
	}
	ips = append(ips, a.RelatedSources...)
	ips = append(ips, a.MemberSources...)
	slices.SortFunc(ips, func(x, y netip.Addr) int { return x.Compare(y) })
	for _, ip := range slices.Compact(ips) {
		d.Related.IP = append(d.Related.IP, ip.String())
	}
	return d
}
