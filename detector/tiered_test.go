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
