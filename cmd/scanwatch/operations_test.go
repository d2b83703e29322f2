package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/lab"
)

// An operator's faults, against the real binary: the reader of stdout goes
// away, logrotate renames the alerts file, the allowlist path turns into a
// FIFO, and /metrics on a perimeter host.

// logWatch collects a daemon's log lines so a test can wait for one,
// errors included (these tests provoke errors on purpose).
type logWatch chan string

func watchLogs(t *testing.T, cmd *exec.Cmd) logWatch {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	lw := make(logWatch, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log(sc.Text())
			select {
			case lw <- sc.Text():
			default:
			}
		}
		close(lw)
	}()
	return lw
}

func (lw logWatch) wait(t *testing.T, want string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-lw:
			if !ok {
				t.Fatalf("scanwatch exited before logging %q", want)
			}
			if strings.Contains(line, want) {
				return line
			}
		case <-deadline:
			t.Fatalf("no %q log line within 20 s", want)
		}
	}
}

func readAlerts(t *testing.T, path string) []detector.Alert {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []detector.Alert
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var a detector.Alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("%s: not JSON Lines: %v: %q", path, err, line)
		}
		out = append(out, a)
	}
	return out
}

func scrape(t *testing.T, l *lab.Lab) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body, err := l.InTgt(ctx, "curl", "-sf", "http://127.0.0.1:9595/metrics").Output()
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return string(body)
}

// `scanwatch run | head -1`, then logrotate: the sensor outlives its
// reader, keeps writing --alerts.file, follows the rename on SIGHUP, and
// still writes its final records and its "stopped" line.
func TestPrivilegedRunOutlivesItsReader(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "nmap", "curl")
	bin := buildBinary(t)
	l := lab.New(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "alerts.json")

	cmd := l.InTgt(context.Background(), bin, "run", "--iface", l.VethTgt, "--web.listen-address", "127.0.0.1:9595", "--alerts.file", file)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = pw
	logs := watchLogs(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	logs.wait(t, "msg=watching")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// head -1: read one alert, then go away.
	if err := l.Nmap(ctx, "-sS", "-p1-30", "203.0.113.20").Run(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || !strings.Contains(line, detector.LabelPortScan) {
		t.Fatalf("first alert on stdout: %q %v", line, err)
	}
	pr.Close()

	// The scan goes on past 50 ports: the escalation finds stdout closed.
	if err := l.Nmap(ctx, "-sS", "-p1-200", "203.0.113.20").Run(); err != nil {
		t.Fatal(err)
	}
	logs.wait(t, "broken pipe")
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("scanwatch died when its reader went away: %v", err)
	}
	// The broken pipe is logged as stdout fails, just before the same
	// record is appended to the file: wait for it there.
	var escalated bool
	for deadline := time.Now().Add(5 * time.Second); !escalated && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, a := range readAlerts(t, file) {
			escalated = escalated || a.Label == detector.LabelFullNetworkScan
		}
	}
	if !escalated {
		t.Fatalf("--alerts.file has no %s alert after stdout closed:\n%+v", detector.LabelFullNetworkScan, readAlerts(t, file))
	}
	if m := scrape(t, l); !strings.Contains(m, `scanwatch_alert_write_errors_total{output="stdout"} `) || strings.Contains(m, `scanwatch_alert_write_errors_total{output="stdout"} 0`) {
		t.Errorf("stdout write errors not counted:\n%s", grepLines(m, "write_errors"))
	}

	// logrotate: rename, then SIGHUP; the final records go to the new file.
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	logs.wait(t, "--alerts.file reopened")
	cmd.Process.Signal(syscall.SIGTERM)
	logs.wait(t, "msg=stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	finals := readAlerts(t, file)
	if len(finals) == 0 || finals[len(finals)-1].Status != detector.StatusFinal {
		t.Fatalf("the reopened file lacks the final record: %+v", finals)
	}
	for _, a := range readAlerts(t, file+".1") {
		if a.Status == detector.StatusFinal {
			t.Errorf("a final record went to the rotated file: %+v", a)
		}
	}
}

// A FIFO where the allowlist was: the reload fails at once with a clear
// error, the metric says so, and the next SIGHUP with a file works.
func TestPrivilegedRunAllowlistFIFOReload(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "curl")
	bin := buildBinary(t)
	l := lab.New(t)
	list := filepath.Join(t.TempDir(), "allow.txt")
	os.WriteFile(list, []byte("198.51.100.0/24\n"), 0o644)
	cmd := l.InTgt(context.Background(), bin, "run", "--iface", l.VethTgt, "--web.listen-address", "127.0.0.1:9595", "--allowlist", list)
	logs := watchLogs(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	logs.wait(t, "msg=watching")
	const okMetric = "scanwatch_config_last_reload_successful "
	if m := scrape(t, l); !strings.Contains(m, okMetric+"1") {
		t.Fatalf("start-up load not reported successful:\n%s", grepLines(m, "reload"))
	}

	os.Remove(list)
	if err := syscall.Mkfifo(list, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second proves the first did not wedge the reloader
		cmd.Process.Signal(syscall.SIGHUP)
		if line := logs.wait(t, "allowlist not reloaded"); !strings.Contains(line, "not a regular file (a FIFO)") {
			t.Fatalf("error does not name the problem: %s", line)
		}
	}
	if m := scrape(t, l); !strings.Contains(m, okMetric+"0") {
		t.Fatalf("failed reload not reported:\n%s", grepLines(m, "reload"))
	}
	os.Remove(list)
	os.WriteFile(list, []byte("198.51.100.0/24\n192.0.2.0/24\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	logs.wait(t, "allowlist reloaded")
	if m := scrape(t, l); !strings.Contains(m, okMetric+"1") {
		t.Fatalf("good reload not reported:\n%s", grepLines(m, "reload"))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

// By default /metrics answers on loopback only: a scrape from the scanner's
// side of the wire finds nothing listening.
func TestPrivilegedRunMetricsOnLoopbackByDefault(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "curl")
	bin := buildBinary(t)
	l := lab.New(t)
	d := startDaemonArgs(t, l, bin, "run", "--iface", l.VethTgt)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := l.InTgt(ctx, "curl", "-sf", "http://127.0.0.1:9595/metrics").Output(); err != nil {
		t.Fatalf("local scrape of the default address: %v", err)
	}
	out, err := l.InScan(ctx, "curl", "-sS", "--max-time", "5", "http://"+lab.TgtIP+":9595/metrics").CombinedOutput()
	if err == nil {
		t.Fatalf("a remote scrape of the default address succeeded:\n%.300s", out)
	}
	t.Logf("remote scrape refused as it should be: %s", strings.TrimSpace(string(out)))
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()
}

// 200 keep-alive clients that scraped once and went idle hold no more than
// the cap, and a scrape gets in at once.
func TestPrivilegedRunMetricsShedsIdleClients(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "curl")
	bin := buildBinary(t)
	l := lab.New(t)
	d := startDaemon(t, l, bin)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	err := l.InTargetNS(func() error {
		for range 200 {
			c, err := net.DialTimeout("tcp", "127.0.0.1:9595", 2*time.Second)
			if err != nil {
				return err
			}
			conns = append(conns, c)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				io.Copy(io.Discard, resp.Body)
			}
			c.SetDeadline(time.Time{})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	scrape(t, l)
	t.Logf("scrape with 200 idle keep-alive clients took %v", time.Since(start).Round(time.Millisecond))
	open := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			open++
		}
	}
	if open > 64 {
		t.Errorf("%d of 200 idle connections still held, want at most the cap of 64", open)
	}
	t.Logf("%d of 200 idle connections still held", open)
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()
}
