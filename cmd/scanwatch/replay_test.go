package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/lab"
)

// verdict is what a rule set must say about one source of a capture.
type verdict struct {
	source string
	label  string
	conns  uint64
	ports  int
	hosts  int
	// default rules only ("" and nil skip the check)
	scanType string
	tool     string
	related  []string
}

// Shipped captures (pcaps/README.md says how each was made). Counts were
// cross-checked with tcpdump's SYN filter; TestShippedCapturesMatchTcpdump
// repeats that check on every run.
var shipped = map[string][]verdict{
	"nmap-syn.pcap":      {{"198.51.100.10", detector.LabelFullNetworkScan, 1024, 1024, 1, "", "", nil}},
	"nmap-connect.pcap":  {{"198.51.100.10", detector.LabelFullNetworkScan, 1024, 1024, 1, "", "", nil}},
	"nmap-syn-ipv6.pcap": {{"2001:db8:1::10", detector.LabelFullNetworkScan, 100, 100, 1, "", "", nil}},
	"masscan-sweep.pcap": {{"198.51.100.10", detector.LabelIPSweep, 768, 3, 256, "", "", nil}},
	"zmap-sweep.pcap":    {{"198.51.100.10", detector.LabelIPSweep, 256, 1, 256, "", "", nil}},
	"hping3-flood.pcap":  {{"198.51.100.10", detector.LabelIPSweep, 3000, 1, 1, "", "", nil}},
	"curl-busy.pcap":     {{"198.51.100.10", detector.LabelIPSweep, 250, 2, 1, "", "", nil}},
	"curl-light.pcap":    nil,
	"nmap-fin.pcap":      nil, // no SYNs: invisible to the starting rule
	"nmap-null.pcap":     nil,
	"nmap-xmas.pcap":     nil,
	"nmap-ack.pcap":      nil,
	"nmap-maimon.pcap":   nil,
	"nmap-udp.pcap":      nil,
	"nmap-slow.pcap":     {{lab.ScanIP, detector.LabelPortScan, 27, 25, 1, "", "", nil}},
	"nmap-decoy.pcap": {
		{"192.0.2.1", detector.LabelFullNetworkScan, 100, 100, 1, "", "", nil},
		{"192.0.2.2", detector.LabelFullNetworkScan, 100, 100, 1, "", "", nil},
		{lab.ScanIP, detector.LabelFullNetworkScan, 100, 100, 1, "", "", nil},
	},
	"curl-busy3.pcap":        {{lab.ScanIP, detector.LabelIPSweep, 300, 3, 1, "", "", nil}},
	"health-check.pcap":      nil,
	"health-check-down.pcap": nil,
}

// Third-party captures, with the counts their README measured. Their
// scanners use private addresses, so they are judged with
// --ignore-sources none; with the defaults they must stay silent.
var thirdParty = map[string][]verdict{
	"nmap-syn-scan_1000ports_chrissanders.pcapng":  {{"172.16.0.8", detector.LabelFullNetworkScan, 1994, 1000, 1, "", "", nil}},
	"nmap-connect-scan_1000ports_evilfingers.pcap": {{"192.168.1.10", detector.LabelFullNetworkScan, 5147, 1000, 1, "", "", nil}},
	"masscan-syn-scan_ports0-1000_esnet.pcap":      {{"172.31.15.102", detector.LabelFullNetworkScan, 1001, 1001, 1, "", "", nil}},
	"nmap-synping-sweep_256hosts_port80_sgr.pcap":  {{"10.0.0.128", detector.LabelIPSweep, 511, 1, 256, "", "", nil}},
	"nmap-fin-scan_1000ports_evilfingers.pcap":     nil, // no SYNs: the starting rule cannot see it
	"nmap-null-scan_1000ports_evilfingers.pcap":    nil,
	"nmap-xmas-scan_1000ports_evilfingers.pcap":    nil,
	"benign_ftp-session_ipv6_zeek.pcap":            nil,
	"benign_web-browsing_ipv4_chrissanders.pcapng": nil,
}

// The default rules' verdicts on the same captures: floods and busy
// clients are told apart from scans, stealth probes count, sweeps are
// T1595.001 with their ports and hosts.
var shippedDefault = map[string][]verdict{
	"nmap-syn.pcap":      {{lab.ScanIP, detector.LabelFullNetworkScan, 1024, 1024, 1, "syn", "nmap", nil}},
	"nmap-connect.pcap":  {{lab.ScanIP, detector.LabelFullNetworkScan, 1024, 1024, 1, "connect", "", nil}},
	"nmap-syn-ipv6.pcap": {{lab.ScanIP6, detector.LabelFullNetworkScan, 100, 100, 1, "syn", "nmap", nil}},
	"masscan-sweep.pcap": {{lab.ScanIP, detector.LabelSweep, 768, 3, 256, "syn", "masscan", nil}},
	"zmap-sweep.pcap":    {{lab.ScanIP, detector.LabelSweep, 256, 1, 256, "syn", "zmap", nil}},
	"hping3-flood.pcap":  {{lab.ScanIP, detector.LabelFlood, 3000, 1, 1, "syn", "", nil}},
	"curl-busy.pcap":     nil,
	"curl-light.pcap":    nil,
	"nmap-fin.pcap":      {{lab.ScanIP, detector.LabelFullNetworkScan, 1027, 1024, 1, "fin", "nmap", nil}},
	"nmap-null.pcap":     {{lab.ScanIP, detector.LabelFullNetworkScan, 1027, 1024, 1, "null", "nmap", nil}},
	"nmap-xmas.pcap":     {{lab.ScanIP, detector.LabelFullNetworkScan, 1027, 1024, 1, "xmas", "nmap", nil}},
	"nmap-ack.pcap":      {{lab.ScanIP, detector.LabelFullNetworkScan, 1024, 1024, 1, "ack", "nmap", nil}},
	"nmap-maimon.pcap":   {{lab.ScanIP, detector.LabelFullNetworkScan, 1024, 1024, 1, "maimon", "nmap", nil}},
	"nmap-udp.pcap":      {{lab.ScanIP, detector.LabelFullNetworkScan, 154, 100, 1, "udp", "", nil}},
	"nmap-slow.pcap":     {{lab.ScanIP, detector.LabelPortScan, 27, 25, 1, "syn", "nmap", nil}},
	"nmap-decoy.pcap": {
		{"192.0.2.1", detector.LabelFullNetworkScan, 100, 100, 1, "syn", "nmap", []string{"192.0.2.2", lab.ScanIP}},
		{"192.0.2.2", detector.LabelFullNetworkScan, 100, 100, 1, "syn", "nmap", []string{"192.0.2.1", lab.ScanIP}},
		{lab.ScanIP, detector.LabelFullNetworkScan, 100, 100, 1, "syn", "nmap", []string{"192.0.2.1", "192.0.2.2"}},
	},
	"curl-busy3.pcap":        nil, // 300 completed connections to 80/443/22
	"health-check.pcap":      nil, // 30 hosts on 443 every 10 s, all answered
	"health-check-down.pcap": {{lab.ScanIP, detector.LabelSweep, 90, 1, 30, "syn", "", nil}},
}

var thirdPartyDefault = map[string][]verdict{
	"nmap-syn-scan_1000ports_chrissanders.pcapng":  {{"172.16.0.8", detector.LabelFullNetworkScan, 1994, 1000, 1, "syn", "nmap", nil}},
	"nmap-connect-scan_1000ports_evilfingers.pcap": {{"192.168.1.10", detector.LabelFullNetworkScan, 5147, 1000, 1, "connect", "", nil}},
	"masscan-syn-scan_ports0-1000_esnet.pcap":      {{"172.31.15.102", detector.LabelFullNetworkScan, 1001, 1001, 1, "syn", "masscan", nil}},
	"nmap-synping-sweep_256hosts_port80_sgr.pcap":  {{"10.0.0.128", detector.LabelSweep, 511, 1, 256, "syn", "nmap", nil}},
	"nmap-fin-scan_1000ports_evilfingers.pcap":     {{"192.168.1.10", detector.LabelFullNetworkScan, 1000, 1000, 1, "fin", "nmap", nil}},
	"nmap-null-scan_1000ports_evilfingers.pcap":    {{"192.168.1.10", detector.LabelFullNetworkScan, 1000, 1000, 1, "null", "nmap", nil}},
	"nmap-xmas-scan_1000ports_evilfingers.pcap":    {{"192.168.1.10", detector.LabelFullNetworkScan, 1000, 1000, 1, "xmas", "nmap", nil}},
	"benign_ftp-session_ipv6_zeek.pcap":            nil,
	"benign_web-browsing_ipv4_chrissanders.pcapng": nil,
}

const thirdPartyDir = "../../../shared/pcaps-thirdparty"

// replayJSON runs 'scanwatch replay' and decodes its JSON Lines.
func replayJSON(t *testing.T, args ...string) ([]detector.Alert, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"replay"}, args...), &out, &errOut)
	var alerts []detector.Alert
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var a detector.Alert
		if jerr := json.Unmarshal(sc.Bytes(), &a); jerr != nil {
			t.Fatalf("output line is not an alert: %q: %v", sc.Text(), jerr)
		}
		alerts = append(alerts, a)
	}
	return alerts, errOut.String(), err
}

func checkVerdicts(t *testing.T, file, rules string, got []detector.Alert, want []verdict) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s (--rules %s): %d alerts %+v, want %d", file, rules, len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Source.String() != w.source || g.Label != w.label || g.TotalConns != w.conns || g.UniqueDestPorts != w.ports || g.UniqueDestHosts != w.hosts {
			t.Errorf("%s (--rules %s): got %s %q TotalConns=%d UniqueDestPorts=%d hosts=%d; want %s %q %d %d %d", file, rules,
				g.Source, g.Label, g.TotalConns, g.UniqueDestPorts, g.UniqueDestHosts, w.source, w.label, w.conns, w.ports, w.hosts)
		}
		if w.scanType != "" && (g.ScanType != w.scanType || g.Tool != w.tool) {
			t.Errorf("%s: scan_type %q tool %q, want %q %q", file, g.ScanType, g.Tool, w.scanType, w.tool)
		}
		if w.related != nil && fmt.Sprint(g.RelatedSources) != fmt.Sprint(w.related) {
			t.Errorf("%s: related_sources %v, want %v", file, g.RelatedSources, w.related)
		}
		if g.Input != file || g.Rules != rules || g.Status != detector.StatusFinal || g.Timestamp.IsZero() || g.FirstSeen.After(g.LastSeen) ||
			g.Technique != strings.SplitN(g.Label, " ", 2)[0] {
			t.Errorf("%s: alert metadata wrong: %+v", file, g)
		}
	}
}

func TestReplayShippedCaptures(t *testing.T) {
	for name, want := range shipped {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join("../../pcaps", name)
			got, stderr, err := replayJSON(t, "--rules", "seed", file)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			checkVerdicts(t, file, "seed", got, want)
			got, stderr, err = replayJSON(t, file)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			checkVerdicts(t, file, "default", got, shippedDefault[name])
		})
	}
}

func requireThirdParty(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(thirdPartyDir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("third-party captures missing at %s (CI has them beside the clone): %v", thirdPartyDir, err)
		}
		t.Skipf("third-party captures not at %s: these tests read ../shared/pcaps-thirdparty beside the clone", thirdPartyDir)
	}
}

func TestReplayThirdPartyCaptures(t *testing.T) {
	requireThirdParty(t)
	for name, want := range thirdParty {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(thirdPartyDir, name)
			got, stderr, err := replayJSON(t, "--rules", "seed", "--ignore-sources", "none", file)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			checkVerdicts(t, file, "seed", got, want)
			got, stderr, err = replayJSON(t, "--ignore-sources", "none", file)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			checkVerdicts(t, file, "default", got, thirdPartyDefault[name])
			// With the starting rule's own ignore list, lab captures of
			// private scanners are silent: that is the rule, not a miss.
			for _, rules := range []string{"seed", "default"} {
				got, _, err = replayJSON(t, "--rules", rules, file)
				if err != nil || len(got) != 0 {
					t.Fatalf("--rules %s, default ignore list: err %v, %d alerts; want silence", rules, err, len(got))
				}
			}
		})
	}
}

// TestShippedCapturesMatchTcpdump counts SYN-without-ACK per source with
// tcpdump, an independent decoder, and compares with the alert counts.
func TestShippedCapturesMatchTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump not installed; .ci/run installs it")
		}
		t.Skip("tcpdump not installed")
	}
	for name, want := range shipped {
		for _, w := range want {
			// libpcap's tcp[tcpflags] works for IPv4 only; IPv6 SYNs are
			// matched on the fixed 40-byte header (no extension headers here).
			filter := fmt.Sprintf("src host %s and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", w.source)
			if strings.Contains(w.source, ":") {
				filter = fmt.Sprintf("src host %s and ip6[6] == 6 and ip6[53] & 0x12 == 0x02", w.source)
			}
			out, err := exec.Command(tcpdump, "-nn", "-r", filepath.Join("../../pcaps", name), filter).Output()
			if err != nil {
				t.Fatalf("%s: tcpdump: %v", name, err)
			}
			if n := uint64(bytes.Count(out, []byte("\n"))); n != w.conns {
				t.Errorf("%s: tcpdump counts %d SYNs from %s, the verdict table says %d", name, n, w.source, w.conns)
			}
		}
	}
}

func TestReplayAllowlist(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "scanners.txt")
	os.WriteFile(list, []byte("# our own health checker\n198.51.100.0/24\n"), 0o644)
	got, _, err := replayJSON(t, "--allowlist", list, "../../pcaps/health-check-down.pcap", "../../pcaps/nmap-syn.pcap")
	if err != nil || len(got) != 0 {
		t.Fatalf("allowlisted sources: err %v, %d alerts %+v; want none", err, len(got), got)
	}
	got, _, err = replayJSON(t, "--window", "60s", "../../pcaps/nmap-slow.pcap")
	if err != nil || len(got) != 1 || got[0].Window != "1h0m0s" {
		t.Fatalf("a scan slower than 20 ports a minute must be caught by the long window: %v %+v", err, got)
	}
}

func TestReplayExitCodesAndMessages(t *testing.T) {
	dir := t.TempDir()
	notCapture := filepath.Join(dir, "notes.txt")
	os.WriteFile(notCapture, []byte("not a capture at all\n"), 0o644)
	good, _ := os.ReadFile("../../pcaps/nmap-syn.pcap")
	truncated := filepath.Join(dir, "cut.pcap")
	os.WriteFile(truncated, good[:len(good)*2/3], 0o644)
	tests := []struct {
		name   string
		args   []string
		code   int
		msg    string
		alerts int
	}{
		{"no file", []string{"replay"}, 2, "no capture file given", 0},
		{"unknown flag", []string{"replay", "--bogus", "x.pcap"}, 2, "flag provided but not defined: -bogus", 0},
		{"bad format", []string{"replay", "--format", "xml", "x.pcap"}, 2, "use json, ecs or table", 0},
		{"bad log format", []string{"replay", "--log.format", "xml", "x.pcap"}, 2, "use logfmt or json", 0},
		{"bad rules", []string{"replay", "--rules", "magic", "x.pcap"}, 2, "choose one of", 0},
		{"bad CIDR", []string{"replay", "--ignore-sources", "10.0.0.0/33", "x.pcap"}, 2, "--ignore-sources", 0},
		{"missing file", []string{"replay", filepath.Join(dir, "nope.pcap")}, 1, "no such file", 0},
		{"directory", []string{"replay", dir}, 1, "is a directory", 0},
		{"not a capture", []string{"replay", notCapture}, 1, "not a capture", 0},
		{"truncated still alerts", []string{"replay", truncated}, 1, "truncated", 1},
		{"truncated still alerts (seed)", []string{"replay", "--rules", "seed", truncated}, 1, "truncated", 1},
		{"bad file does not hide good file", []string{"replay", notCapture, "../../pcaps/nmap-syn.pcap"}, 1, "not a capture", 1},
		{"missing allowlist", []string{"replay", "--allowlist", filepath.Join(dir, "none.txt"), "x.pcap"}, 2, "--allowlist", 0},
		{"long window shorter than window", []string{"replay", "--window", "10m", "--long-window", "5m", "x.pcap"}, 2, "--long-window", 0},
		{"unknown command", []string{"scan"}, 2, "unknown command", 0},
		{"bad checksum mode", []string{"replay", "--checksums", "off", "x.pcap"}, 2, "--checksums \"off\": use tolerant or strict", 0},
		{"bad tunnel", []string{"replay", "--decapsulate", "ipip,ipsec", "x.pcap"}, 2, "unknown tunnel \"ipsec\": name any of ipip, gre, vxlan", 0},
		{"negative time bound", []string{"replay", "--max-time-ahead", "-1h", "x.pcap"}, 2, "--max-time-ahead", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			code := exitCode(err, &errOut)
			if code != tc.code || !strings.Contains(errOut.String(), tc.msg) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut.String(), tc.code, tc.msg)
			}
			if n := strings.Count(out.String(), "\n"); n != tc.alerts {
				t.Fatalf("%d alerts on stdout, want %d:\n%s", n, tc.alerts, out.String())
			}
		})
	}
}

func TestReplayTableGolden(t *testing.T) {
	var out, errOut bytes.Buffer
	files := []string{"../../pcaps/nmap-syn.pcap", "../../pcaps/masscan-sweep.pcap", "../../pcaps/curl-light.pcap"}
	if err := run(context.Background(), append([]string{"replay", "--format", "table"}, files...), &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	golden(t, "testdata/replay-table.golden", out.Bytes())
}

func TestReplayJSONGolden(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"replay", "../../pcaps/nmap-syn.pcap", "../../pcaps/zmap-sweep.pcap"}, &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	golden(t, "testdata/replay-json.golden", out.Bytes())
}

// golden compares with a file; UPDATE_GOLDEN=1 rewrites it.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// The shipped captures were taken on the sending host's veth, so the
// kernel's own SYNs (nmap -sT) carry offloaded checksums: tolerant judges
// them and says so; strict rejects them.
func TestReplayChecksumModes(t *testing.T) {
	got, stderr, err := replayJSON(t, "../../pcaps/nmap-connect.pcap")
	if err != nil || len(got) != 1 || !strings.Contains(stderr, "offloaded checksums: captured on the sending host; accepted unverified") {
		t.Fatalf("tolerant: err %v, %d alerts, stderr %q", err, len(got), stderr)
	}
	got, stderr, err = replayJSON(t, "--checksums", "strict", "../../pcaps/nmap-connect.pcap")
	if err != nil || len(got) != 0 || !strings.Contains(stderr, "--checksums strict rejects them") {
		t.Fatalf("strict: err %v, %d alerts, stderr %q", err, len(got), stderr)
	}
	got, _, err = replayJSON(t, "--checksums", "strict", "../../pcaps/nmap-syn.pcap")
	if err != nil || len(got) != 1 {
		t.Fatalf("strict on raw nmap SYNs: err %v, %d alerts", err, len(got))
	}
}
