package sensor

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/scanwatch/scanwatch/internal/httpwire"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// BenchmarkXDP times the real program with BPF_PROG_TEST_RUN, 1e6 repeats
// per call (each call has a fixed ~17 ms cost that fewer repeats would
// smear into the figure), and reports ns/pkt. Program.Benchmark repeats one
// packet, so syn_repeat is the known-flow path. The program's benchmark
// switch makes every repeat a new flow while a reader drains the ring as
// 'scanwatch run' does: syn_new from a new source each (a spoofed flood:
// admission's first sight, a ring record and no LRU insert), and the same
// with admission off (an LRU insert too); syn_sweep from one source to
// ever new hosts (an admitted source: LRU insert and ring record).
//
// HTTP inspection is on (the default ports) except in ack_http_off. Of
// its cases, http copies every repeat (a budget no flood reaches), and
// http_budget is a client over its budget: what a flood of requests
// costs once past its burst. ack_data and http_body are data segments
// that are no HTTP head, off and on an HTTP port.
//
// The ACK cases: ack is an established connection's ACK (with the
// timestamps a Linux peer puts on every segment), its connection seen
// open and credited before the run: the credit table's hash and one slot
// read and write. ack_unseen is the same ACK on no connection the table
// knows (a perimeter host's own connections: their SYNs leave by the
// egress path). ack_probe is a bare ACK on no connection, as nmap -sA
// sends: both directions looked up, then counted on its flow.
func BenchmarkXDP(b *testing.B) {
	const repeat = 1_000_000
	syn := packettest.BuildEth(b, packettest.PktOpts{Flags: "S", Dport: 22, Window: 1024, TTL: 50, TCPOpts: packettest.MSSOpt})
	udp := packettest.BuildEth(b, packettest.PktOpts{UDP: true, Dport: 53})
	ack := packettest.BuildEth(b, packettest.PktOpts{Flags: "A", Dport: 22})
	ackTS := packettest.BuildEth(b, packettest.PktOpts{Flags: "A", Dport: 22, TCPOpts: packettest.TimestampOpts})
	data := packettest.BuildEth(b, packettest.PktOpts{Flags: "PA", Dport: 22, Payload: []byte("SSH-2.0-OpenSSH_9.2\r\n")})
	opened := [][]byte{syn, data} // the connection ack's ACKs belong to
	get := packettest.BuildEth(b, packettest.PktOpts{Flags: "PA", Dport: 80, Payload: httpGET})
	body := make([]byte, 1200)
	on := httpwire.NewPorts(httpwire.DefaultPorts...)
	unlimited := HTTPBudget{Rate: 1e9, Burst: 1e9, CPURate: 1e9, CPUBurst: 1e9}
	cases := []struct {
		name   string
		fresh  BenchKeys
		floor  bool
		frame  []byte
		noUDP  bool
		ports  *httpwire.Ports
		budget HTTPBudget
		before [][]byte // frames run once first
	}{
		{"floor", BenchSameKey, true, syn, false, on, HTTPBudget{}, nil},
		{"ack", BenchSameKey, false, ackTS, false, on, HTTPBudget{}, opened},
		{"ack_http_off", BenchSameKey, false, ackTS, false, nil, HTTPBudget{}, opened},
		{"ack_unseen", BenchSameKey, false, ackTS, false, on, HTTPBudget{}, nil},
		{"ack_probe", BenchSameKey, false, ack, false, on, HTTPBudget{}, nil},
		{"ack_data", BenchSameKey, false, packettest.BuildEth(b, packettest.PktOpts{Flags: "PA", Dport: 22, Payload: body}), false, on, HTTPBudget{}, nil},
		{"udp", BenchSameKey, false, udp, true, on, HTTPBudget{}, nil},        // UDP probes off: counters only
		{"udp_probe", BenchSameKey, false, udp, false, on, HTTPBudget{}, nil}, // the default: a flow like a SYN's
		{"syn_repeat", BenchSameKey, false, syn, false, on, HTTPBudget{}, nil},
		{"syn_new", BenchNewSource, false, syn, false, on, HTTPBudget{}, nil},
		{"syn_new_no_admission", BenchNewSource, false, syn, false, on, HTTPBudget{}, nil},
		{"syn_sweep", BenchNewTarget, false, syn, false, on, HTTPBudget{}, nil},
		{"http_body", BenchSameKey, false, packettest.BuildEth(b, packettest.PktOpts{Flags: "PA", Dport: 80, Payload: body}), false, on, HTTPBudget{}, nil},
		{"http", BenchSameKey, false, get, false, on, unlimited, nil},
		{"http_budget", BenchSameKey, false, get, false, on, HTTPBudget{}, nil},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			requirePrivileged(b)
			objs, err := LoadProgram(ProgramConfig{BenchFreshKeys: tc.fresh, NoAdmission: tc.name == "syn_new_no_admission",
				NoUDPProbes: tc.noUDP, HTTPPorts: tc.ports, HTTPBudget: tc.budget})
			if err != nil {
				b.Fatalf("%+v", err)
			}
			defer objs.Close()
			prog := objs.ScanwatchXdp
			for _, f := range tc.before {
				if _, err := prog.Run(&ebpf.RunOptions{Data: f}); err != nil {
					b.Fatal(err)
				}
			}
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
