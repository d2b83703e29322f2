package main

// Tests of scanwatch correlate as a process: killed and restarted,
// restarted over its own alerts file, reloaded on SIGHUP.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/fleet"
	"github.com/scanwatch/scanwatch/internal/natstest"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var lastSeqRe = regexp.MustCompile(`(?m)^scanwatch_correlate_last_sequence (\S+)$`)

func lastSequence(addr string) int {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	m := lastSeqRe.FindSubmatch(b.Bytes())
	if m == nil {
		return -1
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return int(f)
}

// correlator starts 'scanwatch correlate' and returns it and its
// metrics address.
func correlator(t *testing.T, bin, url, consumer, alerts string) (*exec.Cmd, string) {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(bin, "correlate", "--nats", url, "--consumer", consumer, "--alerts.file", alerts, "--web.listen-address", addr)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("correlator %s stderr:\n%s", consumer, errOut.String())
		}
	})
	return cmd, addr
}

func waitSeq(t *testing.T, addr string, atLeast int) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if n := lastSequence(addr); n >= atLeast {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("correlator at %s did not reach sequence %d", addr, atLeast)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Killing the correlator (SIGKILL) mid-stream and starting it again
// loses no probe and repeats no alert: its alerts file ends up exactly
// as an uninterrupted correlator's.
func TestFleetCorrelatorKilled(t *testing.T) {
	srv := natstest.Start(t)
	bin := buildBinary(t)
	// Sixteen sources sweep 36 hosts each, a third seen by each of three
	// sensors, a minute apart: episodes open and close all along the
	// stream. Small batches make many messages.
	var pubs []*fleet.Publisher
	for s := range 3 {
		p, err := fleet.NewPublisher(fleet.PublisherConfig{URL: srv.URL, Sensor: fmt.Sprintf("edge-%d", s), MaxRecords: 1, Interval: time.Hour, Queue: 1 << 12})
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, p)
	}
	for i := range 16 {
		at := fleetT0.Add(time.Duration(i) * 7 * time.Minute)
		for h := 1; h <= 36; h++ {
			ev := detector.Event{Time: at.Add(time.Duration(h) * time.Second), Src: netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}),
				Dst: netip.AddrFrom4([4]byte{203, 0, 113, byte(h)}), SrcPort: 40000, DstPort: 22, Kind: detector.KindSYN, Flags: detector.FlagSYN, TTL: 44, Window: 1024}
			pubs[h%3].Observe(&ev)
		}
	}
	var total uint64
	for _, p := range pubs {
		if err := p.Close(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		total += p.Stats().BatchesSent.Load()
	}
	dir := t.TempDir()
	refFile, cutFile := filepath.Join(dir, "reference.jsonl"), filepath.Join(dir, "killed.jsonl")
	_, refAddr := correlator(t, bin, srv.URL, "reference", refFile)
	waitSeq(t, refAddr, int(total))

	victim, addr := correlator(t, bin, srv.URL, "killed", cutFile)
	at := waitSeq(t, addr, int(total)/2)
	if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.Wait()
	if at >= int(total) {
		t.Fatalf("the correlator had read the whole stream (%d) before the kill: not mid-stream", at)
	}
	_, addr = correlator(t, bin, srv.URL, "killed", cutFile)
	waitSeq(t, addr, int(total))

	ref, err := os.ReadFile(refFile)
	if err != nil {
		t.Fatal(err)
	}
	cut, err := os.ReadFile(cutFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) == 0 {
		t.Fatal("the reference correlator wrote no alerts")
	}
	if !bytes.Equal(ref, cut) {
		t.Fatalf("killed at sequence %d of %d: the alerts differ from an uninterrupted correlator's\n--- reference\n%s--- killed and restarted\n%s", at, total, ref, cut)
	}
	t.Logf("killed at sequence %d of %d; %d alert records, byte-identical to the uninterrupted run", at, total, bytes.Count(ref, []byte("\n")))
}

// What a correlator killed between writing an alert and acknowledging
// its message leaves: the record in --alerts.file, the message not
// acknowledged. A fresh run judges the message again and must not write
// the record twice.
func TestCorrelateSkipsRecordsInAlertsFile(t *testing.T) {
	srv := natstest.Start(t)
	dir := t.TempDir()
	publishSplitSweep(t, srv.URL, dir)
	follow := func(consumer, file string) []byte {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"correlate", "--nats", srv.URL, "--consumer", consumer, "--alerts.file", file, "--web.listen-address", ""}, io.Discard, io.Discard)
		}()
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, _ := os.ReadFile(file)
			if bytes.Count(b, []byte("\n")) >= 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // anything more it would write
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(file)
		return b
	}
	ref := follow("reference", filepath.Join(dir, "ref.jsonl"))
	if bytes.Count(ref, []byte("\n")) != 1 {
		t.Fatalf("reference wrote %q, want the one new alert", ref)
	}
	again := filepath.Join(dir, "again.jsonl")
	if err := os.WriteFile(again, ref, 0o640); err != nil {
		t.Fatal(err)
	}
	if got := follow("fresh", again); !bytes.Equal(got, ref) {
		t.Fatalf("a run over records already written wrote them again:\n%s", got)
	}
}

// SIGHUP makes correlate reread --allowlist between two messages, as run
// does between two events: a sweep from a source allowed since is
// counted, not alerted.
func TestFleetCorrelateReloadsAllowlist(t *testing.T) {
	srv := natstest.Start(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	allow, alerts := filepath.Join(dir, "allow.txt"), filepath.Join(dir, "alerts.jsonl")
	if err := os.WriteFile(allow, []byte("192.0.2.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	cmd := exec.Command(bin, "correlate", "--nats", srv.URL, "--allowlist", allow, "--alerts.file", alerts, "--web.listen-address", addr)
	var errOut syncWriter
	errOut.w = &bytes.Buffer{}
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitLogLine := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(errOut.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", want, errOut.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLogLine("msg=correlating")
	if err := os.WriteFile(allow, []byte("198.51.100.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLogLine("SIGHUP: allowlist reloaded")
	publishSplitSweep(t, srv.URL, dir)
	waitSeq(t, addr, 2)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), `scanwatch_allowlisted_scans_total{name="IPSweep",technique="T1595.001"} 1`) {
		t.Fatalf("the allowed sweep was not counted:\n%s", body.String())
	}
	if b, _ := os.ReadFile(alerts); len(b) != 0 {
		t.Fatalf("an allowlisted source was alerted: %s", b)
	}
}
