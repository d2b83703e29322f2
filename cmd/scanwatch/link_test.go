package main

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/lab"
)

// The watched interface goes away under a running sensor: a driver
// reload, a VM hot-plug or netplan apply deletes and re-creates it; an
// operator renames it or moves it into a container's namespace.

func linkMetric(iface string) (attached, lost string) {
	return `scanwatch_xdp_attached{iface="` + iface + `"} `, `scanwatch_link_lost_total{iface="` + iface + `"} `
}

// waitMetrics scrapes until every line in want is present, for at most
// 5 s: the gauge follows the log line by a moment at most.
func waitMetrics(t *testing.T, l *lab.Lab, want ...string) {
	t.Helper()
	var body string
	for try := 0; try < 25; try++ {
		body = scrape(t, l)
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(body, w+"\n")
		}
		if ok {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("/metrics lacks %q:\n%s", want, grepLines(body, "xdp_attached")+"\n"+grepLines(body, "link_lost"))
}

// xdpOn reports whether an XDP program is on iface in namespace ns.
func xdpOn(t *testing.T, ns, iface string) bool {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-d", "link", "show", iface).Output()
	if err != nil {
		t.Fatalf("ip link show %s: %v", iface, err)
	}
	return bytes.Contains(out, []byte("prog/xdp"))
}

func promiscuity(t *testing.T, ns, iface string) int {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-d", "link", "show", iface).Output()
	if err != nil {
		t.Fatalf("ip link show %s: %v", iface, err)
	}
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "promiscuity" {
			n, _ := strconv.Atoi(f[i+1])
			return n
		}
	}
	t.Fatalf("no promiscuity in %q", out)
	return 0
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Delete the veth, then re-create it: an ERROR and the gauge at 0 while
// it is gone, then the same program on the new interface, and a scan
// begun before the flap and finished after it is one episode.
func TestPrivilegedRunReattachesAfterVethFlap(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "nmap", "curl")
	bin := buildBinary(t)
	l := lab.New(t)
	d := startDaemon(t, l, bin)
	logs := logWatch(d.logs)
	attached, lost := linkMetric(l.VethTgt)
	waitMetrics(t, l, attached+"1", lost+"0")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The first part of a scan, before the flap: a PortScan.
	if err := l.Nmap(ctx, "-sS", "-p1-30", lab.TgtIP).Run(); err != nil {
		t.Fatal(err)
	}
	var first detector.Alert
	select {
	case first = <-d.alerts:
		if first.Status != detector.StatusNew || first.AlertID == "" {
			t.Fatalf("first alert: %+v", first)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no alert before the flap")
	}

	l.DeleteVeth(t)
	line := logs.wait(t, "watched interface lost")
	for _, want := range []string{"level=ERROR", "iface=" + l.VethTgt, "reason=deleted", "re-attaches by itself"} {
		if !strings.Contains(line, want) {
			t.Errorf("loss log line lacks %q: %s", want, line)
		}
	}
	waitMetrics(t, l, attached+"0", lost+"1")
	if err := d.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("scanwatch exited when the interface went: %v", err)
	}

	l.Relink(t)
	if line := logs.wait(t, "XDP program re-attached"); !strings.Contains(line, "iface="+l.VethTgt) {
		t.Errorf("re-attach log line: %s", line)
	}
	waitMetrics(t, l, attached+"1", lost+"1")
	if !l.XDPAttached(t) {
		t.Fatal("no XDP program on the re-created veth")
	}

	// The rest of the scan, on the new interface: the same episode grows
	// into a FullNetworkScan.
	if err := l.Nmap(ctx, "-sS", "-p1-200", lab.TgtIP).Run(); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-d.alerts:
		if a.AlertID != first.AlertID || a.Status != detector.StatusEscalated || a.Label != detector.LabelFullNetworkScan {
			t.Errorf("alert after the flap: %+v\nwant an escalation of alert_id %s", a, first.AlertID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no alert for a 200-port scan after re-attaching")
	}
	last := d.interrupt(t)
	// 30 SYNs before, 200 after (nmap sends one per port unless a
	// retransmission is needed).
	if last.Status != detector.StatusFinal || last.AlertID != first.AlertID || last.UniqueDestPorts != 200 || last.TotalConns < 230 {
		t.Errorf("closing alert: %+v\nwant alert_id %s, 200 ports, at least 230 SYNs", last, first.AlertID)
	}
	if l.XDPAttached(t) {
		t.Error("XDP program still attached after exit")
	}
}

// Renamed away and back, then moved into another namespace and replaced:
// each departure is a loss, and the program never stays on an interface
// that no longer has the watched name.
func TestPrivilegedRunLinkRenamedAndMoved(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "curl")
	bin := buildBinary(t)
	l := lab.New(t)
	d := startDaemon(t, l, bin, "--promisc")
	logs := logWatch(d.logs)
	attached, lost := linkMetric(l.VethTgt)
	away := l.ID + "x"

	ip(t, "-n", l.NSTgt, "link", "set", l.VethTgt, "down")
	ip(t, "-n", l.NSTgt, "link", "set", l.VethTgt, "name", away)
	if line := logs.wait(t, "watched interface lost"); !strings.Contains(line, "reason=\"renamed to "+away+"\"") {
		t.Errorf("rename: %s", line)
	}
	waitMetrics(t, l, attached+"0", lost+"1")
	if xdpOn(t, l.NSTgt, away) {
		t.Error("the program stayed on the renamed interface")
	}
	if p := promiscuity(t, l.NSTgt, away); p != 0 {
		t.Errorf("the renamed interface kept promiscuity %d", p)
	}
	ip(t, "-n", l.NSTgt, "link", "set", away, "name", l.VethTgt)
	ip(t, "-n", l.NSTgt, "link", "set", l.VethTgt, "up")
	logs.wait(t, "XDP program re-attached")
	waitMetrics(t, l, attached+"1", lost+"1")
	if !l.XDPAttached(t) {
		t.Fatal("not re-attached after the rename back")
	}
	if p := l.Promiscuity(t); p != 1 {
		t.Errorf("promiscuity %d after re-attach, want 1", p)
	}

	ip(t, "-n", l.NSTgt, "link", "set", l.VethTgt, "netns", l.NSScan)
	if line := logs.wait(t, "watched interface lost"); !strings.Contains(line, "moved to another network namespace") {
		t.Errorf("netns move: %s", line)
	}
	waitMetrics(t, l, attached+"0", lost+"2")
	if xdpOn(t, l.NSScan, l.VethTgt) {
		t.Error("the program followed the interface into the other namespace")
	}
	l.Relink(t)
	logs.wait(t, "XDP program re-attached")
	waitMetrics(t, l, attached+"1", lost+"2")
	if p := l.Promiscuity(t); p != 1 {
		t.Errorf("promiscuity %d on the re-created veth, want 1", p)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// --exit-on-link-loss: the process ends, non-zero, with a message that
// names the interface and the flag, within a few seconds of the delete.
func TestPrivilegedRunExitsOnLinkLoss(t *testing.T) {
	requireRoot(t)
	bin := buildBinary(t)
	l := lab.New(t)
	d := startDaemon(t, l, bin, "--exit-on-link-loss")
	go func() {
		for range d.alerts {
		}
	}()
	start := time.Now()
	l.DeleteVeth(t)
	// Read stderr up to the closing message before Wait closes the pipe.
	var lines []string
	deadline := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case line := <-d.logs:
			lines = append(lines, line)
			done = strings.HasPrefix(line, "scanwatch: ")
		case <-deadline:
			t.Fatalf("no closing message 5 s after the interface was deleted:\n%s", strings.Join(lines, "\n"))
		}
	}
	t.Logf("closing message %v after the delete", time.Since(start).Round(time.Millisecond))
	all := strings.Join(lines, "\n")
	for _, want := range []string{"level=ERROR msg=\"watched interface lost", "scanwatch: interface " + l.VethTgt, "deleted: exiting as --exit-on-link-loss asks"} {
		if !strings.Contains(all, want) {
			t.Errorf("stderr lacks %q:\n%s", want, all)
		}
	}
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait() }()
	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("exit: %v, want status 1", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after its closing message")
	}
}

// A successor that cannot take the program (a VXLAN device has no native
// XDP): each failure is logged and waited out on a growing back-off, not
// retried on every notification; the veth's return is picked up by the
// next retry.
func TestPrivilegedRunReattachFailureBacksOff(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "curl")
	bin := buildBinary(t)
	l := lab.New(t)
	d := startDaemon(t, l, bin, "--xdp-mode", "native")
	logs := logWatch(d.logs)
	attached, lost := linkMetric(l.VethTgt)

	l.DeleteVeth(t)
	logs.wait(t, "watched interface lost")
	ip(t, "-n", l.NSTgt, "link", "add", l.VethTgt, "type", "vxlan", "id", "42", "dstport", "4789", "dev", "lo")
	// Notifications the retry must not turn into attempts of their own.
	for _, state := range []string{"up", "down", "up"} {
		ip(t, "-n", l.NSTgt, "link", "set", l.VethTgt, state)
	}
	t.Log(logs.wait(t, "re-attaching the XDP program failed"))
	time.Sleep(3500 * time.Millisecond) // attempts at 0, 1 s and 3 s
	failures := 1
	for len(logs) > 0 {
		if strings.Contains(<-logs, "re-attaching the XDP program failed") {
			failures++
		}
	}
	if failures < 2 || failures > 3 {
		t.Errorf("%d failed attempts in 3.5 s, want 2 or 3 (back-off 1 s, 2 s)", failures)
	}
	waitMetrics(t, l, attached+"0", lost+"1")

	ip(t, "-n", l.NSTgt, "link", "del", l.VethTgt)
	l.Relink(t)
	logs.wait(t, "XDP program re-attached") // at the next retry, 4 s later at most
	waitMetrics(t, l, attached+"1", lost+"1")
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()
}

// --reattach=false: the loss is reported, the returning interface is
// noticed and left alone.
func TestPrivilegedRunStaysDetachedWithoutReattach(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "curl")
	bin := buildBinary(t)
	l := lab.New(t)
	d := startDaemon(t, l, bin, "--reattach=false")
	logs := logWatch(d.logs)
	attached, lost := linkMetric(l.VethTgt)
	l.DeleteVeth(t)
	if line := logs.wait(t, "watched interface lost"); !strings.Contains(line, "restart scanwatch") {
		t.Errorf("loss line does not say what to do: %s", line)
	}
	l.Relink(t)
	logs.wait(t, "not re-attaching")
	waitMetrics(t, l, attached+"0", lost+"1")
	if l.XDPAttached(t) {
		t.Error("re-attached although --reattach=false")
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

func TestRunLinkFlagsConflict(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"run", "--iface", "lo", "--reattach", "--exit-on-link-loss"}, io.Discard, &stderr)
	if code := exitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), "choose one") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
