package capture

import (
	"errors"
	"io"
)

// byteSource is a read buffer shaped for capture files: peek at a record,
// use it in place, discard it. It replaces bufio.Reader, whose general
// checks on every Peek were a fifth of the replay's time.
type byteSource struct {
	r      io.Reader
	buf    []byte
	lo, hi int   // unread bytes are buf[lo:hi]
	off    int64 // stream offset of buf[lo], for error messages
	err    error // sticky read error
}

func newByteSource(r io.Reader) *byteSource {
	return &byteSource{r: r, buf: make([]byte, readBufSize)}
}

// peek returns the next n bytes without consuming them; they stay valid
// until the next peek. At the end of the stream it returns io.EOF if nothing
// is left and io.ErrUnexpectedEOF (with the bytes there are) if fewer than n
// are. n must not exceed readBufSize.
func (s *byteSource) peek(n int) ([]byte, error) {
	if s.hi-s.lo >= n {
		return s.buf[s.lo : s.lo+n], nil
	}
	return s.peekSlow(n)
}

func (s *byteSource) peekSlow(n int) ([]byte, error) {
	if n > len(s.buf) {
		return nil, errors.New("internal: peek larger than the read buffer")
	}
	if s.lo > 0 {
		copy(s.buf, s.buf[s.lo:s.hi])
		s.hi -= s.lo
		s.lo = 0
	}
	for s.hi < n && s.err == nil {
		var m int
		m, s.err = s.r.Read(s.buf[s.hi:])
		s.hi += m
		if m == 0 && s.err == nil {
			s.err = io.ErrNoProgress
		}
	}
	if s.hi >= n {
		return s.buf[:n], nil
	}
	switch {
	case s.hi == 0 && s.err == io.EOF:
		return nil, io.EOF
	case s.err == io.EOF || errors.Is(s.err, io.ErrUnexpectedEOF):
		return s.buf[:s.hi], io.ErrUnexpectedEOF
	}
	return s.buf[:s.hi], s.err
}

// discard consumes n bytes that a peek returned.
func (s *byteSource) discard(n int) {
	s.lo += n
	s.off += int64(n)
}

// Read lets a gzip reader (or anything else) drain the source, buffered
// bytes first.
func (s *byteSource) Read(p []byte) (int, error) {
	if s.lo == s.hi {
		if s.err != nil {
			return 0, s.err
		}
		if len(p) >= len(s.buf) {
			n, err := s.r.Read(p)
			s.off += int64(n)
			s.err = err
			return n, err
		}
		if _, err := s.peekSlow(1); err != nil && s.lo == s.hi {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return 0, io.EOF
			}
			return 0, err
		}
	}
	n := copy(p, s.buf[s.lo:s.hi])
	s.discard(n)
	return n, nil
}
