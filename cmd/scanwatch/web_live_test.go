package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/lab"
)

// TestPrivilegedRunCatchesWebScannersLive runs every lab web tool (real
// nmap http-enum, dirb, gobuster, ffuf, wfuzz, wapiti, sqlmap, whatweb, and
// benign curl clients) against the lab web site, with scanwatch run on the
// target's interface: the XDP program copies request heads into the ring.
// The target side sees requests only (inbound), as a perimeter host does.
// The same traffic, captured on the wire, must get the same verdict from
// replay, and the request count live (copied plus the kernel's skipped
// count) must equal replay's.
func TestPrivilegedRunCatchesWebScannersLive(t *testing.T) {
	requireRoot(t)
	bin := buildBinary(t)
	for _, tool := range lab.WebTools {
		t.Run(tool, func(t *testing.T) {
			l := lab.New(t)
			l.WireSegments(t)
			l.StartWeb(t)
			wire := filepath.Join(t.TempDir(), "wire.pcap")
			stopDump := l.TcpdumpSnap(t, l.NSTgt, l.VethTgt, wire, 2048)
			d := startDaemon(t, l, bin)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if out, err := l.RunWeb(ctx, t, tool); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			waitHTTPQuiet(t, l)
			live := stopDaemon(t, d)
			stopDump()

			checkWebVerdict(t, tool+" live", live, webVerdicts[tool])
			replayed, stderr, err := replayJSON(t, wire)
			if err != nil {
				t.Fatalf("replay of the wire: %v\n%s", err, stderr)
			}
			checkWebVerdict(t, tool+" replay of the wire", replayed, webVerdicts[tool])
			lw, rw := webAlert(live), webAlert(replayed)
			if lw == nil || rw == nil {
				return
			}
			t.Logf("live: %d requests, %d paths, signals %v; replay: %d requests, %d paths, %d failed, signals %v",
				lw.HTTP.Requests, lw.HTTP.DistinctPaths, lw.HTTP.Signals, rw.HTTP.Requests, rw.HTTP.DistinctPaths, rw.HTTP.FailedPaths, rw.HTTP.Signals)
			if lw.HTTP.Requests != rw.HTTP.Requests {
				t.Errorf("live counted %d requests, replay of the wire %d", lw.HTTP.Requests, rw.HTTP.Requests)
			}
			if lw.HTTP.DistinctPaths > rw.HTTP.DistinctPaths {
				t.Errorf("live saw %d distinct paths, more than replay's %d", lw.HTTP.DistinctPaths, rw.HTTP.DistinctPaths)
			}
		})
	}
}

func webAlert(as []detector.Alert) *detector.Alert {
	for i := range as {
		if as[i].HTTP != nil && as[i].Status == detector.StatusFinal {
			return &as[i]
		}
	}
	return nil
}

var httpInspected = regexp.MustCompile(`(?m)^scanwatch_http_messages_inspected_total\{kind="request"\} (\d+)$`)

// waitHTTPQuiet returns once the rules' count of requests inspected has
// not moved for a second (the ring reader and the rules have caught up),
// for at most 15 s.
func waitHTTPQuiet(t *testing.T, l *lab.Lab) {
	t.Helper()
	last, still := "", 0
	for try := 0; try < 75 && still < 5; try++ {
		m := httpInspected.FindStringSubmatch(scrape(t, l))
		if m == nil {
			t.Fatal("/metrics has no scanwatch_http_messages_inspected_total{kind=\"request\"}")
		}
		if m[1] == last {
			still++
		} else {
			last, still = m[1], 0
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("requests inspected live: %s", last)
}

// stopDaemon sends SIGINT and returns every alert the daemon wrote,
// failing unless it exits 0.
func stopDaemon(t *testing.T, d *daemon) []detector.Alert {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGINT)
	var all []detector.Alert
	for a := range d.alerts {
		all = append(all, a)
	}
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
	return all
}

// TestPrivilegedRunReloadsHTTPListsOnSIGHUP: a User-Agent the lists do not
// name stays quiet; once it is added to --http-lists and scanwatch gets
// SIGHUP, the same client's next request names the tool. A broken list on
// a later SIGHUP keeps the good one and drops the reload gauge to 0.
func TestPrivilegedRunReloadsHTTPListsOnSIGHUP(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "curl")
	bin := buildBinary(t)
	l := lab.New(t)
	l.StartWeb(t)
	dir := t.TempDir()
	agents := filepath.Join(dir, "user-agents.txt")
	if err := os.WriteFile(agents, []byte("# none of ours yet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, l, bin, "--http-lists", dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	curl := func(path string) {
		t.Helper()
		cmd := l.InScan(ctx, "curl", "-s", "-o", "/dev/null", "--max-time", "10", "-A", "AcmeAudit/2.0", "http://"+lab.TgtIP+path)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	curl("/")
	waitHTTPQuiet(t, l)
	select {
	case a := <-d.alerts:
		t.Fatalf("an alert before the lists name the tool: %+v", a)
	default:
	}

	if err := os.WriteFile(agents, []byte("T1595.002 acme-audit AcmeAudit/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, "web lists reloaded")
	waitMetrics(t, l, "scanwatch_config_last_reload_successful 1")
	curl("/about.html")
	select {
	case a := <-d.alerts:
		if a.Label != detector.LabelVulnScan || a.Tool != "acme-audit" || a.Source.String() != lab.ScanIP || a.Status != detector.StatusNew {
			t.Fatalf("alert after the reload: %+v", a)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no alert after the reload named the User-Agent")
	}

	if err := os.WriteFile(filepath.Join(dir, "injections.txt"), []byte("sqli (unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, "--http-lists not reloaded")
	waitMetrics(t, l, "scanwatch_config_last_reload_successful 0")
	stopDaemon(t, d)
}
