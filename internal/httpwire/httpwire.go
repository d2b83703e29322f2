// Package httpwire reads HTTP/1.x message heads from the first TCP segment
// of a request or response, as both sensors see them: the XDP program
// copies at most PrefixBytes of such a segment into its ring, and replay
// cuts the segment to the same length before parsing, so a request gives
// the rules the same fields live and in replay.
package httpwire

import (
	"bytes"

	"github.com/scanwatch/scanwatch/detector"
)

// PrefixBytes is how much of a segment both sensors read. The XDP
// program's HTTP_PREFIX must equal it (a test checks). 512 bytes hold the
// request line and the first headers of every scanner measured (pcaps/
// README.md); a browser's User-Agent can fall past it.
const PrefixBytes = 512

// methods are the first four bytes of a request the sensors inspect, and
// of a response ("HTTP"). The XDP program tests the same words.
var methods = [...]string{"GET ", "POST", "HEAD", "PUT ", "DELE", "OPTI", "PATC", "TRAC", "CONN", "PROP"}

// Begins reports whether payload starts like an HTTP request (a method
// the sensors know) or response, by its first four bytes: the test the XDP
// program makes before copying a segment.
func Begins(payload []byte) (request, response bool) {
	if len(payload) < 4 {
		return false, false
	}
	w := string(payload[:4])
	if w == "HTTP" {
		return false, true
	}
	for _, m := range methods {
		if w == m {
			return true, false
		}
	}
	return false, false
}

// Parse reads the head at the start of payload (cut to PrefixBytes). ok is
// false when payload does not begin an HTTP message the sensors inspect.
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

// status reads "HTTP/1.x NNN".
func status(b []byte) (*detector.HTTP, bool) {
	if len(b) < 12 || !bytes.HasPrefix(b, []byte("HTTP/")) {
		return nil, false
	}
	sp := bytes.IndexByte(b[5:], ' ')
	if sp < 0 || 5+sp+4 > len(b) {
		return nil, false
	}
	d := b[5+sp+1:]
	var code uint16
	for i := 0; i < 3; i++ {
		if d[i] < '0' || d[i] > '9' {
			return nil, false
		}
		code = code*10 + uint16(d[i]-'0')
	}
	if code < 100 || len(d) > 3 && d[3] != ' ' && d[3] != '\r' && d[3] != '\n' {
		return nil, false
	}
	return &detector.HTTP{Response: true, Status: code}, true
}

// request reads the request line and the headers the rules use. Line ends
// may be CRLF or a bare LF, as servers accept both.
func request(b []byte) (*detector.HTTP, bool) {
	head := string(b) // one allocation; every field below shares it
	h := &detector.HTTP{}
	line, rest, complete := cutLine(head)
	sp := indexByte(line, ' ')
	if sp <= 0 {
		return nil, false
	}
	h.Method = line[:sp]
	target := line[sp+1:]
	if !complete {
		// The request line itself went past the prefix.
		h.Target, h.Head, h.Truncated = target, head, true
		return h, true
	}
	if i := lastIndexByte(target, ' '); i >= 0 {
		target = target[:i]
	}
	h.Target = target
	end := len(head) - len(rest)
	for {
		if rest == "" {
			h.Truncated = true // the prefix ended before the blank line
			break
		}
		line, next, complete := cutLine(rest)
		if !complete {
			h.Truncated = true // a header cut by the prefix: not used
			break
		}
		end = len(head) - len(next)
		rest = next
		if line == "" {
			break
		}
		name, value, found := cutByte(line, ':')
		if !found {
			continue
		}
		value = trimSpace(value)
		switch {
		case equalFold(name, "host"):
			h.Host = value
		case equalFold(name, "user-agent"):
			h.UserAgent = value
		case equalFold(name, "referer"):
			h.Referer = true
		}
	}
	h.Head = head[:end]
	return h, true
}

// cutLine splits s at its first line end; complete is false when s holds
// no line end.
func cutLine(s string) (line, rest string, complete bool) {
	i := indexByte(s, '\n')
	if i < 0 {
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
