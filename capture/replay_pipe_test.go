package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
)

// Events cross from the reading goroutine in batches: across batch
// boundaries they come in capture order, and a damaged file's error comes
// back after every event before the damage.
func TestReplayPipeOrderAcrossBatches(t *testing.T) {
	n := 3*batchEvents + 17
	data := pcapAt(t, steps(0, n))
	for _, c := range []struct {
		name    string
		data    []byte
		want    int
		wantErr error
	}{
		{"whole", data, n, nil},
		{"cut inside the last record", data[:len(data)-10], n - 1, ErrTruncated},
	} {
		for _, credit := range []bool{true, false} { // split, and on one goroutine
			t.Run(fmt.Sprintf("%s/credit=%v", c.name, credit), func(t *testing.T) {
				opts := DefaultReplayOptions()
				opts.Decode.Credit = credit
				var ports []uint16
				_, err := ReplayWith(context.Background(), bytes.NewReader(c.data), opts, func(ev *detector.Event) { ports = append(ports, ev.DstPort) }, nil)
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("error %v, want %v", err, c.wantErr)
				}
				if len(ports) != c.want {
					t.Fatalf("%d events, want %d", len(ports), c.want)
				}
				for i, p := range ports {
					if p != uint16(i+1) {
						t.Fatalf("event %d is port %d, want %d", i, p, i+1)
					}
				}
			})
		}
	}
}

// A stream's events are judged before the reader waits for more bytes:
// a batch is handed over unfilled when the input has nothing more yet.
func TestReplayPipeStreamsPartialBatch(t *testing.T) {
	data := pcapAt(t, steps(0, 40))
	full := pcapAt(t, steps(0, 41))
	r, w := io.Pipe()
	got := make(chan int, 64)
	done := make(chan error, 1)
	n := 0
	go func() {
		_, err := ReplayWith(context.Background(), r, DefaultReplayOptions(), func(*detector.Event) { n++; got <- n }, nil)
		done <- err
	}()
	go w.Write(data) // 40 records, far fewer than a batch
	deadline := time.After(5 * time.Second)
	for seen := 0; seen < 40; {
		select {
		case seen = <-got:
		case <-deadline:
			t.Fatalf("%d of 40 events judged while the stream waits; want all", seen)
		}
	}
	w.Write(full[len(data):]) // the 41st record
	w.Close()
	if err := <-done; err != nil || n != 41 {
		t.Fatalf("%v, %d events; want nil, 41", err, n)
	}
}

// When emit panics, the reading goroutine does not wait forever for a
// batch nobody takes.
func TestReplayPipeEmitPanicsNoLeak(t *testing.T) {
	data := pcapAt(t, steps(0, 10*batchEvents))
	before := runtime.NumGoroutine()
	for range 5 {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("emit's panic did not reach the caller")
				}
			}()
			k := 0
			ReplayWith(context.Background(), bytes.NewReader(data), DefaultReplayOptions(), func(*detector.Event) {
				if k++; k == batchEvents+5 {
					panic("emit")
				}
			}, nil)
		}()
	}
	var now int
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if now = runtime.NumGoroutine(); now <= before {
			return
		}
	}
	t.Fatalf("%d goroutines before, %d after five panicking replays", before, now)
}
