package detector

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// samplePorts past max reads its bitmap: the same lowest ports, in order,
// as gathering and sorting them all.
func TestSamplePortsLowest(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 63, 64, 65, 700, 4000} {
		var set portTiers
		ref := map[uint16]bool{}
		for len(ref) < n {
			p := uint16(r.IntN(1 << 16))
			set.add(1, p, 0)
			ref[p] = true
		}
		var want []uint16
		for p := range ref {
			want = append(want, p)
		}
		slices.Sort(want)
		want = want[:min(len(want), 64)]
		if got := samplePorts(&set, 64); !slices.Equal(got, want) {
			t.Fatalf("%d ports: got %v, want %v", n, got, want)
		}
	}
}
