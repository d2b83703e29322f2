package detector

// Sliding-window counters with one-second buckets: a value counts while it
// was seen within the last W seconds. Exact to the second, and the cost is
// proportional to what changes, not to the window's length.

type countBucket struct {
	sec int64
	n   uint64
}

// slidingCount sums values added within the window.
type slidingCount struct {
	q     []countBucket
	total uint64
}

func (c *slidingCount) add(sec int64, n uint64) {
	if k := len(c.q); k > 0 && c.q[k-1].sec == sec {
		c.q[k-1].n += n
	} else {
		c.q = append(c.q, countBucket{sec, n})
	}
	c.total += n
}

// expire drops buckets at or before cutoff.
func (c *slidingCount) expire(cutoff int64) {
	i := 0
	for i < len(c.q) && c.q[i].sec <= cutoff {
		c.total -= c.q[i].n
		i++
	}
	if i > 0 {
		c.q = append(c.q[:0], c.q[i:]...)
	}
}

type keyBucket[K comparable] struct {
	sec int64
	key K
}

// slidingSet counts distinct keys seen within the window.
type slidingSet[K comparable] struct {
	last map[K]int64 // second each key was last seen
	q    []keyBucket[K]
}

func (s *slidingSet[K]) add(sec int64, k K) {
	if s.last == nil {
		s.last = make(map[K]int64)
	}
	if prev, ok := s.last[k]; ok && prev == sec {
		return
	}
	s.last[k] = sec
	s.q = append(s.q, keyBucket[K]{sec, k})
}

func (s *slidingSet[K]) expire(cutoff int64) {
	i := 0
	for i < len(s.q) && s.q[i].sec <= cutoff {
		b := s.q[i]
		if s.last[b.key] == b.sec {
			delete(s.last, b.key)
		}
		i++
	}
	if i > 0 {
		s.q = append(s.q[:0], s.q[i:]...)
	}
}

func (s *slidingSet[K]) len() int { return len(s.last) }

// compact drops the buckets that are not their key's last sighting; what
// expire does later is unchanged.
func (s *slidingSet[K]) compact() {
	q := s.q[:0]
	for _, b := range s.q {
		if s.last[b.key] == b.sec {
			q = append(q, b)
		}
	}
	clear(s.q[len(q):])
	s.q = q
}
