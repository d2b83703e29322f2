package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
)

// These tests run the built binary on FIFOs, pipes and a terminal, and
// signal it the way a shell or an init system does.

// replayProc is a running 'scanwatch replay'.
type replayProc struct {
	cmd         *exec.Cmd
	out, errOut *lockedBuffer
	done        chan struct{} // closed at exit
	err         error         // cmd.Wait's, once done
}

func startReplay(t *testing.T, bin string, stdin io.Reader, args ...string) *replayProc {
	t.Helper()
	p := &replayProc{cmd: exec.Command(bin, append([]string{"replay"}, args...)...), out: &lockedBuffer{}, errOut: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = stdin, p.out, p.errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stopWith sends sig and returns how long the process took to exit and
// its exit status; it fails the test past 5 s, a bound generous enough for
// a loaded machine, where the required second is logged, not asserted.
func (p *replayProc) stopWith(t *testing.T, sig os.Signal) (time.Duration, int) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("exited before the signal: %v\nstderr: %s", p.err, p.errOut.String())
	default:
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5 s after %v\nstderr: %s", sig, p.errOut.String())
	}
	took := time.Since(start)
	t.Logf("exited %v after %v", took.Round(time.Microsecond), sig)
	return took, p.cmd.ProcessState.ExitCode()
}

func (p *replayProc) alerts(t *testing.T) []detector.Alert {
	t.Helper()
	var as []detector.Alert
	sc := bufio.NewScanner(strings.NewReader(p.out.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var a detector.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("stdout line is not an alert: %q", sc.Text())
		}
		as = append(as, a)
	}
	return as
}

// sameVerdicts compares two replays' alerts whatever their order and input
// names.
func sameVerdicts(t *testing.T, got, want []detector.Alert) {
	t.Helper()
	detector.SortAlerts(got)
	detector.SortAlerts(want)
	if len(got) != len(want) {
		t.Fatalf("%d alerts %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		if !sameVerdict(got[i], want[i]) {
			t.Errorf("alert %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReplayBinaryStreams(t *testing.T) {
	bin := buildBinary(t)

	t.Run("FIFO without a writer, SIGINT", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "capture.fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		p := startReplay(t, bin, nil, fifo)
		time.Sleep(300 * time.Millisecond) // into open(2)
		took, code := p.stopWith(t, syscall.SIGINT)
		if code != 0 || p.out.String() != "" || !strings.Contains(p.errOut.String(), "interrupted while opening (a FIFO waits for its writer)") {
			t.Fatalf("exit %d after %v, stdout %q, stderr %q; want 0, no alerts, and a note", code, took, p.out.String(), p.errOut.String())
		}
	})

	t.Run("stalled pipe on stdin, SIGTERM", func(t *testing.T) {
		half, want := halfCapture(t, "nmap-syn.pcap")
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		p := startReplay(t, bin, r, "-")
		r.Close()
		writeAndStall(t, w, half)
		if _, code := p.stopWith(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("exit %d, stderr %s", code, p.errOut.String())
		}
		sameVerdicts(t, p.alerts(t), want)
	})

	t.Run("stalled FIFO, SIGTERM", func(t *testing.T) {
		half, want := halfCapture(t, "masscan-sweep.pcap")
		fifo := filepath.Join(t.TempDir(), "capture.fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		p := startReplay(t, bin, nil, fifo)
		opened := make(chan *os.File, 1)
		go func() {
			w, _ := os.OpenFile(fifo, os.O_WRONLY, 0) // until the replay opens its end
			opened <- w
		}()
		var w *os.File
		select {
		case w = <-opened:
		case <-time.After(5 * time.Second):
			t.Fatal("the replay did not open the FIFO within 5 s")
		}
		defer w.Close()
		writeAndStall(t, w, half)
		if _, code := p.stopWith(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("exit %d, stderr %s", code, p.errOut.String())
		}
		sameVerdicts(t, p.alerts(t), want)
	})

	t.Run("stdin gives the file's verdicts", func(t *testing.T) {
		for _, name := range []string{"nmap-decoy.pcap", "masscan-sweep.pcap", "nmap-slow.pcap", "health-check-down.pcap", "curl-busy.pcap"} {
			file := filepath.Join("../../pcaps", name)
			data, _ := os.ReadFile(file)
			for _, rules := range []string{"default", "seed"} {
				fromFile := startReplay(t, bin, nil, "--rules", rules, file)
				fromStdin := startReplay(t, bin, bytes.NewReader(data), "--rules", rules, "-")
				for _, p := range []*replayProc{fromFile, fromStdin} {
					if <-p.done; p.err != nil {
						t.Fatalf("%s --rules %s: %v\n%s", name, rules, p.err, p.errOut.String())
					}
				}
				t.Logf("%s --rules %s: %d alerts", name, rules, len(fromFile.alerts(t)))
				sameVerdicts(t, fromStdin.alerts(t), fromFile.alerts(t))
			}
		}
	})

	t.Run("alerts stream before the writer closes", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		p := startReplay(t, bin, r, "--window", "1s", "-")
		r.Close()
		if _, err := w.Write(streamCapture(t)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for !strings.Contains(p.out.String(), "\n") {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("no alert within 5 s with the pipe open; stderr %s", p.errOut.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("alert on stdout %v after the capture was written, pipe still open", time.Since(start).Round(time.Microsecond))
		if as := p.alerts(t); len(as) != 1 || as[0].Label != detector.LabelPortScan || as[0].Status != detector.StatusFinal || as[0].Input != "-" {
			t.Fatalf("streamed alerts %+v", as)
		}
		w.Close()
		select {
		case <-p.done:
			if p.err != nil || len(p.alerts(t)) != 1 {
				t.Fatalf("at the end of the stream: %v, stdout %q", p.err, p.out.String())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("still running 5 s after the end of the stream")
		}
	})

	t.Run("terminal on stdin", func(t *testing.T) {
		_, tty := openPty(t)
		start := time.Now()
		p := startReplay(t, bin, tty, "-")
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			t.Fatal("still reading the terminal after 5 s")
		}
		t.Logf("refused in %v", time.Since(start).Round(time.Microsecond))
		if code := p.cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(p.errOut.String(), "standard input is a terminal") {
			t.Fatalf("exit %d, stderr %q", code, p.errOut.String())
		}
	})
}
