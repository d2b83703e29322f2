package detector

// tieredSet counts distinct keys over two sliding windows at once, a short
// one (the scan window) and a long one (low-and-slow scans), with one map of
// last sightings and a queue per window. Exact to the second.
//
// Most sets hold one key for their whole life (the one port a sweeper tries
// on each host, the one host a vertical scanner tries on each port), so the
// first key lives inline and the map and queues are made only when a second
// key arrives: that took the default rules from 0.25 to over 1 M probes/s.
type tieredSet[K comparable] struct {
	one      K
	oneSec   int64
	oneValid bool

	last       map[K]int64 // second each key was last seen; nil while inline
	qShort     []keyBucket[K]
	qLong      []keyBucket[K]
	shortCount int

	// Past maxExactKeys (or the source's key budget), new keys go to a
	// sketch instead: counts keep growing, as estimates. The sketch lives
	// while it keeps seeing keys within the long window.
	over         *hll
	overSec      int64
	lastShortCut int64 // the short window's cut at the last age
	lossy        bool  // the source's sketch budget was spent too: counts are lower bounds
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
func (s *tieredSet[K]) add(sec int64, k K, shortFrom int64) {
	if s.last == nil {
		switch {
		case !s.oneValid:
			s.one, s.oneSec, s.oneValid, s.shortCount = k, sec, true, 1
			return
		case s.one == k:
			s.oneSec, s.shortCount = sec, 1
			return
		}
		// A second key: move the inline one into the map.
		s.last = make(map[K]int64, 4)
		s.last[s.one] = s.oneSec
		s.qShort = append(s.qShort, keyBucket[K]{s.oneSec, s.one})
		s.qLong = append(s.qLong, keyBucket[K]{s.oneSec, s.one})
		s.oneValid = false
	}
	prev, ok := s.last[k]
	if ok && prev == sec {
		return
	}
	if !ok || prev < shortFrom {
		s.shortCount++
	}
	s.last[k] = sec
	s.qShort = append(s.qShort, keyBucket[K]{sec, k})
	s.qLong = append(s.qLong, keyBucket[K]{sec, k})
}

// expire ages out sightings at or before the cutoffs.
func (s *tieredSet[K]) expire(shortCut, longCut int64) {
	if s.last == nil {
		switch {
		case !s.oneValid:
		case s.oneSec <= longCut:
			s.oneValid, s.shortCount = false, 0
		case s.oneSec <= shortCut:
			s.shortCount = 0
		}
		return
	}
	i := 0
	for i < len(s.qShort) && s.qShort[i].sec <= shortCut {
		if s.last[s.qShort[i].key] == s.qShort[i].sec {
			s.shortCount--
		}
		i++
	}
	if i > 0 {
		s.qShort = append(s.qShort[:0], s.qShort[i:]...)
	}
	i = 0
	for i < len(s.qLong) && s.qLong[i].sec <= longCut {
		if s.last[s.qLong[i].key] == s.qLong[i].sec {
			delete(s.last, s.qLong[i].key)
		}
		i++
	}
	if i > 0 {
		s.qLong = append(s.qLong[:0], s.qLong[i:]...)
	}
}

func (s *tieredSet[K]) short() int {
	if s.over != nil && s.overSec > s.lastShortCut {
		return s.shortCount + s.over.estimate()
	}
	return s.shortCount
}

func (s *tieredSet[K]) long() int {
	if s.over != nil {
		return s.exact() + s.over.estimate()
	}
	return s.exact()
}

// exact is how many keys the set holds exactly (in the long window).
func (s *tieredSet[K]) exact() int {
	if s.last == nil {
		if s.oneValid {
			return 1
		}
		return 0
	}
	return len(s.last)
}

// estimated reports whether the counts are estimates (or lower bounds).
func (s *tieredSet[K]) estimated() bool { return s.over != nil || s.lossy }

func (s *tieredSet[K]) has(k K) bool {
	if s.last == nil {
		return s.oneValid && s.one == k
	}
	_, ok := s.last[k]
	return ok
}

// each calls f for every key in the long window.
func (s *tieredSet[K]) each(f func(K)) {
	if s.last == nil {
		if s.oneValid {
			f(s.one)
		}
		return
	}
	for k := range s.last {
		f(k)
	}
}

// instant is one event's place in both windows: its second and the last
// seconds outside the short and long windows.
type instant struct{ sec, shortCut, longCut int64 }

// see ages s to w and records k at w's second, charging new exact keys
// and sketches to b (nil: no budget).
func (s *tieredSet[K]) see(w instant, k K, b *keyBudget) {
	s.age(w)
	if s.last != nil && (len(s.last) >= maxExactKeys || (b != nil && b.keys >= maxSourceKeys)) {
		if _, ok := s.last[k]; !ok {
			s.overflow(w.sec, k, b)
			return
		}
	}
	n := s.exact()
	s.add(w.sec, k, w.shortCut+1)
	if b != nil {
		b.keys += s.exact() - n
	}
}

func (s *tieredSet[K]) overflow(sec int64, k K, b *keyBudget) {
	if s.over == nil {
		if b != nil && b.sketches >= maxSourceSketches {
			s.lossy = true
			return
		}
		s.over = newHLL()
		if b != nil {
			b.sketches++
		}
	}
	s.over.add(hashKey(k))
	s.overSec = sec
}

// age ages s to w.
func (s *tieredSet[K]) age(w instant) {
	s.expire(w.shortCut, w.longCut)
	s.lastShortCut = w.shortCut
	if s.over != nil && s.overSec <= w.longCut {
		s.over, s.lossy = nil, false
	}
}
