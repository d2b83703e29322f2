package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// pcapng block types scanwatch reads; every other block is skipped.
const (
	ngSectionHeader   = 0x0a0d0d0a
	ngInterface       = 0x00000001
	ngObsoletePacket  = 0x00000002
	ngSimplePacket    = 0x00000003
	ngEnhancedPacket  = 0x00000006
	ngByteOrderMagic  = 0x1a2b3c4d
	ngOptEnd          = 0
	ngOptIfTsresol    = 9
	ngOptIfTsoffset   = 14
	ngMaxSkippedBlock = 64 << 20 // larger blocks are damage, not data
	// ngMaxInterfaces bounds the interface descriptions of one section,
	// the only table a pcapng file makes the reader grow: without it, 50
	// million interface blocks (2.4 MB gzipped) took 6.3 GB. Real captures
	// describe a handful of interfaces; dumpcap and tshark merging many
	// files stay far below this.
	ngMaxInterfaces = 4096
)

type ngInterfaceInfo struct {
	linkType  uint32
	snaplen   uint32
	tsresol   uint8 // if_tsresol as stored: 10^-n, or 2^-n when the top bit is set
	tsoffset  int64 // seconds
	supported bool
}

// ngReader reads pcapng: several sections, several interfaces with their own
// link types and timestamp resolutions. See pcapReader for why not pcapgo.
type ngReader struct {
	src       *byteSource
	order     binary.ByteOrder
	ifaces    []ngInterfaceInfo
	sectionAt int64 // offset of the current section header
	n         int   // packet records read
	last      int64 // time of the last timestamped packet, for simple packet blocks

	// SkippedUnsupported counts packets from interfaces whose link type
	// scanwatch cannot decode; the caller warns once.
	SkippedUnsupported int
	UnsupportedLink    uint32
}

func newNgReader(src *byteSource) (*ngReader, error) {
	r := &ngReader{src: src}
	// The first section header decides whether this is pcapng at all; later
	// ones go through Next.
	if err := r.section(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *ngReader) Offset() int64 { return r.src.off }

// section reads a Section Header Block at the current offset.
func (r *ngReader) section() error {
	h, err := r.src.peek(12)
	if err != nil {
		return r.cut(err, "section header")
	}
	switch binary.LittleEndian.Uint32(h[8:]) {
	case ngByteOrderMagic:
		r.order = binary.LittleEndian
	case 0x4d3c2b1a:
		r.order = binary.BigEndian
	default:
		return fmt.Errorf("%w: pcapng section header at byte %d has no byte-order magic", ErrCorrupt, r.src.off)
	}
	size, err := r.blockSize(h, ngSectionHeader)
	if err != nil {
		return err
	}
	// The whole block must be there, or a later read starts mid-block.
	if _, err := r.src.peek(size); err != nil {
		return r.cut(err, "section header")
	}
	// A new section starts a new interface table; the old one's memory
	// is reused, so many sections cost no more than one.
	r.ifaces = r.ifaces[:0]
	r.sectionAt = r.src.off
	r.src.discard(size)
	return nil
}

// blockSize validates a block's total length.
func (r *ngReader) blockSize(h []byte, typ uint32) (int, error) {
	size := r.order.Uint32(h[4:])
	limit := uint32(ngMaxSkippedBlock)
	if typ == ngEnhancedPacket || typ == ngSimplePacket || typ == ngObsoletePacket || typ == ngInterface || typ == ngSectionHeader {
		limit = readBufSize
	}
	if size < 12 || size%4 != 0 || size > limit {
		return 0, fmt.Errorf("%w: pcapng block of type %#x at byte %d has length %d (must be a multiple of 4 between 12 and %d); the file is damaged from here on",
			ErrCorrupt, typ, r.src.off, size, limit)
	}
	return int(size), nil
}

func (r *ngReader) Next() (Record, error) {
	for {
		h, err := r.src.peek(8)
		if err == io.EOF {
			return Record{}, io.EOF
		}
		if err != nil {
			return Record{}, r.cut(err, "block header")
		}
		// The block type of a section header reads the same in both byte
		// orders, so it is recognised before the order is known.
		if binary.LittleEndian.Uint32(h) == ngSectionHeader {
			if err := r.section(); err != nil {
				return Record{}, err
			}
			continue
		}
		typ := r.order.Uint32(h)
		size, err := r.blockSize(h, typ)
		if err != nil {
			return Record{}, err
		}
		switch typ {
		case ngInterface, ngEnhancedPacket, ngSimplePacket, ngObsoletePacket:
		default:
			if err := r.skip(size); err != nil {
				return Record{}, r.cut(err, "block")
			}
			continue
		}
		b, err := r.src.peek(size)
		if err != nil {
			return Record{}, r.cut(err, "block")
		}
		body := b[8 : size-4]
		rec, ok, err := r.decodeBlock(typ, body)
		if err != nil {
			return Record{}, err
		}
		r.src.discard(size)
		if ok {
			r.n++
			return rec, nil
		}
	}
}

// decodeBlock interprets one interface or packet block body; ok is false
// when the block yields no record (an interface description, or a packet
// from an interface we cannot decode).
func (r *ngReader) decodeBlock(typ uint32, body []byte) (rec Record, ok bool, err error) {
	short := func() (Record, bool, error) {
		return Record{}, false, fmt.Errorf("%w: pcapng block of type %#x at byte %d is too short for its own fields", ErrCorrupt, typ, r.src.off)
	}
	var iface uint32
	var tsHigh, tsLow, caplen uint32
	var data []byte
	switch typ {
	case ngInterface:
		if len(body) < 8 {
			return short()
		}
		if len(r.ifaces) >= ngMaxInterfaces {
			return Record{}, false, fmt.Errorf("%w: pcapng interface block at byte %d is the section's (at byte %d) %dth; scanwatch reads at most %d interfaces per section, as no real capture has more and each costs memory (a hostile file can declare millions); if the file is genuine, split it per interface (tshark -r FILE -Y 'frame.interface_id==N' -w PART.pcapng)",
				ErrCorrupt, r.src.off, r.sectionAt, len(r.ifaces)+1, ngMaxInterfaces)
		}
		info := ngInterfaceInfo{linkType: uint32(r.order.Uint16(body)), snaplen: r.order.Uint32(body[4:]), tsresol: 6}
		info.supported = checkLinkType(info.linkType) == nil
		r.interfaceOptions(&info, body[8:])
		r.ifaces = append(r.ifaces, info)
		return Record{}, false, nil
	case ngEnhancedPacket:
		if len(body) < 20 {
			return short()
		}
		iface, tsHigh, tsLow, caplen = r.order.Uint32(body), r.order.Uint32(body[4:]), r.order.Uint32(body[8:]), r.order.Uint32(body[12:])
		data = body[20:]
	case ngObsoletePacket:
		if len(body) < 20 {
			return short()
		}
		iface, tsHigh, tsLow, caplen = uint32(r.order.Uint16(body)), r.order.Uint32(body[4:]), r.order.Uint32(body[8:]), r.order.Uint32(body[12:])
		data = body[20:]
	case ngSimplePacket:
		if len(body) < 4 {
			return short()
		}
		caplen = r.order.Uint32(body)
		data = body[4:]
		if len(r.ifaces) > 0 && r.ifaces[0].snaplen != 0 {
			caplen = min(caplen, r.ifaces[0].snaplen)
		}
		caplen = min(caplen, uint32(len(data)))
	}
	if int(iface) >= len(r.ifaces) {
		return Record{}, false, fmt.Errorf("%w: packet %d at byte %d names interface %d, but the section describes only %d", ErrCorrupt, r.n+1, r.src.off, iface, len(r.ifaces))
	}
	if caplen > uint32(len(data)) {
		return Record{}, false, fmt.Errorf("%w: packet %d at byte %d claims %d captured bytes in a block with room for %d", ErrCorrupt, r.n+1, r.src.off, caplen, len(data))
	}
	info := &r.ifaces[iface]
	if !info.supported {
		r.SkippedUnsupported++
		r.UnsupportedLink = info.linkType
		return Record{}, false, nil
	}
	nanos := r.last
	if typ != ngSimplePacket {
		nanos = info.nanos(uint64(tsHigh)<<32 | uint64(tsLow))
		r.last = nanos
	}
	return Record{Data: data[:caplen], Nanos: nanos, LinkType: info.linkType}, true, nil
}

func (r *ngReader) interfaceOptions(info *ngInterfaceInfo, opts []byte) {
	for len(opts) >= 4 {
		code, n := r.order.Uint16(opts), int(r.order.Uint16(opts[2:]))
		if code == ngOptEnd || 4+n > len(opts) {
			return
		}
		v := opts[4 : 4+n]
		switch {
		case code == ngOptIfTsresol && n >= 1:
			info.tsresol = v[0]
		case code == ngOptIfTsoffset && n >= 8:
			info.tsoffset = int64(r.order.Uint64(v))
		}
		opts = opts[4+(n+3)&^3:]
	}
}

// nanos converts a timestamp in the interface's units to Unix nanoseconds.
func (info *ngInterfaceInfo) nanos(ts uint64) int64 {
	exp := uint(info.tsresol & 0x7f)
	var ns uint64
	switch {
	case info.tsresol&0x80 != 0: // 2^-exp seconds
		hi, lo := bits.Mul64(ts, 1e9)
		if exp >= 64 {
			ns = hi >> (exp - 64)
		} else {
			ns = lo>>exp | hi<<(64-exp) // Go defines hi<<64 as 0
		}
	case exp <= 9:
		ns = ts * pow10[9-exp]
	case exp-9 < uint(len(pow10)):
		ns = ts / pow10[exp-9]
	}
	return int64(ns) + info.tsoffset*1e9
}

var pow10 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

func (r *ngReader) cut(err error, what string) error {
	if err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: it ends inside a pcapng %s at byte %d (after %d complete packets)", ErrTruncated, what, r.src.off, r.n)
	}
	return fmt.Errorf("reading pcapng %s at byte %d: %w", what, r.src.off, err)
}

// skip consumes a block we do not read, which may be larger than the buffer.
func (r *ngReader) skip(size int) error {
	for size > 0 {
		n := min(size, readBufSize)
		if _, err := r.src.peek(n); err != nil {
			return err
		}
		r.src.discard(n)
		size -= n
	}
	return nil
}
