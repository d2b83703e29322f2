package httpwire

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse checks what the rules rely on for any payload: no panic, a
// head that is the start of the payload (never longer than the prefix), and
// string fields that are pieces of that head, so nothing in an event is
// longer than what was on the wire.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"GET /index.php?id=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: Nikto\r\n\r\n",
		"GET http://h/x HTTP/1.1\nHost: h\n\n",
		"HEAD / HTTP/1.0\r\n\r\n",
		"POST /a HTTP/1.1\r\nhost:h\r\n x\r\nReferer: r\r\n\r\nbody",
		"GET /" + strings.Repeat("a", 600) + " HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nCookie: " + strings.Repeat("c", 500) + "\r\nUser-Agent: x\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\n\r\n",
		"HTTP/1.0 200",
		"HTTP/1.1 abc",
		"GETX / HTTP/1.1",
		"GET  HTTP/1.1\r\n\r\n",
		"GET \x00\xff\r",
		"PROPFIND / HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		req, resp := Begins(in)
		h, ok := Parse(in)
		if ok != (h != nil) {
			t.Fatalf("ok %v with h %v", ok, h)
		}
		if !ok {
			return
		}
		if !req && !resp {
			t.Fatalf("Parse accepted what Begins refused: %q", in)
		}
		if h.Response != resp {
			t.Fatalf("Response %v, Begins said response %v", h.Response, resp)
		}
		cut := in[:min(len(in), PrefixBytes)]
		if h.Response {
			if h.Status < 100 || h.Status > 999 || h.Head != "" || h.Method != "" || h.Target != "" {
				t.Fatalf("response %+v", *h)
			}
			return
		}
		if len(h.Head) > PrefixBytes || !bytes.HasPrefix(cut, []byte(h.Head)) {
			t.Fatalf("Head %q is not a prefix of the input cut to %d bytes", h.Head, PrefixBytes)
		}
		if !strings.HasPrefix(h.Head, h.Method+" ") {
			t.Fatalf("Method %q does not start Head %q", h.Method, h.Head)
		}
		for name, v := range map[string]string{"Target": h.Target, "Host": h.Host, "UserAgent": h.UserAgent} {
			if !strings.Contains(h.Head, v) {
				t.Fatalf("%s %q is not in Head %q", name, v, h.Head)
			}
		}
		// A head read to its end stops at its blank line; one that was
		// not is everything read.
		ended := strings.HasSuffix(h.Head, "\n\n") || strings.HasSuffix(h.Head, "\n\r\n")
		if h.Truncated == ended || h.Truncated && h.Head != string(cut) {
			t.Fatalf("Truncated %v with Head %q of %q", h.Truncated, h.Head, cut)
		}
	})
}

// BenchmarkParse times a typical scanner request, with its allocations
// (two: the HTTP and its Head).
func BenchmarkParse(b *testing.B) {
	req := []byte("GET /admin/config.php?x=1 HTTP/1.1\r\nHost: 203.0.113.10\r\nUser-Agent: Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)\r\nAccept: */*\r\nConnection: Keep-Alive\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Parse(req); !ok {
			b.Fatal("not parsed")
		}
	}
}

// BenchmarkParseNotHTTP is the cost on a segment that does not begin an
// HTTP message: no allocation.
func BenchmarkParseNotHTTP(b *testing.B) {
	tls := []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\x00", 100))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Parse(tls); ok {
			b.Fatal("parsed")
		}
	}
}

func TestParseAllocations(t *testing.T) {
	req := []byte("GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: x\r\n\r\n")
	if n := testing.AllocsPerRun(100, func() { Parse(req) }); n != 2 {
		t.Errorf("a request costs %.0f allocations, want 2 (the HTTP and its Head)", n)
	}
	resp := []byte("HTTP/1.1 404 Not Found\r\n\r\n")
	if n := testing.AllocsPerRun(100, func() { Parse(resp) }); n != 1 {
		t.Errorf("a response costs %.0f allocations, want 1", n)
	}
	junk := []byte("SSH-2.0-OpenSSH_9.2\r\n")
	if n := testing.AllocsPerRun(100, func() { Parse(junk) }); n != 0 {
		t.Errorf("a payload that is not HTTP costs %.0f allocations, want 0", n)
	}
}
