package sensor

import (
	"encoding/binary"
	"unsafe"

	"github.com/scanwatch/scanwatch/bpf"
)

const recordSize = int(unsafe.Sizeof(bpf.ScanwatchEvent{}))

// decodeRecord parses a flow ring record, false for any other (an HTTP
// head, http_record.go). Field by field rather than through binary.Read,
// which reflects and allocates per record.
func decodeRecord(b []byte) (bpf.ScanwatchEvent, bool) {
	var r bpf.ScanwatchEvent
	if len(b) != recordSize {
		return r, false
	}
	le := binary.LittleEndian
	copy(r.Saddr[:], b[0:16])
	copy(r.Daddr[:], b[16:32])
	r.TsNs = le.Uint64(b[32:])
	r.Count = le.Uint64(b[40:])
	r.Sport = le.Uint16(b[48:])
	r.Dport = le.Uint16(b[50:])
	r.Window = le.Uint16(b[52:])
	r.IpId = le.Uint16(b[54:])
	r.Ttl, r.Flags, r.MssOnly, r.IsNew, r.OptLen, r.Probe, r.Evasion = b[56], b[57], b[58], b[59], b[60], b[61], b[62]
	return r, true
}
