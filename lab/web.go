package lab

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// WebTools are the web scanners and benign clients of lab/web.sh, by the
// names RunWeb takes; each is also shipped as pcaps/web-NAME.pcap.
var WebTools = []string{
	"nmap-http-enum", "dirb", "gobuster", "ffuf", "ffuf-ipv6", "wfuzz", "wapiti",
	"sqlmap", "sqlmap-random-agent", "whatweb", "browse-assets", "browse-firefox",
}

// webBinary is the program each tool needs, for Require.
var webBinary = map[string]string{
	"nmap-http-enum": "nmap", "dirb": "dirb", "gobuster": "gobuster", "ffuf": "ffuf", "ffuf-ipv6": "ffuf",
	"wfuzz": "wfuzz", "wapiti": "wapiti", "sqlmap": "sqlmap", "sqlmap-random-agent": "sqlmap",
	"whatweb": "whatweb", "browse-assets": "curl", "browse-firefox": "curl",
}

// WebServer is lab/webserver.py running in the target namespace.
type WebServer struct {
	cmd *exec.Cmd
	log string
}

// webShell makes a bash command that has lab/netns.sh and lab/web.sh
// sourced for this lab and runs fn; it runs in its own process group, so
// cancelling ctx ends the tool it started too, not only bash.
func (l *Lab) webShell(ctx context.Context, fn string) *exec.Cmd {
	web := filepath.Join(filepath.Dir(l.script), "web.sh")
	cmd := exec.CommandContext(ctx, "bash", "-c",
		fmt.Sprintf("set -e; LAB_ID=%s; source %q; source %q; %s", l.ID, l.script, web, fn))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// WireSegments makes the veth carry segments of at most one MSS, as a real
// link does (lab_wire_segments): without it the kernel hands the veth GSO
// super-segments of up to 64 KB, and nmap's pipelined requests arrive as
// one packet no wire would carry.
func (l *Lab) WireSegments(t testing.TB) {
	t.Helper()
	if out, err := l.shell("lab_wire_segments"); err != nil {
		t.Fatalf("lab_wire_segments: %v\n%s", err, out)
	}
}

// StartWeb starts the lab web site on port 80 of the target's addresses
// and returns once it listens. It is stopped by its PID when the test ends,
// and stops by itself after five minutes or when this process dies.
func (l *Lab) StartWeb(t testing.TB) *WebServer {
	t.Helper()
	Require(t, "python3", "ss")
	log := filepath.Join(t.TempDir(), "web-requests.log")
	// web_server execs (bash, then ip netns exec): the PID is the server's.
	cmd := exec.Command("bash", "-c", fmt.Sprintf("LAB_ID=%s; source %q; source %q; web_server 300 %q",
		l.ID, l.script, filepath.Join(filepath.Dir(l.script), "web.sh"), log))
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the lab web server: %v", err)
	}
	s := &WebServer{cmd: cmd, log: log}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := l.webShell(ctx, "web_wait").CombinedOutput(); err != nil {
		t.Fatalf("the lab web server did not start: %v\n%s", err, out)
	}
	return s
}

// Requests returns the request lines the server has answered, with their
// statuses ("GET /admin HTTP/1.1 404"), in the order it logged them.
func (s *WebServer) Requests(t testing.TB) []string {
	t.Helper()
	f, err := os.Open(s.log)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatalf("web server log: %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// '198.51.100.10 "GET / HTTP/1.1" 200 -'
		line := sc.Text()
		i, j := strings.IndexByte(line, '"'), strings.LastIndexByte(line, '"')
		if i < 0 || j <= i {
			continue // an error line such as "code 400, message ..."
		}
		status := strings.Fields(line[j+1:])
		if len(status) > 0 {
			out = append(out, line[i+1:j]+" "+status[0])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the web server log: %v", err)
	}
	return out
}

// RunWeb runs one tool of WebTools from the scanner namespace against the
// server, as pcaps/capture.sh does, and returns its combined output. It is
// bounded by ctx and by lab/web.sh's own 60 s timeout per tool; the tool
// is skipped (or, under CI=true, fails) when it is not installed.
func (l *Lab) RunWeb(ctx context.Context, t testing.TB, tool string) ([]byte, error) {
	t.Helper()
	bin, ok := webBinary[tool]
	if !ok {
		return nil, fmt.Errorf("unknown web tool %q (one of %s)", tool, strings.Join(WebTools, ", "))
	}
	Require(t, bin)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	out, err := l.webShell(ctx, "web_run "+tool).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("web_run %s: %w", tool, err)
	}
	return out, nil
}
