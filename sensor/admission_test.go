package sensor

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket/layers"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/packettest"
	"github.com/scanwatch/scanwatch/lab"
)

// TestPrivilegedAdmissionKeepsScanExact pushes a 1024-port SYN scan
// through the attached program inside 2^20 spoofed one-SYN sources, by
// BPF_PROG_TEST_RUN, while 'scanwatch run's reader and tracker consume
// the ring. The scanner probes every port once in the first half of the
// flood and twice back to back in the second half, so half a million new
// sources (twice the flow map) pass between a port's probes, and its
// second-half repeat is counted only in the map (no record below
// report_every): it reaches the detector only if the flow is still there
// when the map is swept. Sweeps run only at the end, so nothing else can
// rescue a count.
//
// With admission (bpf/admit.h) the spoofed sources never enter the map:
// every one of the scanner's 3072 SYNs and of the 2^20 spoofed ones
// reaches the detector exactly once, and the map holds little more than
// the scanner's flows. Without it the same frames are a million inserts
// that evict the map four times over. (The scanner's counts survive that
// too, here: the kernel's LRU gives a flow that was looked up again a
// second chance, and a spoofed flow is never looked up. Admission's gain
// is the insert each spoofed packet no longer costs, BenchmarkXDP's
// syn_new against syn_new_no_admission.)
func TestPrivilegedAdmissionKeepsScanExact(t *testing.T) {
	requirePrivileged(t)
	const spoofed, ports = 1 << 20, 1024
	scanner := netip.MustParseAddr(lab.ScanIP)
	l := lab.New(t)
	frames := newAdmissionFrames(t)

	for _, admission := range []bool{true, false} {
		name := "with admission"
		if !admission {
			name = "without admission"
		}
		t.Run(name, func(t *testing.T) {
			var live *Live
			err := l.InTargetNS(func() error {
				var err error
				live, err = Attach(LiveConfig{Iface: l.VethTgt, Mode: ModeAuto, SweepInterval: time.Hour,
					Program: ProgramConfig{NoAdmission: !admission}})
				return err
			})
			if err != nil {
				t.Fatalf("attach: %+v", err)
			}
			defer live.Close()
			perPort := map[uint16]uint64{}
			var others, otherEvents uint64
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- live.Run(ctx, func(ev *detector.Event) {
					if ev.Kind != detector.KindSYN {
						return
					}
					if ev.Src == scanner {
						perPort[ev.DstPort] += ev.Packets()
						return
					}
					others += ev.Packets()
					otherEvents++
				})
			}()
			run := func(f []byte) {
				if _, err := live.Objs.ScanwatchXdp.Run(&ebpf.RunOptions{Data: f}); err != nil {
					t.Fatal(err)
				}
			}
			runtime.LockOSThread()
			start := time.Now()
			const between = spoofed / (2 * ports) // spoofed sources between two scanner steps
			for i := range spoofed {
				if i%between == 0 {
					// Step k: port k+1 once in the first half, twice in the second.
					k := i / between
					port := uint16(k%ports + 1)
					run(frames.scan(port))
					if k >= ports {
						run(frames.scan(port))
					}
				}
				run(frames.spoof(i))
			}
			runtime.UnlockOSThread()
			took := time.Since(start)
			c := stopLive(t, live, cancel, done, 100*time.Millisecond)
			var scanned, short uint64
			for p := uint16(1); p <= ports; p++ {
				scanned += perPort[p]
				if perPort[p] != 3 {
					short++
				}
			}
			t.Logf("%d frames in %v; kernel: %d SYNs, %d inserted, %d first sights, %d records, %d dropped; detector: scanner %d of %d SYNs (%d ports not 3), spoofed %d of %d in %d events",
				spoofed+3*ports, took.Round(time.Millisecond), c.Values[CntSYN], c.Values[CntFlowsNew], c.Values[CntFirstSight],
				c.Values[CntRingbufEvents], c.Values[CntRingbufDrops], scanned, 3*ports, short, others, spoofed, otherEvents)
			if c.Values[CntSYN] != spoofed+3*ports {
				t.Fatalf("the kernel counted %d SYNs, %d were pushed", c.Values[CntSYN], spoofed+3*ports)
			}
			if !admission {
				// What admission is for: the flood churns the map and the
				// scanner's repeats die in it.
				if inMap := uint64(countEntries(t, live.Objs.Flows)); c.Values[CntFlowsNew] < spoofed || c.Values[CntFlowsNew]-inMap < spoofed/2 {
					t.Errorf("%d inserts, %d in the map: the flood did not churn the map as the test needs", c.Values[CntFlowsNew], inMap)
				}
				return
			}
			if short != 0 || scanned != 3*ports {
				t.Errorf("scanner: %d SYNs handed to the detector, %d sent; %d ports not counted 3 times", scanned, 3*ports, short)
				for p := uint16(1); p <= ports && short > 0; p++ {
					if perPort[p] != 3 {
						t.Logf("port %d: %d", p, perPort[p])
						short--
					}
				}
			}
			if others != spoofed {
				t.Errorf("spoofed: %d SYNs handed to the detector, %d sent", others, spoofed)
			}
			// Spoofed sources cost no insert: only the scanner's flows
			// (and a spoofed source whose tag matched by chance, or whose
			// record found the ring full) enter the map.
			if limit := uint64(ports) + c.Values[CntRingbufDrops] + spoofed>>12; c.Values[CntFlowsNew] > limit {
				t.Errorf("%d flows inserted, want at most %d: spoofed sources entered the map", c.Values[CntFlowsNew], limit)
			}
		})
	}
}

// admissionFrames builds the test's frames in place: one scanner SYN and
// one spoofed SYN buffer, rewritten per frame with valid checksums (the
// program verifies every flow's first probe).
type admissionFrames struct {
	scanFrame, spoofFrame []byte
	rng                   *rand.Rand
}

const (
	ethLen      = 14
	tcpCsumAt4  = ethLen + 20 + 16 // IPv4 header without options
	tcpCsumAt6  = ethLen + 40 + 16
	v6SrcAt     = ethLen + 8
	tcpDportAt4 = ethLen + 20 + 2
)

func newAdmissionFrames(t *testing.T) *admissionFrames {
	return &admissionFrames{
		scanFrame:  packettest.BuildEth(t, packettest.PktOpts{Flags: "S", Dport: 1, Window: 1024, TTL: 50}),
		spoofFrame: packettest.BuildEth(t, packettest.PktOpts{V6: true, Flags: "S", Dport: 80, Window: 64240, TTL: 64}),
		rng:        rand.New(rand.NewPCG(1, 2)),
	}
}

// scan is the scanner's SYN to port.
func (a *admissionFrames) scan(port uint16) []byte {
	f := a.scanFrame
	binary.BigEndian.PutUint16(f[tcpDportAt4:], port)
	tcpChecksum(f, ethLen+12, 4, ethLen+20, int(binary.BigEndian.Uint16(f[ethLen+2:]))-20, tcpCsumAt4)
	return f
}

// spoof is a SYN from the i-th spoofed source: an address in
// 2001:db8::/32 outside the lab's /64s (its third group is 0x0100 or
// above), distinct for every i.
func (a *admissionFrames) spoof(i int) []byte {
	f := a.spoofFrame
	src := f[v6SrcAt : v6SrcAt+16]
	binary.BigEndian.PutUint32(src[0:], 0x20010db8)
	binary.BigEndian.PutUint16(src[4:], uint16(0x0100+a.rng.IntN(0xff00)))
	binary.BigEndian.PutUint16(src[6:], uint16(a.rng.Uint32()))
	binary.BigEndian.PutUint32(src[8:], a.rng.Uint32())
	binary.BigEndian.PutUint32(src[12:], uint32(i)) // distinct
	tcpChecksum(f, v6SrcAt, 16, ethLen+40, int(binary.BigEndian.Uint16(f[ethLen+4:])), tcpCsumAt6)
	return f
}

// tcpChecksum rewrites the checksum of the TCP segment of tcpLen bytes at
// tcpAt, over the pseudo-header of addresses of n bytes each at addrAt.
func tcpChecksum(f []byte, addrAt, n, tcpAt, tcpLen, csumAt int) {
	f[csumAt], f[csumAt+1] = 0, 0
	var s uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	add(f[addrAt : addrAt+2*n])
	s += uint32(layers.IPProtocolTCP) + uint32(tcpLen)
	add(f[tcpAt : tcpAt+tcpLen]) // even: a header without payload
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(f[csumAt:], ^uint16(s))
}
