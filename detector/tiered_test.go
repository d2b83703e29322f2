package detector

import (
	"math/rand/v2"
	"testing"
)

// Against a brute-force reference: distinct keys with a sighting inside
// each window.
func TestTieredSetMatchesReference(t *testing.T) {
	const short, long = 5, 20
	r := rand.New(rand.NewPCG(3, 4))
	var s tieredSet[int]
	seen := map[int][]int64{}
	for sec := int64(0); sec < 200; sec++ {
		s.expire(sec-short, sec-long)
		for i := r.IntN(4); i > 0; i-- {
			k := r.IntN(30)
			s.add(sec, k, sec-short+1)
			seen[k] = append(seen[k], sec)
		}
		wantShort, wantLong := 0, 0
		for _, secs := range seen {
			last := secs[len(secs)-1]
			if last > sec-short {
				wantShort++
			}
			if last > sec-long {
				wantLong++
			}
		}
		if s.short() != wantShort || s.long() != wantLong {
			t.Fatalf("second %d: short %d long %d, want %d %d", sec, s.short(), s.long(), wantShort, wantLong)
		}
	}
}
