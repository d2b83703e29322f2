package detector

import (
	"math/rand/v2"
	"testing"
)

// Against a brute-force reference: distinct keys with a sighting inside
// each window. Few keys and sparse sightings exercise the inline first key
// and its move into the map; many keys the map alone.
func TestTieredSetMatchesReference(t *testing.T) {
	const short, long = 5, 20
	for _, tc := range []struct {
		keys, maxPerSec int
	}{{30, 4}, {2, 2}, {1, 1}, {3, 1}} {
		r := rand.New(rand.NewPCG(uint64(tc.keys), 4))
		var s portTiers
		seen := map[uint16]int64{}
		for sec := int64(0); sec < 300; sec++ {
			s.expire(sec-short, sec-long)
			if r.IntN(4) == 0 { // sparse: let everything age out at times
				sec += int64(r.IntN(25))
				s.expire(sec-short, sec-long)
			}
			for i := r.IntN(tc.maxPerSec + 1); i > 0; i-- {
				k := uint16(r.IntN(tc.keys))
				s.add(sec, k, sec-short+1)
				seen[k] = sec
			}
			wantShort, wantLong := 0, 0
			for k, last := range seen {
				if last > sec-short {
					wantShort++
				}
				if last > sec-long {
					wantLong++
				}
				if s.has(k) != (last > sec-long) {
					t.Fatalf("%d keys, second %d: has(%d) = %v", tc.keys, sec, k, s.has(k))
				}
			}
			if s.short() != wantShort || s.long() != wantLong {
				t.Fatalf("%d keys, second %d: short %d long %d, want %d %d", tc.keys, sec, s.short(), s.long(), wantShort, wantLong)
			}
		}
	}
}

// refTiered is the set as it was before its sightings moved into runs and
// one queue: its first key inline, then a map of last sightings and a
// queue per window, a bucket a sighting. The set must match it step by
// step, out-of-order seconds included (events reach the rules out of
// order).
type refTiered struct {
	one        uint16
	oneSec     int64
	oneValid   bool
	last       map[uint16]int64
	qShort     []keyBucket[uint16]
	qLong      []keyBucket[uint16]
	shortCount int
}

func (s *refTiered) add(sec int64, k uint16, shortFrom int64) {
	if s.last == nil {
		switch {
		case !s.oneValid:
			s.one, s.oneSec, s.oneValid, s.shortCount = k, sec, true, 1
			return
		case s.one == k:
			s.oneSec, s.shortCount = sec, 1
			return
		}
		s.last = map[uint16]int64{s.one: s.oneSec}
		s.qShort = append(s.qShort, keyBucket[uint16]{s.oneSec, s.one})
		s.qLong = append(s.qLong, keyBucket[uint16]{s.oneSec, s.one})
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
	s.qShort = append(s.qShort, keyBucket[uint16]{sec, k})
	s.qLong = append(s.qLong, keyBucket[uint16]{sec, k})
}

func (s *refTiered) expire(shortCut, longCut int64) {
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
	for len(s.qShort) > 0 && s.qShort[0].sec <= shortCut {
		if s.last[s.qShort[0].key] == s.qShort[0].sec {
			s.shortCount--
		}
		s.qShort = s.qShort[1:]
	}
	for len(s.qLong) > 0 && s.qLong[0].sec <= longCut {
		if s.last[s.qLong[0].key] == s.qLong[0].sec {
			delete(s.last, s.qLong[0].key)
		}
		s.qLong = s.qLong[1:]
	}
}

func (s *refTiered) long() int {
	if s.last == nil {
		if s.oneValid {
			return 1
		}
		return 0
	}
	return len(s.last)
}

func (s *refTiered) has(k uint16) bool {
	if s.last == nil {
		return s.oneValid && s.one == k
	}
	_, ok := s.last[k]
	return ok
}

func TestTieredSetMatchesQueues(t *testing.T) {
	const short, long = 5, 20
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 7))
		keys := 1 + r.IntN(60)
		var s portTiers
		var ref refTiered
		sec := int64(1000)
		past, lastAdd := []int64{sec}, sec
		for step := 0; step < 5000; step++ {
			switch r.IntN(12) {
			case 0:
				sec -= int64(r.IntN(30)) // an older event
			case 10:
				sec = past[r.IntN(len(past))] // an older event, at a second seen before
			case 11:
				sec = lastAdd // back to the newest sighting's second
			case 1, 2:
				sec += int64(r.IntN(25))
			case 3, 4, 5:
				sec++
			}
			past = append(past, sec)
			w := instant{sec: sec, shortCut: sec - short, longCut: sec - long}
			s.age(w)
			ref.expire(w.shortCut, w.longCut)
			if k := uint16(r.IntN(keys)); r.IntN(4) != 0 { // else only aged, as done sets are
				s.add(sec, k, w.shortCut+1)
				ref.add(sec, k, w.shortCut+1)
				lastAdd = sec
			}
			if s.short() != ref.shortCount || s.long() != ref.long() {
				t.Fatalf("seed %d step %d: short %d long %d, want %d %d", seed, step, s.short(), s.long(), ref.shortCount, ref.long())
			}
			for q := range uint16(keys) {
				if s.has(q) != ref.has(q) {
					t.Fatalf("seed %d step %d: has(%d) = %v", seed, step, q, s.has(q))
				}
			}
		}
	}
}
