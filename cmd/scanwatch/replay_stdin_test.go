package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// blockingPipe is a pipe whose read end is blocking and outside Go's
// poller, as the standard input a shell hands down to 'scanwatch replay -'.
func blockingPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	r, w = os.NewFile(uintptr(p[0]), "stdin"), os.NewFile(uintptr(p[1]), "stdin-writer")
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// withStdin makes r what 'replay -' reads for the rest of the test.
func withStdin(t *testing.T, r *os.File) {
	t.Helper()
	old := stdin
	stdin = r
	t.Cleanup(func() { stdin = old })
}

// pipeStdin feeds data to 'replay -' through a blocking pipe, closed after.
func pipeStdin(t *testing.T, data []byte) {
	t.Helper()
	r, w := blockingPipe(t)
	withStdin(t, r)
	go func() { w.Write(data); w.Close() }()
}

// TestReplayStdinShippedCaptures: every shipped capture piped to 'replay -'
// gets the verdicts 'replay FILE' gets, under both rule sets, in the
// order a file's are printed once sorted (a stream's come as they close).
func TestReplayStdinShippedCaptures(t *testing.T) {
	for name, want := range shipped {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("../../pcaps", name))
			if err != nil {
				t.Fatal(err)
			}
			for _, rules := range []string{"seed", "default"} {
				w := want
				if rules == "default" {
					w = shippedDefault[name]
				}
				pipeStdin(t, data)
				got, stderr, err := replayJSON(t, "--rules", rules, "-")
				if err != nil {
					t.Fatalf("%v\n%s", err, stderr)
				}
				detector.SortAlerts(got)
				checkVerdicts(t, "-", rules, got, w)
			}
		})
	}
}

func TestReplayStdinGzip(t *testing.T) {
	data, _ := os.ReadFile("../../pcaps/masscan-sweep.pcap")
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(data)
	zw.Close()
	pipeStdin(t, z.Bytes())
	got, stderr, err := replayJSON(t, "-")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	checkVerdicts(t, "-", "default", got, shippedDefault["masscan-sweep.pcap"])
}

// TestReplayStdinBesideFiles: - may stand among files, once; each input is
// judged on its own and named in its alerts.
func TestReplayStdinBesideFiles(t *testing.T) {
	data, _ := os.ReadFile("../../pcaps/zmap-sweep.pcap")
	pipeStdin(t, data)
	got, stderr, err := replayJSON(t, "../../pcaps/nmap-syn.pcap", "-")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if len(got) != 2 || got[0].Input != "../../pcaps/nmap-syn.pcap" || got[1].Input != "-" || got[1].Label != detector.LabelSweep {
		t.Fatalf("alerts %+v", got)
	}
	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"replay", "-", "../../pcaps/nmap-syn.pcap", "-"}, &out, &errOut)
	if code := exitCode(err, &errOut); code != 2 || !strings.Contains(errOut.String(), "named 2 times: it can be read only once") || out.Len() != 0 {
		t.Fatalf("- twice: exit %d, stderr %q, stdout %q", code, errOut.String(), out.String())
	}
}

// TestReplayStdinTerminal: a terminal on standard input is refused at
// once, not read: no keyboard types a capture.
func TestReplayStdinTerminal(t *testing.T) {
	_, tty := openPty(t)
	withStdin(t, tty)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"replay", "-"}, &out, &errOut)
	if code := exitCode(err, &errOut); code != 2 || !strings.Contains(errOut.String(), "standard input is a terminal") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

// streamCapture is a scan whose episode closes while the stream is still
// open: 30 SYNs to 30 ports in 30 ms, then, 5 s later in capture time, the
// target's RST to the first one. With --window 1s that packet moves the
// rules' clock past the scan's quiet window, and its final alert is due.
func streamCapture(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	add := func(at time.Duration, f []byte) {
		ci := gopacket.CaptureInfo{Timestamp: packettest.TBase.Add(at), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		add(time.Duration(i)*time.Millisecond, packettest.BuildEth(t, packettest.PktOpts{Flags: "S", Dport: uint16(i + 1), TCPOpts: packettest.MSSOpt}))
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: packettest.Tgt4, DstIP: packettest.Scan4}
	tcp := &layers.TCP{SrcPort: 1, DstPort: 40000, RST: true, ACK: true}
	tcp.SetNetworkLayerForChecksum(ip)
	add(5*time.Second, packettest.Serialize(t, &layers.Ethernet{SrcMAC: packettest.MACTgt, DstMAC: packettest.MACScan, EthernetType: layers.EthernetTypeIPv4}, ip, tcp))
	return buf.Bytes()
}

// lockedBuffer is stdout for a run that a test reads while it writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReplayStdinStreamsAlerts: a stream's final alerts are written as
// their episodes close, while the writer still holds the pipe open; the
// table gets its header at once and its rows as they come; an interrupt
// then ends the replay with exit status 0.
func TestReplayStdinStreamsAlerts(t *testing.T) {
	for _, format := range []string{"json", "table"} {
		t.Run(format, func(t *testing.T) {
			r, w := blockingPipe(t)
			withStdin(t, r)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out lockedBuffer
			var errOut bytes.Buffer
			done := make(chan error, 1)
			go func() { done <- run(ctx, []string{"replay", "--window", "1s", "--format", format, "-"}, &out, &errOut) }()
			if _, err := w.Write(streamCapture(t)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for !strings.Contains(out.String(), detector.LabelPortScan) {
				if time.Since(start) > 5*time.Second {
					cancel()
					<-done
					t.Fatalf("no alert within 5 s while the pipe is open; stdout %q, stderr %q", out.String(), errOut.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("alert written %v after the capture, pipe still open", time.Since(start).Round(time.Microsecond))
			select {
			case err := <-done:
				t.Fatalf("replay ended with the pipe open: %v", err)
			default:
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			switch format {
			case "json":
				var a detector.Alert
				if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &a) != nil || a.Status != detector.StatusFinal || a.Input != "-" || a.UniqueDestPorts != 30 {
					t.Fatalf("streamed alert: %q", out.String())
				}
			case "table":
				if len(lines) != 2 || !strings.HasPrefix(lines[0], "@timestamp") || !strings.Contains(lines[1], "198.51.100.10") {
					t.Fatalf("streamed table: %q", out.String())
				}
			}
			cancel() // SIGINT
			if err := <-done; err != nil {
				t.Fatalf("after the interrupt: %v", err)
			}
			if n := len(strings.Split(strings.TrimSpace(out.String()), "\n")); n != len(lines) {
				t.Fatalf("the interrupt added or lost alerts: %q", out.String())
			}
		})
	}
}

// TestReplayStdinInterrupt: a pipe that stalls after half a capture is
// interrupted within a second, with the alerts of the half, exit 0.
func TestReplayStdinInterrupt(t *testing.T) {
	half, want := halfCapture(t, "nmap-syn.pcap")
	r, w := blockingPipe(t)
	withStdin(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut lockedBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"replay", "-"}, &out, &errOut) }()
	writeAndStall(t, w, half)
	start := time.Now()
	cancel() // SIGINT
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("replay still blocked 5 s after the interrupt")
	}
	took := time.Since(start)
	t.Logf("returned %v after the interrupt", took.Round(time.Microsecond))
	if err != nil || took > time.Second {
		t.Fatalf("after %v: %v; want nil within 1 s", took, err)
	}
	var got detector.Alert
	if jerr := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &got); jerr != nil || !sameVerdict(got, want[0]) {
		t.Fatalf("alerts after the interrupt %q; want the half's %+v", out.String(), want[0])
	}
	if !strings.Contains(errOut.String(), "interrupted: the alerts above cover what was read") {
		t.Errorf("stderr does not say the replay was interrupted: %q", errOut.String())
	}
}

// sameVerdict compares what an alert says, not which input it names.
func sameVerdict(a, b detector.Alert) bool {
	a.Input, b.Input = "", ""
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// waitDrained waits until the reader has taken everything written to the
// pipe w (TIOCINQ, alias FIONREAD, on a pipe counts the bytes in it, from either end).
func waitDrained(t *testing.T, w *os.File) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		n, err := ioctlInt(w, unix.TIOCINQ)
		if err != nil {
			t.Fatalf("TIOCINQ: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still in the pipe after 5 s", n)
		}
	}
}

func ioctlInt(f *os.File, req uint) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), req) }); err != nil {
		return 0, err
	}
	return n, ierr
}

// openPty opens a pseudo-terminal: the master and the terminal itself.
func openPty(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	rc, _ := m.SyscallConn()
	var n uint32
	var ierr error
	rc.Control(func(fd uintptr) {
		if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr == nil {
			n, ierr = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN)
		}
	})
	if ierr != nil {
		t.Skipf("pseudo-terminal: %v", ierr)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// halfCapture is the first half of a shipped capture, cut inside a
// record, and the alerts 'replay' gives for it as a truncated file.
func halfCapture(t *testing.T, name string) ([]byte, []detector.Alert) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../../pcaps", name))
	if err != nil {
		t.Fatal(err)
	}
	half := data[:len(data)/2]
	file := filepath.Join(t.TempDir(), "half.pcap")
	os.WriteFile(file, half, 0o644)
	want, _, err := replayJSON(t, file)
	if len(want) == 0 || err == nil {
		t.Fatalf("the half as a file: %d alerts, error %v; want alerts and a truncation", len(want), err)
	}
	return half, want
}

// writeAndStall writes data to w and waits until the reader has taken it
// all; w stays open, as tcpdump's end of the pipe between packets.
func writeAndStall(t *testing.T, w *os.File, data []byte) {
	t.Helper()
	wrote := make(chan error, 1)
	go func() { _, err := w.Write(data); wrote <- err }()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the replay did not read the pipe within 5 s")
	}
	waitDrained(t, w)
	time.Sleep(300 * time.Millisecond) // the last chunk through the decoder
}
