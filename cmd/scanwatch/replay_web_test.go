package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scanwatch/scanwatch/lab"
)

// TestReplayWebCaptures replays each shipped web capture (both directions)
// with both rule sets.
func TestReplayWebCaptures(t *testing.T) {
	tcpdump := requireTcpdump(t)
	for _, tool := range lab.WebTools {
		t.Run(tool, func(t *testing.T) {
			file := webPcap(tool)
			got, stderr, err := replayJSON(t, file)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			checkWebVerdict(t, file, got, webVerdicts[tool])
			for _, a := range got {
				if a.HTTP == nil {
					t.Errorf("%s: a scan alert besides the web one: %+v", file, a)
				}
			}
			got, stderr, err = replayJSON(t, "--rules", "seed", file)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			// The starting rule counts SYNs only: an IPSweep at 200 SYNs
			// (a web tool on one port never reaches 20 ports). Its verdict
			// is recomputed from tcpdump's count, an independent decoder.
			syns := 0
			for _, c := range []struct{ src, filter string }{
				{lab.ScanIP, "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"},
				{lab.ScanIP6, "ip6[6] == 6 and ip6[53] & 0x12 == 0x02"},
			} {
				out, err := exec.Command(tcpdump, "-nn", "-r", file, "src host "+c.src+" and "+c.filter).Output()
				if err != nil {
					t.Fatal(err)
				}
				if n := strings.Count(string(out), "\n"); n > 0 {
					syns = n
					if n >= 200 {
						want := []verdict{{c.src, "T1595 - IPSweep", uint64(n), 1, 1, "", "", nil}}
						checkVerdicts(t, file, "seed", got, want)
						return
					}
				}
			}
			if syns == 0 {
				t.Fatalf("tcpdump finds no SYN from the lab scanner in %s", file)
			}
			checkVerdicts(t, file, "seed", got, nil)
		})
	}
}

// The rest check what a sensor without responses gets, and the web flags.

// TestReplayWebRequestsOnly replays each web capture without the server's
// packets: what the live sensor on a perimeter host sees (inbound only).
// Every verdict must stand on the requests alone.
func TestReplayWebRequestsOnly(t *testing.T) {
	tcpdump := requireTcpdump(t)
	for _, tool := range lab.WebTools {
		t.Run(tool, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "requests.pcap")
			if out, err := exec.Command(tcpdump, "-r", webPcap(tool), "-w", in, "not tcp src port 80").CombinedOutput(); err != nil {
				t.Fatalf("tcpdump: %v\n%s", err, out)
			}
			got, stderr, err := replayJSON(t, in)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			checkWebVerdict(t, tool+" (requests only)", got, webVerdicts[tool])
			for _, a := range got {
				if a.HTTP != nil && (a.HTTP.FailedPaths != 0 || len(a.HTTP.Status) != 0) {
					t.Errorf("statuses without responses: %+v", a.HTTP)
				}
			}
		})
	}
}

func requireTcpdump(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tcpdump")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump not installed; .ci/run installs it (lab/deps.sh)")
		}
		t.Skip("tcpdump not installed")
	}
	return p
}

// TestReplayWebFlags: --http-ports none turns web inspection off; a
// --http-lists directory extends the lists; a bad one is a usage error
// naming the file and line.
func TestReplayWebFlags(t *testing.T) {
	got, stderr, err := replayJSON(t, "--http-ports", "none", webPcap("gobuster"))
	if err != nil || len(got) != 0 {
		t.Fatalf("--http-ports none: err %v, %d alerts %+v\n%s", err, len(got), got, stderr)
	}
	got, _, err = replayJSON(t, "--http-ports", "8080", webPcap("gobuster"))
	if err != nil || len(got) != 0 {
		t.Fatalf("--http-ports 8080 on a port-80 capture: err %v, %d alerts", err, len(got))
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "user-agents.txt"), []byte("# ours\nT1595.002 our-curl-audit curl/7.88\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, stderr, err = replayJSON(t, "--http-lists", dir, webPcap("browse-assets"))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	checkWebVerdict(t, "browse-assets with its User-Agent listed", got, webVerdict{"T1595.002 - VulnerabilityScan", "our-curl-audit"})

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "injections.txt"), []byte("sqli ok\nxss (unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	browser := t.TempDir()
	if err := os.WriteFile(filepath.Join(browser, "user-agents.txt"), []byte("T1595.002 oops Firefox/128.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dir, want string }{
		{bad, "injections.txt line 2: class xss"},
		{browser, "user-agents.txt line 1: \"Firefox/128.0\" is in ordinary browsers' User-Agents"},
		{filepath.Join(dir, "user-agents.txt"), "not a directory"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		_, stderr, err := replayRaw(t, "--http-lists", c.dir, webPcap("whatweb"))
		if err == nil || !strings.Contains(stderr+err.Error(), c.want) {
			t.Errorf("--http-lists %s: err %v, stderr %q; want it to say %q", c.dir, err, stderr, c.want)
		}
	}
}

// TestReplayWebDeterministic: the same capture gives the same records,
// byte for byte, run after run (record_id promises a SIEM as much). ffuf's
// 40 connections once overflowed a client's connection table, whose
// eviction followed map order.
func TestReplayWebDeterministic(t *testing.T) {
	for _, tool := range lab.WebTools {
		first, _, err := replayRaw(t, webPcap(tool))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			again, _, _ := replayRaw(t, webPcap(tool))
			if again != first {
				t.Fatalf("%s: run %d differs:\n%s\n%s", tool, i+2, first, again)
			}
		}
	}
}
