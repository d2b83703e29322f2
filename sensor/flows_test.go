package sensor

import (
	"testing"

	"github.com/scanwatch/scanwatch/bpf"
	"github.com/scanwatch/scanwatch/detector"
)

// The tracker must hand each SYN the kernel counted to the detector once,
// whatever order records and sweeps arrive in.
func TestFlowTrackerExactlyOnce(t *testing.T) {
	k := bpf.ScanwatchFlowKey{Saddr: [16]byte{0: 1}, Daddr: [16]byte{0: 2}, Dport: 80, Probe: uint8(detector.ProbeSYN)}
	const known, isNew, firstSight = 0, 1, recordFirstSight
	rec := func(ts, count uint64, new uint8) *bpf.ScanwatchEvent {
		return &bpf.ScanwatchEvent{Saddr: k.Saddr, Daddr: k.Daddr, Dport: k.Dport, Probe: k.Probe, TsNs: ts, Count: count, Flags: uint8(detector.FlagSYN), IsNew: new}
	}
	val := func(first, count uint64) *bpf.ScanwatchFlowValue {
		return &bpf.ScanwatchFlowValue{FirstNs: first, LastNs: first + 1, Count: count, Flags: uint8(detector.FlagSYN)}
	}
	type step struct {
		record *bpf.ScanwatchEvent
		sweep  *bpf.ScanwatchFlowValue
		want   uint64 // SYNs handed on by this step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"record, repeats by sweep, report record", []step{{record: rec(100, 1, isNew), want: 1}, {sweep: val(100, 5), want: 4}, {record: rec(100, 128, known), want: 123}, {sweep: val(100, 130), want: 2}}},
		{"sweep sees the flow before its new-flow record", []step{{sweep: val(100, 3), want: 3}, {record: rec(100, 1, isNew), want: 0}, {sweep: val(100, 3), want: 0}}},
		{"new-flow record lost, sweep recovers it", []step{{record: rec(100, 128, known), want: 0}, {sweep: val(100, 130), want: 130}}},
		{"evicted and created again: count restarts", []step{{record: rec(100, 1, isNew), want: 1}, {sweep: val(100, 50), want: 49}, {record: rec(900, 1, isNew), want: 1}, {sweep: val(900, 7), want: 6}}},
		{"a late record of the old instance adds nothing", []step{{record: rec(90_000_000, 1, isNew), want: 1}, {record: rec(100, 128, known), want: 0}, {sweep: val(100, 200), want: 0}}},
		// Admission (bpf/admit.h): a source's first probe is not in the
		// map; its flow's next probe starts a new instance at 1.
		{"first sight, then the flow's instance in the map", []step{{record: rec(50, 1, firstSight), want: 1}, {record: rec(100, 1, isNew), want: 1}, {sweep: val(100, 3), want: 2}}},
		{"first sight of a flow the map holds adds its one probe", []step{{record: rec(100, 1, isNew), want: 1}, {sweep: val(100, 4), want: 3}, {record: rec(200, 1, firstSight), want: 1}, {sweep: val(100, 4), want: 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newFlowTracker(kernelClock{})
			var ev detector.Event
			for i, s := range tc.steps {
				var got uint64
				if s.record != nil {
					tr.consumed(recordSize)
					if tr.fromRecord(s.record, &ev) {
						got = ev.Packets()
					}
				} else {
					tr.beginSweep()
					if tr.fromSweep(&k, s.sweep, &ev) {
						got = ev.Packets()
					}
					tr.endSweep(0)
				}
				if got != s.want {
					t.Fatalf("step %d: %d SYNs handed on, want %d", i, got, s.want)
				}
				if got > 0 && (ev.Kind != detector.KindSYN || ev.DstPort != 80) {
					t.Fatalf("step %d: event %+v", i, ev)
				}
			}
		})
	}
}

func TestFlowTrackerForgetsEvictedFlows(t *testing.T) {
	tr := newFlowTracker(kernelClock{})
	k := bpf.ScanwatchFlowKey{Dport: 1}
	var ev detector.Event
	tr.beginSweep()
	tr.fromSweep(&k, &bpf.ScanwatchFlowValue{FirstNs: 1, Count: 1}, &ev)
	tr.endSweep(0)
	for i := 0; i < 2; i++ { // two sweeps without it
		tr.beginSweep()
		tr.endSweep(0)
	}
	if len(tr.seen) != 1 {
		t.Fatal("forgotten while the reader might still hold a record of it")
	}
	tr.consumed(recordSize) // the reader hands over one more record
	tr.beginSweep()
	tr.endSweep(0)
	if len(tr.seen) != 0 {
		t.Fatalf("%d flows remembered after the kernel dropped them", len(tr.seen))
	}
}

// With HTTP heads in the ring, the record the reader may hold can be an
// HTTP one: the slack is that large, so a flow is not forgotten while
// a flow record of it may still sit behind it.
func TestFlowTrackerSlackCoversHTTPRecords(t *testing.T) {
	tr := newFlowTracker(kernelClock{})
	tr.maxRecord = maxRingRecordBytes
	k := bpf.ScanwatchFlowKey{Dport: 1}
	var ev detector.Event
	tr.beginSweep()
	tr.fromSweep(&k, &bpf.ScanwatchFlowValue{FirstNs: 1, Count: 1}, &ev)
	tr.endSweep(0)
	for i := 0; i < 2; i++ {
		tr.beginSweep()
		tr.endSweep(0)
	}
	tr.consumed(recordSize)
	tr.beginSweep()
	tr.endSweep(0)
	if len(tr.seen) != 1 {
		t.Fatal("forgotten after one flow record, while the reader might hold an HTTP one")
	}
	tr.consumed(httpRecordSize)
	tr.beginSweep()
	tr.endSweep(0)
	if len(tr.seen) != 0 {
		t.Fatalf("%d flows remembered after the largest record was read", len(tr.seen))
	}
}

// The race of issue 8 item 6: under a flood the kernel evicts a flow
// while its new-flow record still waits in the ring (the reader is behind,
// or blocked by the sweeps). Sweeps found the flow first and counted its
// SYN; two more found it gone. The record, read after that, must not
// count the SYN again, and the flow is forgotten once it has been read.
func TestFlowTrackerRecordReadAfterItsFlowWasEvicted(t *testing.T) {
	k := bpf.ScanwatchFlowKey{Saddr: [16]byte{0: 1}, Daddr: [16]byte{0: 2}, Dport: 80, Probe: uint8(detector.ProbeSYN)}
	r := &bpf.ScanwatchEvent{Saddr: k.Saddr, Daddr: k.Daddr, Dport: k.Dport, Probe: k.Probe, TsNs: 100, Count: 1, IsNew: 1, Flags: uint8(detector.FlagSYN)}
	tr := newFlowTracker(kernelClock{})
	var ev detector.Event
	pending := ringBytes(recordSize) // the new-flow record, unread
	var handed uint64
	tr.beginSweep()
	if tr.fromSweep(&k, &bpf.ScanwatchFlowValue{FirstNs: 100, LastNs: 100, Count: 1, Flags: uint8(detector.FlagSYN)}, &ev) {
		handed += ev.Packets()
	}
	tr.endSweep(pending)
	for i := 0; i < 3; i++ { // evicted: sweeps no longer find it
		tr.beginSweep()
		tr.endSweep(pending)
	}
	tr.consumed(recordSize)
	if tr.fromRecord(r, &ev) {
		handed += ev.Packets()
	}
	if handed != 1 {
		t.Fatalf("%d SYNs handed on for a flow of one SYN", handed)
	}
	tr.consumed(recordSize) // one more record, of another flow
	tr.beginSweep()
	tr.endSweep(0)
	if len(tr.seen) != 0 {
		t.Fatalf("%d flows remembered after their last record was read", len(tr.seen))
	}
}

// A reader that stays many sweeps behind never hands over a record of a
// flow already forgotten, and flows are still forgotten behind it.
func TestFlowTrackerSlowReaderStillForgets(t *testing.T) {
	tr := newFlowTracker(kernelClock{})
	var ev detector.Event
	const lag = 20 // sweeps the reader is behind
	var handed uint64
	var queue []*bpf.ScanwatchEvent // records written, not yet read
	for g := uint64(1); g <= 100; g++ {
		// One new one-SYN flow per sweep interval, found by the sweep
		// before its record is read, evicted before the next sweep.
		k := bpf.ScanwatchFlowKey{Dport: uint16(g), Probe: uint8(detector.ProbeSYN)}
		queue = append(queue, &bpf.ScanwatchEvent{Dport: k.Dport, Probe: k.Probe, TsNs: g, Count: 1, IsNew: 1, Flags: uint8(detector.FlagSYN)})
		tr.beginSweep()
		if tr.fromSweep(&k, &bpf.ScanwatchFlowValue{FirstNs: g, LastNs: g, Count: 1, Flags: uint8(detector.FlagSYN)}, &ev) {
			handed += ev.Packets()
		}
		if len(queue) > lag {
			tr.consumed(recordSize)
			if tr.fromRecord(queue[0], &ev) {
				handed += ev.Packets()
			}
			queue = queue[1:]
		}
		tr.endSweep(uint64(len(queue)) * ringBytes(recordSize))
	}
	if handed != 100 {
		t.Fatalf("%d SYNs handed on for 100 one-SYN flows", handed)
	}
	if len(tr.seen) > lag+3 {
		t.Fatalf("%d flows remembered: the tracker no longer forgets behind a slow reader", len(tr.seen))
	}
}

// A spoofed flood's first sights must cost the tracker nothing: nothing
// of them is kept, whatever their number.
func TestFlowTrackerKeepsNoFirstSight(t *testing.T) {
	tr := newFlowTracker(kernelClock{})
	var ev detector.Event
	var handed uint64
	for i := range 10_000 {
		r := &bpf.ScanwatchEvent{Saddr: [16]byte{0: byte(i >> 8), 1: byte(i)}, Dport: 22, Probe: uint8(detector.ProbeSYN), TsNs: uint64(i + 1), Count: 1, IsNew: recordFirstSight, Flags: uint8(detector.FlagSYN)}
		tr.consumed(recordSize)
		if tr.fromRecord(r, &ev) {
			handed += ev.Packets()
		}
	}
	if handed != 10_000 || len(tr.seen) != 0 {
		t.Fatalf("%d SYNs handed on (want 10000), %d flows kept (want 0)", handed, len(tr.seen))
	}
}
