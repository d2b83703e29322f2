// Package lab builds the namespace test bench for end-to-end tests: a
// scanner and a target namespace joined by a veth pair, made by the same
// lab/netns.sh that pcaps/capture.sh and 'make lab' use, so tests, captures
// and the demo share one topology. Documentation addresses only.
package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Addresses, as lab/netns.sh assigns them.
const (
	ScanIP  = "198.51.100.10"
	TgtIP   = "203.0.113.10"
	ScanIP6 = "2001:db8:1::10"
	TgtIP6  = "2001:db8:2::10"
	Sweep   = "203.0.113.0/24"
)

// Lab is one pair of namespaces.
type Lab struct {
	ID, NSScan, NSTgt, VethScan, VethTgt string
	script                               string
}

var seq atomic.Int32

// New builds a lab, removed when the test ends. It fails the test when a
// tool it needs is missing. SCANWATCH_LAB_PREFIX (up to 4 letters,
// default swt) starts its namespace and interface names, so runs sharing
// a machine can tell theirs apart.
func New(t testing.TB) *Lab {
	t.Helper()
	Require(t, "ip")
	prefix := os.Getenv("SCANWATCH_LAB_PREFIX")
	if prefix == "" {
		prefix = "swt"
	}
	if len(prefix) > 4 || strings.ContainsAny(prefix, "/ \t") {
		t.Fatalf("SCANWATCH_LAB_PREFIX %q: give at most 4 letters (interface names are limited to 15 characters)", prefix)
	}
	id := fmt.Sprintf("%s%d%d", prefix, os.Getpid()%10000, seq.Add(1))
	l := &Lab{ID: id, NSScan: id + "-scan", NSTgt: id + "-tgt", VethScan: id + "s", VethTgt: id + "t", script: netnsScript(t)}
	if out, err := l.shell("lab_up"); err != nil {
		l.shell("lab_down")
		t.Fatalf("building the lab: %v\n%s", err, out)
	}
	t.Cleanup(func() { l.shell("lab_down") })
	return l
}

func netnsScript(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "netns.sh")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("lab script: %v", err)
	}
	return p
}

func (l *Lab) shell(fn string) ([]byte, error) {
	cmd := exec.Command("bash", "-c", fmt.Sprintf("set -e; LAB_ID=%s; source %q; %s", l.ID, l.script, fn))
	return cmd.CombinedOutput()
}

// DeleteVeth deletes the veth pair, both ends, under whatever watches it.
func (l *Lab) DeleteVeth(t testing.TB) {
	t.Helper()
	if out, err := l.shell("lab_unlink"); err != nil {
		t.Fatalf("deleting the veth pair: %v\n%s", err, out)
	}
}

// Relink re-creates the veth pair with the same names, addresses and
// routes, deleting it first if it is still there.
func (l *Lab) Relink(t testing.TB) {
	t.Helper()
	if out, err := l.shell("lab_relink"); err != nil {
		t.Fatalf("re-creating the veth pair: %v\n%s", err, out)
	}
}

// Require fails (or, outside CI, skips) when tool is not installed.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed; .ci/run installs it", tool)
			}
			t.Skipf("%s is not installed (apt-get install %s)", tool, tool)
		}
	}
}

// InScan and InTgt make commands that run inside a namespace, bounded by ctx.
func (l *Lab) InScan(ctx context.Context, args ...string) *exec.Cmd {
	return execIn(ctx, l.NSScan, args...)
}

func (l *Lab) InTgt(ctx context.Context, args ...string) *exec.Cmd {
	return execIn(ctx, l.NSTgt, args...)
}

func execIn(ctx context.Context, ns string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// MAC returns an interface's address in a namespace.
func (l *Lab) MAC(t testing.TB, ns, iface string) string {
	out, err := exec.Command("ip", "-n", ns, "-br", "link", "show", iface).Output()
	if err != nil {
		t.Fatalf("ip link show %s: %v", iface, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		t.Fatalf("unexpected ip output %q", out)
	}
	return f[2]
}

// XDPAttached reports whether an XDP program is on the target's veth.
func (l *Lab) XDPAttached(t testing.TB) bool {
	out, err := exec.Command("ip", "-n", l.NSTgt, "-d", "link", "show", l.VethTgt).Output()
	if err != nil {
		t.Fatalf("ip link show: %v", err)
	}
	return bytes.Contains(out, []byte("prog/xdp")) || bytes.Contains(out, []byte(" xdp"))
}

// Promiscuity returns the target veth's promiscuity count.
func (l *Lab) Promiscuity(t testing.TB) int {
	out, err := exec.Command("ip", "-n", l.NSTgt, "-d", "link", "show", l.VethTgt).Output()
	if err != nil {
		t.Fatalf("ip link show: %v", err)
	}
	f := strings.Fields(string(out))
	for i := range f[:len(f)-1] {
		if f[i] == "promiscuity" {
			var n int
			fmt.Sscan(f[i+1], &n)
			return n
		}
	}
	t.Fatalf("no promiscuity in %q", out)
	return 0
}

// InTargetNS runs fn on an OS thread moved into the target namespace:
// attaching XDP resolves the interface in the caller's namespace. The
// bpf_link outlives the thread's stay there.
func (l *Lab) InTargetNS(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never returned to the scheduler's pool: it is
		// locked and left to exit with the goroutine, so no other code
		// ever runs inside the lab namespace by accident.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + l.NSTgt)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Tcpdump captures headers (256 bytes a frame: in immediate mode libpcap's
// ring holds buffer/snaplen frames, and a full-size snaplen left it 64 slots
// that a loaded machine overflowed) on a namespace's interface into file
// until stop is called; stop ends tcpdump by its PID and waits for it.
func (l *Lab) Tcpdump(t testing.TB, ns, iface, file string) (stop func()) {
	t.Helper()
	return l.TcpdumpSnap(t, ns, iface, file, 256)
}

// TcpdumpSnap is Tcpdump keeping snaplen bytes of each frame: HTTP tests
// need the payloads (2048 holds an MSS-sized segment whole).
func (l *Lab) TcpdumpSnap(t testing.TB, ns, iface, file string, snaplen int) (stop func()) {
	t.Helper()
	Require(t, "tcpdump")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-B", "16384", "-s", strconv.Itoa(snaplen), "-w", file)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("tcpdump: %v", err)
	}
	ready := make(chan struct{})
	stats := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				close(ready)
				break
			}
		}
		var tail []string
		for sc.Scan() {
			tail = append(tail, sc.Text())
		}
		stats <- strings.Join(tail, "\n")
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		cancel()
		t.Fatal("tcpdump did not start listening within 10 s")
	}
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		// SIGINT ends tcpdump without draining what the kernel still holds
		// for it, and a loaded machine can leave it far behind: wait until
		// the file has stopped growing for a second, then stop it.
		waitQuiet(file, time.Second, 30*time.Second)
		cmd.Process.Signal(unix.SIGINT)
		cmd.Wait()
		cancel()
		// A capture that lost packets cannot be compared with the kernel's
		// counts: say so plainly instead of failing on the numbers.
		var dropped int
		st := <-stats
		t.Logf("tcpdump on %s: %s", iface, strings.ReplaceAll(st, "\n", "; "))
		for _, line := range strings.Split(st, "\n") {
			if strings.HasSuffix(line, "packets dropped by kernel") {
				fmt.Sscan(line, &dropped)
			}
		}
		if dropped > 0 {
			t.Errorf("tcpdump dropped %d packets: the capture is incomplete (machine overloaded?)", dropped)
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitQuiet returns once file's size has not changed for quiet, or after
// limit.
func waitQuiet(file string, quiet, limit time.Duration) {
	const step = 100 * time.Millisecond
	var last int64 = -1
	still := time.Duration(0)
	for waited := time.Duration(0); waited < limit && still < quiet; waited += step {
		time.Sleep(step)
		var size int64
		if fi, err := os.Stat(file); err == nil {
			size = fi.Size()
		}
		if size == last {
			still += step
		} else {
			last, still = size, 0
		}
	}
}

// Scanner commands, each bounded in packets and time.

// Nmap runs nmap -sS (IPv4 or IPv6) from the scanner against the target.
func (l *Lab) Nmap(ctx context.Context, extra ...string) *exec.Cmd {
	return l.InScan(ctx, append([]string{"nmap", "-n", "-Pn", "--max-retries", "1"}, extra...)...)
}

// Masscan sweeps the target /24 on ports, at a bounded rate.
func (l *Lab) Masscan(ctx context.Context, t testing.TB, ports string) *exec.Cmd {
	// masscan never exits once the link is quiet (upstream #144/#558), so
	// coreutils' timeout kills it (SIGKILL: on SIGINT it waits 10 s more).
	// Its 512 probes at 5000/s take a tenth of a second after a start-up
	// of about one; waiting for the callers' deadline instead cost each
	// test 90 s.
	return l.InScan(ctx, "timeout", "-s", "KILL", "8", "masscan", Sweep, "-p"+ports, "--rate", "5000", "--wait", "1",
		"--interface", l.VethScan, "--router-mac", l.MAC(t, l.NSTgt, l.VethTgt), "--adapter-ip", ScanIP)
}

// Zmap sweeps the target /24 on one port; its default blocklist covers
// the documentation ranges, so it gets an empty one.
func (l *Lab) Zmap(ctx context.Context, t testing.TB, port string) *exec.Cmd {
	empty := filepath.Join(t.TempDir(), "empty-blocklist")
	os.WriteFile(empty, nil, 0o644)
	return l.InScan(ctx, "zmap", "-q", "-p", port, "-r", "5000", "-c", "1", "-i", l.VethScan, "-G", l.MAC(t, l.NSTgt, l.VethTgt),
		"-S", ScanIP, "-b", empty, "-o", "/dev/null", Sweep)
}

// Hping3Flood sends count SYNs to one port.
func (l *Lab) Hping3Flood(ctx context.Context, count int) *exec.Cmd {
	return l.InScan(ctx, "hping3", "-q", "-S", "-p", "80", "-c", fmt.Sprint(count), "-i", "u20", TgtIP)
}
