package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/scanwatch/scanwatch/lab"
)

// The unit passes systemd-analyze verify (with ExecStart pointed at a real
// build, which verify requires to exist) and its sandbox scores "OK" or
// better in systemd-analyze security.
func TestSystemdUnit(t *testing.T) {
	lab.Require(t, "systemd-analyze")
	dir := t.TempDir()
	bin := filepath.Join(dir, "scanwatch")
	build := exec.Command("go", "build", "-o", bin, "../cmd/scanwatch")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as it ships: the capability drop needs it
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	unit, err := os.ReadFile("systemd/scanwatch.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/scanwatch run") {
		t.Fatal("ExecStart no longer runs /usr/local/bin/scanwatch run")
	}
	path := filepath.Join(dir, "scanwatch.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/scanwatch", bin)), 0o644)

	if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for scanwatch.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f", score)
	if score > 3.0 {
		t.Errorf("exposure %.1f, want 3.0 or less (systemd's OK band ends at 4.9; keep the sandbox tight)", score)
	}
	for _, want := range []string{"AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON", "NoNewPrivileges=yes", "DynamicUser=yes"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lost %q", want)
		}
	}
}

// The correlator's unit passes systemd-analyze verify and, holding no
// capability at all, scores lower (better) exposure than the sensor's.
func TestSystemdCorrelateUnit(t *testing.T) {
	lab.Require(t, "systemd-analyze")
	dir := t.TempDir()
	bin := filepath.Join(dir, "scanwatch")
	build := exec.Command("go", "build", "-o", bin, "../cmd/scanwatch")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	unit, err := os.ReadFile("systemd/scanwatch-correlate.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/scanwatch correlate --nats") {
		t.Fatal("ExecStart no longer runs /usr/local/bin/scanwatch correlate")
	}
	path := filepath.Join(dir, "scanwatch-correlate.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/scanwatch", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for scanwatch-correlate.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f", score)
	if score > 2.0 {
		t.Errorf("exposure %.1f, want 2.0 or less: the correlator needs no capability and no raw socket\n%s", score, out)
	}
	// --help must know every flag the unit passes.
	help, err := exec.Command(bin, "correlate", "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"--nats", "--alerts.file"} {
		if !strings.Contains(string(help), f+" ") {
			t.Errorf("correlate --help lacks %s", f)
		}
	}
}
