package sensor

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"

	"github.com/scanwatch/scanwatch/bpf"
	"github.com/scanwatch/scanwatch/detector"
)

// httpSkips turns the kernel's cumulative per-client counts of requests
// it did not copy (bpf/http.h, struct http_client) into the deltas the
// rules add up. A request record carries the count as it stood; the sweep
// reads the entries too, so the requests skipped after a client's last
// copied head reach the rules once it has gone quiet, instead of waiting
// for a record that never comes. Both take the difference from the
// largest count already handed on, so neither counts a request twice: a
// record older than the sweep that read past it adds nothing.
//
// The one loss: when the kernel's LRU evicts a client (65,536 entries),
// its count starts again from zero and stays below what was handed on
// until it has grown past it; those requests are not counted.
type httpSkips struct {
	last map[[16]byte]uint32
}

// maxSkipClients bounds the table between sweeps: twice the kernel's, as
// each sweep forgets the clients the kernel no longer holds. Past it an
// arbitrary entry goes; its client's next count is then handed on whole.
const maxSkipClients = 2 << 16

// take returns how many of a client's cum skipped requests are new.
func (s *httpSkips) take(client [16]byte, cum uint32) uint32 {
	if cum == 0 {
		return 0
	}
	if s.last == nil {
		s.last = make(map[[16]byte]uint32)
	}
	prev, ok := s.last[client]
	if ok && cum <= prev {
		return 0
	}
	if !ok && len(s.last) >= maxSkipClients {
		for k := range s.last {
			delete(s.last, k)
			break
		}
	}
	s.last[client] = cum
	return cum - prev
}

// sweepHTTPSkips reads the kernel's HTTP client entries and hands on, as
// count-only events (detector.HTTP with Skipped and no head), the
// requests skipped since the last count handed on. The caller holds l.mu.
func (l *Live) sweepHTTPSkips(emit func(*detector.Event)) error {
	m := l.Objs.HttpClients
	if m == nil || !l.cfg.Program.HTTPPorts.Any() {
		return nil
	}
	const batch = 4096
	keys := make([]bpf.ScanwatchHttpKey, batch)
	vals := make([]bpf.ScanwatchHttpClient, batch)
	var cursor ebpf.MapBatchCursor
	now := time.Now()
	seen := make(map[[16]byte]struct{}, len(l.skips.last))
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			if vals[i].Skipped > 0 {
				seen[keys[i].Addr] = struct{}{}
			}
			if d := l.skips.take(keys[i].Addr, vals[i].Skipped); d > 0 {
				ev := detector.Event{Time: now, Src: addrFrom16(keys[i].Addr), Kind: detector.KindOther,
					HTTP: &detector.HTTP{Skipped: d}}
				emit(&ev)
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			// Clients the kernel has evicted are forgotten here too: the
			// table then never outgrows the kernel's, and never has to
			// drop a live client's count (which would hand it on again).
			for k := range l.skips.last {
				if _, ok := seen[k]; !ok {
					delete(l.skips.last, k)
				}
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the HTTP client budgets: %w", err)
		}
	}
}
