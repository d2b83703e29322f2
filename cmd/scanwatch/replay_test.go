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
)

// verdict is what the starting rule must say about one source of a capture.
type verdict struct {
	source string
	label  string
	conns  uint64
	ports  int
	hosts  int
}

// Shipped captures (pcaps/README.md says how each was made). Counts were
// cross-checked with tcpdump's SYN filter; TestShippedCapturesMatchTcpdump
// repeats that check on every run.
var shipped = map[string][]verdict{
	"nmap-syn.pcap":      {{"198.51.100.10", detector.LabelFullNetworkScan, 1024, 1024, 1}},
	"nmap-connect.pcap":  {{"198.51.100.10", detector.LabelFullNetworkScan, 1024, 1024, 1}},
	"nmap-syn-ipv6.pcap": {{"2001:db8:1::10", detector.LabelFullNetworkScan, 100, 100, 1}},
	"masscan-sweep.pcap": {{"198.51.100.10", detector.LabelIPSweep, 768, 3, 256}},
	"zmap-sweep.pcap":    {{"198.51.100.10", detector.LabelIPSweep, 256, 1, 256}},
	"hping3-flood.pcap":  {{"198.51.100.10", detector.LabelIPSweep, 3000, 1, 1}},
	"curl-busy.pcap":     {{"198.51.100.10", detector.LabelIPSweep, 250, 2, 1}},
	"curl-light.pcap":    nil,
}

// Third-party captures, with the counts their README measured. Their
// scanners use private addresses, so they are judged with
// --ignore-sources none; with the defaults they must stay silent.
var thirdParty = map[string][]verdict{
	"nmap-syn-scan_1000ports_chrissanders.pcapng":  {{"172.16.0.8", detector.LabelFullNetworkScan, 1994, 1000, 1}},
	"nmap-connect-scan_1000ports_evilfingers.pcap": {{"192.168.1.10", detector.LabelFullNetworkScan, 5147, 1000, 1}},
	"masscan-syn-scan_ports0-1000_esnet.pcap":      {{"172.31.15.102", detector.LabelFullNetworkScan, 1001, 1001, 1}},
	"nmap-synping-sweep_256hosts_port80_sgr.pcap":  {{"10.0.0.128", detector.LabelIPSweep, 511, 1, 256}},
	"nmap-fin-scan_1000ports_evilfingers.pcap":     nil, // no SYNs: the starting rule cannot see it
	"nmap-null-scan_1000ports_evilfingers.pcap":    nil,
	"nmap-xmas-scan_1000ports_evilfingers.pcap":    nil,
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

func checkVerdicts(t *testing.T, file string, got []detector.Alert, want []verdict) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d alerts %+v, want %d", file, len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Source.String() != w.source || g.Label != w.label || g.TotalConns != w.conns || g.UniqueDestPorts != w.ports || g.UniqueDestHosts != w.hosts {
			t.Errorf("%s: got %s %q TotalConns=%d UniqueDestPorts=%d hosts=%d; want %s %q %d %d %d", file,
				g.Source, g.Label, g.TotalConns, g.UniqueDestPorts, g.UniqueDestHosts, w.source, w.label, w.conns, w.ports, w.hosts)
		}
		if g.Input != file || g.Technique != "T1595" || g.Rules != "seed" || g.Timestamp.IsZero() || g.FirstSeen.After(g.LastSeen) {
			t.Errorf("%s: alert metadata wrong: %+v", file, g)
		}
	}
}

func TestReplayShippedCaptures(t *testing.T) {
	for name, want := range shipped {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join("../../pcaps", name)
			got, stderr, err := replayJSON(t, file)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			checkVerdicts(t, file, got, want)
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
			got, stderr, err := replayJSON(t, "--ignore-sources", "none", file)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			checkVerdicts(t, file, got, want)
			// With the starting rule's own ignore list, lab captures of
			// private scanners are silent: that is the rule, not a miss.
			got, _, err = replayJSON(t, file)
			if err != nil || len(got) != 0 {
				t.Fatalf("default ignore list: err %v, %d alerts; want silence", err, len(got))
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
		{"bad format", []string{"replay", "--format", "xml", "x.pcap"}, 2, "use json or table", 0},
		{"bad rules", []string{"replay", "--rules", "magic", "x.pcap"}, 2, "choose one of", 0},
		{"bad CIDR", []string{"replay", "--ignore-sources", "10.0.0.0/33", "x.pcap"}, 2, "--ignore-sources", 0},
		{"missing file", []string{"replay", filepath.Join(dir, "nope.pcap")}, 1, "no such file", 0},
		{"directory", []string{"replay", dir}, 1, "is a directory", 0},
		{"not a capture", []string{"replay", notCapture}, 1, "not a capture", 0},
		{"truncated still alerts", []string{"replay", truncated}, 1, "truncated", 1},
		{"bad file does not hide good file", []string{"replay", notCapture, "../../pcaps/nmap-syn.pcap"}, 1, "not a capture", 1},
		{"unknown command", []string{"scan"}, 2, "unknown command", 0},
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
