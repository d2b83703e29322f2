package capture

import (
	"io"

	"github.com/scanwatch/scanwatch/detector"
)

// A replay decodes on one goroutine and judges on another (the caller's),
// so reading, decoding and the credit table overlap the rules: on a
// scanner's capture the default rules take three times what decoding
// does, and a second core hides most of the latter. Events cross in
// batches, which costs a channel operation per batchEvents events rather
// than per event.
//
// What stays as it was with one goroutine:
//   - Order: batches go through one channel, in order, and the caller
//     emits their events in order.
//   - Streaming: a partial batch is handed over before every read of the
//     input (flushReader), so everything decoded from the bytes received
//     so far has been judged, or is being judged, while a stream waits
//     for more; a batch fills only from bytes already read.
//   - Back-pressure and memory: at most batchesAhead full batches wait
//     (each event is copied into a fixed slot, batchEvents of them a
//     batch), so the reader runs at most that far ahead of the rules.
//   - Errors: the reader hands over what it decoded before it stops, and
//     its error and statistics are read only after the last batch has
//     been emitted, so the packets before a damaged record have all been
//     judged when the error comes back.
const (
	batchEvents  = 1024
	batchesAhead = 2
)

type eventBatch struct {
	evs [batchEvents]detector.Event
	n   int
}

// eventPipe is the reader's side: the batch being filled and the two
// channels. full is closed when the reader is done; stop is closed by the
// caller when it leaves early (emit panicked), so the reader does not
// block forever on a batch nobody takes.
type eventPipe struct {
	// direct: emit on the reading goroutine, one event at a time, with no
	// batches (the replay is not split; see ReplayWith).
	direct func(*detector.Event)
	one    detector.Event

	cur     *eventBatch
	full    chan *eventBatch
	free    chan *eventBatch
	stop    chan struct{}
	made    int
	stopped bool
}

func newEventPipe() *eventPipe {
	return &eventPipe{full: make(chan *eventBatch, batchesAhead), free: make(chan *eventBatch, batchesAhead+2), stop: make(chan struct{})}
}

// slot is where the next event is decoded: a slot of the current batch,
// which is taken from the free ones (or made, up to batchesAhead+2 in
// all: those waiting, the one being emitted and the one being filled).
func (p *eventPipe) slot() *detector.Event {
	if p.direct != nil {
		return &p.one
	}
	if p.cur == nil {
		select {
		case p.cur = <-p.free:
		default:
			if p.made < batchesAhead+2 {
				p.made++
				p.cur = new(eventBatch)
			} else {
				select {
				case p.cur = <-p.free:
				case <-p.stop:
					p.stopped = true
					p.cur = new(eventBatch) // decoded into, never handed over: the reader stops at its next check
				}
			}
		}
	}
	return &p.cur.evs[p.cur.n]
}

// commit keeps the event slot returned, handing the batch over once full.
func (p *eventPipe) commit() {
	if p.direct != nil {
		p.direct(&p.one)
		return
	}
	if p.cur.n++; p.cur.n == batchEvents {
		p.flush()
	}
}

// flush hands the current batch over, if it holds any event.
func (p *eventPipe) flush() {
	if p.direct != nil || p.cur == nil || p.cur.n == 0 {
		return
	}
	if !p.stopped {
		select {
		case p.full <- p.cur:
			p.cur = nil
			return
		case <-p.stop:
			p.stopped = true
		}
	}
	p.cur.n = 0 // nobody takes it: the reader stops at its next check
}

// emitAll is the caller's side: it emits every batch's events in order
// until the reader closes full.
func (p *eventPipe) emitAll(emit func(*detector.Event)) {
	for b := range p.full {
		for i := range b.n {
			emit(&b.evs[i])
		}
		b.n = 0
		p.free <- b // never blocks: free holds every batch ever made
	}
}

// flushReader hands the pending batch over before every read of the
// input: a read may wait for a stream's writer.
type flushReader struct {
	r io.Reader
	p *eventPipe
}

func (f flushReader) Read(b []byte) (int, error) {
	f.p.flush()
	return f.r.Read(b)
}
