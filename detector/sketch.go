package detector

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// hll is a HyperLogLog sketch (Flajolet et al. 2007) of 2^12 one-byte
// registers: 4 KiB, a standard error of 1.04/64 = 1.6%. It counts the keys a
// set sees once its exact part is full, so a source sweeping millions of
// hosts costs a fixed few KiB per port instead of a map entry per host. The
// harmonic sum and the empty registers are kept up to date on each add, so
// reading the estimate (on every probe) is O(1).
type hll struct {
	reg   [1 << hllBits]uint8
	sum   float64 // sum of 2^-reg over all registers
	zeros int     // registers still 0
}

const hllBits = 12

func newHLL() *hll { return &hll{sum: 1 << hllBits, zeros: 1 << hllBits} }

func (h *hll) add(x uint64) {
	i := x >> (64 - hllBits)
	r := uint8(bits.LeadingZeros64(x<<hllBits|1<<(hllBits-1))) + 1
	if old := h.reg[i]; r > old {
		h.sum += math.Ldexp(1, -int(r)) - math.Ldexp(1, -int(old))
		if old == 0 {
			h.zeros--
		}
		h.reg[i] = r
	}
}

// estimate is the raw HyperLogLog estimate, with linear counting in the
// small range where the raw one is biased. 64-bit hashes need no
// large-range correction.
func (h *hll) estimate() int {
	m := float64(len(h.reg))
	e := 0.7213 / (1 + 1.079/m) * m * m / h.sum
	if e <= 2.5*m && h.zeros > 0 {
		e = m * math.Log(m/float64(h.zeros))
	}
	return int(e + 0.5)
}

// mix64 is splitmix64's finaliser: a fixed, well-spread hash, so estimates
// are the same on every run.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// hashKey hashes the keys tiered sets hold: ports and 16-byte addresses.
func hashKey[K comparable](k K) uint64 {
	switch v := any(k).(type) {
	case uint16:
		return mix64(uint64(v) + 0x9e3779b97f4a7c15)
	case [16]byte:
		return mix64(binary.LittleEndian.Uint64(v[:8]) ^ mix64(binary.LittleEndian.Uint64(v[8:])))
	case int:
		return mix64(uint64(v))
	}
	panic("hashKey: unsupported key type")
}
