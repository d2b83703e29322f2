package capture

import (
	"encoding/binary"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/httpwire"
)

// httpHead says whether a TCP segment is read as the head of an HTTP
// request (to a port in DecodeOptions.HTTPPorts) or response (from one),
// by the test the XDP program makes: its payload's first four bytes.
//
// Only data the server's stack hands to the application counts: a segment
// with ACK and neither SYN nor RST. Linux discards data on a segment
// without ACK, never delivers the data of a RST, and takes data on a SYN
// only with TCP Fast Open, which scanners do not use.
//
// What is left out, in both sensors alike:
//   - A reassembled IPv4 or IPv6 datagram. The XDP program reassembles
//     fragments' headers only and copies no payload of a fragmented
//     datagram, so replay reads none either; the event still carries the
//     fragmentation mark, which is evidence of its own.
//   - Every segment but a request's first. The stream is not reassembled:
//     a request line split across segments is missed, and so is each
//     request after the first in a pipelined segment (the XDP program
//     copies one prefix per segment).
func (d *Decoder) httpHead(ip *ipCtx, seg []byte, flags uint8, payload []byte) (request, response bool) {
	ports := d.opts.HTTPPorts
	if ports == nil || len(payload) == 0 || ip.reassembled ||
		flags&(detector.FlagACK|detector.FlagSYN|detector.FlagRST) != detector.FlagACK {
		return false, false
	}
	toPort := ports.Has(binary.BigEndian.Uint16(seg[2:]))
	fromPort := ports.Has(binary.BigEndian.Uint16(seg[0:]))
	if !toPort && !fromPort {
		return false, false // the common case for bulk data: no look at the payload
	}
	req, resp := httpwire.Begins(payload)
	return req && toPort, resp && fromPort
}

// readHTTP parses the head at the start of payload into ev. A segment the
// snap length cut is read as far as it was captured: the parser marks the
// head Truncated unless its blank line came before the cut, in which case
// every field the live sensor would read was read too.
func (d *Decoder) readHTTP(ev *detector.Event, payload []byte) {
	h, ok := httpwire.Parse(payload)
	if !ok {
		return // "POSTX /", "HTTP/1.1 abc": not a head the sensors read
	}
	ev.HTTP = h
	if h.Response {
		d.Stats.HTTPResponses++
	} else {
		d.Stats.HTTPRequests++
	}
}
