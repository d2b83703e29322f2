package sensor

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/scanwatch/scanwatch/internal/httpwire"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// The XDP program's HTTP heads (bpf/http.h), driven with crafted packets
// through BPF_PROG_TEST_RUN.

var (
	httpGET  = []byte("GET /admin/.git/config HTTP/1.1\r\nHost: 203.0.113.10\r\nUser-Agent: Nikto/2.5.0\r\nAccept: */*\r\n\r\n")
	http404  = []byte("HTTP/1.1 404 Not Found\r\nServer: test\r\nContent-Length: 0\r\n\r\n")
	defPorts = httpwire.NewPorts(httpwire.DefaultPorts...)
)

// httpPkt is an established connection's data segment to port 80.
func httpPkt(payload []byte, f ...func(*packettest.PktOpts)) packettest.PktOpts {
	o := packettest.PktOpts{Flags: "PA", Dport: 80, Window: 502, TTL: 64, Payload: payload}
	for _, fn := range f {
		fn(&o)
	}
	return o
}

func TestPrivilegedXDPHTTPHeads(t *testing.T) {
	big := append(append([]byte{}, httpGET[:len(httpGET)-2]...), []byte("X-Pad: "+strings.Repeat("a", 2000-len(httpGET)-9)+"\r\n\r\n")...)
	if len(big) != 2000 {
		t.Fatalf("test bug: %d-byte request", len(big))
	}
	tests := []struct {
		name    string
		ports   *httpwire.Ports
		opts    packettest.PktOpts
		frame   []byte // instead of opts
		records int    // HTTP records
		resp    bool
		wire    int // payload bytes on the wire, when a record is wanted
		counter int // the HTTP counter that must be 1 (-1: none of them)
	}{
		{"GET to port 80", defPorts, httpPkt(httpGET), nil, 1, false, len(httpGET), CntHTTPRequests},
		{"2000-byte request: a 512-byte prefix", defPorts, httpPkt(big), nil, 1, false, 2000, CntHTTPRequests},
		{"GET to a port not configured", defPorts, httpPkt(httpGET, func(o *packettest.PktOpts) { o.Dport = 22 }), nil, 0, false, 0, -1},
		{"GET with HTTP off", nil, httpPkt(httpGET), nil, 0, false, 0, -1},
		{"GET to a port of a custom list", httpwire.NewPorts(3000), httpPkt(httpGET, func(o *packettest.PktOpts) { o.Dport = 3000 }), nil, 1, false, len(httpGET), CntHTTPRequests},
		{"GETX is no method", defPorts, httpPkt([]byte("GETX / HTTP/1.1\r\n\r\n")), nil, 0, false, 0, -1},
		{"lower-case get is no method", defPorts, httpPkt([]byte("get / HTTP/1.1\r\n\r\n")), nil, 0, false, 0, -1},
		{"TLS ClientHello bytes", defPorts, httpPkt([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}), nil, 0, false, 0, -1},
		{"three payload bytes", defPorts, httpPkt([]byte("GET")), nil, 0, false, 0, -1},
		{"pure ACK to port 80", defPorts, httpPkt(nil, func(o *packettest.PktOpts) { o.Flags = "A" }), nil, 0, false, 0, -1},
		{"a request line to a client port is no response", defPorts, httpPkt([]byte("HTTP/1.1 200 OK\r\n\r\n")), nil, 0, false, 0, -1},
		{"SYN with a GET (Fast Open) is a probe, not read", defPorts, httpPkt(httpGET, func(o *packettest.PktOpts) { o.Flags = "S" }), nil, 0, false, 0, -1},
		{"RST+ACK with a GET: the stack delivers no data of a RST", defPorts, httpPkt(httpGET, func(o *packettest.PktOpts) { o.Flags = "RA" }), nil, 0, false, 0, -1},
		{"PSH without ACK: discarded by the stack", defPorts, httpPkt(httpGET, func(o *packettest.PktOpts) { o.Flags = "P" }), nil, 0, false, 0, -1},
		{"response from port 80", defPorts, httpPkt(http404, func(o *packettest.PktOpts) { o.Sport, o.Dport = 80, 40000 }), nil, 1, true, len(http404), CntHTTPResponses},
		{"a GET from port 80 to a client port is no response", defPorts, httpPkt(httpGET, func(o *packettest.PktOpts) { o.Sport, o.Dport = 80, 40000 }), nil, 0, false, 0, -1},
		{"both ports HTTP ports: a request", defPorts, httpPkt(httpGET, func(o *packettest.PktOpts) { o.Sport = 8080 }), nil, 1, false, len(httpGET), CntHTTPRequests},
		{"IPv6 GET", defPorts, httpPkt(httpGET, func(o *packettest.PktOpts) { o.V6 = true }), nil, 1, false, len(httpGET), CntHTTPRequests},
		{"IPv6 extension headers GET", defPorts, httpPkt(httpGET, func(o *packettest.PktOpts) { o.V6, o.Ext6 = true, true }), nil, 1, false, len(httpGET), CntHTTPRequests},
		{"802.1Q GET", defPorts, httpPkt(httpGET, func(o *packettest.PktOpts) { o.VLANs = []uint16{10} }), nil, 1, false, len(httpGET), CntHTTPRequests},
		{"QinQ IPv6 response", defPorts, httpPkt(http404, func(o *packettest.PktOpts) { o.VLANs, o.V6, o.Sport, o.Dport = []uint16{10, 20}, true, 8080, 40000 }), nil, 1, true, len(http404), CntHTTPResponses},
		{"IPv4 options GET", defPorts, httpPkt(httpGET, func(o *packettest.PktOpts) { o.IPOpts = true }), nil, 1, false, len(httpGET), CntHTTPRequests},
		{"TCP options GET", defPorts, httpPkt(httpGET, func(o *packettest.PktOpts) { o.TCPOpts = packettest.LinuxOpts[:3] }), nil, 1, false, len(httpGET), CntHTTPRequests},
		{"truncated: payload shorter than the IP length says", defPorts, packettest.PktOpts{}, packettest.BuildEth(t, httpPkt(httpGET))[:14+20+20+10], 0, false, 0, -1},
		{"IPv4 total length 0 (offload): the frame's payload", defPorts, packettest.PktOpts{}, zeroTotalLength(packettest.BuildEth(t, httpPkt(httpGET))), 1, false, len(httpGET), CntHTTPRequests},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newProgHarness(t, ProgramConfig{HTTPPorts: tc.ports})
			frame := tc.frame
			if frame == nil {
				frame = packettest.BuildEth(t, tc.opts)
			}
			h.run(frame)
			flows, heads := h.drain()
			c := h.counters()
			if len(heads) != tc.records || c.Values[CntHTTPRecords] != uint64(tc.records) {
				t.Fatalf("%d HTTP records (counter %d), want %d", len(heads), c.Values[CntHTTPRecords], tc.records)
			}
			for i := CntHTTPRequests; i <= CntHTTPResponses; i++ {
				if want := b2u(i == tc.counter); c.Values[i] != uint64(want) {
					t.Errorf("counter %s = %d, want %d", CounterNames[i], c.Values[i], want)
				}
			}
			if c.Values[CntRingbufEvents] != uint64(len(flows)+len(heads)) || c.Values[CntPackets] != 1 || c.Actions[xdpPass] != 1 {
				t.Errorf("ringbuf_events %d packets %d pass %d", c.Values[CntRingbufEvents], c.Values[CntPackets], c.Actions[xdpPass])
			}
			if tc.records == 0 {
				return
			}
			r := heads[0]
			payload := tc.opts.Payload
			if payload == nil {
				payload = httpGET
			}
			room := httpwire.PrefixBytes
			if tc.resp {
				room = httpStatusPrefix
			}
			want := payload[:min(len(payload), room)]
			if !bytes.Equal(r.data, want) || int(r.wireLen) != tc.wire || r.isResponse != tc.resp || r.skipped != 0 {
				t.Errorf("record: wire %d copied %d response %v skipped %d data %q; want wire %d, %q", r.wireLen, len(r.data), r.isResponse, r.skipped, r.data, tc.wire, want)
			}
			src, dst := netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("203.0.113.10")
			if tc.opts.V6 {
				src, dst = netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:2::10")
			}
			if addrFrom16(r.saddr) != src || addrFrom16(r.daddr) != dst || r.ttl != 64 || r.flags != 0x18 || r.tsNs == 0 ||
				(tc.opts.Dport != 0 && (r.dport != tc.opts.Dport || r.sport != srcPortOf(tc.opts))) {
				t.Errorf("record header: %s -> %s %d -> %d ttl %d flags %#x ts %d", addrFrom16(r.saddr), addrFrom16(r.daddr), r.sport, r.dport, r.ttl, r.flags, r.tsNs)
			}
		})
	}
}

func srcPortOf(o packettest.PktOpts) uint16 {
	if o.Sport == 0 {
		return 40000
	}
	return o.Sport
}

// zeroTotalLength sets an untagged IPv4 frame's total length to 0, as
// segmentation offload leaves it in the host's own packets.
func zeroTotalLength(frame []byte) []byte {
	binary.BigEndian.PutUint16(frame[14+2:], 0)
	return frame
}

// fromTarget swaps an untagged IPv4 frame's addresses: the target
// answers the scanner. (No checksum matters off the probe path.)
func fromTarget(frame []byte) []byte {
	var a [4]byte
	copy(a[:], frame[26:30])
	copy(frame[26:30], frame[30:34])
	copy(frame[30:34], a[:])
	return frame
}

// TestPrivilegedXDPHTTPMethodsMatchHTTPWire: the program takes exactly the
// first four bytes httpwire.Begins takes for a request, as a test of
// behaviour (every word of both lists, and near misses, through the
// program) and of the lists themselves.
func TestPrivilegedXDPHTTPMethodsMatchHTTPWire(t *testing.T) {
	goWords := httpwireMethods(t)
	cWords := bpfMethods(t)
	if strings.Join(goWords, "|") != strings.Join(cWords, "|") {
		t.Fatalf("method words differ:\n httpwire: %q\n bpf/http.h: %q", goWords, cWords)
	}
	words := append([]string{}, goWords...)
	for _, w := range goWords {
		words = append(words, strings.ToLower(w), w[:3]+"X", " "+w[:3])
	}
	words = append(words, "HTTP", "GETS", "SSH-", "\x16\x03\x01\x00", "\x00\x00\x00\x00", "PRI ")
	h := newProgHarness(t, ProgramConfig{HTTPPorts: defPorts, HTTPBudget: HTTPBudget{Rate: 1_000_000, Burst: 1_000_000}})
	for _, w := range words {
		h.run(packettest.BuildEth(t, httpPkt([]byte(w+" / HTTP/1.1\r\n\r\n"))))
		_, heads := h.drain()
		req, _ := httpwire.Begins([]byte(w))
		if (len(heads) == 1) != req || len(heads) > 1 {
			t.Errorf("%q: %d records, httpwire.Begins says request=%v", w, len(heads), req)
		}
	}
}

// TestPrivilegedXDPHTTPBudget: a flood of requests from one client gives
// at most a burst of records, and the records plus the client's
// cumulative skipped count add up to every request sent.
func TestPrivilegedXDPHTTPBudget(t *testing.T) {
	const burst, flood = 200, 1000
	// Two a second: a token every 500 ms, and the flood (one test run
	// repeating the packet in the kernel) takes about 20.
	const interval = 500 * time.Millisecond
	h := newProgHarness(t, ProgramConfig{HTTPPorts: defPorts, HTTPBudget: HTTPBudget{Rate: 2, Burst: burst}})
	frame := packettest.BuildEth(t, httpPkt(httpGET))
	start := time.Now()
	if _, err := h.objs.ScanwatchXdp.Run(&ebpf.RunOptions{Data: frame, Repeat: flood}); err != nil {
		t.Fatal(err)
	}
	// A response to the client shares its budget (spent) and leaves its
	// count of skipped requests alone.
	h.run(fromTarget(packettest.BuildEth(t, httpPkt(http404, func(o *packettest.PktOpts) { o.Sport, o.Dport = 80, 40000 }))))
	// Tokens that came back while it ran (none unless the machine stalled).
	back := int(time.Since(start) / interval)
	_, heads := h.drain()
	if len(heads) < burst || len(heads) > burst+back {
		t.Fatalf("%d records for a flood of %d, want the burst of %d (+%d)", len(heads), flood, burst, back)
	}
	var reqs uint64
	var last uint32 // the records' counts are cumulative
	for _, r := range heads {
		switch {
		case !r.isResponse:
			reqs++
			if r.skipped < last {
				t.Fatalf("skipped went down from %d to %d: it is cumulative", last, r.skipped)
			}
			last = r.skipped
		case back == 0:
			t.Fatal("the response was copied past the spent budget")
		}
	}
	client := netip.MustParseAddr("198.51.100.10")
	pending := clientSkipped(t, h, client)
	if reqs+uint64(pending) != flood || last > pending {
		t.Errorf("%d request records + %d skipped (the records said %d so far), want %d requests", reqs, pending, last, flood)
	}
	c := h.counters()
	if c.Values[CntHTTPRequests] != flood || c.Values[CntHTTPResponses] != 1 || c.Values[CntHTTPSuppressedSource]+c.Values[CntHTTPRecords] != flood+1 {
		t.Errorf("requests %d responses %d suppressed %d records %d, want %d, 1 and all %d heads", c.Values[CntHTTPRequests], c.Values[CntHTTPResponses],
			c.Values[CntHTTPSuppressedSource], c.Values[CntHTTPRecords], flood, flood+1)
	}
	// Once a token is back, the next request's record carries the count.
	time.Sleep(interval + 100*time.Millisecond)
	h.run(frame)
	_, next := h.drain()
	if len(next) != 1 || uint64(next[0].skipped) != uint64(pending) || clientSkipped(t, h, client) != pending {
		t.Fatalf("after a token: %d records (skipped %v), want 1 carrying the %d skipped", len(next), next, pending)
	}
	if c := h.counters(); c.Values[CntHTTPSuppressedSource]+c.Values[CntHTTPRecords] != flood+2 {
		t.Errorf("suppressed %d + records %d, want every head (%d)", c.Values[CntHTTPSuppressedSource], c.Values[CntHTTPRecords], flood+2)
	}
}

// TestPrivilegedXDPHTTPCPUBudget: many clients, each within its own
// budget (spoofed sources), are held to the CPU's; each keeps its count
// of skipped requests. The test thread is pinned to one CPU, whose
// bucket every run then uses.
func TestPrivilegedXDPHTTPCPUBudget(t *testing.T) {
	const clients, cpuBurst = 40, 10
	pinToOneCPU(t)
	h := newProgHarness(t, ProgramConfig{HTTPPorts: defPorts, HTTPBudget: HTTPBudget{CPURate: 1, CPUBurst: cpuBurst}})
	frame := packettest.BuildEth(t, httpPkt(httpGET))
	for i := 0; i < clients; i++ {
		frame[14+12+3] = byte(100 + i) // the IPv4 source: 198.51.100.(100+i)
		h.run(frame)
	}
	_, heads := h.drain()
	c := h.counters()
	if len(heads) != cpuBurst || c.Values[CntHTTPSuppressedCPU] != clients-cpuBurst || c.Values[CntHTTPSuppressedSource] != 0 {
		t.Fatalf("%d records, suppressed %d (cpu) %d (source); want %d, %d, 0", len(heads), c.Values[CntHTTPSuppressedCPU],
			c.Values[CntHTTPSuppressedSource], cpuBurst, clients-cpuBurst)
	}
	var pending uint32
	for i := 0; i < clients; i++ {
		pending += clientSkipped(t, h, netip.AddrFrom4([4]byte{198, 51, 100, byte(100 + i)}))
	}
	if pending != clients-cpuBurst {
		t.Errorf("%d requests pending in the clients' skipped counts, want %d", pending, clients-cpuBurst)
	}
}

// TestPrivilegedXDPHTTPRingFull: heads lost to a full ring are counted
// as ring drops and in the client's skipped count, like the budget's.
func TestPrivilegedXDPHTTPRingFull(t *testing.T) {
	const sent = 20
	h := newProgHarness(t, ProgramConfig{HTTPPorts: defPorts, RingBytes: 4096})
	frame := packettest.BuildEth(t, httpPkt(httpGET))
	for i := 0; i < sent; i++ {
		h.run(frame)
	}
	_, heads := h.drain()
	c := h.counters()
	fit := 4096 / ringBytes(httpRecordSize) // 7
	if uint64(len(heads)) != fit || c.Values[CntRingbufDrops] != sent-fit {
		t.Fatalf("%d records, %d drops; want %d and %d", len(heads), c.Values[CntRingbufDrops], fit, sent-fit)
	}
	h.run(frame)
	_, next := h.drain()
	if len(next) != 1 || uint64(next[0].skipped) != sent-fit {
		t.Fatalf("after draining: %d records %+v, want one with skipped %d", len(next), next, sent-fit)
	}
}

// clientSkipped is the cumulative skipped count the kernel holds for a client.
func clientSkipped(t *testing.T, h *progHarness, client netip.Addr) uint32 {
	t.Helper()
	key := client.As16()
	var v struct {
		Tat     uint64
		Skipped uint32
		Pad     uint32
	}
	if err := h.objs.HttpClients.Lookup(key, &v); err != nil {
		t.Fatalf("no budget entry for %s: %v", client, err)
	}
	return v.Skipped
}

// pinToOneCPU keeps the test's OS thread on the CPU it is on, so that
// every test run uses the same per-CPU state.
func pinToOneCPU(t *testing.T) {
	t.Helper()
	runtime.LockOSThread()
	var old, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	for cpu := 0; cpu < 1024; cpu++ {
		if old.IsSet(cpu) {
			one.Set(cpu)
			break
		}
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	})
}
