package packettest

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Offload rewrites a frame's transport checksum as CHECKSUM_PARTIAL leaves
// it on the sending host: the folded pseudo-header sum.
func Offload(f []byte, ipOff int, v6 bool, proto uint8) []byte {
	f = append([]byte(nil), f...)
	ip := f[ipOff:]
	var src, dst netip.Addr
	var seg []byte
	if v6 {
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		seg = ip[40:]
	} else {
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		seg = ip[20:binary.BigEndian.Uint16(ip[2:])]
	}
	at := 16
	if proto == 17 {
		at = 6
	}
	binary.BigEndian.PutUint16(seg[at:], fold(pseudoSum(src, dst, proto, len(seg))))
	return f
}

// Flip returns a copy of f with the byte at at garbled.
func Flip(f []byte, at int) []byte {
	f = append([]byte(nil), f...)
	f[at] ^= 0x5a
	return f
}

// Zero16 returns a copy of f with the 16-bit field at at zeroed.
func Zero16(f []byte, at int) []byte {
	f = append([]byte(nil), f...)
	f[at], f[at+1] = 0, 0
	return f
}

// ExtChain inserts n 8-byte destination-options headers after an IPv6
// packet's fixed header.
func ExtChain(pkt []byte, n int) []byte {
	out := append([]byte(nil), pkt[:40]...)
	upper := pkt[6]
	if n > 0 {
		out[6] = 60
	}
	for i := range n {
		next := byte(60)
		if i == n-1 {
			next = upper
		}
		out = append(out, DestOpts(layers.IPProtocol(next))...)
	}
	out = append(out, pkt[40:]...)
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	return out
}

// TunnelSrc is the outer source address of Tunnel4 and VXLAN packets.
var TunnelSrc = net.IP{192, 0, 2, 99}

// VXLANPort is the IANA VXLAN port (RFC 7348).
const VXLANPort = 4789

// Tunnel4 wraps inner in an outer IPv4 packet of protocol proto, after the
// header bytes hdr (GRE's, say).
func Tunnel4(t testing.TB, proto layers.IPProtocol, hdr, inner []byte) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: TunnelSrc, DstIP: Tgt4}
	return Serialize(t, ip, gopacket.Payload(append(append([]byte(nil), hdr...), inner...)))
}

// VXLAN wraps an Ethernet frame in IPv4/UDP to 4789 and a VXLAN header.
func VXLAN(t testing.TB, frame []byte) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: TunnelSrc, DstIP: Tgt4}
	udp := &layers.UDP{SrcPort: 51000, DstPort: VXLANPort}
	udp.SetNetworkLayerForChecksum(ip)
	hdr := []byte{0x08, 0, 0, 0, 0, 0, 42, 0} // I flag, VNI 42
	return Serialize(t, ip, udp, gopacket.Payload(append(hdr, frame...)))
}

// FixIPv4Checksum recomputes the header checksum of the IPv4 packet p in
// place, after a test has rewritten its header.
func FixIPv4Checksum(p []byte) {
	ihl := int(p[0]&0x0f) * 4
	p[10], p[11] = 0, 0
	binary.BigEndian.PutUint16(p[10:], ^fold(sum(p[:ihl], 0)))
}

// sum is the RFC 1071 one's-complement sum of b added to s, unfolded. It is
// written apart from capture's optimised one on purpose: the packets a test
// builds must not share a bug with the decoder that verifies them.
func sum(b []byte, s uint32) uint32 {
	for ; len(b) >= 2; b = b[2:] {
		s += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// pseudoSum is the sum of the TCP/UDP pseudo-header (RFC 793, RFC 8200).
func pseudoSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	s := sum(src.AsSlice(), 0)
	s = sum(dst.AsSlice(), s)
	return s + uint32(proto) + uint32(length)
}
