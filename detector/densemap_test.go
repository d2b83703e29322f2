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

// The probation index against a Go map, its keys read back from a "ring"
// as probation's are: with tags (a ring under 2^22 slots) and without.
func TestSlotIndexMatchesMap(t *testing.T) {
	for _, ring := range []int{5000, 1 << 23} {
		r := rand.New(rand.NewPCG(uint64(ring), 3))
		keys := make([]uint32, 5000) // slot -> key
		var x slotIndex
		ref := map[uint32]uint32{} // key -> slot
		hashOf := func(s uint32) uint64 { return prefixHash4(keys[s]) }
		find := func(k uint32) int { return x.find(prefixHash4(k), ring, func(s uint32) bool { return keys[s] == k }) }
		for op := 0; op < 50_000; op++ {
			k := uint32(r.IntN(3000))
			pos := find(k)
			if s, ok := ref[k]; ok != (pos >= 0) || ok && x.slot(pos, ring) != s {
				t.Fatalf("ring %d, op %d: key %d at %d, reference %d %v", ring, op, k, pos, s, ok)
			}
			switch {
			case pos >= 0 && r.IntN(2) == 0:
				x.removeAt(pos, ring, hashOf)
				delete(ref, k)
			case pos < 0:
				s := uint32(r.IntN(len(keys)))
				if old, used := keyOfSlot(ref, s); used { // the slot's old key goes first
					x.removeAt(find(old), ring, hashOf)
					delete(ref, old)
				}
				keys[s] = k
				x.insert(prefixHash4(k), s, ring, hashOf)
				ref[k] = s
			}
			if x.n != len(ref) {
				t.Fatalf("ring %d, op %d: %d entries, want %d", ring, op, x.n, len(ref))
			}
		}
	}
}

func keyOfSlot(ref map[uint32]uint32, s uint32) (uint32, bool) {
	for k, v := range ref {
		if v == s {
			return k, true
		}
	}
	return 0, false
}
