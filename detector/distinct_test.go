package detector

import (
	"math/rand/v2"
	"testing"
)

func TestPortSetExactAcrossRepresentations(t *testing.T) {
	// Walk the set through inline, sorted slice and bitmap with a reference
	// map beside it; duplicates must never count twice.
	var s portSet
	ref := map[uint16]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		p := uint16(r.IntN(6000))
		if got, want := s.Add(p), !ref[p]; got != want {
			t.Fatalf("Add(%d) = %v, want %v (after %d adds)", p, got, want, i)
		}
		ref[p] = true
		if s.Len() != len(ref) {
			t.Fatalf("Len = %d, want %d after %d adds", s.Len(), len(ref), i)
		}
	}
	if s.more == nil || s.more.bits == nil {
		t.Fatal("set never switched to its bitmap; the test did not cover it")
	}
	// Every port added is still a member: adding it again is no change.
	for p := range ref {
		if s.Add(p) {
			t.Fatalf("port %d was lost", p)
		}
	}
	if s.Len() != len(ref) {
		t.Fatalf("Len = %d, want %d", s.Len(), len(ref))
	}
}

func TestPortSetBoundaries(t *testing.T) {
	var s portSet
	for _, p := range []uint16{0, 65535, 0, 65535, 1, 2, 3, 4, 5} {
		s.Add(p)
	}
	if s.Len() != 7 {
		t.Fatalf("Len = %d, want 7", s.Len())
	}
}

func TestHostSet(t *testing.T) {
	var s hostSet
	a, b := [16]byte{1}, [16]byte{2}
	for i, tc := range []struct {
		h    [16]byte
		want bool
		n    int
	}{{a, true, 1}, {a, false, 1}, {b, true, 2}, {b, false, 2}, {a, false, 2}} {
		if got := s.Add(tc.h); got != tc.want || s.Len() != tc.n {
			t.Fatalf("step %d: Add = %v Len = %d, want %v %d", i, got, s.Len(), tc.want, tc.n)
		}
	}
}

// TestHostSetBounded: past maxExactHosts the set stops growing and its
// count becomes an estimate close to the truth.
func TestHostSetBounded(t *testing.T) {
	var s hostSet
	const n = 4 * maxExactHosts
	for i := range n {
		var h [16]byte
		h[0], h[1], h[2], h[3] = 0x20, 0x01, byte(i>>16), byte(i>>8)
		h[15] = byte(i)
		s.Add(h)
	}
	if len(s.more) >= maxExactHosts || !s.Estimated() {
		t.Fatalf("map holds %d hosts, estimated %v: want at most %d exact, then estimated", len(s.more), s.Estimated(), maxExactHosts)
	}
	if got := s.Len(); got < n*95/100 || got > n*105/100 {
		t.Fatalf("Len %d for %d hosts: want within 5%%", got, n)
	}
}
