package capture

import (
	"encoding/binary"
	"fmt"
	"io"
)

// pcapReader reads classic libpcap files. Written here rather than taken
// from gopacket/pcapgo because pcapgo v1.1.19 stores the link type in a uint8
// (LINKTYPE_LINUX_SLL2 = 276 reads as 20), allocates whatever snap length a
// hostile header claims, and its errors do not say where a file broke.
type pcapReader struct {
	src      *byteSource
	order    binary.ByteOrder
	nanoRes  bool
	snaplen  uint32
	linkType uint32
	n        int // records read, for messages

	// OverSnaplen counts records longer than the header's snap length.
	// libpcap and Wireshark read them anyway; so do we.
	OverSnaplen int
}

func newPcapReader(src *byteSource) (*pcapReader, error) {
	r := &pcapReader{src: src}
	h, err := r.src.peek(24)
	if err != nil {
		return nil, fmt.Errorf("pcap file header is cut short (%d of 24 bytes): the file is truncated", len(h))
	}
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4:
		r.order = binary.LittleEndian
	case 0xa1b23c4d:
		r.order, r.nanoRes = binary.LittleEndian, true
	case 0xd4c3b2a1:
		r.order = binary.BigEndian
	case 0x4d3cb2a1:
		r.order, r.nanoRes = binary.BigEndian, true
	}
	if major := r.order.Uint16(h[4:]); major != 2 {
		return nil, fmt.Errorf("pcap version %d.%d is not supported (only 2.x exists): the file header is corrupt", major, r.order.Uint16(h[6:]))
	}
	r.snaplen = r.order.Uint32(h[16:])
	// The top bits of the link-type field carry FCS information
	// (LT_FCS_DATALEN); the link type itself is the low 28 bits.
	r.linkType = r.order.Uint32(h[20:]) & 0x0fffffff
	if err := checkLinkType(r.linkType); err != nil {
		return nil, err
	}
	r.src.discard(24)
	return r, nil
}

func (r *pcapReader) Offset() int64 { return r.src.off }

func (r *pcapReader) Next() (Record, error) {
	h, err := r.src.peek(16)
	if err == io.EOF {
		return Record{}, io.EOF
	}
	if err != nil {
		return Record{}, r.cut(err, "record header")
	}
	// Little-endian files are the common case; the interface call of
	// binary.ByteOrder costs more than the rest of this function.
	var sec, frac, caplen uint32
	if r.order == binary.ByteOrder(binary.LittleEndian) {
		sec, frac, caplen = binary.LittleEndian.Uint32(h), binary.LittleEndian.Uint32(h[4:]), binary.LittleEndian.Uint32(h[8:])
	} else {
		sec, frac, caplen = binary.BigEndian.Uint32(h), binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:])
	}
	if caplen > maxRecord {
		return Record{}, fmt.Errorf("%w: record %d at byte %d claims %d captured bytes, more than any capture holds (%d); the file is damaged from here on",
			ErrCorrupt, r.n+1, r.src.off, caplen, maxRecord)
	}
	if caplen > r.snaplen {
		r.OverSnaplen++
	}
	b, err := r.src.peek(16 + int(caplen))
	if err != nil {
		return Record{}, r.cut(err, "record")
	}
	nanos := int64(frac)
	if !r.nanoRes {
		nanos *= 1000
	}
	rec := Record{Data: b[16:], Nanos: int64(sec)*1e9 + nanos, LinkType: r.linkType}
	// Discarding after the peek keeps rec.Data valid until the next call:
	// bufio only moves its buffer on the next read.
	r.src.discard(16 + int(caplen))
	r.n++
	return rec, nil
}

func (r *pcapReader) cut(err error, what string) error {
	if err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: it ends inside %s %d at byte %d (after %d complete records)", ErrTruncated, what, r.n+1, r.src.off, r.n)
	}
	return fmt.Errorf("reading %s %d at byte %d: %w", what, r.n+1, r.src.off, err)
}
