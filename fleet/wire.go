// Package fleet moves probe evidence between scanwatch processes through
// NATS JetStream: sensors publish summaries of what they see (Publisher),
// and a correlator runs the detector over the union of every sensor's
// probes (Correlator), so a scan spread thinly over many sensors, none of
// which sees enough to alert, is still caught.
package fleet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/scanwatch/scanwatch/detector"
)

// The wire format of a batch, version 1. A small binary format rather
// than JSON: a probe summary is some 20 numbers, which JSON spells out
// with their names (about 300 bytes a record, measured by
// BenchmarkWireJSON) where varints take 20-30 bytes, and a correlator
// decoding a whole fleet's probes spends its time there. Every length is
// bounded before anything is allocated, so a hostile or damaged message
// costs an error, never a panic or a huge allocation.
//
//	magic "SWB" | version 1
//	uvarint len(sensor) | sensor
//	uvarint seq | varint clock (Unix ns, 0: none) | varint base (Unix ns)
//	uvarint n, then n records:
//	  varint time-base | flags byte | src, dst (4 or 16 bytes each)
//	  uvarint sport, dport | kind, tcp flags, ttl | uvarint ipid, window
//	  optlen, evasion | uvarint payload, count
//	  [HTTP: flags byte | uvarint status, skipped | 5 strings (uvarint len + bytes)]
const (
	wireMagic   = "SWB"
	WireVersion = 1
	// MaxSensorID bounds a sensor's id (and so a NATS subject token).
	MaxSensorID = 128
	// MaxBatchRecords bounds the records in one batch.
	MaxBatchRecords = 1 << 16
	maxHTTPString   = 4096
)

// Record flag bits.
const (
	recIPv6 = 1 << iota
	recMSSOnly
	recEstablished
	recHTTP
)

// HTTP flag bits.
const (
	httpResponse = 1 << iota
	httpReferer
	httpTruncated
)

// Batch is what a sensor sends at once: its id, a sequence number that
// says which batch of the publisher's this is, the sensor's clock when it
// was sent (the newest event time it has seen, or live the wall clock:
// the correlator moves its own event time by it when the fleet is quiet),
// and the events, each with a Count of the identical probes it stands for.
type Batch struct {
	Sensor string
	Seq    uint64
	Clock  time.Time
	Events []detector.Event
}

// ErrWire is wrapped by every decoding error.
var ErrWire = errors.New("not a scanwatch probe batch")

// AppendBatch encodes b after dst.
func AppendBatch(dst []byte, b *Batch) []byte {
	dst = append(dst, wireMagic...)
	dst = append(dst, WireVersion)
	dst = binary.AppendUvarint(dst, uint64(len(b.Sensor)))
	dst = append(dst, b.Sensor...)
	dst = binary.AppendUvarint(dst, b.Seq)
	dst = binary.AppendVarint(dst, unixNano(b.Clock))
	var base int64
	if len(b.Events) > 0 {
		base = b.Events[0].Time.UnixNano()
	}
	dst = binary.AppendVarint(dst, base)
	dst = binary.AppendUvarint(dst, uint64(len(b.Events)))
	for i := range b.Events {
		dst = appendEvent(dst, &b.Events[i], base)
	}
	return dst
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func appendEvent(dst []byte, e *detector.Event, base int64) []byte {
	dst = binary.AppendVarint(dst, e.Time.UnixNano()-base)
	var fl byte
	if !e.Src.Is4() || !e.Dst.Unmap().Is4() {
		fl |= recIPv6
	}
	if e.MSSOnly {
		fl |= recMSSOnly
	}
	if e.Established {
		fl |= recEstablished
	}
	if e.HTTP != nil {
		fl |= recHTTP
	}
	dst = append(dst, fl)
	if fl&recIPv6 != 0 {
		s, d := e.Src.As16(), e.Dst.As16()
		dst = append(append(dst, s[:]...), d[:]...)
	} else {
		s, d := e.Src.As4(), e.Dst.Unmap().As4()
		dst = append(append(dst, s[:]...), d[:]...)
	}
	dst = binary.AppendUvarint(dst, uint64(e.SrcPort))
	dst = binary.AppendUvarint(dst, uint64(e.DstPort))
	dst = append(dst, byte(e.Kind), e.Flags, e.TTL)
	dst = binary.AppendUvarint(dst, uint64(e.IPID))
	dst = binary.AppendUvarint(dst, uint64(e.Window))
	dst = append(dst, e.OptLen, byte(e.Evasion))
	dst = binary.AppendUvarint(dst, uint64(e.Payload))
	dst = binary.AppendUvarint(dst, uint64(e.Count))
	if h := e.HTTP; h != nil {
		var hf byte
		if h.Response {
			hf |= httpResponse
		}
		if h.Referer {
			hf |= httpReferer
		}
		if h.Truncated {
			hf |= httpTruncated
		}
		dst = append(dst, hf)
		dst = binary.AppendUvarint(dst, uint64(h.Status))
		dst = binary.AppendUvarint(dst, uint64(h.Skipped))
		for _, s := range [...]string{h.Method, h.Target, h.Host, h.UserAgent, h.Head} {
			s = s[:min(len(s), maxHTTPString)]
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		}
	}
	return dst
}

// decoder reads a batch, remembering the first error.
type decoder struct {
	p   []byte
	off int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", ErrWire, what, d.off)
	}
}

func (d *decoder) uvarint(what string, max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.p[d.off:])
	if n <= 0 {
		d.fail("bad or cut " + what)
		return 0
	}
	if v > max {
		d.fail(fmt.Sprintf("%s %d beyond %d", what, v, max))
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.p[d.off:])
	if n <= 0 {
		d.fail("bad or cut " + what)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) bytes(what string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.p)-d.off < n {
		d.fail("cut " + what)
		return nil
	}
	b := d.p[d.off : d.off+n]
	d.off += n
	return b
}

func (d *decoder) byte1(what string) byte {
	if b := d.bytes(what, 1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) str(what string, max int) string {
	n := d.uvarint(what+" length", uint64(max))
	return string(d.bytes(what, int(n)))
}

// DecodeBatch decodes p into b, reusing b.Events' storage. An error names
// what is wrong and where; b is then incomplete.
func DecodeBatch(p []byte, b *Batch) error {
	d := &decoder{p: p}
	if len(p) < 4 || string(p[:3]) != wireMagic {
		return fmt.Errorf("%w: no %q magic (a message on the probe subjects from something else?)", ErrWire, wireMagic)
	}
	if p[3] != WireVersion {
		return fmt.Errorf("%w: version %d, this scanwatch reads version %d: upgrade the correlator before the sensors", ErrWire, p[3], WireVersion)
	}
	d.off = 4
	b.Sensor = d.str("sensor id", MaxSensorID)
	b.Seq = d.uvarint("sequence", 1<<63)
	b.Clock = time.Time{}
	if c := d.varint("clock"); c != 0 {
		b.Clock = time.Unix(0, c).UTC()
	}
	base := d.varint("base time")
	n := d.uvarint("record count", MaxBatchRecords)
	// Each record takes at least 17 bytes: a count beyond what the
	// message can hold is refused before the slice grows.
	if d.err == nil && n > uint64(len(p)-d.off)/17 {
		d.fail(fmt.Sprintf("record count %d beyond what %d bytes hold", n, len(p)))
	}
	if d.err != nil {
		return d.err
	}
	b.Events = b.Events[:0]
	for i := uint64(0); i < n && d.err == nil; i++ {
		b.Events = append(b.Events, detector.Event{})
		d.event(&b.Events[len(b.Events)-1], base)
	}
	if d.err == nil && d.off != len(p) {
		d.fail(fmt.Sprintf("%d bytes after the last record", len(p)-d.off))
	}
	return d.err
}

func (d *decoder) event(e *detector.Event, base int64) {
	e.Time = time.Unix(0, base+d.varint("time")).UTC()
	fl := d.byte1("record flags")
	alen := 4
	if fl&recIPv6 != 0 {
		alen = 16
	}
	a := d.bytes("addresses", 2*alen)
	if d.err != nil {
		return
	}
	if alen == 4 {
		e.Src, e.Dst = netip.AddrFrom4([4]byte(a[:4])), netip.AddrFrom4([4]byte(a[4:]))
	} else {
		e.Src, e.Dst = netip.AddrFrom16([16]byte(a[:16])), netip.AddrFrom16([16]byte(a[16:]))
	}
	e.MSSOnly, e.Established = fl&recMSSOnly != 0, fl&recEstablished != 0
	e.SrcPort = uint16(d.uvarint("source port", 65535))
	e.DstPort = uint16(d.uvarint("destination port", 65535))
	k := d.bytes("kind", 3)
	if d.err != nil {
		return
	}
	e.Kind, e.Flags, e.TTL = detector.Kind(k[0]), k[1], k[2]
	if e.Kind > detector.KindCreditUDP {
		d.fail(fmt.Sprintf("unknown probe kind %d", k[0]))
	}
	e.IPID = uint16(d.uvarint("IP id", 65535))
	e.Window = uint16(d.uvarint("TCP window", 65535))
	e.OptLen = d.byte1("option length")
	e.Evasion = detector.Evasion(d.byte1("evasion marks"))
	e.Payload = uint16(d.uvarint("payload length", 65535))
	e.Count = uint32(d.uvarint("count", 1<<32-1))
	e.HTTP = nil
	if fl&recHTTP != 0 {
		h := &detector.HTTP{}
		hf := d.byte1("HTTP flags")
		h.Response, h.Referer, h.Truncated = hf&httpResponse != 0, hf&httpReferer != 0, hf&httpTruncated != 0
		h.Status = uint16(d.uvarint("HTTP status", 999))
		h.Skipped = uint32(d.uvarint("HTTP skipped", 1<<32-1))
		h.Method = d.str("HTTP method", maxHTTPString)
		h.Target = d.str("HTTP target", maxHTTPString)
		h.Host = d.str("HTTP host", maxHTTPString)
		h.UserAgent = d.str("HTTP user agent", maxHTTPString)
		h.Head = d.str("HTTP head", maxHTTPString)
		e.HTTP = h
	}
}
