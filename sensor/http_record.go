package sensor

import (
	"encoding/binary"
	"unsafe"

	"github.com/scanwatch/scanwatch/bpf"
	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/httpwire"
)

// The ring holds two kinds of record, told apart by their size: flow
// records (struct event, recordSize) and HTTP heads (struct http_event),
// whole for a request and cut to the status line for a response. The
// program reserves exactly these sizes; a test checks they all differ.
const (
	httpRecordSize     = int(unsafe.Sizeof(bpf.ScanwatchHttpEvent{}))
	httpRecordHead     = int(unsafe.Offsetof(bpf.ScanwatchHttpEvent{}.Data))
	httpStatusPrefix   = 16 // HTTP_STATUS_PREFIX in bpf/http.h
	httpResponseSize   = httpRecordHead + httpStatusPrefix
	maxRingRecordBytes = httpRecordSize
)

// httpRecord is an HTTP ring record's head, and its data still in the
// ring sample: httpwire.Parse copies what it keeps.
type httpRecord struct {
	saddr, daddr [16]byte
	tsNs         uint64
	skipped      uint32
	sport, dport uint16
	wireLen      uint16
	flags, ttl   uint8
	isResponse   bool
	data         []byte
}

// isHTTPRecord reports whether a ring sample of n bytes is an HTTP head.
func isHTTPRecord(n int) bool { return n == httpRecordSize || n == httpResponseSize }

// decodeHTTPRecord parses an HTTP ring record, field by field as
// decodeRecord does; false when it is not one or says it holds more data
// than it does.
func decodeHTTPRecord(b []byte) (httpRecord, bool) {
	var r httpRecord
	if !isHTTPRecord(len(b)) {
		return r, false
	}
	le := binary.LittleEndian
	copy(r.saddr[:], b[0:16])
	copy(r.daddr[:], b[16:32])
	r.tsNs = le.Uint64(b[32:])
	r.skipped = le.Uint32(b[40:])
	r.sport = le.Uint16(b[44:])
	r.dport = le.Uint16(b[46:])
	r.wireLen = le.Uint16(b[48:])
	copied := int(le.Uint16(b[50:]))
	r.flags, r.ttl, r.isResponse = b[52], b[53], b[54] != 0
	if copied > len(b)-httpRecordHead {
		return r, false
	}
	r.data = b[httpRecordHead : httpRecordHead+copied]
	return r, true
}

// httpEvent fills ev from an HTTP ring record; false when the record
// holds no head httpwire reads (then it is counted, not handed on). The
// only allocations are httpwire.Parse's.
func httpEvent(b []byte, clock kernelClock, ev *detector.Event) bool {
	r, ok := decodeHTTPRecord(b)
	if !ok {
		return false
	}
	h, ok := httpwire.Parse(r.data)
	if !ok || h.Response != r.isResponse {
		return false
	}
	h.Skipped = r.skipped
	// For a response the packet's source is the server, as detector.HTTP
	// has it: no swap.
	*ev = detector.Event{
		Time: clock.wall(r.tsNs), Src: addrFrom16(r.saddr), Dst: addrFrom16(r.daddr),
		SrcPort: r.sport, DstPort: r.dport, Kind: detector.KindOther, Flags: r.flags, TTL: r.ttl,
		HTTP: h,
	}
	return true
}
