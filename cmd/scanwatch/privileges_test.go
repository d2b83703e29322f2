package main

import (
	"context"
	"fmt"
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

// Least privilege, against the real binary: a missing capability is named
// with its fix; once attached, the process keeps only what this kernel
// needs, in every thread; and a user other than root runs it with ambient
// or file capabilities.

// The capabilities 'scanwatch run' needs, as setpriv spells them.
const needCaps = "+bpf,+net_admin,+perfmon"

func TestPrivilegedLeastPrivilegeNamesMissingCapability(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "setpriv")
	bin := buildBinary(t)
	l := lab.New(t)
	// Taken out of the bounding set, a capability is not in root's
	// permitted set after exec. CAP_SYS_ADMIN stands in for the first
	// three, so it goes too.
	for _, c := range []struct {
		drop, want string
		promisc    bool
	}{
		{"-bpf,-sys_admin", "CAP_BPF", false},
		{"-perfmon,-sys_admin", "CAP_PERFMON", false},
		{"-net_admin,-sys_admin", "CAP_NET_ADMIN", false},
		{"-net_raw", "CAP_NET_RAW", true},
	} {
		t.Run(c.want, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := []string{"setpriv", "--bounding-set=" + c.drop, "--", bin, "run", "--iface", l.VethTgt, "--web.listen-address", ""}
			fix := "setcap cap_bpf,cap_net_admin,cap_perfmon+ep " + bin + "\n"
			if c.promisc {
				args = append(args, "--promisc")
				fix = "setcap cap_bpf,cap_net_admin,cap_perfmon,cap_net_raw+ep " + bin + "\n"
			}
			out, err := l.InTgt(ctx, args...).CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want 1:\n%s", err, out)
			}
			msg := string(out)
			for _, want := range []string{"scanwatch: missing capability " + c.want + " (", fix, "AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON",
				"CapabilityBoundingSet=", "--cap-add BPF --cap-add NET_ADMIN --cap-add PERFMON", "--cap-add SYS_ADMIN"} {
				if !strings.Contains(msg, want) {
					t.Errorf("output lacks %q:\n%s", want, msg)
				}
			}
			for _, bad := range []string{"verifier rejected", "please report", "prohibited", "MEMLOCK", "msg=checksums"} {
				if strings.Contains(msg, bad) {
					t.Errorf("output has %q:\n%s", bad, msg)
				}
			}
			if n := strings.Count(msg, "\n"); n > 10 {
				t.Errorf("%d lines of output:\n%s", n, msg)
			}
			if l.XDPAttached(t) {
				t.Error("an XDP program was left attached")
			}
		})
	}
}

// As root, after attach: nothing left in any set, on every thread, and
// no_new_privs; then the interface is deleted and re-created and the
// sensor, with nothing, re-attaches, is promiscuous again and catches a
// scan (ring buffer, map sweeps) and serves /metrics (per-CPU reads).
func TestPrivilegedLeastPrivilegeDropsCapabilities(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "nmap", "curl")
	bin := buildBinary(t)
	l := lab.New(t)
	d, startLogs := startRun(t, l, bin, "run", "--iface", l.VethTgt, "--web.listen-address", "127.0.0.1:9595", "--promisc")
	want := keptOnThisKernel(t)
	line := grepFirst(startLogs, "capabilities dropped")
	for _, w := range []string{"remaining=" + want.names, "reattach=true", "bounding_set=" + want.bounding, "no_new_privs=true"} {
		if !strings.Contains(line, w) {
			t.Errorf("log line lacks %q: %q", w, line)
		}
	}
	checkStatus(t, d, map[string]string{"CapInh": "0000000000000000", "CapPrm": want.mask, "CapEff": want.mask, "CapBnd": want.mask,
		"CapAmb": "0000000000000000", "NoNewPrivs": "1"})

	logs := logWatch(d.logs)
	l.DeleteVeth(t)
	logs.wait(t, "watched interface lost")
	l.Relink(t)
	logs.wait(t, "XDP program re-attached")
	if !l.XDPAttached(t) || promiscuity(t, l.NSTgt, l.VethTgt) != 1 {
		t.Fatalf("re-created veth: attached %v, promiscuity %d; want an XDP program and 1", l.XDPAttached(t), promiscuity(t, l.NSTgt, l.VethTgt))
	}
	catchScan(t, l, d)
	waitMetrics(t, l, "scanwatch_syn_packets_total 100")
	stop(t, d)
}

// A user other than root: the capabilities come from the ambient set
// (what systemd's AmbientCapabilities= does, with CapabilityBoundingSet=)
// or from file capabilities on the binary; either way the sensor ends
// with none and catches a scan.
func TestPrivilegedLeastPrivilegeNonRoot(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "nmap", "setpriv", "setcap")
	built := buildBinary(t)
	// The binary must be reachable by uid 65534: t.TempDir is not.
	dir, err := os.MkdirTemp("", "scanwatch-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "scanwatch")
	fcap := filepath.Join(dir, "scanwatch-setcap")
	for _, dst := range []string{bin, fcap} {
		if out, err := exec.Command("cp", built, dst).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v\n%s", err, out)
		}
	}
	if out, err := exec.Command("setcap", "cap_bpf,cap_net_admin,cap_perfmon+ep", fcap).CombinedOutput(); err != nil {
		t.Fatalf("setcap: %v\n%s", err, out)
	}
	nobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
	bnd := want3()
	for _, c := range []struct {
		name   string
		args   []string
		capBnd string
	}{
		{"ambient capabilities", append(nobody, "--bounding-set=-all,"+needCaps, "--inh-caps=-all,"+needCaps, "--ambient-caps=-all,"+needCaps, "--", bin), bnd},
		{"file capabilities", append(nobody, "--inh-caps=-all", "--", fcap), ownStatus(t, "CapBnd")},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := lab.New(t)
			d, _ := startRun(t, l, append(c.args, "run", "--iface", l.VethTgt, "--web.listen-address", "127.0.0.1:9595")...)
			// No CAP_SETPCAP: the bounding set stays as the launcher left
			// it, and no_new_privs keeps an execve from using it.
			want := keptOnThisKernel(t).mask
			checkStatus(t, d, map[string]string{"Uid": "65534\t65534\t65534\t65534", "CapInh": "0000000000000000", "CapPrm": want, "CapEff": want,
				"CapBnd": c.capBnd, "CapAmb": "0000000000000000", "NoNewPrivs": "1"})
			catchScan(t, l, d)
			stop(t, d)
		})
	}
}

// want3 is CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON as /proc shows a set.
func want3() string {
	return fmt.Sprintf("%016x", uint64(1)<<unix.CAP_BPF|1<<unix.CAP_NET_ADMIN|1<<unix.CAP_PERFMON)
}

// kept is what the sensor keeps after attach on this kernel.
type kept struct{ mask, names, bounding string }

// keptOnThisKernel: since Linux 5.19 (commit c8644cd0efe7) map reads and
// BPF_LINK_CREATE need no capability; before, with
// kernel.unprivileged_bpf_disabled set, every bpf() command needs CAP_BPF.
func keptOnThisKernel(t *testing.T) kept {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor)
	sysctl, _ := os.ReadFile("/proc/sys/kernel/unprivileged_bpf_disabled")
	if major > 5 || major == 5 && minor >= 19 || strings.TrimSpace(string(sysctl)) == "0" {
		return kept{"0000000000000000", "none", "cleared"}
	}
	return kept{fmt.Sprintf("%016x", uint64(1)<<unix.CAP_BPF), "[CAP_BPF]", `"reduced to [CAP_BPF]"`}
}

// startRun starts args in the target namespace like startDaemonArgs,
// and also returns the log lines up to "watching".
func startRun(t *testing.T, l *lab.Lab, args ...string) (*daemon, []string) {
	t.Helper()
	d := launchDaemon(t, l, args...)
	var lines []string
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-d.logs:
			if !ok {
				t.Fatalf("scanwatch exited before watching:\n%s", strings.Join(lines, "\n"))
			}
			lines = append(lines, line)
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") || strings.HasPrefix(line, "scanwatch:") {
				t.Fatalf("scanwatch: %s", line)
			}
			if strings.Contains(line, "msg=watching") {
				return d, lines
			}
		case <-deadline:
			t.Fatalf("no 'watching' log line within 20 s:\n%s", strings.Join(lines, "\n"))
		}
	}
}

func grepFirst(lines []string, s string) string {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// checkStatus compares /proc status fields of the daemon and of each of
// its threads: capset is per thread.
func checkStatus(t *testing.T, d *daemon, want map[string]string) {
	t.Helper()
	pid := d.cmd.Process.Pid // ip netns exec execs in place
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); !strings.HasPrefix(string(comm), "scanwatch") {
		t.Fatalf("pid %d is %q, not scanwatch", pid, comm)
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("threads of %d: %v %v", pid, tasks, err)
	}
	for _, f := range append([]string{fmt.Sprintf("/proc/%d/status", pid)}, tasks...) {
		got := statusFields(t, f)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s %q, want %q", f, k, got[k], v)
			}
		}
	}
}

func statusFields(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func ownStatus(t *testing.T, field string) string {
	return statusFields(t, "/proc/self/status")[field]
}

// catchScan runs a 100-port nmap scan and waits for its first alert.
func catchScan(t *testing.T, l *lab.Lab, d *daemon) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := l.Nmap(ctx, "-sS", "-p1-100", lab.TgtIP).CombinedOutput(); err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	select {
	case a := <-d.alerts:
		if a.Source.String() != lab.ScanIP || a.Label != detector.LabelPortScan {
			t.Errorf("first alert: %+v", a)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no alert within 20 s of a 100-port scan")
	}
}

func stop(t *testing.T, d *daemon) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGINT)
	for range d.alerts {
	}
	if err := d.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGINT: %v", err)
	}
}
