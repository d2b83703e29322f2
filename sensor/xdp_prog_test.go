package sensor

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/scanwatch/scanwatch/bpf"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

const xdpPass = 2

// progHarness is the real XDP program, loaded but not attached, driven by
// BPF_PROG_TEST_RUN with crafted packets.
type progHarness struct {
	t    *testing.T
	objs *Objects
	rd   *ringbuf.Reader
}

func newProgHarness(t *testing.T, cfg ProgramConfig) *progHarness {
	t.Helper()
	requirePrivileged(t)
	objs, err := LoadProgram(cfg)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	rd, err := ringbuf.NewReader(objs.Events)
	if err != nil {
		objs.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close(); objs.Close() })
	return &progHarness{t: t, objs: objs, rd: rd}
}

func (h *progHarness) run(frame []byte) {
	h.t.Helper()
	ret, err := h.objs.ScanwatchXdp.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		h.t.Fatalf("test run: %v", err)
	}
	if ret != xdpPass {
		h.t.Fatalf("program returned %d; it must always return XDP_PASS (%d)", ret, xdpPass)
	}
}

// records drains the ring without blocking and returns its flow records;
// it fails the test on an HTTP record (drain returns both kinds).
func (h *progHarness) records() []bpf.ScanwatchEvent {
	h.t.Helper()
	flows, heads := h.drain()
	if len(heads) > 0 {
		h.t.Fatalf("%d unexpected HTTP records", len(heads))
	}
	return flows
}

// drain reads every record waiting in the ring, without blocking. The
// program submits without waking the reader (below its wakeup
// threshold), so a Flush releases what is pending, as the live reader's
// timer does. HTTP records' data is copied out of the reused sample.
func (h *progHarness) drain() (flows []bpf.ScanwatchEvent, heads []httpRecord) {
	h.t.Helper()
	var rec ringbuf.Record
	if h.rd.AvailableBytes() == 0 {
		return nil, nil
	}
	if err := h.rd.Flush(); err != nil {
		h.t.Fatal(err)
	}
	for {
		err := h.rd.ReadInto(&rec)
		if errors.Is(err, ringbuf.ErrFlushed) {
			return flows, heads
		}
		if err != nil {
			h.t.Fatal(err)
		}
		if r, ok := decodeRecord(rec.RawSample); ok {
			flows = append(flows, r)
			continue
		}
		r, ok := decodeHTTPRecord(rec.RawSample)
		if !ok {
			h.t.Fatalf("a record of %d bytes is neither a flow nor an HTTP head", len(rec.RawSample))
		}
		r.data = append([]byte(nil), r.data...)
		heads = append(heads, r)
	}
}

// eachFlow calls fn for every flow the kernel counted: the first sights
// (bpf/admit.h) waiting in the ring, which the map does not hold, and the
// map's entries. It drains the ring; other records are dropped.
func (h *progHarness) eachFlow(fn func(k *bpf.ScanwatchFlowKey, v *bpf.ScanwatchFlowValue)) {
	h.t.Helper()
	flows, _ := h.drain()
	for _, r := range flows {
		if r.IsNew == recordFirstSight {
			k := bpf.ScanwatchFlowKey{Saddr: r.Saddr, Daddr: r.Daddr, Dport: r.Dport, Probe: r.Probe}
			v := bpf.ScanwatchFlowValue{Count: r.Count, FirstNs: r.TsNs, LastNs: r.TsNs, Sport: r.Sport, Window: r.Window, IpId: r.IpId,
				Ttl: r.Ttl, Flags: r.Flags, MssOnly: r.MssOnly, OptLen: r.OptLen, Evasion: r.Evasion}
			fn(&k, &v)
		}
	}
	var k bpf.ScanwatchFlowKey
	var v bpf.ScanwatchFlowValue
	it := h.objs.Flows.Iterate()
	for it.Next(&k, &v) {
		fn(&k, &v)
	}
	if err := it.Err(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *progHarness) counters() Counters {
	h.t.Helper()
	c, err := h.objs.ReadCounters()
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func TestPrivilegedXDPProgramClassifies(t *testing.T) {
	syn := packettest.PktOpts{Flags: "S", Dport: 22, Window: 1024, TTL: 41, ID: 54321, TCPOpts: packettest.MSSOpt}
	with := func(f func(*packettest.PktOpts)) packettest.PktOpts { o := syn; f(&o); return o }
	eth := packettest.BuildEth(t, syn)
	tests := []struct {
		name    string
		frame   []byte
		counter int // the one class counter that must be 1
		records int
	}{
		{"SYN v4", eth, CntSYN, 1},
		{"SYN v6", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.V6 = true })), CntSYN, 1},
		{"SYN-ACK", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Flags = "SA" })), CntOtherTCP, 0},
		{"ACK", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Flags = "A" })), CntOtherTCP, 0},
		{"RST", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Flags = "R" })), CntOtherTCP, 0},
		{"UDP probe", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.UDP = true })), CntUDP, 1},
		{"UDP reply from a service port", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.UDP = true; o.Sport = 53; o.Dport = 40000 })), CntUDP, 0},
		{"FIN probe", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Flags = "F" })), CntOtherTCP, 1},
		{"NULL probe", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Flags = "" })), CntOtherTCP, 1},
		{"XMAS probe", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Flags = "FPU" })), CntOtherTCP, 1},
		{"FIN+ACK is not a stealth probe", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Flags = "FA" })), CntOtherTCP, 0},
		{"802.1Q SYN", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.VLANs = []uint16{943} })), CntSYN, 1},
		{"QinQ SYN", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.VLANs = []uint16{100, 200} })), CntSYN, 1},
		{"IPv4 options SYN", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.IPOpts = true })), CntSYN, 1},
		{"IPv6 extension headers SYN", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.V6 = true; o.Ext6 = true })), CntSYN, 1},
		{"runt: Ethernet header only", eth[:14], CntParseError, 0},
		{"truncated IPv4", eth[:14+12], CntParseError, 0},
		{"truncated TCP", eth[:14+20+10], CntParseError, 0},
		{"truncated IPv6", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.V6 = true }))[:14+30], CntParseError, 0},
		{"IPv4 lone last fragment: held for reassembly", packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Fragment = true })), CntFragments, 0},
		{"ARP", append(append(append([]byte{}, packettest.MACTgt...), packettest.MACScan...), 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1), CntNonTCP, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newProgHarness(t, ProgramConfig{})
			h.run(tc.frame)
			c := h.counters()
			if c.Values[CntPackets] != 1 || c.Actions[xdpPass] != 1 {
				t.Errorf("packets %d, XDP_PASS %d; want 1 and 1", c.Values[CntPackets], c.Actions[xdpPass])
			}
			if c.Values[tc.counter] != 1 {
				t.Errorf("counter %s = %d, want 1", CounterNames[tc.counter], c.Values[tc.counter])
			}
			for i := CntSYN; i <= CntParseError; i++ {
				want := uint64(0)
				if i == tc.counter {
					want = 1
				}
				if c.Values[i] != want {
					t.Errorf("counter %s = %d, want %d", CounterNames[i], c.Values[i], want)
				}
			}
			recs := h.records()
			if len(recs) != tc.records || c.Values[CntRingbufEvents] != uint64(tc.records) {
				t.Errorf("%d records (counter %d), want %d", len(recs), c.Values[CntRingbufEvents], tc.records)
			}
		})
	}
}

func TestPrivilegedXDPUDPProbesOff(t *testing.T) {
	h := newProgHarness(t, ProgramConfig{NoUDPProbes: true})
	h.run(packettest.BuildEth(t, packettest.PktOpts{UDP: true, Dport: 161}))
	if c := h.counters(); c.Values[CntUDP] != 1 || c.Values[CntProbes] != 0 || len(h.records()) != 0 {
		t.Fatalf("with UDP probes off, UDP must only be counted: %+v", c.Values)
	}
}

func TestPrivilegedXDPRecordFields(t *testing.T) {
	h := newProgHarness(t, ProgramConfig{})
	h.run(packettest.BuildEth(t, packettest.PktOpts{Flags: "S", Dport: 22, Window: 1024, TTL: 41, ID: 54321, TCPOpts: packettest.MSSOpt, VLANs: []uint16{7}}))
	h.run(packettest.BuildEth(t, packettest.PktOpts{V6: true, Flags: "S", Dport: 443, Window: 64240, TTL: 64, TCPOpts: packettest.LinuxOpts}))
	// The first source's second probe: its flow goes to the map.
	h.run(packettest.BuildEth(t, packettest.PktOpts{Flags: "S", Dport: 23, Window: 1024, TTL: 41, TCPOpts: packettest.MSSOpt}))
	recs := h.records()
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	// Each source's first probe is a first sight (bpf/admit.h).
	r := recs[0]
	if addrFrom16(r.Saddr) != netip.MustParseAddr("198.51.100.10") || addrFrom16(r.Daddr) != netip.MustParseAddr("203.0.113.10") ||
		r.Dport != 22 || r.Sport != 40000 || r.Window != 1024 || r.Ttl != 41 || r.IpId != 54321 || r.MssOnly != 1 ||
		r.IsNew != recordFirstSight || r.Count != 1 || r.Flags != 0x02 || r.TsNs == 0 {
		t.Errorf("v4 record: %+v", r)
	}
	r = recs[1]
	if addrFrom16(r.Saddr) != netip.MustParseAddr("2001:db8:1::10") || addrFrom16(r.Daddr) != netip.MustParseAddr("2001:db8:2::10") ||
		r.Dport != 443 || r.Window != 64240 || r.Ttl != 64 || r.IpId != 0 || r.MssOnly != 0 || r.IsNew != recordFirstSight {
		t.Errorf("v6 record: %+v", r)
	}
	if r = recs[2]; addrFrom16(r.Saddr) != netip.MustParseAddr("198.51.100.10") || r.Dport != 23 || r.IsNew != 1 || r.Count != 1 {
		t.Errorf("second probe's record: %+v", r)
	}
	if n, c := countEntries(t, h.objs.Flows), h.counters(); n != 1 || c.Values[CntFlowsNew] != 1 || c.Values[CntFirstSight] != 2 {
		t.Errorf("%d flows in the map, %d inserted, %d first sights; want 1, 1, 2", n, c.Values[CntFlowsNew], c.Values[CntFirstSight])
	}
}

func TestPrivilegedXDPAggregatesRepeats(t *testing.T) {
	// 1000 identical SYNs: a first sight (admit.h), then the flow in the
	// map: its new-flow record plus one per 128 of its own count, which
	// holds the other 999 exactly.
	h := newProgHarness(t, ProgramConfig{})
	frame := packettest.BuildEth(t, packettest.PktOpts{Flags: "S", Dport: 80, TCPOpts: packettest.MSSOpt})
	for i := 0; i < 1000; i++ {
		h.run(frame)
	}
	recs := h.records()
	if want := 2 + 999/128; len(recs) != want {
		t.Fatalf("%d records for 1000 repeats, want %d", len(recs), want)
	}
	if recs[0].IsNew != recordFirstSight || recs[0].Count != 1 || recs[1].IsNew != 1 || recs[1].Count != 1 {
		t.Fatalf("first records: %+v, %+v", recs[0], recs[1])
	}
	for i, r := range recs[2:] {
		if r.IsNew != 0 || r.Count != uint64(128*(i+1)) {
			t.Fatalf("record %d: new=%d count=%d, want cumulative %d", i+2, r.IsNew, r.Count, 128*(i+1))
		}
	}
	var n int
	var k bpf.ScanwatchFlowKey
	var v bpf.ScanwatchFlowValue
	it := h.objs.Flows.Iterate()
	for it.Next(&k, &v) {
		n++
		if v.Count != 999 {
			t.Fatalf("flow count %d, want 999", v.Count)
		}
	}
	if n != 1 {
		t.Fatalf("%d flows, want 1", n)
	}
	if c := h.counters(); c.Values[CntSYN] != 1000 || c.Values[CntFlowsNew] != 1 || c.Values[CntFirstSight] != 1 {
		t.Fatalf("syn %d flows_new %d first_sight %d", c.Values[CntSYN], c.Values[CntFlowsNew], c.Values[CntFirstSight])
	}
}

func TestPrivilegedXDPReportInterval(t *testing.T) {
	if _, err := LoadProgram(ProgramConfig{ReportEvery: 100}); err == nil {
		t.Fatal("a report interval that is not a power of two must be refused")
	}
	h := newProgHarness(t, ProgramConfig{ReportEvery: 4})
	frame := packettest.BuildEth(t, packettest.PktOpts{Flags: "S", Dport: 80})
	for i := 0; i < 9; i++ {
		h.run(frame)
	}
	if n := len(h.records()); n != 4 { // first sight, then the map's new, 4, 8
		t.Fatalf("%d records, want 4", n)
	}
}
