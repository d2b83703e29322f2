package lab

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// scapyPython is Debian's interpreter, which python3-scapy installs into;
// a python3 earlier on PATH (pyenv, a venv) usually lacks scapy.
const scapyPython = "/usr/bin/python3"

// RequireScapy fails (or, outside CI, skips) when Debian's scapy is missing.
func RequireScapy(t testing.TB) {
	t.Helper()
	if err := exec.Command(scapyPython, "-c", "import scapy.all").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("scapy is not importable by %s (%v); lab/deps.sh installs python3-scapy", scapyPython, err)
		}
		t.Skipf("scapy is not importable by %s: apt-get install python3-scapy", scapyPython)
	}
}

// Craft sends one lab/craft.py case from the scanner namespace onto its
// veth, addressed to the target's MAC. extra are craft.py flags (--ports,
// --sources, ...). craft.py bounds the frames it sends; ctx bounds the time.
func (l *Lab) Craft(ctx context.Context, t testing.TB, name string, extra ...string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "craft.py")
	args := append([]string{scapyPython, script, name, "--iface", l.VethScan, "--dmac", l.MAC(t, l.NSTgt, l.VethTgt)}, extra...)
	out, err := l.InScan(ctx, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("craft.py %s: %v\n%s", name, err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

// scannerNet is the only range extra scanner addresses may come from.
var scannerNet = netip.MustParsePrefix("198.51.100.0/24")

// AddScanAddrs gives the scanner namespace more addresses in
// 198.51.100.0/24, so the target's answers to them are delivered (the
// scanner answers ARP for them) and show on the wire.
func (l *Lab) AddScanAddrs(t testing.TB, addrs ...netip.Addr) {
	t.Helper()
	for _, a := range addrs {
		if !scannerNet.Contains(a) {
			t.Fatalf("%s is outside the lab's scanner range %s", a, scannerNet)
		}
		if out, err := exec.Command("ip", "-n", l.NSScan, "addr", "add", a.String()+"/32", "dev", l.VethScan).CombinedOutput(); err != nil {
			t.Fatalf("adding %s to the scanner: %v\n%s", a, err, out)
		}
	}
}

// Tcpreplay pushes a capture file onto the scanner's veth as fast as it
// goes (here about 50k packets/s), bounded by ctx.
func (l *Lab) Tcpreplay(ctx context.Context, t testing.TB, pcap string) {
	t.Helper()
	Require(t, "tcpreplay")
	out, err := l.InScan(ctx, "tcpreplay", "--topspeed", "-q", "-i", l.VethScan, pcap).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpreplay: %v\n%s", err, out)
	}
	// Keep its summary line ("Actual: N packets ... sent in S seconds").
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "Actual:") || strings.Contains(line, "Failed packets") || strings.Contains(line, "Rated:") {
			t.Logf("tcpreplay: %s", strings.TrimSpace(line))
		}
	}
}

// MACs returns the lab's two veth ends' addresses, for frames written to
// a file.
func (l *Lab) MACs(t testing.TB) (scan, tgt string) {
	return l.MAC(t, l.NSScan, l.VethScan), l.MAC(t, l.NSTgt, l.VethTgt)
}
