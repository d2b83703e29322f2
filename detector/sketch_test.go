package detector

import "testing"

func TestHLLEstimate(t *testing.T) {
	for _, n := range []int{10, 1000, 5000, 100_000, 1_000_000} {
		h := newHLL()
		for i := 0; i < n; i++ {
			h.add(hashKey([16]byte{0x20, 0x01, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}))
			h.add(hashKey([16]byte{0x20, 0x01, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})) // repeats count once
		}
		if e := h.estimate(); float64(e) < float64(n)*0.95 || float64(e) > float64(n)*1.05 {
			t.Errorf("%d distinct keys: estimate %d, beyond 5%%", n, e)
		}
	}
}
