package capture

import (
	"encoding/binary"

	"github.com/scanwatch/scanwatch/detector"
)

// vxlanPort is the IANA VXLAN port (RFC 7348).
const vxlanPort = 4789

// tinyFragment is RFC 1858's bound: a first fragment holding fewer TCP
// bytes than this does not hold the flags (byte 13).
const tinyFragment = 14

// probeTCP says whether a TCP segment could be scan evidence, so its
// checksum is worth verifying: anything without ACK (SYN, FIN, NULL, XMAS
// probes), and a bare ACK or FIN+ACK without data (nmap -sA, -sM).
// Handshakes and data are not probes and go unverified, which keeps the
// cost off bulk traffic.
func probeTCP(flags uint8, payload int) bool {
	return flags&detector.FlagACK == 0 ||
		flags&(detector.FlagSYN|detector.FlagRST|detector.FlagPSH|detector.FlagURG) == 0 && payload == 0
}

func (d *Decoder) tcp(ip *ipCtx, seg []byte) {
	if len(seg) < 20 {
		d.Stats.Malformed++
		return
	}
	off := int(seg[12]>>4) * 4
	if off < 20 || off > len(seg) {
		d.Stats.Malformed++
		return
	}
	flags := seg[13]
	payload := seg[off:] // bounded by the IP length (no Ethernet padding) and the snap length
	req, resp := d.httpHead(ip, seg, flags, payload)
	probe := probeTCP(flags, len(payload)+ip.missing)
	if probe && ip.noLength {
		d.Stats.Malformed++ // the receiver drops an IP length of 0
		return
	}
	// An HTTP head is evidence as a probe is, so its checksum is verified
	// too where the whole segment was captured; a segment cut by the snap
	// length is read unverified, as data always was.
	if probe || (req || resp) && !ip.cut && !ip.noLength {
		if !d.checksumOK(ip, 6, seg, binary.BigEndian.Uint16(seg[16:]), false) {
			return
		}
	}
	ev := d.event()
	if ev == nil {
		return
	}
	d.Stats.TCP++
	d.fill(ev, ip)
	ev.SrcPort = binary.BigEndian.Uint16(seg[0:])
	ev.DstPort = binary.BigEndian.Uint16(seg[2:])
	ev.Flags = flags
	ev.Kind = detector.ClassifyTCP(flags)
	ev.Window = binary.BigEndian.Uint16(seg[14:])
	// The XDP program applies the same test, so live and replay agree.
	ev.MSSOnly = off == 24 && seg[20] == 2 && seg[21] == 4
	ev.OptLen = uint8(off - 20)
	ev.Payload = uint16(min(len(payload)+ip.missing, 0xffff))
	if ip.reassembled && ip.firstEnd-(ip.fragLen-len(seg)) < tinyFragment {
		ev.Evasion |= detector.EvasionTinyFragment
	}
	if req || resp {
		d.readHTTP(ev, payload)
	}
	if d.credit != nil {
		d.creditTCP(ev, ip, binary.BigEndian.Uint32(seg[8:]))
	}
}

func (d *Decoder) udp(ip *ipCtx, seg []byte) {
	if len(seg) < 8 {
		d.Stats.Malformed++
		return
	}
	ulen := int(binary.BigEndian.Uint16(seg[4:]))
	switch {
	case ulen < 8 || ip.noLength:
		d.Stats.Malformed++
		return
	case ulen <= len(seg):
		seg = seg[:ulen] // what follows is padding; Linux trims it too
	case ulen > len(seg)+ip.missing:
		d.Stats.Malformed++ // longer than its IP datagram: Linux drops it
		return
	}
	field := binary.BigEndian.Uint16(seg[6:])
	// Over IPv4 a zero checksum means none was computed (valid); over
	// IPv6 it is not allowed.
	if !d.checksumOK(ip, 17, seg, field, field == 0 && !ip.v6) {
		return
	}
	ev := d.event()
	if ev == nil {
		return
	}
	d.Stats.UDP++
	d.fill(ev, ip)
	ev.Kind = detector.KindUDP
	ev.SrcPort = binary.BigEndian.Uint16(seg[0:])
	ev.DstPort = binary.BigEndian.Uint16(seg[2:])
	ev.Payload = uint16(len(seg) - 8)
	if d.credit != nil {
		d.creditUDP(ev, ip)
	}
	if ev.DstPort == vxlanPort && len(seg) >= 16 && seg[8]&0x08 != 0 {
		if d.opts.Decapsulate&TunnelVXLAN == 0 || ip.depth >= maxTunnelDepth {
			return // the datagram to 4789 is the event; its payload is not
		}
		d.Stats.Decapsulated++
		d.ethernet(seg[16:], ip.depth+1)
	}
}

func (d *Decoder) fill(ev *detector.Event, ip *ipCtx) {
	ev.Src, ev.Dst, ev.TTL = ip.src, ip.dst, ip.ttl
	if !ip.v6 {
		ev.IPID = ip.id
	}
	ev.Evasion = ip.evasion
}

// checksumOK verifies a probe's checksums as the receiving stack would and
// counts what it finds. none: the field says no checksum (UDP over IPv4).
func (d *Decoder) checksumOK(ip *ipCtx, proto uint8, seg []byte, field uint16, none bool) bool {
	if ip.hdr4 != nil && !ipv4HeaderOK(ip.hdr4) {
		d.Stats.BadIPChecksum++
		return false
	}
	if none {
		return true
	}
	if ip.cut {
		d.Stats.Unverified++
		return true
	}
	switch transportChecksum(ip.src, ip.dst, ip.v6, proto, seg, field) {
	case csumOK:
		return true
	case csumOffloaded:
		if ip.reassembled {
			// Offload never reaches a fragmented datagram: the sender
			// completes the checksum before it fragments. Forged.
			break
		}
		d.Stats.OffloadedChecksum++
		return d.opts.Checksums != ChecksumStrict
	}
	d.Stats.BadChecksum++
	return false
}
