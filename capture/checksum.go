package capture

import (
	"encoding/binary"
	"net/netip"
)

// ChecksumMode says what replay does with checksums it cannot verify
// because the capture was taken on the sending host.
type ChecksumMode uint8

const (
	// ChecksumTolerant accepts offloaded checksums (counted apart): a
	// capture taken on the sending host is still judged.
	ChecksumTolerant ChecksumMode = iota
	// ChecksumStrict rejects them like bad ones: only packets whose
	// checksums verify are evidence.
	ChecksumStrict
)

// ParseChecksumMode reads the --checksums flag.
func ParseChecksumMode(s string) (ChecksumMode, bool) {
	switch s {
	case "tolerant":
		return ChecksumTolerant, true
	case "strict":
		return ChecksumStrict, true
	}
	return 0, false
}

// csumVerdict is what checking one packet's checksums found.
type csumVerdict uint8

const (
	csumOK        csumVerdict = iota
	csumBad                   // transport checksum wrong: the host drops it
	csumOffloaded             // the field holds the folded pseudo-header sum
)

// sum16 adds b to s as big-endian 16-bit words, one's-complement style but
// without folding: 32-bit words summed into 64 bits fold to the same
// result (2^16 = 1 mod 0xffff), and take half the loads.
func sum16(b []byte, s uint64) uint64 {
	for len(b) >= 8 {
		w := binary.BigEndian.Uint64(b)
		s += w>>32 + w&0xffffffff
		b = b[8:]
	}
	if len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

func fold(s uint64) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// ipv4HeaderOK verifies an IPv4 header checksum, as ip_rcv does before
// anything else (the kernel always computes it in software, so even
// captures from the sending host carry it).
func ipv4HeaderOK(h []byte) bool { return fold(sum16(h, 0)) == 0xffff }

// pseudoSum is the unfolded sum of the TCP/UDP pseudo-header.
func pseudoSum(src, dst netip.Addr, v6 bool, proto uint8, length int) uint64 {
	s := uint64(proto) + uint64(length)
	if !v6 {
		a, b := src.As4(), dst.As4()
		return s + uint64(binary.BigEndian.Uint32(a[:])) + uint64(binary.BigEndian.Uint32(b[:]))
	}
	a, b := src.As16(), dst.As16()
	return sum16(b[:], sum16(a[:], s))
}

// transportChecksum verifies a whole TCP segment or UDP datagram. field is
// its checksum field. A segment whose field equals the folded
// pseudo-header sum is what CHECKSUM_PARTIAL leaves in packets captured on
// the sending host (th->check = ~tcp_v4_check(len, saddr, daddr, 0)): the
// card would have finished it, so it cannot be judged either way.
func transportChecksum(src, dst netip.Addr, v6 bool, proto uint8, seg []byte, field uint16) csumVerdict {
	ps := pseudoSum(src, dst, v6, proto, len(seg))
	if fold(sum16(seg, ps)) == 0xffff {
		return csumOK
	}
	if field == fold(ps) {
		return csumOffloaded
	}
	return csumBad
}
