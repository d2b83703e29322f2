package sensor

import (
	"encoding/binary"
	"unsafe"

	"github.com/scanwatch/scanwatch/bpf"
)

// A flow record comes in two layouts, told apart by their size: struct
// event with 16-byte addresses, and struct event4, an IPv4 flow's, with
// only their last four bytes (bpf/scanwatch.c). Past the addresses the
// two are the same.
const (
	recordSize  = int(unsafe.Sizeof(bpf.ScanwatchEvent{}))
	record4Size = int(unsafe.Sizeof(bpf.ScanwatchEvent4{}))
)

// decodeRecord parses a flow ring record of either layout, with IPv4
// addresses v4-mapped as the flow map keeps them; false for any other
// record (an HTTP head, http_record.go). Field by field rather than
// through binary.Read, which reflects and allocates per record.
func decodeRecord(b []byte) (bpf.ScanwatchEvent, bool) {
	var r bpf.ScanwatchEvent
	switch len(b) {
	case recordSize:
		copy(r.Saddr[:], b[0:16])
		copy(r.Daddr[:], b[16:32])
		b = b[32:]
	case record4Size:
		r.Saddr, r.Daddr = v4Mapped(b[0:4]), v4Mapped(b[4:8])
		b = b[8:]
	default:
		return r, false
	}
	le := binary.LittleEndian
	r.TsNs = le.Uint64(b[0:])
	r.Count = le.Uint64(b[8:])
	r.Sport = le.Uint16(b[16:])
	r.Dport = le.Uint16(b[18:])
	r.Window = le.Uint16(b[20:])
	r.IpId = le.Uint16(b[22:])
	r.Ttl, r.Flags, r.MssOnly, r.IsNew, r.OptLen, r.Probe, r.Evasion = b[24], b[25], b[26], b[27], b[28], b[29], b[30]
	return r, true
}

// v4Mapped is ::ffff:a.b.c.d, as bpf/parse.h stores an IPv4 address.
func v4Mapped(a []byte) [16]byte {
	m := [16]byte{10: 0xff, 11: 0xff}
	copy(m[12:], a)
	return m
}
