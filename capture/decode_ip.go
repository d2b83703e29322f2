package capture

import (
	"encoding/binary"
	"net/netip"

	"github.com/scanwatch/scanwatch/detector"
)

// ipCtx is what the transport decoder needs to know of the IP packet (or
// reassembled datagram) around it.
type ipCtx struct {
	src, dst netip.Addr
	v6       bool
	ttl      uint8
	id       uint16
	hdr4     []byte // IPv4 header whose checksum is still to verify; nil if done or IPv6
	missing  int    // bytes the IP length claims beyond what was captured
	cut      bool   // the snap length cut the datagram: checksums unverifiable
	noLength bool   // the IP length field is 0 (left to segmentation offload)
	depth    int    // tunnel level: 0 outermost
	evasion  detector.Evasion

	// Reassembled datagrams: the fragmentable part's length and how much
	// of it the offset-0 fragment held (for the tiny-fragment mark).
	reassembled bool
	fragLen     int
	firstEnd    int
}

func (d *Decoder) ipv4(data []byte, depth int) {
	if len(data) < 20 || data[0]>>4 != 4 {
		d.Stats.Malformed++
		return
	}
	ihl := int(data[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(data[2:]))
	ip := ipCtx{depth: depth}
	switch {
	case ihl < 20:
		d.Stats.Malformed++
		return
	case total == 0:
		// Segmentation offload leaves the length 0 in packets captured
		// on the sending host; on the wire the receiver drops them.
		total, ip.noLength = len(data), true
	case total < ihl:
		d.Stats.Malformed++
		return
	}
	if ihl > len(data) {
		d.Stats.Malformed++
		return
	}
	end := total
	if end > len(data) {
		end, ip.cut, ip.missing = len(data), true, total-len(data)
	}
	ip.src = netip.AddrFrom4([4]byte(data[12:16]))
	ip.dst = netip.AddrFrom4([4]byte(data[16:20]))
	ip.ttl, ip.id = data[8], binary.BigEndian.Uint16(data[4:])
	ip.hdr4 = data[:ihl]
	proto := data[9]
	ff := binary.BigEndian.Uint16(data[6:])
	if ff&0x3fff == 0 { // neither more-fragments nor an offset: the common case
		d.ipPayload(&ip, proto, data[ihl:end])
		return
	}
	if !d.wanted(proto) || ip.noLength {
		d.Stats.NotIP++
		return
	}
	// ip_rcv checks the header before reassembly sees the fragment.
	if !ipv4HeaderOK(ip.hdr4) {
		d.Stats.BadIPChecksum++
		return
	}
	fr := fragment{
		key: fragKey{src: ip.src, dst: ip.dst, id: uint32(ip.id), proto: proto},

		off:  int(ff&0x1fff) * 8,
		data: data[ihl:end], last: ff&0x2000 == 0,
		ttl: ip.ttl, hdrLen: ihl,
	}
	fr.end = fr.off + total - ihl
	q := d.defrag.add(&fr, d.nanos)
	if q == nil {
		return
	}
	buf := d.assemble(q, depth)
	ip.ttl, ip.hdr4, ip.cut, ip.missing = q.ttl, nil, q.cut, 0
	ip.evasion |= detector.EvasionFragmented
	ip.reassembled, ip.fragLen, ip.firstEnd = true, len(buf), q.firstEnd
	d.ipPayload(&ip, proto, buf)
}

// assemble copies a completed queue into the reassembly buffer of its
// tunnel level and retires the queue.
func (d *Decoder) assemble(q *fragQueue, depth int) []byte {
	if d.scratch[depth] == nil {
		d.scratch[depth] = make([]byte, maxDatagram)
	}
	buf := q.assemble(d.scratch[depth])
	d.defrag.done(q)
	return buf
}

// wanted says whether fragments of this protocol can matter: TCP, UDP,
// and the tunnels being decapsulated. Others are dropped before queueing.
func (d *Decoder) wanted(proto uint8) bool {
	switch proto {
	case 6, 17:
		return true
	case 4, 41:
		return d.opts.Decapsulate&TunnelIPIP != 0
	case 47:
		return d.opts.Decapsulate&TunnelGRE != 0
	}
	return false
}

// ipPayload dispatches on the IP protocol (or the IPv6 upper-layer
// header). Only the outermost IP packet counts unless its tunnel is being
// decapsulated.
func (d *Decoder) ipPayload(ip *ipCtx, proto uint8, p []byte) {
	switch proto {
	case 6:
		d.tcp(ip, p)
	case 17:
		d.udp(ip, p)
	case 4, 41:
		if !d.decap(ip, TunnelIPIP) {
			return
		}
		if proto == 4 {
			d.ipv4(p, ip.depth+1)
		} else {
			d.ipv6(p, ip.depth+1)
		}
	case 47:
		if d.decap(ip, TunnelGRE) {
			d.gre(p, ip.depth+1)
		}
	default:
		d.Stats.NotIP++
	}
}

// decap decides whether a tunnel packet's inner packet is judged.
func (d *Decoder) decap(ip *ipCtx, t Tunnels) bool {
	if d.opts.Decapsulate&t == 0 || ip.depth >= maxTunnelDepth {
		d.Stats.Tunneled++
		return false
	}
	if ip.hdr4 != nil && !ipv4HeaderOK(ip.hdr4) {
		d.Stats.BadIPChecksum++
		return false
	}
	d.Stats.Decapsulated++
	return true
}

// gre decodes a GRE header (RFC 2784/2890) and the packet it carries.
func (d *Decoder) gre(p []byte, depth int) {
	if len(p) < 4 {
		d.Stats.Malformed++
		return
	}
	fl := binary.BigEndian.Uint16(p)
	if fl&0x4007 != 0 { // routing present, or version 1 (PPTP): not a plain tunnel
		d.Stats.NotIP++
		return
	}
	hl := 4
	for _, bit := range [...]uint16{0x8000, 0x2000, 0x1000} { // checksum, key, sequence
		if fl&bit != 0 {
			hl += 4
		}
	}
	if len(p) < hl {
		d.Stats.Malformed++
		return
	}
	switch binary.BigEndian.Uint16(p[2:]) {
	case 0x0800:
		d.ipv4(p[hl:], depth)
	case 0x86dd:
		d.ipv6(p[hl:], depth)
	case 0x6558: // transparent Ethernet bridging
		d.ethernet(p[hl:], depth)
	default:
		d.Stats.NotIP++
	}
}

func (d *Decoder) ipv6(data []byte, depth int) {
	if len(data) < 40 || data[0]>>4 != 6 {
		d.Stats.Malformed++
		return
	}
	ip := ipCtx{v6: true, depth: depth, ttl: data[7]}
	plen := int(binary.BigEndian.Uint16(data[4:]))
	end := 40 + plen
	switch {
	case plen == 0: // a jumbogram, or left to offload: no length to trust
		end, ip.noLength = len(data), true
	case end > len(data):
		end, ip.cut, ip.missing = len(data), true, end-len(data)
	}
	// Addresses are kept as they are on the wire: a v4-mapped source is
	// the detector's to judge (a martian), not an IPv4 address.
	ip.src = netip.AddrFrom16([16]byte(data[8:24]))
	ip.dst = netip.AddrFrom16([16]byte(data[24:40]))
	d.ipv6Chain(&ip, data[6], data[40:end], 0, 0)
}

// ipv6Chain walks extension headers to the upper-layer header: at most
// detector.MaxIPv6ExtHeaders, beyond which the packet is reported as a
// header-chain evasion. walked is how many were walked before p, used how
// many bytes they took.
func (d *Decoder) ipv6Chain(ip *ipCtx, next uint8, p []byte, walked, used int) {
	for {
		switch next {
		case 6, 17, 4, 41, 47:
			d.ipPayload(ip, next, p)
			return
		case 0, 43, 44, 51, 60:
			// The headers Linux walks to a transport protocol (and the
			// XDP program walks). Mobility, HIP, Shim6 and experimental
			// headers have no handler there that hands on to TCP or UDP.
		default: // ICMPv6, ESP, no next header, ...
			d.Stats.NotIP++
			return
		}
		if walked == detector.MaxIPv6ExtHeaders {
			d.headerChain(ip)
			return
		}
		walked++
		if next == 0 && walked != 1 {
			// Linux processes hop-by-hop options only right after the
			// IPv6 header; anywhere else the packet is dropped.
			d.Stats.Malformed++
			return
		}
		if len(p) < 8 {
			d.Stats.Malformed++
			return
		}
		var hl int
		switch next {
		case 44:
			fo := binary.BigEndian.Uint16(p[2:])
			if fo&0xfff9 == 0 {
				// An atomic fragment (offset 0, M clear; RFC 6946) is
				// an ordinary packet.
				hl = 8
				break
			}
			d.fragment6(ip, p, walked, used)
			return
		case 51:
			hl = (int(p[1]) + 2) * 4
		default:
			hl = (int(p[1]) + 1) * 8
		}
		if len(p) < hl {
			d.Stats.Malformed++
			return
		}
		next, p, used = p[0], p[hl:], used+hl
	}
}

func (d *Decoder) headerChain(ip *ipCtx) {
	d.Stats.HeaderChain++
	ev := d.event()
	if ev == nil {
		return
	}
	ev.Src, ev.Dst, ev.TTL = ip.src, ip.dst, ip.ttl
	ev.Kind = detector.KindOther
	ev.Evasion = ip.evasion | detector.EvasionHeaderChain
}

// fragment6 queues an IPv6 fragment; p starts at its fragment header.
func (d *Decoder) fragment6(ip *ipCtx, p []byte, walked, used int) {
	next := p[0]
	fo := binary.BigEndian.Uint16(p[2:])
	// Linux keys IPv6 queues by addresses and ID only and takes the next
	// header from the offset-0 fragment: another value in a later one
	// changes nothing, so it must not split the queue here either.
	if ip.reassembled || ip.noLength || (fo&0xfff8 == 0 && !(d.wanted(next) || isIPv6Ext(next))) {
		// A fragment inside a reassembled datagram is not something a
		// stack sends; other protocols do not matter here.
		d.Stats.NotIP++
		return
	}
	fr := fragment{
		key:  fragKey{src: ip.src, dst: ip.dst, id: binary.BigEndian.Uint32(p[4:]), v6: true},
		off:  int(fo & 0xfff8),
		data: p[8:], last: fo&1 == 0, v6: true,
		ttl: ip.ttl, upper: next, hdrLen: used, extCount: walked,
	}
	fr.end = fr.off + len(p) - 8 + ip.missing
	if fr.off == 0 && firstFragmentTruncated(next, fr.data, fr.end) {
		d.Stats.Defrag.Fragments++
		d.Stats.Defrag.NoChain++
		return
	}
	q := d.defrag.add(&fr, d.nanos)
	if q == nil {
		return
	}
	buf := d.assemble(q, ip.depth)
	ip.ttl, ip.cut, ip.missing = q.ttl, q.cut, 0
	ip.evasion |= detector.EvasionFragmented
	ip.reassembled, ip.fragLen, ip.firstEnd = true, len(buf), q.firstEnd
	d.ipv6Chain(ip, q.upper, buf, q.extCount, 0)
}

func isIPv6Ext(n uint8) bool {
	switch n {
	case 0, 43, 44, 51, 60:
		return true
	}
	return false
}

// firstFragmentTruncated is Linux's ipv6frag_thdr_truncated (RFC 8200
// s4.5, RFC 7112): an offset-0 fragment whose extension headers end inside
// it but whose upper-layer header (TCP 20 bytes, UDP 8) does not is
// dropped, so the datagram never completes. Like Linux, a chain that runs
// past the fragment is not judged here. size is the fragment's length.
func firstFragmentTruncated(next uint8, p []byte, size int) bool {
	off := 0
	for i := 0; isIPv6Ext(next); i++ {
		if next == 44 || i == detector.MaxIPv6ExtHeaders || off+2 > len(p) {
			return false
		}
		hl := (int(p[off+1]) + 1) * 8
		if next == 51 {
			hl = (int(p[off+1]) + 2) * 4
		}
		next = p[off]
		off += hl
	}
	switch next {
	case 6:
		off += 20
	case 17:
		off += 8
	default:
		off++
	}
	return off > size
}
