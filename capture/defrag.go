package capture

import "net/netip"

// Fragment reassembly as the target's Linux stack does it
// (net/ipv4/inet_fragment.c inet_frag_queue_insert, ip_fragment.c
// ip_frag_queue, ipv6/reassembly.c ip6_frag_queue): a probe counts only if
// that kernel would have reassembled it, so an overlap that rewrites a SYN
// into an RST, a lone IPv6 fragment or a first fragment without its header
// chain accuses nobody.

const (
	// fragTimeout is Linux's ipfrag_time (30 s), in packet time: a queue
	// older than this when a later packet arrives is dropped.
	fragTimeout = int64(30e9)
	// maxFragQueues bounds the queues held at once.
	maxFragQueues = 4096
	// maxFragMem is Linux's ipfrag_high_thresh (4 MiB): the bytes held,
	// each fragment charged its data plus fragOverhead and each queue
	// queueOverhead, as the kernel charges truesize, so a flood of
	// 8-byte fragments is bounded too.
	maxFragMem    = 4 << 20
	fragOverhead  = 64
	queueOverhead = 256
	// maxDatagram is the largest reassembled IP datagram.
	maxDatagram = 65535
)

// DefragStats counts what reassembly did. Every fragment that does not end
// up in a datagram is in one of the drop counters.
type DefragStats struct {
	Fragments   uint64 // fragments offered
	Reassembled uint64 // datagrams completed and decoded
	Duplicates  uint64 // fragments wholly inside a run already held: ignored, queue kept
	Overlaps    uint64 // queues killed by a partly overlapping fragment (RFC 5722)
	Invalid     uint64 // queues killed or fragments dropped: zero length, inconsistent or early end, IPv6 length not a multiple of 8, beyond 65535
	NoChain     uint64 // IPv6 first fragments without the whole header chain (RFC 7112): dropped
	Oversize    uint64 // reassembled datagrams larger than 65535 bytes: dropped
	Timeouts    uint64 // queues older than 30 s of packet time: dropped
	Evicted     uint64 // queues dropped, oldest first, to stay within 4096 queues and 4 MiB
	Pending     uint64 // queues still incomplete at the end of the capture
}

type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
	v6       bool // a v4-mapped IPv6 address is not the IPv4 one
}

type fragPiece struct {
	off, end int
	data     []byte // shorter than end-off when the snap length cut it
}

type fragRun struct{ off, end int }

type fragQueue struct {
	key     fragKey
	created int64
	pieces  []fragPiece
	runs    []fragRun // sorted, disjoint; a fragment inside one is a duplicate
	length  int       // end of the datagram's fragmentable part, as far as known
	meat    int       // bytes held
	mem     int
	firstIn bool
	lastIn  bool
	cut     bool // some fragment was cut by the snap length

	// From the offset-0 fragment.
	ttl      uint8
	upper    uint8 // the header after the fragment header (IPv6: not part of the key)
	hdrLen   int   // IPv4 header, or IPv6 extension headers before the fragment header
	extCount int   // IPv6 extension headers before and including the fragment header
	firstEnd int   // bytes of the fragmentable part the first fragment held

	prev, next *fragQueue // creation order, oldest first
}

// defragger holds the queues of one capture.
type defragger struct {
	queues     map[fragKey]*fragQueue
	head, tail *fragQueue
	mem        int
	clock      int64 // largest packet time seen
	stats      *DefragStats
}

func newDefragger(st *DefragStats) *defragger {
	return &defragger{queues: map[fragKey]*fragQueue{}, stats: st}
}

// fragment is one fragment's view of itself.
type fragment struct {
	key      fragKey
	off, end int // of the fragmentable part; end from the header's length, before rounding
	data     []byte
	last     bool // MF clear
	v6       bool
	ttl      uint8
	upper    uint8
	hdrLen   int
	extCount int
}

// add files a fragment and returns the queue it completed, if any; the
// caller assembles it and then calls done.
func (f *defragger) add(fr *fragment, now int64) *fragQueue {
	f.stats.Fragments++
	if now > f.clock {
		f.clock = now
	}
	f.expire()
	end := fr.end
	if fr.v6 && end > maxDatagram {
		f.stats.Invalid++
		return nil
	}
	q := f.queues[fr.key]
	if q == nil {
		q = &fragQueue{key: fr.key, created: f.clock, mem: queueOverhead}
		f.queues[fr.key] = q
		f.link(q)
		f.mem += q.mem
		f.bound(q)
	}
	if fr.last {
		// A last fragment that ends before data already held, or
		// elsewhere than an earlier last fragment, is corruption.
		if end < q.length || (q.lastIn && end != q.length) {
			f.stats.Invalid++
			f.kill(q)
			return nil
		}
		q.lastIn, q.length = true, end
	} else {
		if end&7 != 0 {
			if fr.v6 {
				// RFC 8200: a non-last fragment is a multiple of 8
				// bytes; Linux drops it (the queue stays).
				f.stats.Invalid++
				return nil
			}
			end &^= 7 // IPv4: Linux trims it
		}
		if end > q.length {
			if q.lastIn {
				f.stats.Invalid++
				f.kill(q)
				return nil
			}
			q.length = end
		}
	}
	if end == fr.off {
		f.stats.Invalid++
		f.kill(q)
		return nil
	}
	switch q.insertRun(fr.off, end) {
	case runDup:
		f.stats.Duplicates++
		return nil
	case runOverlap:
		f.stats.Overlaps++
		f.kill(q)
		return nil
	}
	data := fr.data
	if len(data) > end-fr.off {
		data = data[:end-fr.off]
	}
	if len(data) < end-fr.off {
		q.cut = true
	}
	q.pieces = append(q.pieces, fragPiece{off: fr.off, end: end, data: append([]byte(nil), data...)})
	cost := len(data) + fragOverhead
	q.mem += cost
	f.mem += cost
	if fr.off == 0 {
		q.firstIn = true
		q.ttl, q.upper, q.hdrLen, q.extCount, q.firstEnd = fr.ttl, fr.upper, fr.hdrLen, fr.extCount, end
	}
	q.meat += end - fr.off
	f.bound(q)
	if q.firstIn && q.lastIn && q.meat == q.length {
		if q.hdrLen+q.length > maxDatagram {
			f.stats.Oversize++
			f.kill(q)
			return nil
		}
		return q
	}
	return nil
}

type runResult uint8

const (
	runNew runResult = iota
	runDup
	runOverlap
)

// insertRun is inet_frag_queue_insert: a fragment past the tail extends
// or follows the last run; one inside a single run is a duplicate; any
// other intersection is an overlap.
func (q *fragQueue) insertRun(off, end int) runResult {
	n := len(q.runs)
	if n == 0 {
		q.runs = append(q.runs, fragRun{off, end})
		return runNew
	}
	last := &q.runs[n-1]
	if last.end < end {
		switch {
		case off < last.end:
			return runOverlap
		case off == last.end:
			last.end = end
		default:
			q.runs = append(q.runs, fragRun{off, end})
		}
		return runNew
	}
	i := 0
	for ; i < n; i++ {
		r := q.runs[i]
		if end <= r.off {
			break
		}
		if off >= r.end {
			continue
		}
		if off >= r.off && end <= r.end {
			return runDup
		}
		return runOverlap
	}
	q.runs = append(q.runs, fragRun{})
	copy(q.runs[i+1:], q.runs[i:])
	q.runs[i] = fragRun{off, end}
	return runNew
}

// assemble writes the datagram's fragmentable part into buf, which must
// hold q.length bytes.
func (q *fragQueue) assemble(buf []byte) []byte {
	buf = buf[:q.length]
	if q.cut {
		clear(buf)
	}
	for _, p := range q.pieces {
		copy(buf[p.off:], p.data)
	}
	return buf
}

// done removes a completed queue.
func (f *defragger) done(q *fragQueue) {
	f.stats.Reassembled++
	f.remove(q)
}

func (f *defragger) kill(q *fragQueue) { f.remove(q) }

func (f *defragger) remove(q *fragQueue) {
	delete(f.queues, q.key)
	if q.prev != nil {
		q.prev.next = q.next
	} else {
		f.head = q.next
	}
	if q.next != nil {
		q.next.prev = q.prev
	} else {
		f.tail = q.prev
	}
	q.prev, q.next = nil, nil
	f.mem -= q.mem
}

func (f *defragger) link(q *fragQueue) {
	q.prev = f.tail
	if f.tail != nil {
		f.tail.next = q
	} else {
		f.head = q
	}
	f.tail = q
}

func (f *defragger) expire() {
	for q := f.head; q != nil && f.clock-q.created > fragTimeout; q = f.head {
		f.stats.Timeouts++
		f.remove(q)
	}
}

// bound drops the oldest queues other than keep until the table fits.
func (f *defragger) bound(keep *fragQueue) {
	for len(f.queues) > maxFragQueues || f.mem > maxFragMem {
		q := f.head
		if q == keep {
			q = q.next
		}
		if q == nil {
			return
		}
		f.stats.Evicted++
		f.remove(q)
	}
}

// finish counts the queues left incomplete at the end of a capture.
func (f *defragger) finish() {
	f.stats.Pending += uint64(len(f.queues))
}
