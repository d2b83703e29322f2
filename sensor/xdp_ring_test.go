package sensor

import (
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/scanwatch/scanwatch/internal/packettest"
)

// The ring's wakeups (bpf/scanwatch.c, ring_flags), watched through an
// edge-triggered epoll on the ring, which reports a wakeup once and data
// merely waiting never: none while less than WakeupBytes waits, one each
// time the data waiting crosses another multiple of it, and one per record
// once half the ring waits. Nothing reads the ring, so what waits is what
// the program wrote; every record is a first sight (a new source each).
//
// A WakeupBytes past half the ring (the default 1 MiB on a test's small
// ring) is lowered to half: else the half-full rule was never reached and
// nothing woke the reader at all.
func TestPrivilegedXDPRingWakeups(t *testing.T) {
	requirePrivileged(t)
	t.Run("step", func(t *testing.T) { checkRingWakeups(t, 16<<10, 1<<10, 1<<10) })
	t.Run("step past half the ring", func(t *testing.T) { checkRingWakeups(t, 16<<10, 1<<20, 8<<10) })
	if _, err := LoadProgram(ProgramConfig{WakeupBytes: 1000}); err == nil {
		t.Fatal("a wakeup size that is not a power of two must be refused")
	}
}

// checkRingWakeups fills a ring of ring bytes loaded with WakeupBytes
// asked, and wants the wakeups of a step of wakeup bytes.
func checkRingWakeups(t *testing.T, ring, asked, wakeup int) {
	objs, err := LoadProgram(ProgramConfig{BenchFreshKeys: BenchNewSource, RingBytes: uint32(ring), WakeupBytes: uint32(asked)})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer objs.Close()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(objs.Events.FD())}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, objs.Events.FD(), &ev); err != nil {
		t.Fatal(err)
	}
	woken := func(timeoutMs int) bool {
		evs := make([]unix.EpollEvent, 1)
		for {
			n, err := unix.EpollWait(ep, evs, timeoutMs)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			return n > 0
		}
	}
	syn := packettest.BuildEth(t, packettest.PktOpts{Flags: "S", Dport: 22})
	const footprint = 8 + record4Size // an IPv4 flow record's share of the ring
	var wakeups, pacing int
	for waiting := 0; waiting+footprint <= ring; waiting += footprint {
		if _, err := objs.ScanwatchXdp.Run(&ebpf.RunOptions{Data: syn}); err != nil {
			t.Fatal(err)
		}
		after := waiting + footprint
		crossed := after >= wakeup && after/wakeup != waiting/wakeup
		want := crossed || after >= ring/2
		// The wakeup is an irq_work the program queues by a self-IPI: it
		// has run when the test run returns. A wakeup that is not wanted
		// is looked for without waiting; a late one would show at the
		// next record, and fail there.
		timeout := 0
		if want {
			timeout = 1000
		}
		if got := woken(timeout); got != want {
			t.Fatalf("record %d (%d bytes waiting, ring %d, wakeup %d): woken %v, want %v",
				after/footprint, after, ring, wakeup, got, want)
		}
		if want {
			wakeups++
			if !crossed {
				pacing++
			}
		}
	}
	c, err := objs.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	if n := ring / footprint; c.Values[CntRingbufEvents] != uint64(n) || c.Values[CntRingbufDrops] != 0 {
		t.Fatalf("%d records, %d dropped; want %d and none", c.Values[CntRingbufEvents], c.Values[CntRingbufDrops], n)
	}
	t.Logf("%d wakeups for %d records, %d of them past half the ring", wakeups, ring/footprint, pacing)
}
