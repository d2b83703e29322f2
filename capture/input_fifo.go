package capture

import (
	"context"
	"os"
	"syscall"
	"time"
)

// How long openFIFO tries to release an open(2) it gave up on: at most
// half a second, well inside the second a signal must take to end a
// replay.
const (
	releaseTries = 50
	releaseWait  = 10 * time.Millisecond
)

// openFIFO opens a FIFO for reading under ctx.
//
// open(2) of a FIFO blocks until a writer opens the other end, and nothing
// wakes it: a signal's EINTR is retried by os.Open. Opening with O_NONBLOCK
// returns at once, but a FIFO without a writer then reads as end of file,
// so 'scanwatch replay fifo' would end before tcpdump starts writing. So
// the blocking open runs in a goroutine and we wait for it or for ctx.
//
// When ctx wins, the goroutine is released, not leaked (a replay may name
// many FIFOs; a library must not strand one per file): we open the FIFO
// for writing ourselves, non-blocking, which succeeds because the blocked
// open already counts as a reader, and which wakes it, since a reader's
// open waits for a writer to arrive, not to stay. The goroutine then sees
// ctx done and closes what it opened. Our writer is closed at once: a real
// writer racing with us sees a reader come and go, as if we had exited.
// If the release fails (the goroutine has not reached open(2) yet, or the
// name was replaced), it is retried for half a second, after which the
// goroutine is left to close its file whenever a writer comes.
func openFIFO(ctx context.Context, name string) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	done := make(chan opened, 1)
	go func() {
		f, err := os.Open(name)
		if err == nil && ctx.Err() != nil {
			f.Close()
			f, err = nil, ctx.Err()
		}
		done <- opened{f, err}
	}()
	select {
	case o := <-done:
		return o.f, o.err
	case <-ctx.Done():
	}
	for range releaseTries {
		if w, err := os.OpenFile(name, os.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0); err == nil {
			w.Close()
		}
		select {
		case o := <-done:
			if o.f != nil {
				o.f.Close() // opened just before ctx was done
			}
			return nil, ctx.Err()
		case <-time.After(releaseWait):
		}
	}
	return nil, ctx.Err()
}
