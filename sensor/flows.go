package sensor

import (
	"net/netip"

	"github.com/scanwatch/scanwatch/bpf"
	"github.com/scanwatch/scanwatch/detector"
)

// flowID names one kernel flow entry: the flow key and the time the kernel
// created the entry. An entry evicted from the LRU and created again is a
// new instance whose count starts over.
type flowKey struct {
	src, dst [16]byte
	dport    uint16
	probe    uint8
}

type flowSeen struct {
	firstNs uint64 // kernel time the flow entry was created
	count   uint64 // SYNs already handed to the detector
	swept   uint32 // sweep generation that last found it in the map
	// Once a sweep misses it: the ring position to read up to before it
	// may be forgotten, and the generation (swept) it was computed for.
	forgetAt  uint64
	forgetGen uint32
}

// flowTracker turns cumulative kernel counts (from ring records and map
// sweeps, in any order) into exact per-flow deltas, so every SYN the kernel
// counted reaches the detector exactly once.
type flowTracker struct {
	seen  map[flowKey]*flowSeen
	clock kernelClock
	gen   uint32

	// read is how much of the ring, in bytes, has been handed to the
	// tracker, in ring order; ringGone: no record will come any more (the
	// reader has stopped).
	read     uint64
	ringGone bool
	// maxRecord is the largest record the ring may hold: a flow record,
	// or an HTTP head when the program copies them.
	maxRecord int
}

func newFlowTracker(clock kernelClock) *flowTracker {
	return &flowTracker{seen: make(map[flowKey]*flowSeen), clock: clock, maxRecord: recordSize}
}

// advance records that the flow instance (key, firstNs) has reached count
// and returns how many SYNs are new. A sweep (inMap) marks the flow as
// alive in the current sweep generation; so does a record that tells
// something new. A record that tells nothing new may be a late one of a
// flow the kernel has since evicted, and does not keep it remembered.
func (t *flowTracker) advance(key flowKey, firstNs, count uint64, inMap bool) uint64 {
	s := t.seen[key]
	if s == nil {
		s = &flowSeen{firstNs: firstNs}
		t.seen[key] = s
		inMap = true
	}
	if s.firstNs != firstNs {
		// The kernel evicted the flow and created it again: its count
		// restarted. (A late record of the old instance is older.)
		if firstNs < s.firstNs {
			return 0
		}
		s.firstNs, s.count = firstNs, 0
		inMap = true
	}
	if inMap || count > s.count {
		s.swept = t.gen
	}
	if count <= s.count {
		return 0
	}
	d := count - s.count
	s.count = count
	return d
}

// fromRecord fills ev from a ring record; false when it adds nothing.
func (t *flowTracker) fromRecord(r *bpf.ScanwatchEvent, ev *detector.Event) bool {
	key := flowKey{src: r.Saddr, dst: r.Daddr, dport: r.Dport, probe: r.Probe}
	if r.IsNew == recordFirstSight {
		// One probe the map does not hold (bpf/admit.h): nothing will
		// follow it, and a later probe of the flow is a new instance.
		// Kept nowhere, so a spoofed flood costs the tracker nothing.
		t.synEvent(ev, &key, r.TsNs, synHeader{r.Sport, r.Window, r.IpId, r.Ttl, r.Flags, r.MssOnly, r.OptLen, r.Evasion}, r.Count)
		return true
	}
	// A new flow's record carries its creation time; a later record of a
	// known flow is matched to the instance already tracked.
	first := r.TsNs
	if r.IsNew == 0 {
		if s := t.seen[key]; s != nil {
			// Repeats are stamped with the kernel's coarse clock,
			// which lags by up to a tick (10 ms at HZ=100).
			if r.TsNs+coarseClockSlack < s.firstNs {
				return false // from an instance evicted before this one
			}
			first = s.firstNs
		} else {
			// Its new-flow record was lost (ring full); the sweep
			// will find the exact count and creation time.
			return false
		}
	}
	d := t.advance(key, first, r.Count, false)
	if d == 0 {
		return false
	}
	t.synEvent(ev, &key, r.TsNs, synHeader{r.Sport, r.Window, r.IpId, r.Ttl, r.Flags, r.MssOnly, r.OptLen, r.Evasion}, d)
	return true
}

// fromSweep fills ev from a map entry found by a sweep.
func (t *flowTracker) fromSweep(k *bpf.ScanwatchFlowKey, v *bpf.ScanwatchFlowValue, ev *detector.Event) bool {
	key := flowKey{src: k.Saddr, dst: k.Daddr, dport: k.Dport, probe: k.Probe}
	d := t.advance(key, v.FirstNs, v.Count, true)
	if d == 0 {
		return false
	}
	t.synEvent(ev, &key, v.LastNs, synHeader{v.Sport, v.Window, v.IpId, v.Ttl, v.Flags, v.MssOnly, v.OptLen, v.Evasion}, d)
	return true
}

// synHeader is what records and map entries keep of a flow's SYN: the
// header fields that tell scanner tools apart.
type synHeader struct {
	sport, window, ipID         uint16
	ttl, flags, mssOnly, optLen uint8
	evasion                     uint8 // detector.Evasion marks of the flow's probes
}

// The XDP program's flow kinds past detector.Probe's: PROBE_CHAIN, an
// IPv6 packet whose extension headers go past what the program walks, so
// no transport header (and no port) is known; and the credits of
// bpf/credit.h, counted in flows as probes are.
const (
	probeChain     = 8
	probeCreditTCP = 9
	probeCreditUDP = 10
)

// synEvent fills ev with d probes of flow key (SYNs, stealth TCP probes or
// UDP datagrams), the latest at kernel time ts.
func (t *flowTracker) synEvent(ev *detector.Event, key *flowKey, ts uint64, h synHeader, d uint64) {
	kind := detector.ClassifyTCP(h.flags)
	switch {
	case detector.Probe(key.probe) == detector.ProbeUDP:
		kind = detector.KindUDP
	case key.probe == probeChain:
		kind = detector.KindOther
	case key.probe == probeCreditTCP:
		kind = detector.KindCreditTCP
	case key.probe == probeCreditUDP:
		kind = detector.KindCreditUDP
	}
	*ev = detector.Event{
		Time: t.clock.wall(ts), Src: addrFrom16(key.src), Dst: addrFrom16(key.dst),
		SrcPort: h.sport, DstPort: key.dport, Kind: kind, Flags: h.flags,
		TTL: h.ttl, IPID: h.ipID, Window: h.window, MSSOnly: h.mssOnly != 0, OptLen: h.optLen, Count: uint32(min(d, 1<<32-1)),
		Evasion: detector.Evasion(h.evasion),
	}
}

// consumed notes that one ring record of n sample bytes has been handed
// to the tracker (whatever it held), in ring order.
func (t *flowTracker) consumed(n int) { t.read += ringBytes(n) }

// ringBytes is what a record of n sample bytes takes in the ring: an
// 8-byte header and the sample padded to 8 bytes. (The program never
// discards a reserved record, which the reader would skip unseen.)
func ringBytes(n int) uint64 { return 8 + uint64(n+7)&^7 }

// beginSweep and endSweep bracket a full pass over the kernel map. A flow
// that neither two passes in a row nor any record touched was evicted, and
// is forgotten, which bounds the tracker by the kernel map's size. (Two
// passes, because a pass racing with inserts may miss an entry once, and
// forgetting a live flow would count it twice.)
//
// It is forgotten only once every record written before the first of
// those passes ended has been read: until then a record of it (its
// new-flow record, say, behind a ring the reader is still draining) may
// still arrive, and if the flow were forgotten by then it would be taken
// for a new one and its SYNs counted again. pending is what the ring
// holds unread as the sweep ends.
func (t *flowTracker) beginSweep() { t.gen++ }

func (t *flowTracker) endSweep(pending uint64) {
	// The reader may hold one record it has taken off the ring and not yet
	// handed over: count one more, of the largest size, which at worst
	// waits for one more.
	horizon := t.read + pending + ringBytes(t.maxRecord)
	for k, s := range t.seen {
		switch {
		case s.swept == t.gen:
		case s.forgetGen != s.swept || s.forgetAt == 0:
			// First missed since last found: every record of it was
			// written before now.
			s.forgetAt, s.forgetGen = horizon, s.swept
		case t.gen-s.swept >= 2 && (t.ringGone || t.read >= s.forgetAt):
			delete(t.seen, k)
		}
	}
}

const coarseClockSlack = 10_000_000 // ns

// recordFirstSight is enum record_new's RECORD_FIRST_SIGHT (bpf/scanwatch.c).
const recordFirstSight = 2

func addrFrom16(b [16]byte) netip.Addr { return netip.AddrFrom16(b).Unmap() }
