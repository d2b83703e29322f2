package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/httpwire"
)

// ReplayOptions say how to judge a capture.
type ReplayOptions struct {
	Decode DecodeOptions
	// MaxAhead and MaxBehind bound how far a packet's timestamp may be
	// ahead of or behind the capture clock (the largest accepted
	// timestamp) before it is skipped; 0 disables a bound.
	MaxAhead, MaxBehind time.Duration
}

// Default time bounds: a day ahead (a forged far-future stamp), an hour
// behind (pcapng merges of several interfaces are slightly out of order).
const (
	DefaultMaxAhead  = 24 * time.Hour
	DefaultMaxBehind = time.Hour
)

// DefaultReplayOptions are what scanwatch replay uses without flags.
func DefaultReplayOptions() ReplayOptions {
	return ReplayOptions{
		Decode:   DecodeOptions{HTTPPorts: httpwire.NewPorts(httpwire.DefaultPorts...), Credit: true},
		MaxAhead: DefaultMaxAhead, MaxBehind: DefaultMaxBehind,
	}
}

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
	// TimeSkipped counts packets skipped because their timestamps were
	// too far ahead of or behind the capture clock; ClockJumps counts
	// jumps accepted after clockRun packets in a row agreed on them.
	TimeSkipped uint64
	ClockJumps  uint64

	opts ReplayOptions
}

// Warnings lists what the caller should tell the user about an otherwise
// successful replay, once per file: what was skipped or dropped.
func (s *ReplayStats) Warnings() []string { w, _ := s.report(); return w }

// Notes lists what a replay accepted in a way worth knowing but that needs
// no action (offloaded checksums on the sending host's own packets,
// reassembled fragments, clock jumps): info, not warnings.
func (s *ReplayStats) Notes() []string { _, n := s.report(); return n }

func (s *ReplayStats) report() (w, notes []string) {
	add := func(n uint64, format string, args ...any) {
		if n > 0 {
			w = append(w, fmt.Sprintf(format, append([]any{n}, args...)...))
		}
	}
	note := func(n uint64, format string, args ...any) {
		if n > 0 {
			notes = append(notes, fmt.Sprintf(format, append([]any{n}, args...)...))
		}
	}
	d, f := &s.Decode, &s.Decode.Defrag
	add(d.Malformed, "skipped %d malformed packets (headers cut short or inconsistent)")
	if s.OverSnaplen > 0 {
		w = append(w, fmt.Sprintf("%d records are longer than the file's snap length; read them anyway, as libpcap does", s.OverSnaplen))
	}
	if s.SkippedLink > 0 {
		w = append(w, fmt.Sprintf("skipped %d packets from interfaces with unsupported link type %d", s.SkippedLink, s.UnsupportedLink))
	}
	add(d.BadChecksum, "skipped %d packets with a bad TCP or UDP checksum: the host drops them, so they are not evidence")
	add(d.BadIPChecksum, "skipped %d packets with a bad IPv4 header checksum: the host drops them")
	if s.opts.Decode.Checksums == ChecksumStrict {
		add(d.OffloadedChecksum, "skipped %d packets carrying offloaded checksums (captured on the sending host): --checksums strict rejects them")
	} else {
		note(d.OffloadedChecksum, "%d packets carry offloaded checksums: captured on the sending host; accepted unverified (--checksums strict rejects them)")
	}
	add(d.Unverified, "%d probes were cut by the snap length (or carry no IP length), so their checksums could not be verified; accepted")
	add(d.HeaderChain, "%d IPv6 packets carry more than %d extension headers: reported as header-chain evasion, transport not read", detector.MaxIPv6ExtHeaders)
	add(d.TooManyVLANs, "skipped %d frames with more than %d VLAN tags: not decoded", MaxVLANTags)
	if s.opts.Decode.Decapsulate == 0 {
		add(d.Tunneled, "%d tunnel packets (IPIP, GRE) were judged by their outer header only; --decapsulate ipip,gre,vxlan judges the inner packets of tunnels the host terminates")
	} else {
		add(d.Tunneled, "%d tunnel packets of types not named in --decapsulate were judged by their outer header only")
	}
	note(f.Reassembled, "reassembled %d fragmented datagrams (marked as fragmentation evasion)")
	note(f.Duplicates, "ignored %d duplicate IP fragments")
	add(f.Overlaps, "dropped %d fragmented datagrams with overlapping fragments, as Linux does (RFC 5722)")
	add(f.Invalid, "dropped %d invalid IP fragments or their datagrams (zero length, inconsistent end, IPv6 length not a multiple of 8, beyond 65535 bytes)")
	add(f.NoChain, "dropped %d IPv6 first fragments without the whole header chain (RFC 7112), as Linux does")
	add(f.Oversize, "dropped %d reassembled datagrams larger than 65535 bytes")
	add(f.Timeouts, "dropped %d fragment queues incomplete after 30 s of packet time")
	add(f.Evicted, "dropped %d fragment queues to stay within %d queues and %d MiB", maxFragQueues, maxFragMem>>20)
	add(f.Pending, "%d fragmented datagrams were still incomplete at the end of the capture")
	add(s.TimeSkipped, "skipped %d packets stamped more than %v ahead of or %v behind the capture clock (the largest accepted timestamp)", s.opts.MaxAhead, s.opts.MaxBehind)
	note(s.ClockJumps, "the capture clock jumped %d times (%d packets in a row agreed on the new time); judged them as stamped", clockRun)
	return w, notes
}

// Replay reads a capture with the default options and hands every event to
// emit; see ReplayWith.
func Replay(ctx context.Context, r io.Reader, emit func(*detector.Event), progress func(bytes int64)) (ReplayStats, error) {
	return ReplayWith(ctx, r, DefaultReplayOptions(), emit, progress)
}

// ReplayWith reads a capture and hands every event (TCP/UDP packets the
// host would process, reassembled datagrams, header-chain evasions) to
// emit, in capture order, on the caller's goroutine. The event is reused
// between calls; emit must copy what it keeps. With credit decoding on
// (the default rules, whose per-port state costs more than decoding),
// reading and decoding run on a goroutine of their own (replay_pipe.go),
// at most a few batches of events ahead of emit, and progress is called
// from that goroutine, so it may run while emit does; without it (the
// seed rule, cheaper than decoding, where handing events over would only
// add to the time) everything runs on the caller's goroutine. Packet
// timestamps are the only clock. On a
// truncated or corrupt file the packets before the damage have been
// emitted when the error (ErrTruncated or ErrCorrupt) comes back, so the
// caller can still report on them.
func ReplayWith(ctx context.Context, r io.Reader, opts ReplayOptions, emit func(*detector.Event), progress func(bytes int64)) (ReplayStats, error) {
	if !opts.Decode.Credit {
		cr, err := OpenCapture(r)
		if err != nil {
			return ReplayStats{opts: opts}, err
		}
		return readEvents(ctx, cr, opts, &eventPipe{direct: emit}, progress)
	}
	p := newEventPipe()
	cr, err := OpenCapture(flushReader{r, p})
	if err != nil {
		return ReplayStats{opts: opts}, err
	}
	var st ReplayStats
	go func() {
		defer close(p.full)
		st, err = readEvents(ctx, cr, opts, p, progress)
	}()
	// If emit panics, the reader must not wait for a batch nobody takes.
	defer close(p.stop)
	p.emitAll(emit)
	return st, err // written before full was closed
}

// readEvents is the reading side of ReplayWith: it decodes every record
// of cr into p's batches, and hands over the last one before it returns.
func readEvents(ctx context.Context, cr CaptureReader, opts ReplayOptions, p *eventPipe, progress func(bytes int64)) (st ReplayStats, err error) {
	st.opts = opts
	dec := NewDecoderWith(opts.Decode)
	guard := clockGuard{ahead: int64(opts.MaxAhead), behind: int64(opts.MaxBehind)}
	judge := func(rec *Record) {
		if !dec.Decode(rec.LinkType, rec.Data, rec.Nanos, p.slot()) {
			return
		}
		st.Events++
		p.commit()
		for dec.More(p.slot()) {
			st.Events++
			p.commit()
		}
	}
	defer func() {
		p.flush()
		dec.Finish()
		guard.finish()
		st.Decode = dec.Stats
		st.TimeSkipped, st.ClockJumps = guard.Skipped, guard.Jumps
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
		if p.stopped {
			return st, errors.New("internal: the replay's caller left")
		}
		rec, err := cr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return st, nil
			}
			return st, err
		}
		now, ready := guard.admit(&rec)
		switch {
		case now:
			judge(&rec)
		case ready:
			guard.drain(judge)
		}
	}
}
