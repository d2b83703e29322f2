package main

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
)

// ecsTypes are the ECS 8.11 field types of every field the ECS writer
// uses outside its own "scanwatch" namespace (from the ECS field
// reference, ecs_flat.yml).
var ecsTypes = map[string]string{
	"@timestamp": "date", "message": "match_only_text", "ecs.version": "keyword",
	"event.kind": "keyword", "event.category": "keyword", "event.type": "keyword", "event.action": "keyword",
	"event.id": "keyword", "event.start": "date", "event.end": "date", "event.duration": "long", "event.severity": "long",
	"event.module": "keyword", "event.dataset": "keyword",
	"source.ip": "ip", "destination.ip": "ip", "destination.port": "long", "network.transport": "keyword",
	"rule.name": "keyword", "rule.ruleset": "keyword", "rule.category": "keyword",
	"threat.framework": "keyword", "threat.tactic.id": "keyword", "threat.tactic.name": "keyword", "threat.tactic.reference": "keyword",
	"threat.technique.id": "keyword", "threat.technique.name": "keyword", "threat.technique.reference": "keyword",
	"threat.technique.subtechnique.id": "keyword", "threat.technique.subtechnique.name": "keyword",
	"threat.technique.subtechnique.reference": "keyword",
	"observer.hostname":                       "keyword", "observer.type": "keyword", "observer.vendor": "keyword", "observer.product": "keyword",
	"observer.version": "keyword", "observer.ingress.interface.name": "keyword", "related.ip": "ip",
	"user_agent.original": "keyword",
}

// ecsAllowed lists the values ECS allows for its categorisation fields.
var ecsAllowed = map[string][]string{
	"event.kind":        {"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error", "signal"},
	"event.category":    {"network", "intrusion_detection", "threat"},
	"event.type":        {"info", "denied", "allowed", "connection", "indicator"},
	"network.transport": {"tcp", "udp"},
}

func checkECS(t *testing.T, path string, v any) {
	t.Helper()
	if strings.HasPrefix(path, "scanwatch.") {
		return // our namespace
	}
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			checkECS(t, p, sub)
		}
		return
	case []any:
		for _, e := range x {
			checkECS(t, path, e)
		}
		return
	}
	typ, ok := ecsTypes[path]
	if !ok {
		t.Errorf("%s is not an ECS field (or not in the table): put it under scanwatch.", path)
		return
	}
	if allowed := ecsAllowed[path]; allowed != nil && !contains(allowed, v) {
		t.Errorf("%s: %v is not an allowed value", path, v)
	}
	switch typ {
	case "date":
		s, _ := v.(string)
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			t.Errorf("%s: %v is not a date", path, v)
		}
	case "ip":
		s, _ := v.(string)
		if _, err := netip.ParseAddr(s); err != nil {
			t.Errorf("%s: %v is not an IP address", path, v)
		}
	case "long":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			t.Errorf("%s: %v is not a long", path, v)
		}
	case "keyword", "match_only_text":
		if s, ok := v.(string); !ok || s == "" {
			t.Errorf("%s: %v is not a non-empty string", path, v)
		}
	}
}

func contains(list []string, v any) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func TestECSRecordsMatchTheSchema(t *testing.T) {
	host := netip.MustParseAddr("203.0.113.10")
	t0 := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	for _, a := range []detector.Alert{
		{Timestamp: t0, Source: netip.MustParseAddr("198.51.100.10"), Label: detector.LabelFullNetworkScan, Technique: "T1595", TotalConns: 1024,
			UniqueDestPorts: 1024, UniqueDestHosts: 1, FirstSeen: t0, LastSeen: t0.Add(time.Second), Rules: "default", Status: detector.StatusEscalated,
			AlertID: "0f8677af3258e3b2", ScanType: "syn", DestHost: &host, DestPorts: []uint16{22, 80}, Tool: "nmap", Host: "sensor1", Interface: "eth0",
			RelatedSources: []netip.Addr{netip.MustParseAddr("192.0.2.7")}},
		{Timestamp: t0, Source: netip.MustParseAddr("2001:db8:1::10"), Label: detector.LabelSweep, TotalConns: 256, UniqueDestPorts: 1,
			UniqueDestHosts: 256, FirstSeen: t0, LastSeen: t0, Rules: "default", Status: detector.StatusFinal, ScanType: "udp", DestPorts: []uint16{53}},
		{Timestamp: t0, Source: netip.MustParseAddr("198.51.100.10"), Label: detector.LabelFlood, TotalConns: 5000, UniqueDestPorts: 1,
			UniqueDestHosts: 1, FirstSeen: t0, LastSeen: t0, Rules: "default", Status: detector.StatusNew, DestHost: &host, DestPorts: []uint16{80}},
		{Timestamp: t0, Source: netip.MustParseAddr("198.51.100.10"), Label: detector.LabelIPSweep, TotalConns: 200, UniqueDestPorts: 3,
			UniqueDestHosts: 200, FirstSeen: t0, LastSeen: t0, Rules: "seed", Status: detector.StatusFinal, Input: "x.pcap"},
		{Timestamp: t0, Source: netip.MustParseAddr("198.51.100.10"), Label: detector.LabelVulnScan, Technique: "T1595.002", TotalConns: 82,
			UniqueDestPorts: 1, UniqueDestHosts: 1, FirstSeen: t0, LastSeen: t0, Rules: "default", Status: detector.StatusFinal, ScanType: "http",
			DestHost: &host, DestPorts: []uint16{80}, Tool: "sqlmap", HTTP: &detector.WebEvidence{Requests: 82, DistinctPaths: 1, InjectionRequests: 66,
				Signals: []string{"user_agent:sqlmap", "injection"}, UserAgents: []string{"sqlmap/1.7.2#stable (https://sqlmap.org)"}}},
		{Timestamp: t0, Source: netip.MustParseAddr("198.51.100.10"), Label: detector.LabelWordlistScan, Technique: "T1595.003", TotalConns: 961,
			UniqueDestPorts: 1, UniqueDestHosts: 1, FirstSeen: t0, LastSeen: t0, Rules: "default", Status: detector.StatusNew, ScanType: "http",
			DestHost: &host, DestPorts: []uint16{80}, HTTP: &detector.WebEvidence{Requests: 961, DistinctPaths: 941, FailedPaths: 938, UserAgents: []string{""}}},
	} {
		b, err := json.Marshal(toECS(&a))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		json.Unmarshal(b, &doc)
		checkECS(t, "", doc)
		tech, _ := detector.LabelParts(a.Label)
		ids := doc["threat"].(map[string]any)["technique"].(map[string]any)
		got := ids["id"].([]any)[0].(string)
		if sub, ok := ids["subtechnique"].(map[string]any); ok {
			got = sub["id"].([]any)[0].(string)
		}
		if got != tech {
			t.Errorf("%s: threat technique %s, want %s", a.Label, got, tech)
		}
		if a.HTTP != nil {
			msg := doc["message"].(string)
			if !strings.Contains(msg, "HTTP requests to 203.0.113.10:80") || strings.Contains(msg, "http scan") {
				t.Errorf("web alert message: %q", msg)
			}
			if _, ok := doc["scanwatch"].(map[string]any)["http"]; !ok {
				t.Error("scanwatch.http missing from a web alert")
			}
			ua, _ := doc["user_agent"].(map[string]any)
			if want := a.HTTP.UserAgents[0]; (want == "") != (ua == nil) || ua != nil && ua["original"] != want {
				t.Errorf("user_agent %v for %q", ua, want)
			}
		}
		if doc["event"].(map[string]any)["id"] != a.RecordID() {
			t.Errorf("event.id is not the record_id")
		}
	}
}
