package detector

import (
	"crypto/rand"
	"encoding/binary"
)

// denseMap is the hash table behind the default rules' per-source state
// (targets, services, the sightings of tiered sets): values in one dense
// slice, found through an open-addressing index with linear probing.
// Against a Go map of pointers it makes no allocation per entry (a
// scanner's thousand ports were a thousand 288-byte services), iterates
// over contiguous memory, and its lookups touch one index word and one
// key. Pointers from get and put are valid until the next put or del.
//
// Every key it holds is chosen by whoever sends the packets, so the hash
// is keyed by hashSeed, drawn at start: nobody can aim keys at one probe
// chain without knowing it.
type denseMap[K comparable, V any, H keyHasher[K]] struct {
	idx  []uint32 // slot: 0 empty, else 1 + position in keys and vals; len a power of two
	keys []K
	vals []V
	// hint: the position get last found. Checked against keys before
	// use, so it needs no upkeep: runs of one key skip the hash.
	hint int
}

// keyHasher hashes one key type with hashSeed; a zero-size type
// parameter, so a map carries no function pointer.
type keyHasher[K comparable] interface{ hash(K) uint64 }

type portHash struct{}
type serviceHash struct{}
type addrHash struct{}

func (portHash) hash(k uint16) uint64    { return mix64(uint64(k) ^ hashSeed[0]) }
func (serviceHash) hash(k uint32) uint64 { return mix64(uint64(k) ^ hashSeed[0]) }
func (addrHash) hash(k [16]byte) uint64 {
	lo, hi := binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:])
	return mix64(mix64(lo^hashSeed[0]) + hi ^ hashSeed[1])
}

// hashSeed keys every denseMap's hash, random per process.
var hashSeed = func() (s [2]uint64) {
	var b [16]byte
	rand.Read(b[:]) // since Go 1.24 it never returns an error
	return [2]uint64{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}()

func (m *denseMap[K, V, H]) len() int { return len(m.keys) }

// find returns k's index slot and its position in vals, or -1.
func (m *denseMap[K, V, H]) find(k K) (slot uint64, pos int) {
	if len(m.idx) == 0 {
		return 0, -1
	}
	var h H
	mask := uint64(len(m.idx) - 1)
	for i := h.hash(k) & mask; ; i = (i + 1) & mask {
		p := m.idx[i]
		if p == 0 {
			return i, -1
		}
		if m.keys[p-1] == k {
			return i, int(p - 1)
		}
	}
}

// get returns k's value, or nil.
func (m *denseMap[K, V, H]) get(k K) *V {
	if h := m.hint; h < len(m.keys) && m.keys[h] == k {
		return &m.vals[h]
	}
	if _, p := m.find(k); p >= 0 {
		m.hint = p
		return &m.vals[p]
	}
	return nil
}

// put returns k's value, adding a zero one if k is new.
func (m *denseMap[K, V, H]) put(k K) (v *V, added bool) {
	if h := m.hint; h < len(m.keys) && m.keys[h] == k {
		return &m.vals[h], false
	}
	slot, p := m.find(k)
	if p >= 0 {
		m.hint = p
		return &m.vals[p], false
	}
	// Grow at 3/4 full: short probe chains for linear probing.
	if 4*(len(m.keys)+1) > 3*len(m.idx) {
		m.grow()
		slot, _ = m.find(k)
	}
	if n := len(m.keys); n == cap(m.keys) {
		// Doubling, where append grows large slices by a quarter: a
		// scanner's table is copied half as often.
		c := max(2*n, 1)
		m.keys = append(make([]K, 0, c), m.keys...)
		m.vals = append(make([]V, 0, c), m.vals...)
	}
	var zero V
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, zero)
	m.idx[slot] = uint32(len(m.keys))
	return &m.vals[len(m.vals)-1], true
}

func (m *denseMap[K, V, H]) grow() {
	n := max(2*len(m.idx), 4)
	m.idx = make([]uint32, n)
	var h H
	mask := uint64(n - 1)
	for p, k := range m.keys {
		i := h.hash(k) & mask
		for m.idx[i] != 0 {
			i = (i + 1) & mask
		}
		m.idx[i] = uint32(p + 1)
	}
}

// del removes k: the last entry moves into its place in the dense slices,
// and the probe chain closes up behind it (backward-shift deletion, no
// tombstones).
func (m *denseMap[K, V, H]) del(k K) {
	slot, p := m.find(k)
	if p < 0 {
		return
	}
	last := len(m.keys) - 1
	if p != last {
		ls, _ := m.find(m.keys[last])
		m.keys[p], m.vals[p] = m.keys[last], m.vals[last]
		m.idx[ls] = uint32(p + 1)
	}
	var zeroK K
	var zeroV V
	m.keys[last], m.vals[last] = zeroK, zeroV
	m.keys, m.vals = m.keys[:last], m.vals[:last]

	var h H
	mask := uint64(len(m.idx) - 1)
	hole := slot
	for i := (hole + 1) & mask; m.idx[i] != 0; i = (i + 1) & mask {
		home := h.hash(m.keys[m.idx[i]-1]) & mask
		// Move entry i back into the hole unless its home lies cyclically
		// in (hole, i]: then the hole is before its chain starts.
		if (i-home)&mask >= (i-hole)&mask {
			m.idx[hole] = m.idx[i]
			hole = i
		}
	}
	m.idx[hole] = 0
	// Give memory back when a table empties far below its peak.
	if len(m.keys) == 0 && len(m.idx) > 64 {
		*m = denseMap[K, V, H]{}
	}
}

// at returns the i-th entry in dense order (0 <= i < len).
func (m *denseMap[K, V, H]) at(i int) (K, *V) { return m.keys[i], &m.vals[i] }
