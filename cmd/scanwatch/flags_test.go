package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// --help is asked for: it goes to stdout, with the README's two-dash form.
func TestHelpOnStdout(t *testing.T) {
	for _, cmd := range []string{"run", "replay"} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{cmd, "--help"}, &stdout, &stderr); err != nil {
			t.Fatalf("%s --help: %v", cmd, err)
		}
		if !strings.Contains(stdout.String(), "  --format string") || stderr.Len() > 0 {
			t.Errorf("%s --help: stdout %q, stderr %q", cmd, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"replay", "--bogus"}, &stdout, &stderr)
	if stdout.Len() > 0 || !strings.Contains(stderr.String(), "Usage: scanwatch replay") {
		t.Errorf("a mistake's help belongs on stderr: stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

func TestListFlagReplacesItsDefault(t *testing.T) {
	l := newListFlag("127.0.0.1:9595")
	if got := l.nonEmpty(); len(got) != 1 || got[0] != "127.0.0.1:9595" {
		t.Fatalf("default %v", got)
	}
	l.Set(":9595")
	l.Set("[::1]:9595")
	if got := l.String(); got != ":9595,[::1]:9595" {
		t.Fatalf("given twice: %q, want both and not the default", got)
	}
	off := newListFlag("127.0.0.1:9595")
	off.Set("")
	if got := off.nonEmpty(); len(got) != 0 {
		t.Fatalf(`--web.listen-address "": %v, want /metrics off`, got)
	}
}

// make build stamps version, revision and branch; --version prints them
// as Prometheus tools do.
func TestVersionIsStamped(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "scanwatch")
	ld := "-X main.version=1.2.3 -X main.revision=abc123 -X main.branch=main"
	if out, err := exec.Command("go", "build", "-ldflags", ld, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "scanwatch, version 1.2.3 (branch: main, revision: abc123)"; !strings.HasPrefix(string(out), want) {
		t.Fatalf("--version: %q, want %q", out, want)
	}
}
