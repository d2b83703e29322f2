package httpwire

import (
	"slices"
	"strings"
	"testing"

	"github.com/scanwatch/scanwatch/detector"
)

func TestParse(t *testing.T) {
	longTarget := "/" + strings.Repeat("a", 600)
	longLine := "GET " + longTarget + " HTTP/1.1\r\nHost: x\r\n\r\n"
	pastUA := "GET / HTTP/1.1\r\nHost: example.test\r\nCookie: " + strings.Repeat("c", 470) + "\r\nUser-Agent: Mozilla/5.0\r\n\r\n"
	tests := []struct {
		name string
		in   string
		want *detector.HTTP // nil: not parsed (ok false)
	}{
		{"GET with query", "GET /index.php?id=1%27+OR+1=1 HTTP/1.1\r\nHost: 203.0.113.10\r\nUser-Agent: sqlmap/1.7\r\nAccept: */*\r\n\r\n",
			&detector.HTTP{Method: "GET", Target: "/index.php?id=1%27+OR+1=1", Host: "203.0.113.10", UserAgent: "sqlmap/1.7",
				Head: "GET /index.php?id=1%27+OR+1=1 HTTP/1.1\r\nHost: 203.0.113.10\r\nUser-Agent: sqlmap/1.7\r\nAccept: */*\r\n\r\n"}},
		{"absolute-form target kept as sent", "GET http://203.0.113.10/x HTTP/1.1\r\nHost: 203.0.113.10\r\n\r\n",
			&detector.HTTP{Method: "GET", Target: "http://203.0.113.10/x", Host: "203.0.113.10", Head: "GET http://203.0.113.10/x HTTP/1.1\r\nHost: 203.0.113.10\r\n\r\n"}},
		{"HTTP/1.0 without headers", "HEAD / HTTP/1.0\r\n\r\n",
			&detector.HTTP{Method: "HEAD", Target: "/", Head: "HEAD / HTTP/1.0\r\n\r\n"}},
		{"LF-only line ends", "GET /a HTTP/1.1\nHost: h\nUser-Agent: curl/8.0\n\n",
			&detector.HTTP{Method: "GET", Target: "/a", Host: "h", UserAgent: "curl/8.0", Head: "GET /a HTTP/1.1\nHost: h\nUser-Agent: curl/8.0\n\n"}},
		{"mixed line ends", "GET /a HTTP/1.1\r\nHost: h\n\r\n",
			&detector.HTTP{Method: "GET", Target: "/a", Host: "h", Head: "GET /a HTTP/1.1\r\nHost: h\n\r\n"}},
		{"header names in any case, no space after the colon, tabs trimmed", "GET / HTTP/1.1\r\nhOsT:h\r\nUSER-AGENT:\t Nikto \t\r\nREFERER:x\r\n\r\n",
			&detector.HTTP{Method: "GET", Target: "/", Host: "h", UserAgent: "Nikto", Referer: true, Head: "GET / HTTP/1.1\r\nhOsT:h\r\nUSER-AGENT:\t Nikto \t\r\nREFERER:x\r\n\r\n"}},
		{"obsolete folding: the continuation is neither the value nor a header", "GET / HTTP/1.1\r\nUser-Agent: a\r\n User-Agent: b\r\n\tHost: c\r\n\r\n",
			&detector.HTTP{Method: "GET", Target: "/", UserAgent: "a", Head: "GET / HTTP/1.1\r\nUser-Agent: a\r\n User-Agent: b\r\n\tHost: c\r\n\r\n"}},
		{"a header given twice: the first is kept", "GET / HTTP/1.1\r\nUser-Agent: Nikto\r\nUser-Agent: Mozilla/5.0\r\nHost: a\r\nHost: b\r\n\r\n",
			&detector.HTTP{Method: "GET", Target: "/", Host: "a", UserAgent: "Nikto", Head: "GET / HTTP/1.1\r\nUser-Agent: Nikto\r\nUser-Agent: Mozilla/5.0\r\nHost: a\r\nHost: b\r\n\r\n"}},
		{"a name with a space before the colon is not the header", "GET / HTTP/1.1\r\nHost : a\r\nnocolon\r\n\r\n",
			&detector.HTTP{Method: "GET", Target: "/", Head: "GET / HTTP/1.1\r\nHost : a\r\nnocolon\r\n\r\n"}},
		{"space inside the target stays", "GET /a b HTTP/1.1\r\n\r\n",
			&detector.HTTP{Method: "GET", Target: "/a b", Head: "GET /a b HTTP/1.1\r\n\r\n"}},
		{"no version (HTTP/0.9 form): the rest of the line is the target", "GET /x\r\n\r\n",
			&detector.HTTP{Method: "GET", Target: "/x", Head: "GET /x\r\n\r\n"}},
		{"empty target", "GET  HTTP/1.1\r\n\r\n",
			&detector.HTTP{Method: "GET", Target: "", Head: "GET  HTTP/1.1\r\n\r\n"}},
		{"body after the head is not in Head", "POST /login HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nuser=' --",
			&detector.HTTP{Method: "POST", Target: "/login", Host: "h", Head: "POST /login HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\n"}},
		{"pipelined: only the first request", "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nUser-Agent: x\r\n\r\n",
			&detector.HTTP{Method: "GET", Target: "/a", Host: "h", Head: "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"}},
		{"head without its blank line (segment ended)", "GET /a HTTP/1.1\r\nHost: h\r\n",
			&detector.HTTP{Method: "GET", Target: "/a", Host: "h", Head: "GET /a HTTP/1.1\r\nHost: h\r\n", Truncated: true}},
		{"a header line the segment cut is not used", "GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozi",
			&detector.HTTP{Method: "GET", Target: "/a", Host: "h", Head: "GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozi", Truncated: true}},
		{"request line longer than the prefix", longLine,
			&detector.HTTP{Method: "GET", Target: longTarget[:PrefixBytes-4], Head: longLine[:PrefixBytes], Truncated: true}},
		{"User-Agent past the prefix", pastUA,
			&detector.HTTP{Method: "GET", Target: "/", Host: "example.test", Head: pastUA[:PrefixBytes], Truncated: true}},
		{"request line cut between CR and LF", "GET /a\r",
			&detector.HTTP{Method: "GET", Target: "/a", Head: "GET /a\r", Truncated: true}},
		{"method and space only", "PUT ",
			&detector.HTTP{Method: "PUT", Target: "", Head: "PUT ", Truncated: true}},
		{"binary junk after the method is kept as sent", "GET \x00\xff\x16\x03\x01 HTTP/1.1\r\n\r\n",
			&detector.HTTP{Method: "GET", Target: "\x00\xff\x16\x03\x01", Head: "GET \x00\xff\x16\x03\x01 HTTP/1.1\r\n\r\n"}},
		{"every method", "PROPPATCH /dav HTTP/1.1\r\n\r\n",
			&detector.HTTP{Method: "PROPPATCH", Target: "/dav", Head: "PROPPATCH /dav HTTP/1.1\r\n\r\n"}},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\n\r\n",
			&detector.HTTP{Method: "OPTIONS", Target: "*", Head: "OPTIONS * HTTP/1.1\r\n\r\n"}},

		{"response 404", "HTTP/1.1 404 Not Found\r\nServer: x\r\n\r\n", &detector.HTTP{Response: true, Status: 404}},
		{"response without a reason", "HTTP/1.0 200", &detector.HTTP{Response: true, Status: 200}},
		{"response, LF after the code", "HTTP/1.1 301\nLocation: /\n\n", &detector.HTTP{Response: true, Status: 301}},
		{"response 999", "HTTP/1.1 999 x", &detector.HTTP{Response: true, Status: 999}},

		{"bad status", "HTTP/1.1 abc", nil},
		{"status below 100", "HTTP/1.1 099 x", nil},
		{"four-digit status", "HTTP/1.1 2000 x", nil},
		{"status glued to the reason", "HTTP/1.1 200OK", nil},
		{"status line cut before the code ends", "HTTP/1.1 20", nil},
		{"bad version", "HTTP/x.1 200 OK", nil},
		{"HTTP/2 is not a text status line", "HTTP/2 200 OK", nil},
		{"no space after the version", "HTTP/1.1\t200", nil},
		{"method word not followed by a space", "GETX / HTTP/1.1\r\n\r\n", nil},
		{"a longer word behind a known start", "POSTX / HTTP/1.1\r\n\r\n", nil},
		{"DELE alone", "DELE /x HTTP/1.1\r\n\r\n", nil},
		{"lower-case method", "get / HTTP/1.1\r\n\r\n", nil},
		{"TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", nil},
		{"SSH banner", "SSH-2.0-OpenSSH_9.2\r\n", nil},
		{"too short", "GET", nil},
		{"empty", "", nil},
		{"method not at the start", " GET / HTTP/1.1\r\n\r\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Parse([]byte(tc.in))
			if tc.want == nil {
				if ok || got != nil {
					t.Fatalf("Parse(%q) = %+v, %v; want nothing", tc.in, got, ok)
				}
				return
			}
			if !ok || got == nil {
				t.Fatalf("Parse(%q) = nil, false; want %+v", tc.in, *tc.want)
			}
			if *got != *tc.want {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.in, *got, *tc.want)
			}
		})
	}
}

func TestBegins(t *testing.T) {
	for _, m := range methods {
		req, resp := Begins([]byte(m + " /x HTTP/1.1\r\n"))
		if !req || resp {
			t.Errorf("Begins(%s) = %v, %v", m, req, resp)
		}
		// Every method Begins lets through, Parse reads: the XDP program
		// copies nothing that replay would not parse either.
		if h, ok := Parse([]byte(m + " /x HTTP/1.1\r\n\r\n")); !ok || h.Method != m || h.Target != "/x" {
			t.Errorf("Parse(%s) = %+v, %v", m, h, ok)
		}
	}
	if req, resp := Begins([]byte("HTTP/1.1 200 OK")); req || !resp {
		t.Errorf("Begins(response) = %v, %v", req, resp)
	}
	for _, in := range []string{"", "GE", "GET", "GETX", "get ", "HTTp", "\x00\x00\x00\x00"} {
		if req, resp := Begins([]byte(in)); req || resp {
			t.Errorf("Begins(%q) = %v, %v; want neither", in, req, resp)
		}
	}
}

// TestWords pins the four-byte words the XDP program must test (its list is
// checked against Words by the sensor's tests).
func TestWords(t *testing.T) {
	want := []string{"GET ", "POST", "HEAD", "PUT ", "DELE", "OPTI", "PATC", "TRAC", "CONN", "PROP"}
	if got := Words(); !slices.Equal(got, want) {
		t.Fatalf("Words() = %q, want %q", got, want)
	}
	w := Words()
	w[0] = "XXXX"
	if Words()[0] != "GET " {
		t.Fatal("Words returns the package's own slice")
	}
}
