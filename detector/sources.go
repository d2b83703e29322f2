package detector

import "net/netip"

// sourceTable maps a source address to its state with two compact parts: a
// map from the 16-byte address to an index, and states in fixed chunks that
// never move (so pointers to them stay valid and growth never copies them).
// A million sources cost about 120 bytes each instead of about 200 with a
// map of pointers keyed by netip.Addr.
type sourceTable[S any] struct {
	index  map[[16]byte]uint32
	chunks []*[chunkLen]S
	n      uint32
	free   []uint32 // slots of removed sources, reused first
}

const chunkLen = 4096

func newSourceTable[S any]() *sourceTable[S] {
	return &sourceTable[S]{index: make(map[[16]byte]uint32)}
}

// get returns the state of a, or nil.
func (t *sourceTable[S]) get(a netip.Addr) *S {
	i, ok := t.index[a.As16()]
	if !ok {
		return nil
	}
	return &t.chunks[i/chunkLen][i%chunkLen]
}

// add makes a zeroed state for a, which must not be present.
func (t *sourceTable[S]) add(a netip.Addr) *S {
	if k := len(t.free); k > 0 {
		i := t.free[k-1]
		t.free = t.free[:k-1]
		t.index[a.As16()] = i
		return &t.chunks[i/chunkLen][i%chunkLen]
	}
	i := t.n
	if int(i/chunkLen) == len(t.chunks) {
		t.chunks = append(t.chunks, new([chunkLen]S))
	}
	t.n++
	t.index[a.As16()] = i
	return &t.chunks[i/chunkLen][i%chunkLen]
}

// remove forgets a; its slot is zeroed and reused.
func (t *sourceTable[S]) remove(a netip.Addr) {
	k := a.As16()
	i, ok := t.index[k]
	if !ok {
		return
	}
	delete(t.index, k)
	var zero S
	t.chunks[i/chunkLen][i%chunkLen] = zero
	t.free = append(t.free, i)
}

func (t *sourceTable[S]) len() int { return len(t.index) }

// sample calls f for up to n sources from a random place in the table
// (Go starts each map iteration at a random offset), stopping early when f
// returns false: enough to pick an eviction victim without an LRU list.
func (t *sourceTable[S]) sample(n int, f func(netip.Addr, *S) bool) {
	for k, i := range t.index {
		if n == 0 || !f(netip.AddrFrom16(k).Unmap(), &t.chunks[i/chunkLen][i%chunkLen]) {
			return
		}
		n--
	}
}

// each calls f for every source, in no promised order.
func (t *sourceTable[S]) each(f func(netip.Addr, *S)) {
	for k, i := range t.index {
		f(netip.AddrFrom16(k).Unmap(), &t.chunks[i/chunkLen][i%chunkLen])
	}
}

func (t *sourceTable[S]) reset() {
	clear(t.index)
	t.chunks, t.n, t.free = nil, 0, nil
}
