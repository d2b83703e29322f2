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
}

type flowSeen struct {
	firstNs uint64 // kernel time the flow entry was created
	count   uint64 // SYNs already handed to the detector
	swept   uint32 // sweep generation that last found it in the map
}

// flowTracker turns cumulative kernel counts (from ring records and map
// sweeps, in any order) into exact per-flow deltas, so every SYN the kernel
// counted reaches the detector exactly once.
type flowTracker struct {
	seen  map[flowKey]*flowSeen
	clock kernelClock
	gen   uint32
}

func newFlowTracker(clock kernelClock) *flowTracker {
	return &flowTracker{seen: make(map[flowKey]*flowSeen), clock: clock}
}

// advance records that the flow instance (key, firstNs) has reached count
// and returns how many SYNs are new.
func (t *flowTracker) advance(key flowKey, firstNs, count uint64) uint64 {
	s := t.seen[key]
	if s == nil {
		s = &flowSeen{firstNs: firstNs}
		t.seen[key] = s
	}
	if s.firstNs != firstNs {
		// The kernel evicted the flow and created it again: its count
		// restarted. (A late record of the old instance is older.)
		if firstNs < s.firstNs {
			return 0
		}
		s.firstNs, s.count = firstNs, 0
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
	key := flowKey{src: r.Saddr, dst: r.Daddr, dport: r.Dport}
	// A new flow's record carries its creation time; a later record of a
	// known flow is matched to the instance already tracked.
	first := r.TsNs
	if r.IsNew == 0 {
		if s := t.seen[key]; s != nil {
			first = s.firstNs
		} else {
			// Its new-flow record was lost (ring full); the sweep
			// will find the exact count and creation time.
			return false
		}
	}
	d := t.advance(key, first, r.Count)
	t.seen[key].swept = t.gen
	if d == 0 {
		return false
	}
	*ev = detector.Event{
		Time: t.clock.wall(r.TsNs), Src: addrFrom16(r.Saddr), Dst: addrFrom16(r.Daddr),
		SrcPort: r.Sport, DstPort: r.Dport, Kind: detector.KindSYN, Flags: r.Flags,
		TTL: r.Ttl, IPID: r.IpId, Window: r.Window, MSSOnly: r.MssOnly != 0, Count: uint32(min(d, 1<<32-1)),
	}
	return true
}

// fromSweep fills ev from a map entry found by a sweep.
func (t *flowTracker) fromSweep(k *bpf.ScanwatchFlowKey, v *bpf.ScanwatchFlowValue, ev *detector.Event) bool {
	key := flowKey{src: k.Saddr, dst: k.Daddr, dport: k.Dport}
	d := t.advance(key, v.FirstNs, v.Count)
	t.seen[key].swept = t.gen
	if d == 0 {
		return false
	}
	*ev = detector.Event{
		Time: t.clock.wall(v.LastNs), Src: addrFrom16(k.Saddr), Dst: addrFrom16(k.Daddr),
		SrcPort: v.Sport, DstPort: k.Dport, Kind: detector.KindSYN, Flags: v.Flags,
		TTL: v.Ttl, IPID: v.IpId, Window: v.Window, MSSOnly: v.MssOnly != 0, Count: uint32(min(d, 1<<32-1)),
	}
	return true
}

// beginSweep and endSweep bracket a full pass over the kernel map. Flows
// that neither two passes in a row nor any record touched were evicted and
// are forgotten, which bounds the tracker by the kernel map's size. (Two
// passes, because a pass racing with inserts may miss an entry once, and
// forgetting a live flow would count it twice.)
func (t *flowTracker) beginSweep() { t.gen++ }

func (t *flowTracker) endSweep() {
	for k, s := range t.seen {
		if t.gen-s.swept >= 2 {
			delete(t.seen, k)
		}
	}
}

func addrFrom16(b [16]byte) netip.Addr { return netip.AddrFrom16(b).Unmap() }
