package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/lab"
)

// webVerdict is what the default rules must say of one lab web tool
// (lab/web.sh), replayed from pcaps/web-TOOL.pcap and live through XDP.
type webVerdict struct {
	label string // "" for quiet
	tool  string // the alert's tool field
}

var webVerdicts = map[string]webVerdict{
	"nmap-http-enum":      {detector.LabelVulnScan, "nmap"},
	"dirb":                {detector.LabelWordlistScan, ""}, // a browser User-Agent: caught by its paths
	"gobuster":            {detector.LabelWordlistScan, "gobuster"},
	"ffuf":                {detector.LabelWordlistScan, "ffuf"},
	"ffuf-ipv6":           {detector.LabelWordlistScan, "ffuf"},
	"wfuzz":               {detector.LabelWordlistScan, "wfuzz"},
	"wapiti":              {detector.LabelVulnScan, ""}, // a browser User-Agent: caught by its payloads
	"sqlmap":              {detector.LabelVulnScan, "sqlmap"},
	"sqlmap-random-agent": {detector.LabelVulnScan, ""},
	"whatweb":             {detector.LabelVulnScan, "whatweb"},
	"browse-assets":       {"", ""},
	"browse-firefox":      {"", ""},
}

func TestWebVerdictsCoverEveryLabTool(t *testing.T) {
	for _, tool := range lab.WebTools {
		if _, ok := webVerdicts[tool]; !ok {
			t.Errorf("lab web tool %s has no verdict here", tool)
		}
	}
	if len(webVerdicts) != len(lab.WebTools) {
		t.Errorf("%d verdicts for %d lab web tools", len(webVerdicts), len(lab.WebTools))
	}
}

// checkWebVerdict checks the web alerts among got against want: one final
// alert from the lab scanner with the label, tool and evidence it names.
func checkWebVerdict(t *testing.T, what string, got []detector.Alert, want webVerdict) {
	t.Helper()
	var web []detector.Alert
	for _, a := range got {
		if a.HTTP != nil && a.Status == detector.StatusFinal {
			web = append(web, a)
		}
	}
	if want.label == "" {
		if len(web) != 0 {
			t.Errorf("%s: want no web alert, got %s %+v", what, web[0].Label, web[0].HTTP)
		}
		return
	}
	if len(web) != 1 {
		t.Fatalf("%s: want one web alert, got %d: %+v", what, len(web), web)
	}
	a := web[0]
	if src := a.Source.String(); src != lab.ScanIP && src != lab.ScanIP6 {
		t.Errorf("%s: source %s, want the lab scanner", what, src)
	}
	if a.Label != want.label || a.Tool != want.tool || a.ScanType != "http" {
		t.Errorf("%s: %q tool %q scan_type %q, want %q tool %q", what, a.Label, a.Tool, a.ScanType, want.label, want.tool)
	}
	if a.HTTP.Requests == 0 || len(a.HTTP.Signals) == 0 || len(a.HTTP.SamplePaths) == 0 || a.DestHost == nil {
		t.Errorf("%s: evidence missing: %+v", what, a.HTTP)
	}
	if tech, _, _ := strings.Cut(a.Label, " "); a.Technique != tech {
		t.Errorf("%s: technique %q for %q", what, a.Technique, a.Label)
	}
}

func webPcap(tool string) string { return filepath.Join("../../pcaps", "web-"+tool+".pcap") }
