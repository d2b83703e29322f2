// Package httpwire reads HTTP/1.x message heads from the first TCP segment
// of a request or response, as both sensors see them: the XDP program
// copies at most PrefixBytes of such a segment into its ring, and replay
// cuts the segment to the same length before parsing, so a request gives
// the rules the same fields live and in replay.
//
// What is read, and what is not:
//   - Only the start of one segment. A request line split across segments
//     is missed; so is every request after the first of a pipelined
//     segment (the XDP program copies one prefix per segment).
//   - Line ends may be CRLF or a bare LF, as servers accept both.
//   - Header names match in any case; the value is trimmed of spaces and
//     tabs, with or without a space after the colon.
//   - Obsolete line folding (RFC 9112 s5.2, a header line starting with a
//     space or tab): the continuation is not added to the value before it,
//     and is not read as a header of its own. It stays in Head, where
//     payloads are looked for.
//   - A header given twice: the first is kept, as Go's net/http
//     Header.Get does, so a later copy cannot overwrite a scanner's
//     User-Agent.
//   - Bytes after the method are kept as sent (percent-encoding, binary,
//     an absolute-form target "http://host/x"): a server answers junk with
//     400, and the probe is still evidence.
package httpwire

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/scanwatch/scanwatch/detector"
)

// PrefixBytes is how much of a segment both sensors read. The XDP
// program's HTTP_PREFIX must equal it (a test checks). 512 bytes hold the
// request line and the first headers of every scanner measured (pcaps/
// README.md); a browser's User-Agent can fall past it.
const PrefixBytes = 512

// methods are the request methods the sensors inspect: the one list of
// them. Begins tests a payload's first four bytes against theirs (a
// shorter word followed by its space), the test the XDP program makes
// before it copies a segment (its list must equal Words()); Parse then
// wants the whole word and a space.
var methods = [...]string{"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "PROPFIND", "PROPPATCH"}

// responseWord begins every HTTP/1.x status line.
const responseWord = "HTTP"

// words are the distinct four-byte starts of methods, derived once, and
// wordKeys the same as big-endian numbers, for Begins' per-segment test.
var words, wordKeys = func() (ws []string, keys []uint32) {
	for _, m := range methods {
		w := (m + " ")[:4]
		if !slices.Contains(ws, w) {
			ws = append(ws, w)
			keys = append(keys, binary.BigEndian.Uint32([]byte(w)))
		}
	}
	return ws, keys
}()

var responseKey = binary.BigEndian.Uint32([]byte(responseWord))

// Words returns the four-byte words Begins accepts as the start of a
// request ("GET ", "POST", ...), for the test that keeps the XDP
// program's list equal. Responses begin with "HTTP".
func Words() []string { return append([]string(nil), words...) }

// Begins reports whether payload starts like an HTTP request (a method
// the sensors know) or response, by its first four bytes: the test the XDP
// program makes before copying a segment.
func Begins(payload []byte) (request, response bool) {
	if len(payload) < 4 {
		return false, false
	}
	w := binary.BigEndian.Uint32(payload)
	if w == responseKey {
		return false, true
	}
	return slices.Contains(wordKeys, w), false
}

// Parse reads the head at the start of payload (cut to PrefixBytes). ok is
// false when payload does not begin an HTTP message the sensors inspect:
// Begins says no, the method is not one of ours ("POSTX /"), or the status
// line is not "HTTP/d.d NNN". A request costs two allocations (the HTTP
// and its Head, which every string field shares), a response one.
func Parse(payload []byte) (h *detector.HTTP, ok bool) {
	req, resp := Begins(payload)
	if !req && !resp {
		return nil, false
	}
	if len(payload) > PrefixBytes {
		payload = payload[:PrefixBytes]
	}
	if resp {
		return status(payload)
	}
	return request(payload)
}

// status reads "HTTP/d.d NNN" (RFC 9112 s4), then a space, a line end or
// the end of what was read.
func status(b []byte) (*detector.HTTP, bool) {
	const codeAt = len("HTTP/1.1 ")
	if len(b) < codeAt+3 || !bytes.HasPrefix(b, []byte("HTTP/")) ||
		!digit(b[5]) || b[6] != '.' || !digit(b[7]) || b[8] != ' ' {
		return nil, false
	}
	var code uint16
	for _, c := range b[codeAt : codeAt+3] {
		if !digit(c) {
			return nil, false
		}
		code = code*10 + uint16(c-'0')
	}
	if code < 100 {
		return nil, false
	}
	if rest := b[codeAt+3:]; len(rest) > 0 && rest[0] != ' ' && rest[0] != '\r' && rest[0] != '\n' {
		return nil, false // "HTTP/1.1 2000", "HTTP/1.1 200OK"
	}
	return &detector.HTTP{Response: true, Status: code}, true
}

func digit(c byte) bool { return '0' <= c && c <= '9' }

// request reads the request line and the headers the rules use.
func request(b []byte) (*detector.HTTP, bool) {
	sp := bytes.IndexByte(b, ' ')
	method := ""
	for _, m := range methods {
		if sp == len(m) && string(b[:sp]) == m {
			method = m
		}
	}
	if method == "" {
		return nil, false
	}
	end, complete := headEnd(b)
	head := string(b[:end]) // one allocation; every field below shares it
	h := &detector.HTTP{Method: method, Head: head, Truncated: !complete}
	line, rest, whole := cutLine(head)
	target := line[sp+1:]
	if whole {
		// "GET /a b HTTP/1.1": the version is the last word; a space
		// inside the target stays, as sent.
		if i := lastIndexByte(target, ' '); i >= 0 && hasPrefix(target[i+1:], "HTTP/") {
			target = target[:i]
		}
	}
	// Otherwise the request line went past what was read: the target is
	// cut, and Truncated says so.
	h.Target = target
	for rest != "" {
		line, rest, whole = cutLine(rest)
		if !whole || line == "" {
			break // a line cut by the prefix is not used; "" ends the head
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // obsolete folding: see the package comment
		}
		name, value, found := cutByte(line, ':')
		if !found {
			continue
		}
		value = trimSpace(value)
		switch {
		case h.Host == "" && equalFold(name, "host"):
			h.Host = value
		case h.UserAgent == "" && equalFold(name, "user-agent"):
			h.UserAgent = value
		case equalFold(name, "referer"):
			h.Referer = true
		}
	}
	return h, true
}

// headEnd returns how many bytes of b the head takes, through the blank
// line that ends it, and whether that line was read; without it the head
// is all of b.
func headEnd(b []byte) (int, bool) {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		blank := j == 0 || j == 1 && b[i] == '\r'
		i += j + 1
		if blank {
			return i, true
		}
	}
	return len(b), false
}

// cutLine splits s at its first line end; whole is false when s holds no
// line end (the line went past what was read).
func cutLine(s string) (line, rest string, whole bool) {
	i := indexByte(s, '\n')
	if i < 0 {
		if n := len(s); n > 0 && s[n-1] == '\r' {
			s = s[:n-1] // the CR of a CRLF the prefix split
		}
		return s, "", false
	}
	line = s[:i]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, s[i+1:], true
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func lastIndexByte(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func cutByte(s string, c byte) (before, after string, found bool) {
	if i := indexByte(s, c); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// equalFold compares an ASCII header name, case-insensitively.
func equalFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
