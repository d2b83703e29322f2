package capture

// clockRun is how many packets in a row must agree on a new time before
// replay accepts that the capture's clock really jumped (a capture
// resumed days later, or files concatenated out of order).
const clockRun = 64

// clockGuard keeps one forged timestamp from moving a replay's clock: the
// capture clock is the largest accepted timestamp, and a packet far ahead
// of it or far behind it is held back. Held packets that agree with each
// other become the new clock once clockRun of them come in a row, and are
// then judged in order, so a real jump loses nothing; otherwise they are
// skipped and counted.
type clockGuard struct {
	ahead, behind int64 // nanoseconds; 0 disables that side
	clock         int64
	started       bool
	// prev is the clock before the last accepted jump. A run of forged
	// stamps can pass for a jump; the capture's own packets, back at the
	// old time, are then judged against prev instead of being held and
	// lost.
	prev    int64
	hasPrev bool

	held     [clockRun]heldRecord
	nheld    int
	runClock int64 // largest timestamp among the held packets

	Skipped uint64 // packets skipped for their timestamps
	Jumps   uint64 // clock jumps accepted
}

type heldRecord struct {
	data     []byte // a copy: the reader reuses its buffer
	nanos    int64
	linkType uint32
}

// inBounds says whether t agrees with a clock c.
func (g *clockGuard) inBounds(c, t int64) bool {
	return (g.ahead == 0 || t-c <= g.ahead) && (g.behind == 0 || c-t <= g.behind)
}

// admit decides what to do with a record: true means judge it now. When
// false, the record was held or skipped; ready then says whether the held
// run has become the new clock, and the caller drains it with drain.
func (g *clockGuard) admit(rec *Record) (now, ready bool) {
	if !g.started {
		g.started, g.clock = true, rec.Nanos
		return true, false
	}
	if g.inBounds(g.clock, rec.Nanos) {
		g.Skipped += uint64(g.nheld) // the run did not last
		g.nheld = 0
		g.clock = max(g.clock, rec.Nanos)
		return true, false
	}
	if g.hasPrev && g.inBounds(g.prev, rec.Nanos) {
		g.Skipped += uint64(g.nheld)
		g.nheld = 0
		g.prev = max(g.prev, rec.Nanos)
		return true, false
	}
	if g.nheld > 0 && !g.inBounds(g.runClock, rec.Nanos) {
		g.Skipped += uint64(g.nheld) // a different time: start a new run
		g.nheld = 0
	}
	if g.nheld == 0 {
		g.runClock = rec.Nanos
	}
	h := &g.held[g.nheld]
	h.data = append(h.data[:0], rec.Data...)
	h.nanos, h.linkType = rec.Nanos, rec.LinkType
	g.runClock = max(g.runClock, rec.Nanos)
	g.nheld++
	if g.nheld < clockRun {
		return false, false
	}
	g.Jumps++
	g.prev, g.hasPrev = g.clock, true
	g.clock = g.runClock
	return false, true
}

// drain hands the held run to judge in order and empties it.
func (g *clockGuard) drain(judge func(*Record)) {
	for i := range g.nheld {
		h := &g.held[i]
		judge(&Record{Data: h.data, Nanos: h.nanos, LinkType: h.linkType})
	}
	g.nheld = 0
}

// finish counts a run still held at the end of the capture as skipped.
func (g *clockGuard) finish() {
	g.Skipped += uint64(g.nheld)
	g.nheld = 0
}
