package sensor

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/lab"
)

// TestPrivilegedExactCountsUnderFlood pushes a spoofed SYN flood through
// the attached program three ways at once, over the lab's veth (tcpreplay)
// and from two CPUs through BPF_PROG_TEST_RUN on the same program and maps,
// so the same new flows are inserted on different CPUs at the same time.
// The ring is too small for the flood, so records drop, and the flow map
// is swept every 5 ms while it runs.
//
// Within the flow map's size every SYN the kernel counted reaches the
// detector exactly once. Past it, the kernel evicts flows, some before any
// record or sweep reported them (their SYNs are lost, as the README says),
// but no flow may reach the detector with more SYNs than it was sent:
// before the tracker waited for the ring to drain, a flow forgotten while
// its new-flow record was still in the ring was counted again when the
// record was read (100 to 300 flows a run here).
func TestPrivilegedExactCountsUnderFlood(t *testing.T) {
	requirePrivileged(t)
	lab.Require(t, "tcpreplay")
	t.Run("within the flow map", func(t *testing.T) {
		kernel, detector, _ := floodThrough(t, 0)
		if detector != kernel {
			t.Errorf("detector SYNs %d, kernel SYNs %d: off by %d", detector, kernel, int64(detector)-int64(kernel))
		}
	})
	t.Run("past the flow map", func(t *testing.T) {
		kernel, detector, evicted := floodThrough(t, 8192)
		if evicted == 0 {
			t.Errorf("no flow evicted: the test did not stress what it means to")
		}
		if detector > kernel {
			t.Errorf("detector SYNs %d, kernel SYNs %d: %d counted twice", detector, kernel, detector-kernel)
		}
	})
}

// floodThrough runs the flood against a sensor whose flow map holds
// flowEntries (0: the default) and returns the kernel's and the detector's
// SYN counts and the flows evicted. It fails the test if any flow got more
// SYNs than were sent to it.
func floodThrough(t *testing.T, flowEntries uint32) (kernel, toDetector, evicted uint64) {
	l := lab.New(t)
	// No route back to the spoofed IPv4 sources: the target's answers are
	// dropped at routing instead of asking ARP for each of them.
	if out, err := exec.Command("ip", "-n", l.NSTgt, "route", "del", "192.0.2.0/24").CombinedOutput(); err != nil {
		t.Fatalf("ip route del: %v\n%s", err, out)
	}
	const packets, heavy = 120_000, 2000
	smac, tmac := l.MACs(t)
	pcap := filepath.Join(t.TempDir(), "churn.pcap")
	if err := lab.WriteChurnFlood(pcap, smac, tmac, packets, heavy, 3); err != nil {
		t.Fatal(err)
	}
	frames := readFrames(t, pcap)

	var live *Live
	err := l.InTargetNS(func() error {
		var err error
		live, err = Attach(LiveConfig{Iface: l.VethTgt, Mode: ModeAuto, SweepInterval: 5 * time.Millisecond,
			Program: ProgramConfig{ReportEvery: 4, RingBytes: 16 << 10, FlowEntries: flowEntries}})
		return err
	})
	if err != nil {
		t.Fatalf("attach: %+v", err)
	}
	defer live.Close()
	var emitted, events uint64
	perFlow := map[floodKey]uint64{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- live.Run(ctx, func(ev *detector.Event) {
			events++
			if ev.Kind == detector.KindSYN {
				emitted += ev.Packets()
				perFlow[floodKey{ev.Src, ev.Dst, ev.DstPort}] += ev.Packets()
			}
		})
	}()

	floodCtx, floodCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer floodCancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for _, f := range frames {
				if floodCtx.Err() != nil {
					return
				}
				if _, err := live.Objs.ScanwatchXdp.Run(&ebpf.RunOptions{Data: f}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		out, err := l.InScan(floodCtx, "tcpreplay", "--topspeed", "-q", "-i", l.VethScan, pcap).CombinedOutput()
		if err != nil {
			errs <- errors.Join(err, errors.New(string(out)))
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := stopLive(t, live, cancel, done, 200*time.Millisecond) // the veth's last frames
	inMap := uint64(countEntries(t, live.Objs.Flows))
	t.Logf("kernel: %d SYNs, %d new flows (%d in the map at the end), %d records, %d dropped; detector: %d SYNs in %d events, %d sweeps",
		c.Values[CntSYN], c.Values[CntFlowsNew], inMap, c.Values[CntRingbufEvents], c.Values[CntRingbufDrops], emitted, events, live.tracker.gen)
	if c.Values[CntSYN] < 2*packets {
		t.Fatalf("the kernel counted %d SYNs, fewer than the %d pushed through test runs alone", c.Values[CntSYN], 2*packets)
	}
	if c.Values[CntRingbufDrops] == 0 {
		t.Errorf("no ring records dropped: the test did not stress what it means to")
	}
	if live.Emitted() != emitted {
		t.Errorf("Emitted() %d, events carried %d SYNs", live.Emitted(), emitted)
	}
	want := map[floodKey]uint64{}
	for _, f := range frames {
		want[keyOf(t, f)] += 3
	}
	var over, excess uint64
	for k, n := range perFlow {
		if n > want[k] {
			over++
			excess += n - want[k]
			if over <= 3 {
				t.Logf("%v:%d sent %d SYNs, %d handed to the detector", k.src, k.dport, want[k], n)
			}
		}
	}
	if over > 0 {
		t.Errorf("%d flows handed to the detector more SYNs than were sent (%d in excess)", over, excess)
	}
	return c.Values[CntSYN], emitted, c.Values[CntFlowsNew] - inMap
}

type floodKey struct {
	src, dst netip.Addr
	dport    uint16
}

func keyOf(t *testing.T, frame []byte) floodKey {
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.NoCopy)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp == nil || p.NetworkLayer() == nil {
		t.Fatalf("not a TCP frame: %x", frame)
	}
	src, _ := netip.AddrFromSlice(p.NetworkLayer().NetworkFlow().Src().Raw())
	dst, _ := netip.AddrFromSlice(p.NetworkLayer().NetworkFlow().Dst().Raw())
	return floodKey{src.Unmap(), dst.Unmap(), uint16(tcp.DstPort)}
}

func readFrames(t *testing.T, pcap string) [][]byte {
	t.Helper()
	f, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
}

// stopLive waits settle for the last frames and records, ends live.Run
// (cancel; done is its result) and returns the kernel's counters.
func stopLive(t *testing.T, live *Live, cancel func(), done <-chan error, settle time.Duration) Counters {
	t.Helper()
	time.Sleep(settle)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c, err := live.Objs.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func countEntries(t *testing.T, m *ebpf.Map) int {
	t.Helper()
	var n int
	var k, v []byte
	it := m.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
