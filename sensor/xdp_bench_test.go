package sensor

import (
	"testing"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/scanwatch/scanwatch/internal/httpwire"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// BenchmarkXDP times the real program with BPF_PROG_TEST_RUN, 1e6 repeats
// per call (each call has a fixed ~17 ms cost that fewer repeats would
// smear into the figure), and reports ns/pkt. Program.Benchmark repeats one
// packet, so syn_repeat is the known-flow path; syn_new uses the program's
// benchmark switch to make every repeat a new flow (LRU insert + ring
// record) while a reader drains the ring as 'scanwatch run' does.
//
// HTTP inspection is on (the default ports) except in ack_http_off. Of
// its cases, http copies every repeat (a budget no flood reaches), and
// http_budget is a client over its budget: what a flood of requests
// costs once past its burst. ack_data and http_body are data segments
// that are no HTTP head, off and on an HTTP port.
func BenchmarkXDP(b *testing.B) {
	const repeat = 1_000_000
	syn := packettest.BuildEth(b, packettest.PktOpts{Flags: "S", Dport: 22, Window: 1024, TTL: 50, TCPOpts: packettest.MSSOpt})
	udp := packettest.BuildEth(b, packettest.PktOpts{UDP: true, Dport: 53})
	ack := packettest.BuildEth(b, packettest.PktOpts{Flags: "A", Dport: 22})
	get := packettest.BuildEth(b, packettest.PktOpts{Flags: "PA", Dport: 80, Payload: httpGET})
	body := make([]byte, 1200)
	on := httpwire.NewPorts(httpwire.DefaultPorts...)
	unlimited := HTTPBudget{Rate: 1e9, Burst: 1e9, CPURate: 1e9, CPUBurst: 1e9}
	cases := []struct {
		name   string
		fresh  bool
		floor  bool
		frame  []byte
		noUDP  bool
		ports  *httpwire.Ports
		budget HTTPBudget
	}{
		{"floor", false, true, syn, false, on, HTTPBudget{}},
		{"ack", false, false, ack, false, on, HTTPBudget{}},
		{"ack_http_off", false, false, ack, false, nil, HTTPBudget{}},
		{"ack_data", false, false, packettest.BuildEth(b, packettest.PktOpts{Flags: "PA", Dport: 22, Payload: body}), false, on, HTTPBudget{}},
		{"udp", false, false, udp, true, on, HTTPBudget{}},        // UDP probes off: counters only
		{"udp_probe", false, false, udp, false, on, HTTPBudget{}}, // the default: a flow like a SYN's
		{"syn_repeat", false, false, syn, false, on, HTTPBudget{}},
		{"syn_new", true, false, syn, false, on, HTTPBudget{}},
		{"http_body", false, false, packettest.BuildEth(b, packettest.PktOpts{Flags: "PA", Dport: 80, Payload: body}), false, on, HTTPBudget{}},
		{"http", false, false, get, false, on, unlimited},
		{"http_budget", false, false, get, false, on, HTTPBudget{}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			requirePrivileged(b)
			objs, err := LoadProgram(ProgramConfig{BenchFreshKeys: tc.fresh, NoUDPProbes: tc.noUDP, HTTPPorts: tc.ports, HTTPBudget: tc.budget})
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
				if reqs := c.Values[CntHTTPRequests]; reqs > 0 {
					b.ReportMetric(float64(c.Values[CntHTTPRecords])/float64(reqs), "records/request")
					b.ReportMetric(float64(c.Values[CntRingbufDrops])/float64(reqs), "drops/request")
				}
			}
		})
	}
}
