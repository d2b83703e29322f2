package sensor

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/scanwatch/scanwatch/detector"
)

// ReplayStats says what a replay read, so the caller can warn about what it
// skipped instead of failing the whole file.
type ReplayStats struct {
	Decode      DecodeStats
	Events      uint64
	Bytes       int64 // of the decompressed stream
	OverSnaplen int   // records longer than the file's snap length (read anyway)
	// Packets of pcapng interfaces whose link type is not decoded.
	SkippedLink     int
	UnsupportedLink uint32
}

// Warnings lists what the caller should tell the user about an otherwise
// successful replay.
func (s *ReplayStats) Warnings() []string {
	var w []string
	if s.Decode.Malformed > 0 {
		w = append(w, fmt.Sprintf("skipped %d malformed packets (headers cut short or inconsistent)", s.Decode.Malformed))
	}
	if s.OverSnaplen > 0 {
		w = append(w, fmt.Sprintf("%d records are longer than the file's snap length; read them anyway, as libpcap does", s.OverSnaplen))
	}
	if s.SkippedLink > 0 {
		w = append(w, fmt.Sprintf("skipped %d packets from interfaces with unsupported link type %d", s.SkippedLink, s.UnsupportedLink))
	}
	return w
}

// Replay reads a capture and hands every TCP/UDP packet to emit as an event.
// The event is reused between calls; emit must copy what it keeps. Packet
// timestamps are the only clock. On a truncated or corrupt file the packets
// before the damage have been emitted when the error (ErrTruncated or
// ErrCorrupt) comes back, so the caller can still report on them.
func Replay(ctx context.Context, r io.Reader, emit func(*detector.Event), progress func(bytes int64)) (st ReplayStats, err error) {
	cr, err := OpenCapture(r)
	if err != nil {
		return st, err
	}
	dec := NewDecoder()
	var ev detector.Event
	defer func() {
		st.Decode = dec.Stats
		st.Bytes = cr.Offset()
		switch c := cr.(type) {
		case *pcapReader:
			st.OverSnaplen = c.OverSnaplen
		case *ngReader:
			st.SkippedLink, st.UnsupportedLink = c.SkippedUnsupported, c.UnsupportedLink
		}
	}()
	for i := 0; ; i++ {
		if i&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			if progress != nil {
				progress(cr.Offset())
			}
		}
		rec, err := cr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return st, nil
			}
			return st, err
		}
		if dec.Decode(rec.LinkType, rec.Data, rec.Nanos, &ev) {
			st.Events++
			emit(&ev)
		}
	}
}
