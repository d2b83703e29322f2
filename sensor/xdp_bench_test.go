package sensor

import (
	"testing"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// BenchmarkXDP times the real program with BPF_PROG_TEST_RUN, 1e6 repeats
// per call (each call has a fixed ~17 ms cost that fewer repeats would
// smear into the figure), and reports ns/pkt. Program.Benchmark repeats one
// packet, so syn_repeat is the known-flow path; syn_new uses the program's
// benchmark switch to make every repeat a new flow (LRU insert + ring
// record) while a reader drains the ring as 'scanwatch run' does.
func BenchmarkXDP(b *testing.B) {
	const repeat = 1_000_000
	syn := packettest.BuildEth(b, packettest.PktOpts{Flags: "S", Dport: 22, Window: 1024, TTL: 50, TCPOpts: packettest.MSSOpt})
	udp := packettest.BuildEth(b, packettest.PktOpts{UDP: true, Dport: 53})
	cases := []struct {
		name  string
		fresh bool
		floor bool
		frame []byte
		noUDP bool
	}{
		{"floor", false, true, syn, false},
		{"ack", false, false, packettest.BuildEth(b, packettest.PktOpts{Flags: "A", Dport: 22}), false},
		{"udp", false, false, udp, true},        // UDP probes off: counters only
		{"udp_probe", false, false, udp, false}, // the default: a flow like a SYN's
		{"syn_repeat", false, false, syn, false},
		{"syn_new", true, false, syn, false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			requirePrivileged(b)
			objs, err := LoadProgram(ProgramConfig{BenchFreshKeys: tc.fresh, NoUDPProbes: tc.noUDP})
			if err != nil {
				b.Fatalf("%+v", err)
			}
			defer objs.Close()
			prog := objs.ScanwatchXdp
			if tc.floor {
				prog = objs.XdpPassFloor
			}
			rd, err := ringbuf.NewReader(objs.Events)
			if err != nil {
				b.Fatal(err)
			}
			drained := make(chan uint64)
			go func() {
				var rec ringbuf.Record
				var n uint64
				for rd.ReadInto(&rec) == nil {
					n++
				}
				drained <- n
			}()
			var total float64
			var calls int
			for b.Loop() {
				ret, per, err := prog.Benchmark(tc.frame, repeat, nil)
				if err != nil {
					b.Fatal(err)
				}
				if ret != xdpPass {
					b.Fatalf("returned %d", ret)
				}
				total += float64(per.Nanoseconds())
				calls++
			}
			rd.Close()
			<-drained
			b.ReportMetric(total/float64(calls), "ns/pkt")
			if c, err := objs.ReadCounters(); err == nil && !tc.floor {
				if syns := c.Values[CntSYN]; syns > 0 {
					b.ReportMetric(float64(c.Values[CntRingbufEvents])/float64(syns), "records/SYN")
					b.ReportMetric(float64(c.Values[CntRingbufDrops])/float64(syns), "drops/SYN")
				}
			}
		})
	}
}
