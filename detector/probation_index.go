package detector

import "encoding/binary"

// slotIndex finds probation ring slots by a key their records yield (a
// source address, or its prefix): an open-addressing table of slot
// numbers, 4 bytes a slot, where a Go map kept the key beside each value
// (8 to 20 bytes an entry for IPv4, with growth). Every spoofed one-probe
// source has an entry in one or two of these, so they are most of what a
// flood costs. The key is read back from the ring, so an entry's key is
// whatever its slot holds: callers remove an entry before its slot is
// given to another key. Hashes are keyed by hashSeed, as every key here
// is an attacker's choice.
type slotIndex struct {
	// 0 empty, else slot + 1 in the low slotBits and, above them, a tag
	// of the key's hash, so that a probe reads the ring only for an entry
	// whose tag matches (1 in 1024 of the others). len a power of two.
	tab []uint32
	n   int
}

// slotBits holds every slot of a ring of up to 2^22-1 records (the default
// holds 2^21); a ring past that gives its index no tag bits.
const slotBits = 22

// slotMask is the bits of an entry that hold slot + 1, for a ring of ring
// slots; the rest hold the tag.
func slotMask(ring int) uint32 {
	if ring >= 1<<slotBits {
		return ^uint32(0)
	}
	return 1<<slotBits - 1
}

// tagOf is the tag of hash h: its high bits (the table's position uses
// the low ones), in the bits above slotMask.
func tagOf(h uint64, ring int) uint32 { return uint32(h>>32) &^ slotMask(ring) }

func entrySlot(v uint32, ring int) uint32 { return v&slotMask(ring) - 1 }

// find returns the position of the entry whose slot is(slot) accepts, or
// -1; h is the key's hash, ring the ring's size.
func (x *slotIndex) find(h uint64, ring int, is func(slot uint32) bool) int {
	if len(x.tab) == 0 {
		return -1
	}
	mask, tag, tagMask := uint64(len(x.tab)-1), tagOf(h, ring), ^slotMask(ring)
	for i := h & mask; ; i = (i + 1) & mask {
		v := x.tab[i]
		if v == 0 {
			return -1
		}
		if v&tagMask == tag && is(entrySlot(v, ring)) {
			return int(i)
		}
	}
}

// slot is the slot at position pos of find.
func (x *slotIndex) slot(pos int, ring int) uint32 { return entrySlot(x.tab[pos], ring) }

// set points the entry at pos to slot, whose key must be the entry's.
func (x *slotIndex) set(pos int, slot uint32, ring int) {
	x.tab[pos] = x.tab[pos]&^slotMask(ring) | (slot + 1)
}

// insert adds slot under hash h (its key must not be present); hashOf
// rehashes the others when the table grows.
func (x *slotIndex) insert(h uint64, slot uint32, ring int, hashOf func(slot uint32) uint64) {
	if 4*(x.n+1) > 3*len(x.tab) {
		old := x.tab
		x.tab = make([]uint32, max(2*len(old), 16))
		for _, v := range old {
			if v != 0 {
				x.place(hashOf(entrySlot(v, ring)), v)
			}
		}
	}
	x.place(h, tagOf(h, ring)|(slot+1))
	x.n++
}

func (x *slotIndex) place(h uint64, v uint32) {
	mask := uint64(len(x.tab) - 1)
	i := h & mask
	for x.tab[i] != 0 {
		i = (i + 1) & mask
	}
	x.tab[i] = v
}

// removeAt deletes the entry at pos, closing up the probe chain behind it
// (backward-shift deletion); hashOf gives the other entries' homes.
func (x *slotIndex) removeAt(pos int, ring int, hashOf func(slot uint32) uint64) {
	mask := uint64(len(x.tab) - 1)
	hole := uint64(pos)
	for i := (hole + 1) & mask; x.tab[i] != 0; i = (i + 1) & mask {
		home := hashOf(entrySlot(x.tab[i], ring)) & mask
		if (i-home)&mask >= (i-hole)&mask {
			x.tab[hole] = x.tab[i]
			hole = i
		}
	}
	x.tab[hole] = 0
	x.n--
}

// Hashes of the probation keys, keyed by hashSeed.
type v4Hash struct{}

func (v4Hash) hash(a [4]byte) uint64 {
	return mix64(uint64(binary.LittleEndian.Uint32(a[:])) ^ hashSeed[0])
}

func prefixHash4(k uint32) uint64 { return mix64(uint64(k) ^ hashSeed[1]) }

func prefixHash6(k uint64) uint64 { return mix64(k ^ hashSeed[1]) }
