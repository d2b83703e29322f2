package detector

import (
	"net/netip"
	"time"
)

// SeedWindow is the starting rule over a sliding window, for live use: a
// source alerts as soon as its last Window of SYNs crosses a threshold,
// again when its label escalates (PortScan to FullNetworkScan), and at most
// once per Window otherwise. Event times are the clock, so a replay of the
// same packets gives the same answer.
type SeedWindow struct {
	cfg      Config
	winSec   int64
	sources  map[netip.Addr]*windowSource
	now      int64 // newest event time seen, Unix ns
	pruneSec int64
}

type windowSource struct {
	conns       slidingCount
	ports       slidingSet[uint16]
	hosts       slidingSet[[16]byte]
	first, last int64 // first and last counted SYN of the current episode

	label      string // last label alerted, "" before the first alert
	alertedAt  int64
	alertConns uint64
	alertPorts int
}

// NewSeedWindow returns the windowed starting rule; cfg.Window must be at
// least one second. Alerts go to cfg.OnAlert as they happen; Flush returns
// the closing summaries.
func NewSeedWindow(cfg Config) *SeedWindow {
	return &SeedWindow{cfg: cfg, winSec: max(int64(cfg.Window/time.Second), 1), sources: make(map[netip.Addr]*windowSource)}
}

func (s *SeedWindow) Observe(ev *Event) {
	if ev.Kind != KindSYN {
		return
	}
	t := ev.Time.UnixNano()
	s.now = max(s.now, t)
	sec := t / 1e9
	st := s.sources[ev.Src]
	if st == nil {
		if s.cfg.Ignore.Contains(ev.Src) {
			return
		}
		st = &windowSource{first: t}
		s.sources[ev.Src] = st
	}
	s.expire(st, sec-s.winSec)
	if st.conns.total == 0 {
		st.first = t
	}
	st.last = max(st.last, t)
	st.conns.add(sec, ev.Packets())
	st.ports.add(sec, ev.DstPort)
	st.hosts.add(sec, ev.Dst.As16())

	label := SeedLabel(st.conns.total, st.ports.len())
	switch {
	case label == "":
	case st.label == "":
		s.alert(ev.Src, st, label, StatusNew, t)
	case labelRank[label] > labelRank[st.label]:
		s.alert(ev.Src, st, label, StatusEscalated, t)
	case t-st.alertedAt >= int64(s.cfg.Window):
		s.alert(ev.Src, st, label, StatusNew, t)
	}
	if sec >= s.pruneSec {
		s.prune(sec)
	}
}

func (s *SeedWindow) expire(st *windowSource, cutoff int64) {
	st.conns.expire(cutoff)
	st.ports.expire(cutoff)
	st.hosts.expire(cutoff)
}

func (s *SeedWindow) alert(src netip.Addr, st *windowSource, label, status string, t int64) {
	st.label, st.alertedAt = label, t
	st.alertConns, st.alertPorts = st.conns.total, st.ports.len()
	if s.cfg.OnAlert != nil {
		s.cfg.OnAlert(s.makeAlert(src, st, label, status, t))
	}
}

func (s *SeedWindow) makeAlert(src netip.Addr, st *windowSource, label, status string, t int64) Alert {
	return Alert{
		Timestamp: time.Unix(0, t).UTC(), Source: src, Label: label, Technique: "T1595", Status: status,
		TotalConns: st.conns.total, UniqueDestPorts: st.ports.len(), UniqueDestHosts: st.hosts.len(),
		FirstSeen: time.Unix(0, st.first).UTC(), LastSeen: time.Unix(0, st.last).UTC(), Rules: "seed",
	}
}

// prune forgets sources quiet for a whole window, once per tenth of a
// window of event time, so memory follows the active sources. A source
// that alerted gets its closing summary first if its counts grew since.
func (s *SeedWindow) prune(sec int64) {
	s.pruneSec = sec + max(s.winSec/10, 1)
	for src, st := range s.sources {
		if st.last/1e9 > sec-s.winSec {
			continue
		}
		if a, ok := s.summary(src, st); ok && s.cfg.OnAlert != nil {
			s.cfg.OnAlert(a)
		}
		delete(s.sources, src)
	}
}

// summary is the final word on a source that alerted, when the counts of
// its last alert are out of date.
func (s *SeedWindow) summary(src netip.Addr, st *windowSource) (Alert, bool) {
	if st.label == "" || (st.conns.total == st.alertConns && st.ports.len() == st.alertPorts) || st.conns.total == 0 {
		return Alert{}, false
	}
	label := SeedLabel(st.conns.total, st.ports.len())
	if labelRank[label] < labelRank[st.label] {
		label = st.label
	}
	return s.makeAlert(src, st, label, StatusFinal, st.last), true
}

// Flush returns the closing summaries of the sources that alerted, and
// forgets everything.
func (s *SeedWindow) Flush() []Alert {
	var out []Alert
	for src, st := range s.sources {
		if a, ok := s.summary(src, st); ok {
			out = append(out, a)
		}
	}
	SortAlerts(out)
	clear(s.sources)
	return out
}
