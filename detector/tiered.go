package detector

import (
	"math"
	"slices"
)

// tieredSet counts distinct keys over two sliding windows at once, a short
// one (the scan window) and a long one (low-and-slow scans), with one table
// of last sightings and one queue of sightings that both windows read from
// their own head. Exact to the second.
//
// Most sets hold one key for their whole life (the one port a sweeper tries
// on each host, the one host a vertical scanner tries on each port), so the
// first key lives inline and the rest (table, queue, sketch) is allocated
// only when a second key arrives: an inline set costs 24 bytes for ports,
// 40 for addresses, and a source's service or target holds several.
type tieredSet[K comparable, H keyHasher[K]] struct {
	one        K
	oneValid   bool
	lossy      bool  // the source's sketch budget was spent too: counts are lower bounds
	shortCount int32 // keys with a sighting in the short window
	oneSec     int64
	more       *tieredMore[K, H] // nil while inline; never dropped once made
}

// tieredMore is a set's state past its first key.
type tieredMore[K comparable, H keyHasher[K]] struct {
	// The second each key was last seen, less base: 4 bytes a key, not 8.
	// A scanner's set is fresh memory on every probe, and its bytes are
	// most of what a probe costs (make bench's B/vertical-pair).
	last denseMap[K, int32, H]
	base int64 // the second the set got its table; int32 spans 68 years
	// Sightings in arrival order, as their keys and runs of sightings that
	// share a second (a scan puts hundreds in each): 2 bytes a port
	// sighting, not a 16-byte (second, key) bucket. runs[shortRun:] (and
	// keys[shortKey:]) are those the short window has not aged out, all of
	// them those the long window has not: the long window's cut is never
	// past the short one's.
	//
	// While mirror is set, every key has been sighted once and none has
	// been deleted, so the queue's keys are last's keys in dense order and
	// keys is nil (queue reads them there): a scan of new keys, the common
	// set, does not store each key twice. The first re-sighting or
	// expiry copies them out.
	keys     []K
	mirror   bool
	runs     []secRun
	shortRun int
	shortKey int

	// Past maxExactKeys (or the source's key budget), new keys go to a
	// sketch instead: counts keep growing, as estimates. The sketch lives
	// while it keeps seeing keys within the long window.
	over         *hll
	overSec      int64
	lastShortCut int64 // the short window's cut at the last age
}

// maxExactKeys is how many keys a set counts exactly: well above every
// threshold, and above the exact counts users compare (1000 ports of one
// host, a /24 of hosts).
const maxExactKeys = 4096

// keyBudget is what one source may hold across all its sets: exact keys
// (about 50-80 bytes each) and sketches (4 KiB each). A source past it gets
// estimates; one past the sketches too gets lower bounds.
type keyBudget struct{ keys, sketches int }

const (
	maxSourceKeys     = 1 << 16 // about 5 MB
	maxSourceSketches = 256     // 1 MiB
)

// add records k at second sec; shortFrom is the first second inside the
// short window. Call expire with the same clock first: a sighting that has
// left the short window must have been aged out before k is counted anew.
func (s *tieredSet[K, H]) add(sec int64, k K, shortFrom int64) {
	m := s.more
	if m == nil {
		switch {
		case !s.oneValid:
			s.one, s.oneSec, s.oneValid, s.shortCount = k, sec, true, 1
			return
		case s.one == k:
			s.oneSec, s.shortCount = sec, 1
			return
		}
		// A second key: move the inline one into the table.
		m = &tieredMore[K, H]{base: sec, mirror: true}
		v, _ := m.last.put(s.one)
		*v = m.rel(s.oneSec)
		m.sighted(s.oneSec, s.one, true)
		s.more, s.oneValid = m, false
	}
	v, added := m.last.put(k)
	rel := m.rel(sec)
	if !added && *v == rel {
		return
	}
	if added || *v < m.rel(shortFrom) {
		s.shortCount++
	}
	*v = rel
	m.sighted(sec, k, added)
}

// rel is second sec as the table stores it. Replay takes a capture's
// stamps as they are, so one 68 years from the rest saturates rather than
// wraps: it can only blur its own source's counts.
func (m *tieredMore[K, H]) rel(sec int64) int32 {
	return int32(min(max(sec-m.base, math.MinInt32), math.MaxInt32))
}

// secRun is a run of n consecutive sightings at second sec.
type secRun struct {
	sec int64
	n   int32
}

// sighted queues a sighting of k at sec, in the newest run if that has
// the same second and is still in the short window (so that the heads
// stay at run boundaries, where they were with one bucket a sighting).
// added: k was just put in last, as its newest key.
func (m *tieredMore[K, H]) sighted(sec int64, k K, added bool) {
	if m.mirror && !added {
		m.unmirror()
	}
	if !m.mirror {
		m.keys = append(m.keys, k)
	}
	if n := len(m.runs); n > m.shortRun && m.runs[n-1].sec == sec {
		m.runs[n-1].n++
		return
	}
	m.runs = append(m.runs, secRun{sec, 1})
}

// queue is the sightings' keys, oldest first.
func (m *tieredMore[K, H]) queue() []K {
	if m.mirror {
		return m.last.keys
	}
	return m.keys
}

// unmirror copies the queue's keys out of last, before a sighting or a
// deletion makes the two differ.
func (m *tieredMore[K, H]) unmirror() {
	m.keys, m.mirror = slices.Clone(m.last.keys), false
}

// expire ages out sightings at or before the cutoffs.
func (s *tieredSet[K, H]) expire(shortCut, longCut int64) {
	m := s.more
	if m == nil {
		switch {
		case !s.oneValid:
		case s.oneSec <= longCut:
			s.oneValid, s.shortCount = false, 0
		case s.oneSec <= shortCut:
			s.shortCount = 0
		}
		return
	}
	for m.shortRun < len(m.runs) && m.runs[m.shortRun].sec <= shortCut {
		r := m.runs[m.shortRun]
		rel := m.rel(r.sec)
		for _, k := range m.queue()[m.shortKey : m.shortKey+int(r.n)] {
			if v := m.last.get(k); v != nil && *v == rel {
				s.shortCount--
			}
		}
		m.shortKey += int(r.n)
		m.shortRun++
	}
	i, j := 0, 0
	if m.mirror && len(m.runs) > 0 && m.runs[0].sec <= longCut {
		m.unmirror() // del below reorders last's keys
	}
	for i < len(m.runs) && m.runs[i].sec <= longCut {
		r := m.runs[i]
		rel := m.rel(r.sec)
		for _, k := range m.keys[j : j+int(r.n)] {
			if v := m.last.get(k); v != nil && *v == rel {
				m.last.del(k)
			}
		}
		j += int(r.n)
		i++
	}
	if i > 0 {
		// The short head is never behind the long one: longCut <= shortCut.
		m.runs = append(m.runs[:0], m.runs[i:]...)
		m.keys = append(m.keys[:0], m.keys[j:]...)
		m.shortRun -= i
		m.shortKey -= j
	}
}

func (s *tieredSet[K, H]) short() int {
	if m := s.more; m != nil && m.over != nil && m.overSec > m.lastShortCut {
		return int(s.shortCount) + m.over.estimate()
	}
	return int(s.shortCount)
}

func (s *tieredSet[K, H]) long() int {
	if m := s.more; m != nil && m.over != nil {
		return s.exact() + m.over.estimate()
	}
	return s.exact()
}

// exact is how many keys the set holds exactly (in the long window).
func (s *tieredSet[K, H]) exact() int {
	if s.more == nil {
		if s.oneValid {
			return 1
		}
		return 0
	}
	return s.more.last.len()
}

// sketched reports whether the set holds a sketch (charged to the budget).
func (s *tieredSet[K, H]) sketched() bool { return s.more != nil && s.more.over != nil }

// estimated reports whether the counts are estimates (or lower bounds).
func (s *tieredSet[K, H]) estimated() bool { return s.sketched() || s.lossy }

func (s *tieredSet[K, H]) has(k K) bool {
	if s.more == nil {
		return s.oneValid && s.one == k
	}
	return s.more.last.get(k) != nil
}

// each calls f for every key in the long window.
func (s *tieredSet[K, H]) each(f func(K)) {
	if s.more == nil {
		if s.oneValid {
			f(s.one)
		}
		return
	}
	for i := range s.more.last.len() {
		k, _ := s.more.last.at(i)
		f(k)
	}
}

// instant is one event's place in both windows: its second and the last
// seconds outside the short and long windows.
type instant struct{ sec, shortCut, longCut int64 }

// see ages s to w and records k at w's second, charging new exact keys
// and sketches to b (nil: no budget); it returns what it charged.
func (s *tieredSet[K, H]) see(w instant, k K, b *keyBudget) (keys int, sketch bool) {
	s.age(w)
	if m := s.more; m != nil && (m.last.len() >= maxExactKeys || (b != nil && b.keys >= maxSourceKeys)) {
		if m.last.get(k) == nil {
			return 0, s.overflow(w.sec, k, b)
		}
	}
	n := s.exact()
	s.add(w.sec, k, w.shortCut+1)
	if b != nil {
		b.keys += s.exact() - n
	}
	return s.exact() - n, false
}

// overflow counts k in the sketch, reporting whether it made the sketch;
// s.more is set.
func (s *tieredSet[K, H]) overflow(sec int64, k K, b *keyBudget) (made bool) {
	m := s.more
	if m.over == nil {
		if b != nil && b.sketches >= maxSourceSketches {
			s.lossy = true
			return false
		}
		m.over, made = newHLL(), true
		if b != nil {
			b.sketches++
		}
	}
	m.over.add(hashKey(k))
	m.overSec = sec
	return made
}

// clone is a deep copy of s.
func (s *tieredSet[K, H]) clone() *tieredSet[K, H] {
	c := *s
	if m := s.more; m != nil {
		cm := *m
		cm.last = m.last.clone()
		cm.keys, cm.runs = slices.Clone(m.keys), slices.Clone(m.runs)
		if m.over != nil {
			o := *m.over
			cm.over = &o
		}
		c.more = &cm
	}
	return &c
}

// age ages s to w.
func (s *tieredSet[K, H]) age(w instant) {
	s.expire(w.shortCut, w.longCut)
	if m := s.more; m != nil {
		m.lastShortCut = w.shortCut
		if m.over != nil && m.overSec <= w.longCut {
			m.over, s.lossy = nil, false
		}
	}
}

// The two kinds of tiered sets the rules keep: ports and hosts.
type (
	portTiers = tieredSet[uint16, portHash]
	hostTiers = tieredSet[[16]byte, addrHash]
)

// lastSec is the second k was last seen; k is in the set.
func (s *tieredSet[K, H]) lastSec(k K) int64 {
	if s.more == nil {
		return s.oneSec
	}
	return s.more.base + int64(*s.more.last.get(k))
}
