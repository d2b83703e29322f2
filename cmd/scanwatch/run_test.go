package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/lab"
)

// These tests run the real binary, as a user would: 'scanwatch run' inside
// the lab's target namespace, signals, process death, a second instance.

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root; CI runs as root")
	}
	t.Skip("needs root: sudo make test")
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scanwatch")
	// As make build and the Dockerfile build it: without cgo, the only
	// way Go can drop capabilities from every thread (AllThreadsSyscall).
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// daemon is a running 'scanwatch run'.
type daemon struct {
	cmd    *exec.Cmd
	alerts chan detector.Alert
	logs   chan string
}

func startDaemon(t *testing.T, l *lab.Lab, bin string, extra ...string) *daemon {
	t.Helper()
	return startDaemonArgs(t, l, append([]string{bin, "run", "--iface", l.VethTgt, "--web.listen-address", "127.0.0.1:9595"}, extra...)...)
}

// startDaemonArgs starts the command line args in the target namespace
// and waits for "watching" (failing on an error logged before it).
func startDaemonArgs(t *testing.T, l *lab.Lab, args ...string) *daemon {
	t.Helper()
	d := launchDaemon(t, l, args...)
	d.waitLog(t, "msg=watching")
	return d
}

// launchDaemon starts args in the target namespace, ended when the test
// ends, with its alerts and log lines on channels (logs is closed when
// the process's stderr closes).
func launchDaemon(t *testing.T, l *lab.Lab, args ...string) *daemon {
	t.Helper()
	cmd := l.InTgt(context.Background(), args...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, alerts: make(chan detector.Alert, 100), logs: make(chan string, 100)}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var a detector.Alert
			if err := json.Unmarshal(sc.Bytes(), &a); err == nil {
				d.alerts <- a
			}
		}
		close(d.alerts)
	}()
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case d.logs <- sc.Text():
			default:
			}
		}
		close(d.logs)
	}()
	return d
}

// interrupt sends SIGINT, reads the alerts to the end and returns the
// last one, failing unless scanwatch exits 0.
func (d *daemon) interrupt(t *testing.T) detector.Alert {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGINT)
	var last detector.Alert
	for a := range d.alerts {
		last = a
	}
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
	return last
}

func (d *daemon) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-d.logs:
			if !ok {
				t.Fatalf("scanwatch exited before logging %q", want)
			}
			if strings.Contains(line, want) {
				return
			}
			if strings.Contains(line, "level=ERROR") || strings.HasPrefix(line, "scanwatch:") {
				t.Fatalf("scanwatch: %s", line)
			}
		case <-deadline:
			t.Fatalf("no %q log line within 20 s", want)
		}
	}
}

func TestPrivilegedRunCatchesNmapLive(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "nmap", "curl")
	bin := buildBinary(t)
	l := lab.New(t)
	d := startDaemon(t, l, bin)
	if !l.XDPAttached(t) {
		t.Fatal("no XDP program on the interface after start")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nmap := l.Nmap(ctx, "-sS", "-p1-1000", lab.TgtIP)
	if err := nmap.Start(); err != nil {
		t.Fatal(err)
	}
	// The first alert comes while nmap is still scanning. Its latency is
	// logged, not asserted: timing belongs to benchmarks on this machine.
	select {
	case a := <-d.alerts:
		lat := time.Since(a.Timestamp)
		t.Logf("first alert %q %s after %d ports, printed %v after the crossing SYN", a.Label, a.Status, a.UniqueDestPorts, lat.Round(time.Millisecond))
		if a.Label != detector.LabelPortScan || a.Status != detector.StatusNew || a.Source.String() != lab.ScanIP || a.UniqueDestPorts != 20 {
			t.Errorf("first alert: %+v", a)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no alert within 30 s of starting nmap")
	}
	if err := nmap.Wait(); err != nil {
		t.Fatalf("nmap: %v", err)
	}

	// Metrics, scraped the way Prometheus would, inside the namespace.
	// The last ring records reach the detector within the reader's flush
	// interval (100 ms) and the map sweep (1 s): scrape until they have,
	// for at most 5 s.
	wants := []string{"scanwatch_syn_packets_total 1000", "scanwatch_ringbuf_dropped_total 0", `scanwatch_scans_total{name="PortScan",technique="T1595"} 1`,
		`scanwatch_alert_records_total{name="FullNetworkScan",status="escalated",technique="T1595"} 1`, "scanwatch_build_info{", "scanwatch_packets_total", "scanwatch_ringbuf_events_total 1000", "scanwatch_detector_syn_events_total 1000",
		`scanwatch_xdp_actions_total{action="pass"}`, "scanwatch_checksum_errors_total 0", `scanwatch_evasion_packets_total{reason="tiny_fragment"} 0`,
		"scanwatch_fragments_total 0", "scanwatch_probation_evicted_total 0"}
	var body []byte
	var missing []string
	for try := 0; try < 25; try++ {
		var err error
		if body, err = l.InTgt(ctx, "curl", "-sf", "http://127.0.0.1:9595/metrics").Output(); err != nil {
			t.Fatalf("scraping /metrics: %v", err)
		}
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(string(body), want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, m := range missing {
		t.Errorf("/metrics lacks %q", m)
	}
	if strings.Contains(string(body), lab.ScanIP) {
		t.Error("/metrics carries a source address: per-IP labels are forbidden")
	}

	// SIGINT: the closing summary, exit 0, program detached.
	last := d.interrupt(t)
	if last.Status != detector.StatusFinal || last.Label != detector.LabelFullNetworkScan || last.TotalConns != 1000 || last.UniqueDestPorts != 1000 {
		t.Errorf("closing alert: %+v", last)
	}
	if l.XDPAttached(t) {
		t.Error("XDP program still attached after exit")
	}
}

func TestPrivilegedRunDetachesWhenKilled(t *testing.T) {
	requireRoot(t)
	bin := buildBinary(t)
	l := lab.New(t)
	d := startDaemon(t, l, bin, "--promisc")
	if !l.XDPAttached(t) {
		t.Fatal("not attached")
	}
	if p := l.Promiscuity(t); p != 1 {
		t.Fatalf("--promisc: promiscuity %d, want 1", p)
	}
	d.cmd.Process.Signal(unix.SIGKILL)
	d.cmd.Wait()
	// The bpf_link dies with the process's file descriptors.
	deadline := time.Now().Add(5 * time.Second)
	for l.XDPAttached(t) {
		if time.Now().After(deadline) {
			t.Fatal("XDP program left attached after SIGKILL")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Promiscuous mode was held by a socket, which died with the process.
	if p := l.Promiscuity(t); p != 0 {
		t.Fatalf("promiscuity %d after SIGKILL, want 0", p)
	}
}

func TestPrivilegedRunErrors(t *testing.T) {
	requireRoot(t)
	bin := buildBinary(t)
	l := lab.New(t)
	startDaemon(t, l, bin)

	run := func(t *testing.T, cmd *exec.Cmd) (int, string) {
		t.Helper()
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Run("second instance on the same interface", func(t *testing.T) {
		code, out := run(t, l.InTgt(ctx, bin, "run", "--iface", l.VethTgt, "--web.listen-address", ""))
		if code != 1 || !strings.Contains(out, "already attached") || !strings.Contains(out, "--xdp-mode") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("no such interface", func(t *testing.T) {
		code, out := run(t, l.InTgt(ctx, bin, "run", "--iface", "nosuch0"))
		if code != 1 || !strings.Contains(out, `no network interface "nosuch0"`) {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("without privileges", func(t *testing.T) {
		lab.Require(t, "setpriv")
		cmd := l.InTgt(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin, "run", "--iface", "lo", "--web.listen-address", "")
		code, out := run(t, cmd)
		if code != 1 || !strings.Contains(out, "CAP_BPF") || !strings.Contains(out, "CAP_NET_ADMIN") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("bad flags", func(t *testing.T) {
		code, out := run(t, exec.Command(bin, "run", "--iface", "lo", "--xdp-mode", "turbo"))
		if code != 2 || !strings.Contains(out, "use auto, native or generic") {
			t.Fatalf("exit %d: %s", code, out)
		}
		// Refused before anything is loaded or attached.
		code, out = run(t, exec.Command(bin, "run", "--iface", "lo", "--http-ports", "80,99999"))
		if code != 2 || !strings.Contains(out, `--http-ports: "99999" is not a TCP port`) {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
}

func TestPrivilegedRunAllowlistReloadOnSIGHUP(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "nmap", "curl")
	bin := buildBinary(t)
	l := lab.New(t)
	list := filepath.Join(t.TempDir(), "allow.txt")
	os.WriteFile(list, []byte("# nothing allowed yet\n"), 0o644)
	d := startDaemon(t, l, bin, "--allowlist", list)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if err := l.Nmap(ctx, "-sS", "-p1-100", "203.0.113.20").Run(); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-d.alerts:
		if a.Source.String() != lab.ScanIP {
			t.Fatalf("alert %+v", a)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no alert before the allowlist names the scanner")
	}

	os.WriteFile(list, []byte("# our vulnerability scanner\n198.51.100.0/24\n"), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, "allowlist reloaded")

	// A new scan from the now allowlisted source: no alert, but counted.
	if err := l.Nmap(ctx, "-sS", "-p1-100", "203.0.113.30").Run(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	body, err := l.InTgt(ctx, "curl", "-sf", "http://127.0.0.1:9595/metrics").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `scanwatch_allowlisted_scans_total{name="PortScan",technique="T1595"} 1`) {
		t.Errorf("the suppressed alert is not counted:\n%s", grepLines(string(body), "allowlisted"))
	}
	d.cmd.Process.Signal(syscall.SIGINT)
	for a := range d.alerts {
		if a.DestHost != nil && a.DestHost.String() == "203.0.113.30" {
			t.Errorf("alert for the allowlisted source's new scan: %+v", a)
		}
	}
	d.cmd.Wait()
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
