package capture

import (
	"context"
	"io"
)

// pumpChunk is what one read(2) of a pump's goroutine is: as large as a
// pipe's default capacity, so a full pipe drains in one read.
const pumpChunk = 64 << 10

// pump reads a blocking reader in a goroutine of its own, so that a
// caller waiting for data can give up when its context is done: the
// read(2) of a blocking descriptor outside Go's poller cannot be woken
// (see Input). The goroutine reads into buffers of its own, never into
// the caller's, because after the caller gives up a read may still land.
// It leaves at the end of the stream or, after close, when its read in
// progress returns.
type pump struct {
	chunks chan pumpResult // filled by the goroutine
	free   chan []byte     // buffers handed back by read
	done   chan struct{}   // closed by close
	cur    pumpResult      // the chunk read is handing out
	off    int
}

type pumpResult struct {
	buf []byte
	n   int
	err error
}

func newPump(r io.Reader) *pump {
	p := &pump{chunks: make(chan pumpResult), free: make(chan []byte, 2), done: make(chan struct{})}
	// Two buffers: the goroutine fills one while the caller drains the other.
	p.free <- make([]byte, pumpChunk)
	p.free <- make([]byte, pumpChunk)
	go p.run(r)
	return p
}

func (p *pump) run(r io.Reader) {
	for {
		var buf []byte
		select {
		case buf = <-p.free:
		case <-p.done:
			return
		}
		n, err := r.Read(buf)
		select {
		case p.chunks <- pumpResult{buf, n, err}:
		case <-p.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// read copies out the current chunk, waiting for the next one or for ctx.
// The reader's error comes after the bytes read with it, as io.Reader
// allows, and stays.
func (p *pump) read(ctx context.Context, b []byte) (int, error) {
	for p.off == p.cur.n {
		if p.cur.err != nil {
			return 0, p.cur.err
		}
		if p.cur.buf != nil {
			p.free <- p.cur.buf
			p.cur.buf = nil
		}
		select {
		case p.cur = <-p.chunks:
			p.off = 0
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	n := copy(b, p.cur.buf[p.off:p.cur.n])
	p.off += n
	return n, nil
}

// close tells the goroutine to leave; it does so at once if it waits for a
// buffer or for the caller, else when its read returns.
func (p *pump) close() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
}
