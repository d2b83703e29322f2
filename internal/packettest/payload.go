package packettest

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// TCPPayloadIP returns the IP packet o describes (no link header) with
// payload after its TCP header, such as an HTTP request; o.Data and o.UDP
// are ignored. The packet is gopacket's, with payload written over its
// zero data and the TCP checksum recomputed here.
func TCPPayloadIP(t testing.TB, o PktOpts, payload []byte) []byte {
	t.Helper()
	o.Data, o.UDP, o.Fragment = len(payload), false, false
	p := BuildIP(t, o)
	putTCPPayload(t, p, o.V6, payload)
	return p
}

// TCPPayloadEth is TCPPayloadIP in Ethernet, with o's VLAN tags. A short
// frame carries the Ethernet padding gopacket adds up to 60 bytes.
func TCPPayloadEth(t testing.TB, o PktOpts, payload []byte) []byte {
	t.Helper()
	o.Data, o.UDP, o.Fragment = len(payload), false, false
	f := BuildEth(t, o)
	putTCPPayload(t, f[14+4*len(o.VLANs):], o.V6, payload)
	return f
}

// putTCPPayload writes payload at the end of the TCP segment of the IP
// packet p (which may be followed by link padding) and fixes the checksum.
func putTCPPayload(t testing.TB, p []byte, v6 bool, payload []byte) {
	t.Helper()
	var src, dst netip.Addr
	var off, end int
	if v6 {
		src, dst = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
		end = 40 + int(binary.BigEndian.Uint16(p[4:]))
		off = 40
		for next := p[6]; next == 0 || next == 60; { // Ext6's hop-by-hop and destination options
			next, off = p[off], off+int(p[off+1]+1)*8
		}
	} else {
		src, dst = netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20]))
		off, end = int(p[0]&0x0f)*4, int(binary.BigEndian.Uint16(p[2:]))
	}
	seg := p[off:end]
	if hl := int(seg[12]>>4) * 4; len(seg) != hl+len(payload) {
		t.Fatalf("packettest: segment of %d bytes, header %d, payload %d", len(seg), hl, len(payload))
	}
	copy(seg[len(seg)-len(payload):], payload)
	seg[16], seg[17] = 0, 0
	binary.BigEndian.PutUint16(seg[16:], ^fold(sum(seg, pseudoSum(src, dst, 6, len(seg)))))
}
