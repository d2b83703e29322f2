package packettest

import (
	"encoding/binary"
)

// Piece is one fragment to cut from a whole packet: N bytes of its
// fragmentable part from Off, or Data instead when set; More sets the
// more-fragments flag.
type Piece struct {
	Off, N int
	More   bool
	Data   []byte
}

// InOrder cuts length bytes into fragments of size (the last shorter).
func InOrder(length, size int) []Piece {
	var ps []Piece
	for off := 0; off < length; off += size {
		n := min(size, length-off)
		ps = append(ps, Piece{Off: off, N: n, More: off+n < length})
	}
	return ps
}

// Reversed returns ps last first.
func Reversed(ps []Piece) []Piece {
	out := make([]Piece, len(ps))
	for i, p := range ps {
		out[len(ps)-1-i] = p
	}
	return out
}

func (p Piece) bytes(payload []byte) []byte {
	if p.Data != nil {
		return p.Data
	}
	return payload[min(p.Off, len(payload)):min(p.Off+p.N, len(payload))]
}

// Frag4 cuts a whole IPv4 packet into fragments with valid header checksums.
func Frag4(pkt []byte, ps ...Piece) [][]byte {
	ihl := int(pkt[0]&0x0f) * 4
	var out [][]byte
	for _, p := range ps {
		f := append(append([]byte(nil), pkt[:ihl]...), p.bytes(pkt[ihl:])...)
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		ff := uint16(p.Off / 8)
		if p.More {
			ff |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], ff)
		FixIPv4Checksum(f)
		out = append(out, f)
	}
	return out
}

// Frag6 cuts a whole IPv6 packet without extension headers into fragments.
func Frag6(pkt []byte, id uint32, ps ...Piece) [][]byte {
	var out [][]byte
	for _, p := range ps {
		f := append([]byte(nil), pkt[:40]...)
		f[6] = 44
		fo := uint16(p.Off)
		if p.More {
			fo |= 1
		}
		f = append(f, pkt[6], 0, byte(fo>>8), byte(fo))
		f = binary.BigEndian.AppendUint32(f, id)
		f = append(f, p.bytes(pkt[40:])...)
		binary.BigEndian.PutUint16(f[4:], uint16(len(f)-40))
		out = append(out, f)
	}
	return out
}

// Concat joins fragment lists into one packet sequence.
func Concat(fs ...[][]byte) [][]byte {
	var out [][]byte
	for _, f := range fs {
		out = append(out, f...)
	}
	return out
}

// NextHeader rewrites the next-header byte of fragment i's fragment header.
func NextHeader(frames [][]byte, i int, next byte) [][]byte {
	f := append([]byte(nil), frames[i]...)
	f[40] = next
	frames[i] = f
	return frames
}
