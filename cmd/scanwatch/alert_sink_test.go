package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/scanwatch/scanwatch/detector"
)

// brokenPipe is stdout after its reader has gone.
type brokenPipe struct{ writes int }

func (b *brokenPipe) Write(detector.Alert) error {
	b.writes++
	return fmt.Errorf("write /dev/stdout: %w", syscall.EPIPE)
}
func (b *brokenPipe) Close() error { return nil }

func TestAlertSinkSurvivesABrokenStdout(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.json")
	file, err := openAlertsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	failed := map[string]int{}
	stdout := &brokenPipe{}
	s := &alertSink{stdout: stdout, file: file, log: slog.New(slog.NewTextHandler(&logs, nil)), failed: func(o string) { failed[o]++ }}
	for i := range 3 {
		s.Write(detector.Alert{Label: detector.LabelPortScan, AlertID: fmt.Sprint(i), Status: detector.StatusNew})
	}
	if stdout.writes != 1 {
		t.Errorf("stdout written %d times after EPIPE, want once", stdout.writes)
	}
	if failed["stdout"] != 3 || failed["file"] != 0 {
		t.Errorf("failures counted %v, want 3 on stdout", failed)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("broken pipe logged %d times, want once:\n%s", n, logs.String())
	}
	// logrotate renames the file, then SIGHUP reopens the path.
	os.Rename(path, path+".1")
	if err := file.Reopen(); err != nil {
		t.Fatal(err)
	}
	s.Write(detector.Alert{Label: detector.LabelPortScan, AlertID: "after", Status: detector.StatusFinal})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path + ".1")
	now, _ := os.ReadFile(path)
	if strings.Count(string(old), "\n") != 3 || strings.Count(string(now), "\n") != 1 || !strings.Contains(string(now), `"after"`) {
		t.Fatalf("rotated file:\n%s\nnew file:\n%s", old, now)
	}
}

func TestAlertsFileRefusesWhatCouldBlock(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "alerts.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		fifo:                              "FIFO with no reader",
		dir:                               "is a directory",
		filepath.Join(dir, "no/such.log"): "directory does not exist",
	} {
		if _, err := openAlertsFile(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}
