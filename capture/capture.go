// Package capture turns capture files into detector events: it reads pcap,
// pcapng and gzip-compressed captures, decodes their frames (link types,
// VLAN tags, IPv4 options, IPv6 extension headers, tunnels, checksums,
// fragment reassembly) and replays them to the rules. Package sensor does
// the same for live traffic through the XDP program; both produce the same
// detector.Event, so the rules cannot tell them apart.
package capture

import (
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Record is one captured frame. Data is only valid until the next call to
// Next: readers hand out slices of their own buffer to avoid a copy per packet.
type Record struct {
	Data     []byte
	Nanos    int64  // capture time, Unix nanoseconds
	LinkType uint32 // LINKTYPE_* of the interface the frame came from
}

// CaptureReader yields records until io.EOF.
type CaptureReader interface {
	Next() (Record, error)
	// Offset is how many bytes of the (decompressed) stream were consumed.
	Offset() int64
}

// maxRecord is the largest frame any real capture holds: libpcap's own cap
// (MAXIMUM_SNAPLEN). A larger length means a corrupt or hostile file, and we
// must not allocate for it.
const maxRecord = 262144

// readBufSize must exceed maxRecord plus a block header, so a whole record
// can be peeked without a copy.
const readBufSize = 1 << 20

// ErrTruncated marks a capture that ends inside a record; everything before
// the cut was read.
var ErrTruncated = errors.New("capture file is truncated")

// ErrCorrupt marks a capture whose framing cannot be trusted past some point.
var ErrCorrupt = errors.New("capture file is corrupt")

// OpenCapture detects the format by its magic number, not by the file name:
// classic pcap (either byte order, µs or ns), pcapng, and either of them
// gzip-compressed.
func OpenCapture(r io.Reader) (CaptureReader, error) {
	src := newByteSource(r)
	magic, err := src.peek(2)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, errors.New("file is empty: expected a pcap or pcapng capture")
		}
		return nil, err
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("gzip header is damaged: %w", err)
		}
		return openUncompressed(newByteSource(zr), true)
	}
	return openUncompressed(src, false)
}

func openUncompressed(src *byteSource, gz bool) (CaptureReader, error) {
	magic, err := src.peek(4)
	what := "file"
	if gz {
		what = "gzip stream"
	}
	switch {
	case err == io.EOF:
		return nil, fmt.Errorf("%s is empty: expected a pcap or pcapng capture", what)
	case err == io.ErrUnexpectedEOF:
		return nil, fmt.Errorf("%s is only %d bytes: too short for a capture header", what, len(magic))
	case err != nil:
		return nil, err
	}
	switch binary.LittleEndian.Uint32(magic) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		return newPcapReader(src)
	case 0x0a0d0d0a:
		return newNgReader(src)
	}
	return nil, fmt.Errorf("%s is not a capture (magic %#08x): scanwatch reads pcap and pcapng, optionally gzip-compressed; convert other formats with editcap -F pcapng", what, binary.BigEndian.Uint32(magic))
}
