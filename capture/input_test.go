package capture

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
)

func mkfifo(t *testing.T) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "capture.fifo")
	if err := syscall.Mkfifo(name, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return name
}

// TestReplayInputFIFOWithoutWriter: open(2) of a FIFO nobody writes to
// blocks for ever; OpenInput returns when ctx is done, and releases that
// open instead of leaving a reader on the FIFO.
func TestReplayInputFIFOWithoutWriter(t *testing.T) {
	name := mkfifo(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	in, err := OpenInput(ctx, name)
	took := time.Since(start) - 100*time.Millisecond
	t.Logf("OpenInput returned %v after the cancel", took.Round(time.Microsecond))
	if in != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenInput: %v, %v; want context.Canceled", in, err)
	}
	if took > time.Second {
		t.Fatalf("OpenInput took %v after the cancel, want under a second", took)
	}
	// No reader is left on the FIFO: a non-blocking writer finds none.
	w, err := os.OpenFile(name, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if !errors.Is(err, syscall.ENXIO) {
		if w != nil {
			w.Close()
		}
		t.Fatalf("open for writing after the cancel: %v, want ENXIO (no reader left)", err)
	}
}

// TestReplayInputFIFO: a FIFO whose writer comes later is read to the end
// of the stream.
func TestReplayInputFIFO(t *testing.T) {
	name := mkfifo(t)
	data := pcapAt(t, steps(0, 300))
	go func() {
		time.Sleep(50 * time.Millisecond)
		w, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return // OpenInput below then blocks and the test times out
		}
		w.Write(data)
		w.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := OpenInput(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if !in.Stream || in.Size != 0 || in.stop == nil {
		t.Fatalf("a FIFO: Stream %v Size %d, deadline set %v; want a stream in the poller", in.Stream, in.Size, in.stop != nil)
	}
	var n int
	if _, err := ReplayWith(ctx, in, DefaultReplayOptions(), func(*detector.Event) { n++ }, nil); err != nil || n != 300 {
		t.Fatalf("replay of the FIFO: %d events, %v; want 300", n, err)
	}
}

func TestReplayInputRegularFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "x.pcap")
	data := pcapAt(t, steps(0, 10))
	os.WriteFile(name, data, 0o600)
	in, err := OpenInput(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if in.Stream || in.Size != int64(len(data)) || in.pump != nil || in.stop != nil {
		t.Fatalf("a regular file: Stream %v Size %d; want %d bytes, read directly", in.Stream, in.Size, len(data))
	}
}

// stalledPipe is a writer that sent part of a capture and keeps its end
// open, as tcpdump does between packets.
type stalledPipe struct {
	name    string
	open    func(t *testing.T, ctx context.Context) (*Input, *os.File) // the input and the writer
	viaPump bool
}

func blockingPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	// os.NewFile of a blocking descriptor keeps it out of the poller, as
	// the standard input a shell hands down.
	return os.NewFile(uintptr(p[0]), "pipe-r"), os.NewFile(uintptr(p[1]), "pipe-w")
}

var stalledPipes = []stalledPipe{
	{"FIFO (poller, deadline)", func(t *testing.T, ctx context.Context) (*Input, *os.File) {
		name := mkfifo(t)
		wc := make(chan *os.File, 1)
		go func() {
			w, _ := os.OpenFile(name, os.O_WRONLY, 0)
			wc <- w
		}()
		in, err := OpenInput(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return in, <-wc
	}, false},
	{"inherited blocking pipe (pump)", func(t *testing.T, ctx context.Context) (*Input, *os.File) {
		r, w := blockingPipe(t)
		t.Cleanup(func() { r.Close() })
		in, err := NewInput(ctx, r, "-")
		if err != nil {
			t.Fatal(err)
		}
		return in, w
	}, true},
	{"os.Pipe (poller, deadline)", func(t *testing.T, ctx context.Context) (*Input, *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		in, err := NewInput(ctx, r, "-")
		if err != nil {
			t.Fatal(err)
		}
		return in, w
	}, false},
}

// TestReplayInputStalledWriter: a replay blocked on a writer that sent half
// a capture returns within a second of the cancel, with every packet of
// the half judged.
func TestReplayInputStalledWriter(t *testing.T) {
	data := pcapAt(t, steps(0, 2000))
	half := data[:len(data)/2]
	var want int
	ReplayWith(context.Background(), bytes.NewReader(half), DefaultReplayOptions(), func(*detector.Event) { want++ }, nil)
	for _, sp := range stalledPipes {
		t.Run(sp.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			in, w := sp.open(t, ctx)
			defer w.Close()
			if (in.pump != nil) != sp.viaPump {
				t.Fatalf("read through the pump: %v, want %v", in.pump != nil, sp.viaPump)
			}
			// Half is larger than a pipe holds: the write returns once
			// the replay has read most of it.
			go w.Write(half)
			var n atomic.Int64
			type result struct {
				err error
				at  time.Time
			}
			done := make(chan result, 1)
			go func() {
				_, err := ReplayWith(ctx, in, DefaultReplayOptions(), func(*detector.Event) { n.Add(1) }, nil)
				done <- result{err, time.Now()}
			}()
			for deadline := time.Now().Add(5 * time.Second); n.Load() < int64(want) && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			select {
			case r := <-done:
				t.Fatalf("replay ended before the cancel: %v", r.err)
			case <-time.After(50 * time.Millisecond):
			}
			start := time.Now()
			cancel()
			var r result
			select {
			case r = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("replay still blocked 5 s after the cancel")
			}
			took := r.at.Sub(start)
			t.Logf("replay returned %v after the cancel", took.Round(time.Microsecond))
			if !errors.Is(r.err, context.Canceled) || n.Load() != int64(want) || took > time.Second {
				t.Fatalf("after %v: %v, %d events; want context.Canceled within 1 s and the half's %d events", took, r.err, n.Load(), want)
			}
			in.Close()
		})
	}
}

// TestReplayInputNoLeak: a multi-file replay's inputs leave no goroutine
// behind once closed, whether a FIFO's open was given up or a pipe was
// read to its end through the pump.
func TestReplayInputNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	data := pcapAt(t, steps(0, 50))
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		name := mkfifo(t)
		time.AfterFunc(time.Millisecond, cancel)
		if _, err := OpenInput(ctx, name); !errors.Is(err, context.Canceled) {
			t.Fatalf("FIFO without writer: %v", err)
		}

		r, w := blockingPipe(t)
		in, err := NewInput(context.Background(), r, "-")
		if err != nil {
			t.Fatal(err)
		}
		go func() { w.Write(data); w.Close() }()
		if _, err := ReplayWith(context.Background(), in, DefaultReplayOptions(), func(*detector.Event) {}, nil); err != nil {
			t.Fatal(err)
		}
		in.Close()
		r.Close()
	}
	var now int
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if now = runtime.NumGoroutine(); now <= before {
			return
		}
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("%d goroutines before, %d after 20 inputs:\n%s", before, now, buf[:runtime.Stack(buf, true)])
}
