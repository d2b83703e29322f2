package sensor

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/bpf"
	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/httpwire"
)

// The reader tells records apart by size alone: the four must differ,
// and the C's status prefix must be the Go side's.
func TestRingRecordSizesDiffer(t *testing.T) {
	sizes := map[int]string{}
	for _, r := range []struct {
		name string
		size int
	}{{"flow", recordSize}, {"IPv4 flow", record4Size}, {"HTTP request", httpRecordSize}, {"HTTP response", httpResponseSize}} {
		if other, ok := sizes[r.size]; ok {
			t.Fatalf("ring record sizes collide: %s and %s records are both %d bytes", other, r.name, r.size)
		}
		sizes[r.size] = r.name
	}
	if httpRecordSize-httpRecordHead != httpwire.PrefixBytes {
		t.Fatalf("struct http_event holds %d bytes of data, httpwire reads %d", httpRecordSize-httpRecordHead, httpwire.PrefixBytes)
	}
	if got := cDefine(t, "../bpf/http.h", "HTTP_STATUS_PREFIX"); got != httpStatusPrefix {
		t.Fatalf("bpf/http.h HTTP_STATUS_PREFIX is %d, sensor reads %d", got, httpStatusPrefix)
	}
	if maxRingRecordBytes < recordSize || maxRingRecordBytes < httpResponseSize {
		t.Fatal("maxRingRecordBytes is not the largest record")
	}
}

// encodeHTTP writes a record as the kernel lays it out, through the
// generated struct, so the decoder's offsets are checked against it.
func encodeHTTP(t *testing.T, e bpf.ScanwatchHttpEvent, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, e); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()[:size]
}

func TestHTTPRecordToEvent(t *testing.T) {
	clock := kernelClock{offset: 1_700_000_000 * int64(time.Second)}
	req := bpf.ScanwatchHttpEvent{TsNs: 5e9, Skipped: 7, Sport: 40000, Dport: 8080, WireLen: uint16(len(httpGET)), Copied: uint16(len(httpGET)), Flags: 0x18, Ttl: 61}
	req.Saddr = netip.MustParseAddr("198.51.100.10").As16()
	req.Daddr = netip.MustParseAddr("203.0.113.10").As16()
	copy(req.Data[:], httpGET)
	var ev detector.Event
	if !httpEvent(encodeHTTP(t, req, httpRecordSize), clock, &ev) {
		t.Fatal("a GET record gave no event")
	}
	h := ev.HTTP
	if h == nil || h.Method != "GET" || h.Target != "/admin/.git/config" || h.UserAgent != "Nikto/2.5.0" || h.Host != "203.0.113.10" || h.Skipped != 7 || h.Response {
		t.Fatalf("head %+v", h)
	}
	if ev.Src != netip.MustParseAddr("198.51.100.10") || ev.Dst != netip.MustParseAddr("203.0.113.10") || ev.SrcPort != 40000 || ev.DstPort != 8080 ||
		ev.Kind != detector.KindOther || ev.Flags != 0x18 || ev.TTL != 61 || ev.Packets() != 1 || !ev.Time.Equal(time.Unix(1_700_000_005, 0)) {
		t.Fatalf("event %+v", ev)
	}

	// A response: Src is the server, the packet's source.
	resp := bpf.ScanwatchHttpEvent{Sport: 80, Dport: 40000, WireLen: uint16(len(http404)), Copied: httpStatusPrefix, IsResponse: 1, Skipped: 0}
	resp.Saddr, resp.Daddr = req.Daddr, req.Saddr
	copy(resp.Data[:], http404)
	if !httpEvent(encodeHTTP(t, resp, httpResponseSize), clock, &ev) {
		t.Fatal("a 404 record gave no event")
	}
	if !ev.HTTP.Response || ev.HTTP.Status != 404 || ev.Src != netip.MustParseAddr("203.0.113.10") || ev.SrcPort != 80 {
		t.Fatalf("response event %+v head %+v", ev, ev.HTTP)
	}

	for name, b := range map[string][]byte{
		"not HTTP": func() []byte {
			r := req
			copy(r.Data[:], "BREW / HTCPCP/1.0\r\n")
			return encodeHTTP(t, r, httpRecordSize)
		}(),
		"copy failed (0 bytes)":      func() []byte { r := req; r.Copied = 0; return encodeHTTP(t, r, httpRecordSize) }(),
		"more data than it holds":    func() []byte { r := resp; r.Copied = 17; return encodeHTTP(t, r, httpResponseSize) }(),
		"a response marked request":  func() []byte { r := resp; r.IsResponse = 0; return encodeHTTP(t, r, httpResponseSize) }(),
		"a flow record's size":       make([]byte, recordSize),
		"an IPv4 flow record's size": make([]byte, record4Size),
		"cut short":                  encodeHTTP(t, req, httpRecordSize)[:httpRecordSize-1],
	} {
		if httpEvent(b, clock, &ev) {
			t.Errorf("%s: an event %+v", name, ev)
		}
	}
}

// The reader allocates nothing for a record beyond what httpwire.Parse
// itself allocates.
func TestHTTPRecordAllocations(t *testing.T) {
	r := bpf.ScanwatchHttpEvent{Copied: uint16(len(httpGET))}
	copy(r.Data[:], httpGET)
	b := encodeHTTP(t, r, httpRecordSize)
	var ev detector.Event
	got := testing.AllocsPerRun(100, func() { httpEvent(b, kernelClock{}, &ev) })
	parse := testing.AllocsPerRun(100, func() { httpwire.Parse(httpGET) })
	if got != parse {
		t.Fatalf("%v allocations a record, httpwire.Parse alone makes %v", got, parse)
	}
}

func TestSetHTTPConfig(t *testing.T) {
	var c bpf.ScanwatchConfig
	if err := setHTTP(&c, nil, HTTPBudget{}); err != nil || c.HttpNports != 0 {
		t.Fatalf("no ports: %v, %d ports", err, c.HttpNports)
	}
	if err := setHTTP(&c, httpwire.NewPorts(), HTTPBudget{}); err != nil || c.HttpNports != 0 {
		t.Fatalf("empty set: %v, %d ports", err, c.HttpNports)
	}
	if err := setHTTP(&c, httpwire.NewPorts(80, 8080, 80+1024), HTTPBudget{}); err != nil {
		t.Fatal(err)
	}
	// 80 and 1104 are both 80 modulo 1024: one prefilter bit; 8080 is 912.
	if c.HttpNports != 3 || c.HttpPorts != [16]uint16{80, 1104, 8080} || c.HttpPortBits != [16]uint64{1: 1 << 16, 14: 1 << 16} {
		t.Errorf("ports %d %v bits %#x", c.HttpNports, c.HttpPorts, c.HttpPortBits)
	}
	if c.HttpIntervalNs != 10_000_000 || c.HttpLimitNs != 2_000_000_000 || c.HttpCpuIntervalNs != 1_000_000 || c.HttpCpuLimitNs != 1_000_000_000 {
		t.Errorf("default budget: %+v", c)
	}
	var many []uint16
	for p := uint16(1); p <= httpwire.MaxPorts+1; p++ {
		many = append(many, p)
	}
	if err := setHTTP(&c, httpwire.NewPorts(many...), HTTPBudget{}); err == nil {
		t.Error("17 ports accepted")
	}
	if err := setHTTP(&c, httpwire.NewPorts(80), HTTPBudget{Rate: 2_000_000_000}); err == nil {
		t.Error("a rate past one a nanosecond accepted")
	}
}

// httpwireMethods is httpwire's list of the four-byte words that begin a
// request, which the program's list must equal.
func httpwireMethods(t *testing.T) []string {
	t.Helper()
	return httpwire.Words()
}

// bpfMethods reads http_method's words from bpf/http.h.
func bpfMethods(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("../bpf/http.h")
	if err != nil {
		t.Fatal(err)
	}
	var words []string
	re := regexp.MustCompile(`case HTTP_WORD\('(.)', '(.)', '(.)', '(.)'\):`)
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		words = append(words, m[1]+m[2]+m[3]+m[4])
	}
	return words
}

// cDefine reads a #define's number from a C header.
func cDefine(t *testing.T, file, name string) int {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^#define ` + name + ` (\d+)`).FindSubmatch(src)
	if m == nil {
		t.Fatalf("%s defines no %s", file, name)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
