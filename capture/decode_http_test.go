package capture

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/httpwire"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

const niktoGet = "GET /.git/config?x=1 HTTP/1.1\r\nHost: 203.0.113.10\r\nUser-Agent: Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000123)\r\nConnection: Keep-Alive\r\n\r\n"

// reqOpts is a client's data segment to port dport.
func reqOpts(dport uint16) packettest.PktOpts {
	return packettest.PktOpts{Flags: "PA", Dport: dport, Window: 502, TTL: 64, ID: 4242}
}

// respOpts is a server's data segment from port sport.
func respOpts(sport uint16) packettest.PktOpts {
	return packettest.PktOpts{Flags: "PA", Sport: sport, Dport: 40000, Window: 509, TTL: 64}
}

func TestDecodeHTTP(t *testing.T) {
	get := []byte(niktoGet)
	with := func(o packettest.PktOpts, f func(*packettest.PktOpts)) packettest.PktOpts { f(&o); return o }
	long := "GET /" + strings.Repeat("a", 60) + " HTTP/1.1\r\nHost: h\r\nCookie: " + strings.Repeat("c", 1900) + "\r\nUser-Agent: late\r\n\r\n"
	// A frame with bytes after its IP datagram, as a capture keeps a
	// card's trailer: they continue the head, and must not be read.
	trailer := func() []byte {
		f := packettest.TCPPayloadEth(t, reqOpts(80), []byte("GET /a HTTP/1.1\r\nHost: h\r\n"))
		return append(f, "User-Agent: not on the wire\r\n\r\n"...)
	}()
	tests := []struct {
		name  string
		frame []byte
		want  *detector.HTTP // nil: the event carries none
		stat  string         // HTTPRequests or HTTPResponses when want is set
	}{
		{"GET to 80", packettest.TCPPayloadEth(t, reqOpts(80), get),
			&detector.HTTP{Method: "GET", Target: "/.git/config?x=1", Host: "203.0.113.10", UserAgent: "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000123)", Head: niktoGet}, "HTTPRequests"},
		{"GET to 8888", packettest.TCPPayloadEth(t, reqOpts(8888), get), &detector.HTTP{Method: "GET", Target: "/.git/config?x=1"}, "HTTPRequests"},
		{"GET to 9999: not an inspected port", packettest.TCPPayloadEth(t, reqOpts(9999), get), nil, ""},
		{"GET from 80 (a client on port 80): requests are read by destination", packettest.TCPPayloadEth(t, respOpts(80), get), nil, ""},
		{"response from 8080", packettest.TCPPayloadEth(t, respOpts(8080), []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")),
			&detector.HTTP{Response: true, Status: 404}, "HTTPResponses"},
		{"response to 8080 (the client's port): not read", packettest.TCPPayloadEth(t, reqOpts(8080), []byte("HTTP/1.1 200 OK\r\n\r\n")), nil, ""},
		{"2000-byte request: the head is the 512-byte prefix", packettest.TCPPayloadEth(t, reqOpts(80), []byte(long)),
			&detector.HTTP{Method: "GET", Target: "/" + strings.Repeat("a", 60), Host: "h", Head: long[:httpwire.PrefixBytes], Truncated: true}, "HTTPRequests"},
		{"Ethernet padding of a short frame is not payload", packettest.TCPPayloadEth(t, reqOpts(80), []byte("GET ")),
			&detector.HTTP{Method: "GET", Head: "GET ", Truncated: true}, "HTTPRequests"},
		{"bytes after the IP datagram are not payload", trailer,
			&detector.HTTP{Method: "GET", Target: "/a", Host: "h", Head: "GET /a HTTP/1.1\r\nHost: h\r\n", Truncated: true}, "HTTPRequests"},
		{"IPv6", packettest.TCPPayloadEth(t, with(reqOpts(80), func(o *packettest.PktOpts) { o.V6 = true }), get),
			&detector.HTTP{Method: "GET", Target: "/.git/config?x=1", Host: "203.0.113.10"}, "HTTPRequests"},
		{"IPv6 extension headers", packettest.TCPPayloadEth(t, with(reqOpts(80), func(o *packettest.PktOpts) { o.V6, o.Ext6 = true, true }), get),
			&detector.HTTP{Method: "GET", Target: "/.git/config?x=1"}, "HTTPRequests"},
		{"802.1Q", packettest.TCPPayloadEth(t, with(reqOpts(80), func(o *packettest.PktOpts) { o.VLANs = []uint16{7} }), get),
			&detector.HTTP{Method: "GET", Target: "/.git/config?x=1"}, "HTTPRequests"},
		{"QinQ, IPv4 options", packettest.TCPPayloadEth(t, with(reqOpts(80), func(o *packettest.PktOpts) { o.VLANs, o.IPOpts = []uint16{100, 200}, true }), get),
			&detector.HTTP{Method: "GET", Target: "/.git/config?x=1"}, "HTTPRequests"},
		{"TCP options (timestamps, as every client sends)", packettest.TCPPayloadEth(t, with(reqOpts(80), func(o *packettest.PktOpts) {
			o.TCPOpts = []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
				{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)}}
		}), get), &detector.HTTP{Method: "GET", Target: "/.git/config?x=1"}, "HTTPRequests"},
		{"not HTTP on port 80", packettest.TCPPayloadEth(t, reqOpts(80), []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")), nil, ""},
		{"a method Begins lets through but Parse does not", packettest.TCPPayloadEth(t, reqOpts(80), []byte("POSTX / HTTP/1.1\r\n\r\n")), nil, ""},
		// Data the server's stack never hands to the application.
		{"data on a SYN", packettest.TCPPayloadEth(t, with(reqOpts(80), func(o *packettest.PktOpts) { o.Flags = "S" }), get), nil, ""},
		{"data on a RST", packettest.TCPPayloadEth(t, with(reqOpts(80), func(o *packettest.PktOpts) { o.Flags = "RA" }), get), nil, ""},
		{"data without ACK", packettest.TCPPayloadEth(t, with(reqOpts(80), func(o *packettest.PktOpts) { o.Flags = "P" }), get), nil, ""},
		{"FIN+ACK with the request", packettest.TCPPayloadEth(t, with(reqOpts(80), func(o *packettest.PktOpts) { o.Flags = "FA" }), get),
			&detector.HTTP{Method: "GET", Target: "/.git/config?x=1"}, "HTTPRequests"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, st, err := replayAll(t, packettest.WritePcap(t, [][]byte{tc.frame}, false, layers.LinkTypeEthernet))
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1 (stats %+v)", len(evs), st.Decode)
			}
			got := evs[0].HTTP
			reqs, resps := st.Decode.HTTPRequests, st.Decode.HTTPResponses
			if tc.want == nil {
				if got != nil || reqs+resps != 0 {
					t.Fatalf("HTTP %+v (requests %d, responses %d), want none", got, reqs, resps)
				}
				return
			}
			if got == nil {
				t.Fatalf("no HTTP on the event (stats %+v)", st.Decode)
			}
			if n := map[string]uint64{"HTTPRequests": reqs, "HTTPResponses": resps}[tc.stat]; n != 1 || reqs+resps != 1 {
				t.Errorf("requests %d, responses %d; want 1 in %s", reqs, resps, tc.stat)
			}
			w := *tc.want
			// Cases that name only method and target check those, and that
			// the head is whole.
			if w.Head == "" && !w.Response && w.Method != "" && w.Target != "" {
				w.Host, w.UserAgent, w.Head = got.Host, got.UserAgent, niktoGet
			}
			if *got != w {
				t.Errorf("HTTP\n got %+v\nwant %+v", *got, w)
			}
			if evs[0].Kind != detector.KindOther {
				t.Errorf("kind %v: an HTTP segment is data", evs[0].Kind)
			}
		})
	}
}

// A fragmented request carries no HTTP: the XDP program reassembles the
// headers of fragmented datagrams, never their payload, so replay reads
// none either (parity), and the event says it was fragmented.
func TestDecodeHTTPFragmented(t *testing.T) {
	get := []byte(niktoGet)
	ip4 := packettest.TCPPayloadIP(t, reqOpts(80), get)
	o6 := reqOpts(80)
	o6.V6 = true
	ip6 := packettest.TCPPayloadIP(t, o6, get)
	for name, frames := range map[string][][]byte{
		"IPv4": packettest.Frag4(ip4, packettest.InOrder(len(ip4)-20, 64)...),
		"IPv6": packettest.Frag6(ip6, 99, packettest.InOrder(len(ip6)-40, 64)...),
	} {
		t.Run(name, func(t *testing.T) {
			evs, st, err := replayAll(t, packettest.WritePcap(t, frames, false, layers.LinkTypeRaw))
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || st.Decode.Defrag.Reassembled != 1 {
				t.Fatalf("%d events, stats %+v; want the reassembled segment", len(evs), st.Decode)
			}
			if evs[0].HTTP != nil || st.Decode.HTTPRequests != 0 || evs[0].Evasion&detector.EvasionFragmented == 0 || evs[0].DstPort != 80 {
				t.Fatalf("event %+v HTTP %+v, requests %d: want a fragmented segment to 80 without HTTP", evs[0], evs[0].HTTP, st.Decode.HTTPRequests)
			}
		})
	}
	// The same request unfragmented is read: the test above is not vacuous.
	evs, _, err := replayAll(t, packettest.WritePcap(t, [][]byte{ip4, ip6}, false, layers.LinkTypeRaw))
	if err != nil || len(evs) != 2 || evs[0].HTTP == nil || evs[1].HTTP == nil {
		t.Fatalf("unfragmented: err %v, %d events", err, len(evs))
	}
}

// A capture cut by its snap length (tcpdump -s 128) is parsed as far as it
// goes: fields before the cut are read, the head is marked Truncated, and
// the segment's checksum, which cannot be verified, is not held against it
// nor counted as an unverified probe.
func TestDecodeHTTPSnaplen(t *testing.T) {
	frame := packettest.TCPPayloadEth(t, reqOpts(80), []byte(niktoGet))
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	const snap = 14 + 20 + 20 + 60 // through "Host: 203.0.113.10\r\n" and into the User-Agent
	// The first record is cut as by the snap length; the file's header
	// allows the second's whole length (a merge of two captures).
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{snap, len(frame)} {
		ci := gopacket.CaptureInfo{Timestamp: packettest.TBase, CaptureLength: min(cut, len(frame)), Length: len(frame)}
		if err := w.WritePacket(ci, frame[:ci.CaptureLength]); err != nil {
			t.Fatal(err)
		}
	}
	evs, st, err := replayAll(t, buf.Bytes())
	if err != nil || len(evs) != 2 {
		t.Fatalf("err %v, %d events", err, len(evs))
	}
	h := evs[0].HTTP
	if h == nil || h.Target != "/.git/config?x=1" || h.Host != "203.0.113.10" || h.UserAgent != "" || !h.Truncated || h.Head != niktoGet[:60] {
		t.Fatalf("cut segment: %+v", h)
	}
	if h := evs[1].HTTP; h == nil || h.Truncated || h.UserAgent == "" {
		t.Fatalf("whole segment: %+v", h)
	}
	if st.Decode.Unverified != 0 || st.Decode.HTTPRequests != 2 || len(st.Warnings()) != 0 {
		t.Fatalf("stats %+v, warnings %q", st.Decode, st.Warnings())
	}
}

// An HTTP head is evidence, so a segment the host would drop for its
// checksum is not an event; a checksum left to offload is accepted and
// counted like a probe's, and --checksums strict rejects it.
func TestDecodeHTTPChecksums(t *testing.T) {
	frame := packettest.TCPPayloadEth(t, reqOpts(80), []byte(niktoGet))
	bad := packettest.Flip(frame, len(frame)-5) // a byte of the payload
	offloaded := packettest.Offload(frame, 14, false, 6)
	ports := httpwire.NewPorts(httpwire.DefaultPorts...)
	for _, tc := range []struct {
		name   string
		frame  []byte
		strict bool
		event  bool
		stat   string
	}{
		{"bad checksum", bad, false, false, "BadChecksum"},
		{"offloaded, tolerant", offloaded, false, true, "OffloadedChecksum"},
		{"offloaded, strict", offloaded, true, false, "OffloadedChecksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DecodeOptions{HTTPPorts: ports}
			if tc.strict {
				o.Checksums = ChecksumStrict
			}
			d := NewDecoderWith(o)
			var ev detector.Event
			if ok := d.Decode(LinkEthernet, tc.frame, 1, &ev); ok != tc.event || tc.event && ev.HTTP == nil {
				t.Fatalf("event %v (HTTP %+v), want %v", ok, ev.HTTP, tc.event)
			}
			if counters(d.Stats)[tc.stat] != 1 {
				t.Errorf("%s = %d, want 1 (%+v)", tc.stat, counters(d.Stats)[tc.stat], d.Stats)
			}
		})
	}
	// With inspection off, the same bad segment is data as before: an
	// event, its checksum unverified.
	d := NewDecoder()
	var ev detector.Event
	if !d.Decode(LinkEthernet, bad, 1, &ev) || ev.HTTP != nil || d.Stats.BadChecksum != 0 {
		t.Fatalf("inspection off: HTTP %+v, stats %+v", ev.HTTP, d.Stats)
	}
}

// The ports are the caller's: none, a nil set, or others than the default.
func TestDecodeHTTPPorts(t *testing.T) {
	frame := func(port uint16) []byte { return packettest.TCPPayloadEth(t, reqOpts(port), []byte(niktoGet)) }
	none, _ := httpwire.ParsePorts("none")
	mine, _ := httpwire.ParsePorts("81,9999")
	for _, tc := range []struct {
		name  string
		ports *httpwire.Ports
		port  uint16
		read  bool
	}{
		{"nil set", nil, 80, false},
		{"none", none, 80, false},
		{"81,9999 reads 9999", mine, 9999, true},
		{"81,9999 does not read 80", mine, 80, false},
	} {
		d := NewDecoderWith(DecodeOptions{HTTPPorts: tc.ports})
		var ev detector.Event
		if !d.Decode(LinkEthernet, frame(tc.port), 1, &ev) || (ev.HTTP != nil) != tc.read {
			t.Errorf("%s: HTTP %+v, want read %v", tc.name, ev.HTTP, tc.read)
		}
	}
	// scanwatch replay's defaults read the default ports.
	o := DefaultReplayOptions().Decode.HTTPPorts
	if o.String() != "80,8000,8080,8888" {
		t.Errorf("DefaultReplayOptions reads %q", o.String())
	}
}

// Replay hands every HTTP segment of a capture on, each with its own head:
// the event is reused between calls, the head must not be.
func TestReplayHTTPHeadsAreTheirOwn(t *testing.T) {
	var frames [][]byte
	for _, p := range []string{"/a", "/b", "/c"} {
		frames = append(frames, packettest.TCPPayloadEth(t, reqOpts(80), []byte("GET "+p+" HTTP/1.1\r\n\r\n")))
	}
	var kept []*detector.HTTP
	_, err := Replay(context.Background(), bytes.NewReader(packettest.WritePcap(t, frames, true, layers.LinkTypeEthernet)),
		func(ev *detector.Event) { kept = append(kept, ev.HTTP) }, nil)
	if err != nil || len(kept) != 3 || kept[0].Target != "/a" || kept[1].Target != "/b" || kept[2].Target != "/c" {
		t.Fatalf("err %v, heads %v", err, kept)
	}
}
