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
	sources  map[netip.Addr]*windowSource // promoted: past one SYN's evidence
	prob     probation                    // sources with one SYN so far
	clock    clock
	now      int64 // newest event time seen, Unix ns
	pruneSec int64
}

type windowSource struct {
	conns       slidingCount
	ports       slidingSet[uint16]
	hosts       slidingSet[[16]byte]
	hostsFull   bool  // hosts reached maxExactHosts in the window: a lower bound
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
	cfg.fillSeedCaps()
	return &SeedWindow{cfg: cfg, winSec: max(int64(cfg.Window/time.Second), 1), sources: make(map[netip.Addr]*windowSource),
		prob: probation{max: cfg.MaxProbation}}
}

func (s *SeedWindow) Observe(ev *Event) {
	if ev.Kind != KindSYN {
		return
	}
	t := ev.Time.UnixNano()
	if !s.clock.observe(t) && s.cfg.OnClockHeld != nil {
		s.cfg.OnClockHeld()
	}
	s.now = s.clock.now
	sec := t / 1e9
	st := s.sources[ev.Src]
	if st == nil {
		if s.cfg.Ignore.Contains(ev.Src) {
			return
		}
		if st = s.admit(ev, t); st == nil {
			if now := s.now / 1e9; now >= s.pruneSec {
				s.prune(now)
			}
			return
		}
	}
	s.expire(st, sec-s.winSec)
	if st.conns.total == 0 {
		st.first = t
	}
	st.last = max(st.last, t)
	st.conns.add(sec, ev.Packets())
	st.ports.add(sec, ev.DstPort)
	st.addHost(sec, ev.Dst.As16())

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
	if now := s.now / 1e9; now >= s.pruneSec {
		s.prune(now)
	}
}

// admit is Seed.admit over the window: probation first, promotion on a
// second (host, port) or a third SYN, the first replayed at its own time.
func (s *SeedWindow) admit(ev *Event, t int64) *windowSource {
	r, promote := seedProbation(&s.prob, &s.cfg, ev, t)
	if !promote {
		return nil
	}
	if len(s.sources) >= s.cfg.MaxSeedSources {
		s.evict()
	}
	st := &windowSource{first: r.first}
	s.sources[ev.Src] = st
	if r.packets > 0 {
		sec := r.first / 1e9
		st.last = r.first
		st.conns.add(sec, uint64(r.packets))
		st.ports.add(sec, r.port)
		st.addHost(sec, r.host.As16())
	}
	return st
}

// evict drops one source to respect MaxSeedSources: of a few sampled, one
// that has not alerted, fewest SYNs in the window first. It gets no
// closing summary: a source that alerted goes only when every sampled one
// has, and then its summary goes out first.
func (s *SeedWindow) evict() {
	var victim netip.Addr
	var vs *windowSource
	best, n := uint64(0), 0
	for a, st := range s.sources {
		score := st.conns.total
		if st.label != "" {
			score += 1 << 62
		}
		if vs == nil || score < best {
			victim, vs, best = a, st, score
		}
		if n++; n == 8 {
			break
		}
	}
	if vs == nil {
		return
	}
	if a, ok := s.summary(victim, vs); ok && s.cfg.OnAlert != nil {
		s.cfg.OnAlert(a)
	}
	delete(s.sources, victim)
	if s.cfg.OnEvict != nil {
		s.cfg.OnEvict()
	}
}

func (s *SeedWindow) expire(st *windowSource, cutoff int64) {
	st.conns.expire(cutoff)
	st.ports.expire(cutoff)
	st.hosts.expire(cutoff)
}

func (s *SeedWindow) alert(src netip.Addr, st *windowSource, label, status string, t int64) {
	if status == StatusEscalated {
		t = max(t, st.alertedAt) // never before the record it escalates
	}
	st.label, st.alertedAt = label, t
	st.alertConns, st.alertPorts = st.conns.total, st.ports.len()
	if s.cfg.OnAlert != nil {
		s.cfg.OnAlert(s.makeAlert(src, st, label, status, t))
	}
}

func (s *SeedWindow) makeAlert(src netip.Addr, st *windowSource, label, status string, t int64) Alert {
	return Alert{
		Timestamp: time.Unix(0, t).UTC(), Source: src, Label: label, Technique: "T1595", Status: status,
		TotalConns: st.conns.total, UniqueDestPorts: st.ports.len(), UniqueDestHosts: st.hosts.len(), Estimated: st.hostsFull,
		FirstSeen: time.Unix(0, st.first).UTC(), LastSeen: time.Unix(0, st.last).UTC(), Rules: "seed",
	}
}

// prune forgets sources quiet for a whole window, once per tenth of a
// window of event time, so memory follows the active sources. A source
// that alerted gets its closing summary first if its counts grew since.
func (s *SeedWindow) prune(sec int64) {
	s.pruneSec = sec + max(s.winSec/10, 1)
	s.prob.expire((sec - s.winSec) * 1e9)
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
	s.prob.reset()
	s.clock = clock{}
	return out
}

// addHost counts a destination host, at most maxExactHosts of them per
// window: unique_dest_hosts is not part of the starting rule's verdict, so
// a source probing millions of hosts is told as "at least" that many
// (estimated) instead of holding a map of all of them.
func (st *windowSource) addHost(sec int64, h [16]byte) {
	if st.hosts.len() >= maxExactHosts {
		if _, ok := st.hosts.last[h]; !ok {
			st.hostsFull = true
			return
		}
	}
	st.hosts.add(sec, h)
}
