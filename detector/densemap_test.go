package detector

import (
	"math/rand/v2"
	"testing"
)

// Against a Go map under random puts and deletes, on a small key space so
// that probe chains collide, wrap around the table's end and close up
// after deletes.
func TestDenseMapMatchesMap(t *testing.T) {
	for _, keys := range []int{3, 40, 700} {
		r := rand.New(rand.NewPCG(uint64(keys), 11))
		var m denseMap[uint16, int, portHash]
		ref := map[uint16]int{}
		for op := 0; op < 20_000; op++ {
			k := uint16(r.IntN(keys))
			switch r.IntN(3) {
			case 0, 1:
				v, added := m.put(k)
				if _, had := ref[k]; had == added {
					t.Fatalf("%d keys, op %d: put(%d) added %v, reference had it: %v", keys, op, k, added, had)
				}
				*v = op
				ref[k] = op
			case 2:
				m.del(k)
				delete(ref, k)
			}
			if m.len() != len(ref) {
				t.Fatalf("%d keys, op %d: len %d, want %d", keys, op, m.len(), len(ref))
			}
			if op%97 == 0 {
				for q := range keys {
					v, ok := ref[uint16(q)]
					got := m.get(uint16(q))
					if ok != (got != nil) || ok && *got != v {
						t.Fatalf("%d keys, op %d: get(%d) = %v, want %d (present %v)", keys, op, q, got, v, ok)
					}
				}
				for i := range m.len() {
					k, v := m.at(i)
					if ref[k] != *v {
						t.Fatalf("%d keys, op %d: entry %d is %d=%d, want %d", keys, op, i, k, *v, ref[k])
					}
				}
			}
		}
	}
}

// The hash is keyed per process: two seeds put the same ports in
// different orders, so no fixed set of ports collides everywhere.
func TestDenseMapHashIsSeeded(t *testing.T) {
	var h portHash
	a := h.hash(80)
	old := hashSeed
	defer func() { hashSeed = old }()
	hashSeed[0] ^= 0x5555
	if h.hash(80) == a {
		t.Fatal("the port hash ignores its seed")
	}
	var ah addrHash
	k := [16]byte{15: 1}
	b := ah.hash(k)
	hashSeed[1] ^= 0x5555
	if ah.hash(k) == b {
		t.Fatal("the address hash ignores its second seed word")
	}
}
