package detector

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadAllowlist(t *testing.T) {
	in := "# Censys\n198.51.100.0/24   # scanners\n\n  2001:db8::/32\n192.0.2.7\n"
	set, err := ReadAllowlist(strings.NewReader(in), "list.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"198.51.100.77", "2001:db8::1", "192.0.2.7"} {
		if !set.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s not allowlisted", a)
		}
	}
	if set.Contains(netip.MustParseAddr("192.0.2.8")) {
		t.Error("192.0.2.8 allowlisted")
	}
	_, err = ReadAllowlist(strings.NewReader("198.51.100.0/24\nnot-a-cidr\n"), "list.txt")
	if err == nil || !strings.Contains(err.Error(), "list.txt line 2") {
		t.Fatalf("error %v: want the file and line", err)
	}
}

func TestLoadAllowlistRefusesWhatCouldBlock(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "allow.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A FIFO with no writer: a blocking open would never return.
	done := make(chan error, 1)
	go func() { _, err := LoadAllowlist(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file (a FIFO)") {
			t.Fatalf("FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LoadAllowlist blocked on a FIFO without a writer")
	}
	if _, err := LoadAllowlist(dir); err == nil || !strings.Contains(err.Error(), "a directory") {
		t.Fatalf("directory: %v", err)
	}
	ok := filepath.Join(dir, "allow.txt")
	if err := os.WriteFile(ok, []byte("198.51.100.0/24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if set, err := LoadAllowlist(ok); err != nil || len(set) != 1 {
		t.Fatalf("regular file: %v %v", set, err)
	}
}
