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
	rec := func(ts, count uint64, isNew bool) *bpf.ScanwatchEvent {
		r := &bpf.ScanwatchEvent{Saddr: k.Saddr, Daddr: k.Daddr, Dport: k.Dport, Probe: k.Probe, TsNs: ts, Count: count, Flags: uint8(detector.FlagSYN)}
		if isNew {
			r.IsNew = 1
		}
		return r
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
		{"record, repeats by sweep, report record", []step{{record: rec(100, 1, true), want: 1}, {sweep: val(100, 5), want: 4}, {record: rec(100, 128, false), want: 123}, {sweep: val(100, 130), want: 2}}},
		{"sweep sees the flow before its new-flow record", []step{{sweep: val(100, 3), want: 3}, {record: rec(100, 1, true), want: 0}, {sweep: val(100, 3), want: 0}}},
		{"new-flow record lost, sweep recovers it", []step{{record: rec(100, 128, false), want: 0}, {sweep: val(100, 130), want: 130}}},
		{"evicted and created again: count restarts", []step{{record: rec(100, 1, true), want: 1}, {sweep: val(100, 50), want: 49}, {record: rec(900, 1, true), want: 1}, {sweep: val(900, 7), want: 6}}},
		{"a late record of the old instance adds nothing", []step{{record: rec(90_000_000, 1, true), want: 1}, {record: rec(100, 128, false), want: 0}, {sweep: val(100, 200), want: 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newFlowTracker(kernelClock{})
			var ev detector.Event
			for i, s := range tc.steps {
				var got uint64
				if s.record != nil {
					if tr.fromRecord(s.record, &ev) {
						got = ev.Packets()
					}
				} else {
					tr.beginSweep()
					if tr.fromSweep(&k, s.sweep, &ev) {
						got = ev.Packets()
					}
					tr.endSweep()
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
	tr.endSweep()
	for i := 0; i < 2; i++ { // two sweeps without it
		tr.beginSweep()
		tr.endSweep()
	}
	if len(tr.seen) != 0 {
		t.Fatalf("%d flows remembered after the kernel dropped them", len(tr.seen))
	}
}
