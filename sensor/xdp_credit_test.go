package sensor

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/scanwatch/scanwatch/bpf"
	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// seg describes one packet of a conversation between a client in
// 198.51.100.0/24 and a server in 203.0.113.0/24, in either direction.
type seg struct {
	from, to     string // addresses
	sport, dport uint16
	flags        string // as packettest.PktOpts.Flags
	ack          uint32
	payload      int
	ts           bool // a timestamps option, as every Linux segment carries
	udp          bool
	badSum       bool
	fragment     bool // in two IPv4 fragments of 8 and the rest
}

func (s seg) frames(t *testing.T) [][]byte {
	t.Helper()
	src, dst := net.ParseIP(s.from), net.ParseIP(s.to)
	var ip gopacket.NetworkLayer
	var ls []gopacket.SerializableLayer
	proto := layers.IPProtocolTCP
	if s.udp {
		proto = layers.IPProtocolUDP
	}
	if src.To4() != nil {
		v4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 7, Protocol: proto, SrcIP: src.To4(), DstIP: dst.To4()}
		ip, ls = v4, append(ls, v4)
	} else {
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src, DstIP: dst}
		ip, ls = v6, append(ls, v6)
	}
	var tr gopacket.SerializableLayer
	if s.udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		u.SetNetworkLayerForChecksum(ip)
		tr = u
	} else {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: 1000, Ack: s.ack, Window: 502}
		if s.ts {
			tcp.Options = packettest.TimestampOpts
		}
		packettest.SetFlags(tcp, s.flags)
		tcp.SetNetworkLayerForChecksum(ip)
		tr = tcp
	}
	ls = append(ls, tr)
	if s.payload > 0 {
		ls = append(ls, gopacket.Payload(make([]byte, s.payload)))
	}
	p := packettest.Serialize(t, ls...)
	if s.badSum {
		at := 20 + 16 // the TCP checksum after an IPv4 header
		if src.To4() == nil {
			at += 20
		}
		if s.udp {
			at -= 10 // UDP's is at 6
		}
		p[at] ^= 0x5a
	}
	if s.fragment {
		return packettest.Frag4(p, packettest.InOrder(len(p)-20, 16)...)
	}
	return [][]byte{p}
}

const (
	cli  = "198.51.100.20"
	cli2 = "198.51.100.21"
	srv  = "203.0.113.10"
	srv2 = "203.0.113.11"
	cli6 = "2001:db8:1::20"
	srv6 = "2001:db8:2::10"
)

// creditCases are conversations whose credits and ACK probes the kernel
// and replay must count alike.
var creditCases = []struct {
	name string
	segs []seg
}{
	{"connection with data earns one credit", []seg{
		{from: cli, to: srv, sport: 40000, dport: 443, flags: "S"},
		{from: srv, to: cli, sport: 443, dport: 40000, flags: "SA", ack: 1001},
		{from: cli, to: srv, sport: 40000, dport: 443, flags: "A", ack: 1001},
		{from: cli, to: srv, sport: 40000, dport: 443, flags: "PA", ack: 1001, payload: 300},
		{from: cli, to: srv, sport: 40000, dport: 443, flags: "PA", ack: 1001, payload: 300},
		{from: srv, to: cli, sport: 443, dport: 40000, flags: "A", ack: 1301},
	}},
	{"passive download: ACKs of server data earn it", []seg{
		// The control connection's commands: the client talks to the server.
		{from: cli, to: srv, sport: 40010, dport: 21, flags: "S", ts: true},
		{from: cli, to: srv, sport: 40010, dport: 21, flags: "PA", ack: 3001, payload: 14, ts: true},
		{from: cli, to: srv, sport: 40001, dport: 30000, flags: "S", ts: true},
		{from: cli, to: srv, sport: 40001, dport: 30000, flags: "A", ack: 5001, ts: true},
		{from: cli, to: srv, sport: 40001, dport: 30000, flags: "A", ack: 5001 + 1448, ts: true},
	}},
	{"banner grab: ACKs of a greeting earn nothing", []seg{
		{from: cli, to: srv, sport: 40011, dport: 22, flags: "S", ts: true},
		{from: cli, to: srv, sport: 40011, dport: 22, flags: "A", ack: 1001, ts: true},
		{from: cli, to: srv, sport: 40011, dport: 22, flags: "A", ack: 1001 + 40, ts: true},
		{from: cli, to: srv, sport: 40011, dport: 22, flags: "FA", ack: 1001 + 40, ts: true},
	}},
	{"connect scan of an open port earns nothing", []seg{
		{from: cli, to: srv, sport: 40002, dport: 22, flags: "S", ts: true},
		{from: srv, to: cli, sport: 22, dport: 40002, flags: "SA", ack: 1001},
		{from: cli, to: srv, sport: 40002, dport: 22, flags: "A", ack: 1001, ts: true},
		{from: cli, to: srv, sport: 40002, dport: 22, flags: "RA", ack: 1001},
	}},
	{"a bad-sum handshake ACK sets no base", []seg{
		{from: cli, to: srv, sport: 40012, dport: 25, flags: "S"},
		{from: cli, to: srv, sport: 40012, dport: 25, flags: "PA", ack: 1, payload: 20},
		{from: cli, to: srv, sport: 40003, dport: 21, flags: "S"},
		{from: cli, to: srv, sport: 40003, dport: 21, flags: "A", ack: 7001, badSum: true},
		{from: cli, to: srv, sport: 40003, dport: 21, flags: "A", ack: 9001},
		{from: cli, to: srv, sport: 40003, dport: 21, flags: "A", ack: 9001 + 1448},
	}},
	{"ACK scan", []seg{
		{from: cli2, to: srv, sport: 55000, dport: 1, flags: "A"},
		{from: cli2, to: srv, sport: 55000, dport: 2, flags: "A"},
		{from: cli2, to: srv, sport: 55000, dport: 3, flags: "A"},
		{from: cli2, to: srv, sport: 55001, dport: 3, flags: "A"},
		{from: cli2, to: srv, sport: 55000, dport: 4, flags: "A", badSum: true},
		{from: cli2, to: srv2, sport: 55000, dport: 80, flags: "A"},
		{from: cli6, to: srv6, sport: 55000, dport: 80, flags: "A"},
	}},
	{"Maimon scan", []seg{
		{from: cli2, to: srv, sport: 55000, dport: 5, flags: "FA"},
		{from: cli2, to: srv, sport: 55000, dport: 6, flags: "FA"},
		{from: cli6, to: srv6, sport: 55000, dport: 6, flags: "FA"},
	}},
	{"ACKs that are no probe shape", []seg{
		{from: cli2, to: srv, sport: 55000, dport: 7, flags: "A", ts: true},
		{from: cli2, to: srv, sport: 55000, dport: 8, flags: "PA"},
		{from: cli2, to: srv, sport: 55000, dport: 9, flags: "A", payload: 10},
	}},
	{"bare ACKs on connections seen open, both ways", []seg{
		{from: cli, to: srv, sport: 40004, dport: 3389, flags: "S"},
		{from: srv, to: cli, sport: 3389, dport: 40004, flags: "A", ack: 1},
		{from: srv, to: cli, sport: 3389, dport: 40004, flags: "FA", ack: 1},
		{from: cli, to: srv, sport: 40004, dport: 3389, flags: "A", ack: 1},
		{from: cli, to: srv, sport: 40004, dport: 3389, flags: "FA", ack: 1},
	}},
	{"a perimeter host's own connection: answer seen, SYN not", []seg{
		{from: srv, to: cli, sport: 445, dport: 50000, flags: "SA", ack: 1},
		{from: srv, to: cli, sport: 445, dport: 50000, flags: "A", ack: 1},
		{from: srv, to: cli, sport: 445, dport: 50001, flags: "A", ack: 1}, // the slot is keyed by the server's port
		{from: srv, to: cli, sport: 446, dport: 50001, flags: "A", ack: 1},
	}},
	{"a fragmented bare ACK is a probe", []seg{
		{from: cli, to: srv, sport: 40005, dport: 8080, flags: "S"},
		{from: cli, to: srv, sport: 40005, dport: 8080, flags: "A", ack: 1, fragment: true},
	}},
	{"answered UDP earns once per arming", []seg{
		{from: cli, to: srv, sport: 50000, dport: 4433, udp: true, payload: 1200},
		{from: srv, to: cli, sport: 4433, dport: 50000, udp: true, payload: 1200},
		{from: srv, to: cli, sport: 4433, dport: 50000, udp: true, payload: 1200},
		{from: cli6, to: srv6, sport: 50000, dport: 53, udp: true, payload: 30},
		{from: srv6, to: cli6, sport: 53, dport: 50000, udp: true, payload: 60, badSum: true},
		{from: srv6, to: cli6, sport: 53, dport: 50000, udp: true, payload: 60},
	}},
	{"unanswered UDP earns nothing", []seg{
		{from: cli, to: srv, sport: 50000, dport: 161, udp: true, payload: 40},
		{from: cli, to: srv, sport: 50000, dport: 162, udp: true, payload: 40},
		{from: srv2, to: cli, sport: 161, dport: 50000, udp: true, payload: 40},
	}},
}

// fullTally counts what the kernel's flows hold, by addresses, port and
// kind, for the probe kinds the credit path adds.
type fullTally map[string]uint64

func fullKey(src, dst netip.Addr, dport uint16, probe uint8) string {
	return fmt.Sprintf("%v>%v:%d kind %d", src, dst, dport, probe)
}

func creditKind(probe uint8) bool {
	return probe == uint8(detector.ProbeACK) || probe == uint8(detector.ProbeMaimon) || probe == probeCreditTCP || probe == probeCreditUDP
}

// TestPrivilegedXDPCreditMatchesReplay sends each conversation through
// the real XDP program and through replay, and checks that they count the
// same credits and ACK probes, per client, server and port: the kernel's
// credit.h and internal/credit are one rule.
func TestPrivilegedXDPCreditMatchesReplay(t *testing.T) {
	requirePrivileged(t)
	for _, tc := range creditCases {
		t.Run(tc.name, func(t *testing.T) {
			var ips [][]byte
			for _, s := range tc.segs {
				ips = append(ips, s.frames(t)...)
			}
			h := newProgHarness(t, ProgramConfig{StrictChecksums: true})
			for _, p := range ips {
				h.run(ethFrame(p))
			}
			live := fullTally{}
			var acks, credits uint64
			h.eachFlow(func(k *bpf.ScanwatchFlowKey, v *bpf.ScanwatchFlowValue) {
				if creditKind(k.Probe) {
					live[fullKey(addrFrom16(k.Saddr), addrFrom16(k.Daddr), k.Dport, k.Probe)] += v.Count
				}
				switch k.Probe {
				case probeCreditTCP, probeCreditUDP:
					credits += v.Count
				case uint8(detector.ProbeACK), uint8(detector.ProbeMaimon):
					acks += v.Count
				}
			})
			replay := fullTally{}
			for _, ev := range replayFrames(t, layers.LinkTypeRaw, ips, true) {
				if p, ok := liveProbe(&ev); ok && creditKind(p) {
					replay[fullKey(ev.Src, ev.Dst, ev.DstPort, p)] += ev.Packets()
				}
			}
			if !maps.Equal(live, replay) {
				t.Errorf("kernel %v\nreplay %v", live, replay)
			}
			if want := creditWant[tc.name]; !maps.Equal(replay, want) {
				t.Errorf("replay %v\nwant   %v", replay, want)
			}
			// A repeat ACK probe counts in its flow, not as a new report.
			if c := h.counters(); c.Values[CntCredits] != credits || c.Values[CntACKProbes] < acks {
				t.Errorf("counters credits %d ack_probes %d; flows hold %d credits, %d ACK probes", c.Values[CntCredits], c.Values[CntACKProbes], credits, acks)
			}
		})
	}
}

// creditWant is what each conversation must yield, so that the two
// implementations cannot agree on a wrong answer.
var creditWant = map[string]fullTally{
	"connection with data earns one credit":         {fullKey(a(cli), a(srv), 443, 9): 1},
	"passive download: ACKs of server data earn it": {fullKey(a(cli), a(srv), 21, 9): 1, fullKey(a(cli), a(srv), 30000, 9): 1},
	"banner grab: ACKs of a greeting earn nothing":  {},
	"connect scan of an open port earns nothing":    {},
	"a bad-sum handshake ACK sets no base":          {fullKey(a(cli), a(srv), 21, 9): 1, fullKey(a(cli), a(srv), 25, 9): 1},
	"ACK scan": {
		fullKey(a(cli2), a(srv), 1, 6): 1, fullKey(a(cli2), a(srv), 2, 6): 1, fullKey(a(cli2), a(srv), 3, 6): 2,
		fullKey(a(cli2), a(srv2), 80, 6): 1, fullKey(a(cli6), a(srv6), 80, 6): 1,
	},
	"Maimon scan":                                             {fullKey(a(cli2), a(srv), 5, 5): 1, fullKey(a(cli2), a(srv), 6, 5): 1, fullKey(a(cli6), a(srv6), 6, 5): 1},
	"ACKs that are no probe shape":                            {},
	"bare ACKs on connections seen open, both ways":           {},
	"a perimeter host's own connection: answer seen, SYN not": {fullKey(a(srv), a(cli), 50001, 6): 1}, // from 446
	"a fragmented bare ACK is a probe":                        {fullKey(a(cli), a(srv), 8080, 6): 1},
	"answered UDP earns once per arming":                      {fullKey(a(cli), a(srv), 4433, 10): 1, fullKey(a(cli6), a(srv6), 53, 10): 1},
	"unanswered UDP earns nothing":                            {},
}

func a(s string) netip.Addr { return netip.MustParseAddr(s) }
