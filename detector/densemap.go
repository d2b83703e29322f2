package detector

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
	"slices"
)

// denseMap is the hash table behind the default rules' per-source state
// (targets, services, the sightings of tiered sets): values in one dense
// slice, found through an open-addressing index with linear probing.
// Against a Go map of pointers it makes no allocation per entry (a
// scanner's thousand ports were a thousand 288-byte services), iterates
// over contiguous memory, and its lookups touch one index word and one
// key. Pointers from get and put are valid until the next put or del.
//
// The first denseChunk values live in one slice that doubles as it fills,
// as small tables are most; past it values go to chunks that double
// (more[c] holds positions denseChunk<<c to denseChunk<<(c+1)-1), so a
// large table grows by a chunk as large as all before it and copies no
// value. A scanner's thousand services were copied from one doubled slice
// into the next, half of all the default rules allocated.
//
// Every key it holds is chosen by whoever sends the packets, so the hash
// is keyed by hashSeed, drawn at start: nobody can aim keys at one probe
// chain without knowing it.
//
// A table holds at most maxDenseEntries: its index slots are 2 bytes, not
// 4. Every table the rules keep is capped far below (the asserts below):
// a scanner's port set is fresh memory on every probe, and its index was a
// fifth of its bytes.
type denseMap[K comparable, V any, H keyHasher[K]] struct {
	idx  []uint16 // slot: 0 empty, else 1 + position in keys and vals; len a power of two
	keys []K
	vals []V   // positions below denseChunk
	more [][]V // past them: more[c] has length denseChunk<<c
	// hint: the position get last found. Checked against keys before
	// use, so it needs no upkeep: runs of one key skip the hash.
	hint int
}

// maxDenseEntries is what a denseMap can index.
const maxDenseEntries = 1<<16 - 1

// Compile-time asserts: each cap on a table is within maxDenseEntries (a
// negative array length does not compile).
var (
	_ [maxDenseEntries - maxTargets]struct{}
	_ [maxDenseEntries - maxServices]struct{}
	_ [maxDenseEntries - maxExactKeys]struct{}
	_ [maxDenseEntries - maxPrefixTargets]struct{}
	_ [maxDenseEntries - maxPrefixServices]struct{}
)

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

// denseChunk is how many values a table holds before it grows by chunks.
const denseChunk = 64

// val is the value at position p.
func (m *denseMap[K, V, H]) val(p int) *V {
	if p < denseChunk {
		return &m.vals[p]
	}
	c := bits.Len(uint(p)/denseChunk) - 1
	return &m.more[c][p-denseChunk<<c]
}

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
		return m.val(h)
	}
	if _, p := m.find(k); p >= 0 {
		m.hint = p
		return m.val(p)
	}
	return nil
}

// put returns k's value, adding a zero one if k is new.
func (m *denseMap[K, V, H]) put(k K) (v *V, added bool) {
	if h := m.hint; h < len(m.keys) && m.keys[h] == k {
		return m.val(h), false
	}
	slot, p := m.find(k)
	if p >= 0 {
		m.hint = p
		return m.val(p), false
	}
	// Grow at 3/4 full: short probe chains for linear probing.
	if 4*(len(m.keys)+1) > 3*len(m.idx) {
		m.grow()
		slot, _ = m.find(k)
	}
	n := len(m.keys)
	if n == cap(m.keys) {
		// Doubling, where append grows large slices by a quarter: a
		// scanner's table is copied half as often.
		m.keys = append(make([]K, 0, max(2*n, 1)), m.keys...)
	}
	var zero V
	switch {
	case n < len(m.vals):
		// A place del emptied (and zeroed).
	case n < denseChunk:
		if n == cap(m.vals) {
			m.vals = append(make([]V, 0, min(max(2*n, 1), denseChunk)), m.vals...)
		}
		m.vals = append(m.vals, zero)
	case n >= denseChunk<<len(m.more):
		m.more = append(m.more, make([]V, denseChunk<<len(m.more))) // zero
	}
	m.keys = append(m.keys, k)
	m.idx[slot] = uint16(n + 1)
	return m.val(n), true
}

func (m *denseMap[K, V, H]) grow() {
	n := max(2*len(m.idx), 4)
	m.idx = make([]uint16, n)
	var h H
	mask := uint64(n - 1)
	for p, k := range m.keys {
		i := h.hash(k) & mask
		for m.idx[i] != 0 {
			i = (i + 1) & mask
		}
		m.idx[i] = uint16(p + 1)
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
		m.keys[p], *m.val(p) = m.keys[last], *m.val(last)
		m.idx[ls] = uint16(p + 1)
	}
	var zeroK K
	var zeroV V
	// The freed place is zero again, as put expects of its chunk.
	m.keys[last], *m.val(last) = zeroK, zeroV
	m.keys = m.keys[:last]

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
func (m *denseMap[K, V, H]) at(i int) (K, *V) { return m.keys[i], m.val(i) }

// clone is a deep copy of m, for values without pointers.
func (m *denseMap[K, V, H]) clone() denseMap[K, V, H] {
	c := denseMap[K, V, H]{idx: slices.Clone(m.idx), keys: slices.Clone(m.keys), vals: slices.Clone(m.vals), more: make([][]V, len(m.more))}
	for i, ch := range m.more {
		c.more[i] = slices.Clone(ch)
	}
	return c
}
