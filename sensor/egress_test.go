package sensor

import (
	"maps"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket/layers"

	"github.com/scanwatch/scanwatch/bpf"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// tcNext is TC_ACT_UNSPEC (TCX_NEXT) as BPF_PROG_TEST_RUN returns it.
const tcNext = ^uint32(0)

// TestPrivilegedEgressCreditsAnsweredUDP runs a perimeter host's view of
// UDP conversations through the real programs: the clients' datagrams
// arrive through XDP, the host's replies leave through scanwatch_egress.
// A reply to an armed flow earns it one credit, exactly what replay
// gives the same conversation read from a capture of both directions.
func TestPrivilegedEgressCreditsAnsweredUDP(t *testing.T) {
	requirePrivileged(t)
	type hop struct {
		s      seg
		egress bool // sent by the host: through scanwatch_egress
	}
	probe := func(from, to string, dport uint16) hop {
		return hop{s: seg{from: from, to: to, sport: 50000, dport: dport, udp: true, payload: 40}}
	}
	reply := func(from, to string, sport uint16) hop {
		return hop{s: seg{from: from, to: to, sport: sport, dport: 50000, udp: true, payload: 60}, egress: true}
	}
	// other sends from another port: replay, which knows no direction,
	// would take a client datagram from port 50000 for an answer to the
	// host's unasked one to it.
	other := func(h hop) hop { h.s.sport = 50001; return h }
	cases := []struct {
		name string
		hops []hop
		want fullTally
	}{
		{"answered flows earn one credit each", []hop{
			probe(cli, srv, 4433), reply(srv, cli, 4433), reply(srv, cli, 4433),
			probe(cli6, srv6, 53), reply(srv6, cli6, 53),
		}, fullTally{fullKey(a(cli), a(srv), 4433, probeCreditUDP): 1, fullKey(a(cli6), a(srv6), 53, probeCreditUDP): 1}},
		{"a datagram the host sends unasked earns nothing", []hop{
			reply(srv, cli, 4433), other(probe(cli, srv, 161)), reply(srv, cli, 162),
		}, fullTally{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newProgHarness(t, ProgramConfig{StrictChecksums: true})
			var all [][]byte
			for _, hp := range tc.hops {
				for _, ip := range hp.s.frames(t) {
					all = append(all, ip)
					if !hp.egress {
						h.run(ethFrame(ip))
						continue
					}
					ret, err := h.objs.ScanwatchEgress.Run(&ebpf.RunOptions{Data: ethFrame(ip)})
					if err != nil {
						t.Fatalf("egress test run: %v", err)
					}
					if ret != tcNext {
						t.Fatalf("egress program returned %d; it must always return TCX_NEXT", int32(ret))
					}
				}
			}
			live := fullTally{}
			h.eachFlow(func(k *bpf.ScanwatchFlowKey, v *bpf.ScanwatchFlowValue) {
				if k.Probe == probeCreditUDP {
					live[fullKey(addrFrom16(k.Saddr), addrFrom16(k.Daddr), k.Dport, k.Probe)] += v.Count
				}
			})
			replay := fullTally{}
			for _, ev := range replayFrames(t, layers.LinkTypeRaw, all, true) {
				if p, ok := liveProbe(&ev); ok && p == probeCreditUDP {
					replay[fullKey(ev.Src, ev.Dst, ev.DstPort, p)] += ev.Packets()
				}
			}
			if !maps.Equal(live, tc.want) || !maps.Equal(replay, tc.want) {
				t.Errorf("kernel %v\nreplay %v\nwant   %v", live, replay, tc.want)
			}
			c := h.counters()
			if n := uint64(len(tc.want)); c.Values[CntEgressCredits] != n || c.Values[CntCredits] != n {
				t.Errorf("counters: egress_credits %d, credits %d; want %d", c.Values[CntEgressCredits], c.Values[CntCredits], n)
			}
		})
	}
}

// BenchmarkEgress times scanwatch_egress with BPF_PROG_TEST_RUN on what a
// host sends: every outgoing packet pays it. tcp is any TCP segment (a
// parse); udp is a UDP datagram that answers no armed flow (a parse, one
// credit-table hash and read); floor is a TC program that only returns,
// the test run's own cost for this program type.
func BenchmarkEgress(b *testing.B) {
	const repeat = 1_000_000
	tcp := packettest.BuildEth(b, packettest.PktOpts{Flags: "PA", Sport: 443, Dport: 40000, Payload: make([]byte, 100)})
	udp := packettest.BuildEth(b, packettest.PktOpts{UDP: true, Sport: 4433, Dport: 50000})
	for _, tc := range []struct {
		name  string
		frame []byte
	}{{"floor", tcp}, {"tcp", tcp}, {"udp", udp}} {
		b.Run(tc.name, func(b *testing.B) {
			requirePrivileged(b)
			objs, err := LoadProgram(ProgramConfig{})
			if err != nil {
				b.Fatalf("%+v", err)
			}
			defer objs.Close()
			var total float64
			var calls int
			for b.Loop() {
				prog := objs.ScanwatchEgress
				if tc.name == "floor" {
					prog = objs.TcPassFloor
				}
				ret, per, err := prog.Benchmark(tc.frame, repeat, nil)
				if err != nil {
					b.Fatal(err)
				}
				if ret != tcNext {
					b.Fatalf("returned %d", int32(ret))
				}
				total += float64(per.Nanoseconds())
				calls++
			}
			b.ReportMetric(total/float64(calls), "ns/pkt")
		})
	}
}
