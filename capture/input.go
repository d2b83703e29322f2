package capture

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"
)

// Input is where a replay reads a capture from: a regular file, a FIFO, a
// pipe or a terminal on standard input. Every blocking step of it ends
// when its context is done, with the context's error: the open of a FIFO
// that has no writer yet (input_fifo.go), and every read, however long the
// writer stalls. Regular files end; everything else is a stream, whose
// length is unknown and which may never end (tcpdump -w - | scanwatch
// replay -).
//
// How a read is interrupted depends on the descriptor, because Go gives
// three kinds:
//
//   - Regular files never block for long; Read checks the context before
//     each read, so a replay stops within one read buffer.
//   - Descriptors in Go's poller (os.Open of a FIFO or a terminal on
//     Linux; a standard input already non-blocking): the context sets a
//     read deadline in the past, which wakes a blocked Read at once. The
//     deadline is our own state in the poller; the descriptor is untouched.
//   - Blocking descriptors outside the poller (a pipe or terminal that
//     standard input inherited): Read is a plain read(2) that nothing can
//     wake. Setting O_NONBLOCK would make it pollable, but the flag belongs
//     to the open file description, which the shell and the other end of a
//     pipeline share: it would leave them a non-blocking descriptor after we
//     exit (an interactive shell then reads EAGAIN from its terminal).
//     Reopening /proc/self/fd/0 would give a description of our own, but
//     needs /proc and fails for sockets. So a pump goroutine (input_pump.go)
//     does the read(2) and Read waits for its chunks or for the context;
//     on interruption the pump is left blocked until its read returns, which
//     for standard input is at most once per process.
type Input struct {
	Name   string
	Mode   fs.FileMode // of the opened descriptor
	Size   int64       // of a regular file; 0 for a stream
	Stream bool        // anything but a regular file: no size, maybe no end

	ctx   context.Context
	f     *os.File
	owned bool        // opened here: Close closes it
	stop  func() bool // the deadline's context.AfterFunc
	pump  *pump       // for a blocking descriptor outside the poller
}

// OpenInput opens a capture file by name. Opening a FIFO blocks in open(2)
// until a writer appears; OpenInput returns ctx's error as soon as ctx is
// done instead, and releases the blocked open (see openFIFO).
func OpenInput(ctx context.Context, name string) (*Input, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var f *os.File
	var err error
	if fi, serr := os.Stat(name); serr == nil && fi.Mode()&fs.ModeNamedPipe != 0 {
		f, err = openFIFO(ctx, name)
	} else {
		f, err = os.Open(name) // returns at once: no writer to wait for
	}
	if err != nil {
		return nil, err
	}
	in, err := newInput(ctx, f, name, true)
	if err != nil {
		f.Close()
		return nil, err
	}
	return in, nil
}

// NewInput reads an already open file, such as os.Stdin, under ctx. Close
// does not close f.
func NewInput(ctx context.Context, f *os.File, name string) (*Input, error) {
	return newInput(ctx, f, name, false)
}

func newInput(ctx context.Context, f *os.File, name string, owned bool) (*Input, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	in := &Input{Name: name, Mode: fi.Mode(), ctx: ctx, f: f, owned: owned}
	if fi.Mode().IsRegular() {
		in.Size = fi.Size()
		return in, nil
	}
	in.Stream = true
	if fi.IsDir() {
		return in, nil // reads fail with EISDIR; the caller names the mistake
	}
	// SetReadDeadline fails with os.ErrNoDeadline when f is not in the
	// poller: the blocking kind, which needs the pump.
	if err := f.SetReadDeadline(time.Time{}); err == nil {
		in.stop = context.AfterFunc(ctx, func() { f.SetReadDeadline(aLongTimeAgo) })
		return in, nil
	}
	in.pump = newPump(f)
	return in, nil
}

// aLongTimeAgo is a deadline that has passed, as net/http uses to wake a
// blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// Read reads from the input; once ctx is done it returns ctx's error.
func (in *Input) Read(p []byte) (int, error) {
	if err := in.ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	var err error
	if in.pump != nil {
		n, err = in.pump.read(in.ctx, p)
	} else {
		n, err = in.f.Read(p)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && in.ctx.Err() != nil {
		err = in.ctx.Err()
	}
	return n, err
}

// Close releases the input: the file if OpenInput opened it, the deadline
// it set, the pump (which leaves once its read in progress returns).
func (in *Input) Close() error {
	if in.stop != nil {
		in.stop()
	}
	if in.pump != nil {
		in.pump.close()
	}
	if in.owned {
		return in.f.Close()
	}
	if in.stop != nil {
		in.f.SetReadDeadline(time.Time{}) // a shared file (stdin) is left as it was
	}
	return nil
}
