package sensor

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/lab"
)

// Under a spoofed flood that overflows the ring buffer (records dropping:
// a 64 KiB ring), sent from two CPUs at once (the same new flows inserted
// concurrently), while sweeps run every 50 ms, every SYN the kernel
// counted reaches the detector exactly once: not fewer, and never twice.
// The flood's 200,040 flows fit the flow map (262,144); past it, flows
// the LRU evicts before any record or sweep reports them are lost, and
// the README says how that shows.
func TestPrivilegedExactCountsFromTwoSenders(t *testing.T) {
	requirePrivileged(t)
	l := lab.New(t)
	var live *Live
	err := l.InTargetNS(func() error {
		var err error
		live, err = Attach(LiveConfig{Iface: l.VethTgt, Mode: ModeAuto, SweepInterval: 50 * time.Millisecond,
			Program: ProgramConfig{RingBytes: 64 << 10}})
		return err
	})
	if err != nil {
		t.Fatalf("attach: %+v", err)
	}
	t.Cleanup(func() { live.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var detectorSYNs uint64
	go func() {
		done <- live.Run(ctx, func(ev *detector.Event) {
			if ev.Kind == detector.KindSYN {
				detectorSYNs += ev.Packets()
			}
		})
	}()
	smac, tmac := l.MACs(t)
	pcap := filepath.Join(t.TempDir(), "flood.pcap")
	if err := lab.WriteSpoofedFlood(pcap, smac, tmac, 200_000, 40, 11); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer rcancel()
	// Two senders at once, so the program runs on both CPUs: the same new
	// flows inserted concurrently, repeats racing first sightings.
	for range 2 {
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); l.Tcpreplay(rctx, t, pcap) }()
		}
		wg.Wait()
	}
	c := stopLive(t, live, cancel, done, 300*time.Millisecond)
	kernel := c.Values[CntSYN]
	t.Logf("kernel SYNs %d, to the detector %d (Emitted %d); ring records %d, dropped %d; new flows %d",
		kernel, detectorSYNs, live.Emitted(), c.Values[CntRingbufEvents], c.Values[CntRingbufDrops], c.Values[CntFlowsNew])
	if c.Values[CntRingbufDrops] == 0 {
		t.Error("no ring record dropped: the test does not reach the condition it is for")
	}
	if detectorSYNs != kernel || live.Emitted() != kernel {
		t.Errorf("detector SYNs %d (Emitted %d), kernel SYNs %d: must be equal", detectorSYNs, live.Emitted(), kernel)
	}
}
