package detector

// tieredSet counts distinct keys over two sliding windows at once, a short
// one (the scan window) and a long one (low-and-slow scans), with one map of
// last sightings and a queue per window. Exact to the second.
type tieredSet[K comparable] struct {
	last       map[K]int64 // second each key was last seen
	qShort     []keyBucket[K]
	qLong      []keyBucket[K]
	shortCount int
}

// add records k at second sec; shortFrom is the first second inside the
// short window. Call expire with the same clock first: a sighting that has
// left the short window must have been aged out before k is counted anew.
func (s *tieredSet[K]) add(sec int64, k K, shortFrom int64) {
	if s.last == nil {
		s.last = make(map[K]int64, 4)
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

func (s *tieredSet[K]) short() int { return s.shortCount }
func (s *tieredSet[K]) long() int  { return len(s.last) }

func (s *tieredSet[K]) has(k K) bool {
	_, ok := s.last[k]
	return ok
}

// each calls f for every key in the long window.
func (s *tieredSet[K]) each(f func(K)) {
	for k := range s.last {
		f(k)
	}
}
