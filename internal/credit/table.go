// Package credit is the rule by which both sensors decide that a source
// used a connection it opened (credit), and that an ACK belongs to a
// connection rather than a scan (established). The XDP program keeps the
// same table in a BPF array (bpf/credit.h) and updates it the same way, so
// replay and live agree on every packet; the only differences are the
// clock (capture time against the kernel's coarse clock) and that the
// kernel's CPUs race on a slot, which can lose or duplicate one credit.
//
// The table is a fixed array of small slots indexed by a keyed hash of
// (source, destination, destination port, protocol): no allocation per
// flow, a constant cost per packet, and a bounded size however many
// spoofed sources arrive. Two flows that share a slot share its state;
// with 2^19 slots and random hash keys an attacker can neither aim for a
// slot nor fill the table, and a collision costs at most one credit or
// one suppressed ACK probe.
package credit

import (
	"crypto/rand"
	"encoding/binary"
)

// Bits is log2 of the table's slots; keep in step with bpf/credit.h.
const Bits = 19

// Slots is the table's size: 4 MiB of 8-byte slots.
const Slots = 1 << Bits

// EpochShift makes an epoch 2^35 ns (34.4 s): a slot is live while its
// epoch is the current one or the one before, so a connection unused for
// 34 to 69 seconds is forgotten.
const EpochShift = 35

// ReArmEvery is how many datagrams of a UDP flow arm it again: a long
// flow earns a credit per this many datagrams, not one per reply.
const ReArmEvery = 128

// Keys are the hash's odd multipliers, random per table so that nobody
// can aim a packet at another flow's slot.
type Keys [10]uint32

// RandomKeys draws fresh keys.
func RandomKeys() Keys {
	var b [40]byte
	rand.Read(b[:]) // since Go 1.24 it never returns an error

	var k Keys
	for i := range k {
		k[i] = binary.LittleEndian.Uint32(b[4*i:]) | 1
	}
	return k
}

// Slot mirrors struct conn_slot in bpf/credit.h.
type Slot struct {
	AckBase uint32 // TCP: ack number of the first bare ACK since the last credit
	Aux     uint16 // TCP: that ACK's source port; UDP: datagrams counted
	Epoch   uint8  // 0x80 | epoch&0x7f of the last arm or use; 0: empty
	Armed   uint8  // TCP: SYNs not yet credited; UDP: 1 while a reply would earn credit
}

// Table is one sensor's credit table.
//
// The slots are 4 MiB read at random: each access misses the caches and
// the TLB, and with a whole packet's decoding and judging between two of
// them the CPU cannot overlap those misses (a replay of a million SYNs
// spent 0.16 s waiting on them). What only writes (SYN, Answer, Probe:
// nothing is returned) is therefore queued, as the slot index and time,
// and applied in batches, where the independent accesses overlap; what
// reads a slot (Segment, Reply) applies the queue first, so every
// operation sees the table exactly as if each had been applied at once.
type Table struct {
	keys    Keys
	slots   []Slot
	pending [pendingMax]pendingOp
	npend   int
}

// pendingOp is a queued write-only operation.
type pendingOp struct {
	ns  int64
	idx uint32
	op  uint8
}

const (
	opSYN uint8 = iota
	opAnswer
	opProbe
)

// pendingMax: enough operations per batch for the misses to overlap,
// few enough to stay in L1.
const pendingMax = 64

// New returns an empty table hashing with keys.
func New(keys Keys) *Table { return &Table{keys: keys, slots: make([]Slot, Slots)} }

// Index is the slot of (src, dst, port, proto); addresses are 16 bytes,
// IPv4 v4-mapped, as the kernel stores them.
func (t *Table) Index(src, dst *[16]byte, port uint16, proto uint8) uint32 {
	return Index(&t.keys, src, dst, port, proto)
}

// Index hashes as bpf/credit.h's conn_index: independent multiplies the
// CPU runs side by side, then one mixing round.
func Index(k *Keys, src, dst *[16]byte, port uint16, proto uint8) uint32 {
	le := binary.LittleEndian
	x := le.Uint32(src[0:])*k[0] + le.Uint32(src[4:])*k[1] + le.Uint32(src[8:])*k[2] + le.Uint32(src[12:])*k[3] +
		le.Uint32(dst[0:])*k[4] + le.Uint32(dst[4:])*k[5] + le.Uint32(dst[8:])*k[6] + le.Uint32(dst[12:])*k[7] +
		(uint32(port)|uint32(proto)<<16)*k[8]
	x ^= x >> 16
	x *= k[9]
	return x >> (32 - Bits)
}

// V4Base is what the constant words of a v4-mapped source and
// destination (::ffff:a.b.c.d) add to Index: the XDP program starts an
// IPv4 index from it instead of multiplying zeros and 0xffff.
func V4Base(k *Keys) uint32 {
	const w2 = 0xffff0000 // bytes 00 00 ff ff, read little-endian
	return w2*k[2] + w2*k[6]
}

// Mark is the epoch byte of time ns.
func Mark(ns int64) uint8 { return 0x80 | uint8(ns>>EpochShift)&0x7f }

// live says whether a slot was armed or used in epoch mark's or the one
// before.
func live(s *Slot, mark uint8) bool {
	return s.Epoch&0x80 != 0 && (mark-s.Epoch)&0x7f <= 1
}

const (
	protoTCP = 6
	protoUDP = 17
	// protoPair keys (src, dst, port 0) slots that say src sent payload to
	// dst lately, on any connection (talked).
	protoPair = 0
)

// touch is slot idx in use at ns: one last used before the previous
// epoch starts over empty.
func (t *Table) touch(idx uint32, ns int64) *Slot {
	s := &t.slots[idx]
	m := Mark(ns)
	if !live(s, m) {
		*s = Slot{}
	}
	s.Epoch = m
	return s
}

// queue adds a write-only operation, applying the batch when it is full.
func (t *Table) queue(idx uint32, op uint8, ns int64) {
	t.pending[t.npend] = pendingOp{ns: ns, idx: idx, op: op}
	if t.npend++; t.npend == pendingMax {
		t.apply()
	}
}

// apply runs the queued operations in order.
func (t *Table) apply() {
	for _, p := range t.pending[:t.npend] {
		s := t.touch(p.idx, p.ns)
		switch p.op {
		case opSYN:
			if s.Armed < 255 {
				s.Armed++
			}
		case opProbe:
			s.Aux++
			if s.Aux == 1 || s.Aux%ReArmEvery == 0 {
				s.Armed = 1
			}
		}
	}
	t.npend = 0
}

// SYN arms the connection a SYN opens: one credit more it may earn.
func (t *Table) SYN(src, dst *[16]byte, dport uint16, ns int64) {
	t.queue(t.Index(src, dst, dport, protoTCP), opSYN, ns)
}

// Answer notes a SYN-ACK from src:sport to dst: the connection dst opened
// to src:sport is live, armed or not. A perimeter host sees its peers'
// answers but not its own SYNs; without this, every ACK a server that
// sends no timestamps puts on the host's connections would look like an
// ACK probe.
func (t *Table) Answer(src, dst *[16]byte, sport uint16, ns int64) {
	t.queue(t.Index(dst, src, sport, protoTCP), opAnswer, ns)
}

// Segment judges a TCP segment with ACK and without SYN or RST, from src
// to dst:dport. It returns whether it earns the connection a credit, and
// whether the connection is known in either direction (an ACK on it is no
// probe). bare: ACK or FIN+ACK alone, without payload or options, as ACK
// and Maimon probes are; only for those is the reverse direction looked
// up.
//
// Credit is payload on a connection src opened, or src's ACK of the
// server's data once src has sent payload to that server on some
// connection in this epoch or the one before (a passive FTP download
// after the control connection's commands). The ACK alone is no
// evidence: a banner grab (nmap -sT --script banner) sends nothing, and
// its kernel ACKs every greeting an SSH, SMTP or FTP server sends first.
func (t *Table) Segment(src, dst *[16]byte, sport, dport uint16, payload int, ack uint32, bare bool, ns int64) (credit, established bool) {
	if t.npend > 0 {
		t.apply()
	}
	m := Mark(ns)
	s := &t.slots[t.Index(src, dst, dport, protoTCP)]
	if live(s, m) {
		established = true
		if payload > 0 {
			t.touch(t.Index(src, dst, 0, protoPair), ns)
		}
		if s.Armed > 0 {
			switch {
			case payload > 0:
				credit = true
			case s.AckBase == 0 || s.Aux != sport:
				s.AckBase, s.Aux = ack, sport
			case int32(ack-s.AckBase) >= 2 && live(&t.slots[t.Index(src, dst, 0, protoPair)], m):
				// Past the handshake's ack and a FIN's: the server sent
				// data, to a client that talks to it.
				credit = true
			}
			if credit {
				s.Armed--
				s.AckBase = 0
			}
		}
		s.Epoch = m
	}
	if bare && !established {
		r := &t.slots[t.Index(dst, src, sport, protoTCP)]
		established = live(r, m)
	}
	return credit, established
}

// Probe counts a UDP probe datagram from src to dst:dport: its first, and
// every ReArmEvery-th after, arms the flow for a reply.
func (t *Table) Probe(src, dst *[16]byte, dport uint16, ns int64) {
	t.queue(t.Index(src, dst, dport, protoUDP), opProbe, ns)
}

// Reply judges a UDP datagram from src:sport to dst: true when it answers
// an armed flow of dst's to src:sport, which earns that flow a credit.
func (t *Table) Reply(src, dst *[16]byte, sport uint16, ns int64) bool {
	if t.npend > 0 {
		t.apply()
	}
	r := &t.slots[t.Index(dst, src, sport, protoUDP)]
	if !live(r, Mark(ns)) || r.Armed == 0 {
		return false
	}
	r.Armed = 0
	return true
}
