package detector

import "net/netip"

// martian reports whether a is a source address the target's stack drops
// before any socket sees the packet (design section 6): "this network"
// 0.0.0.0/8, loopback 127/8, multicast 224/4, reserved 240/4 (with the
// broadcast address), and for IPv6 the unspecified address, loopback,
// multicast and v4-mapped sources (Linux ip6_rcv_core drops those: RFC 4291
// 2.5.5.2 keeps them off the wire). Linux's ip_route_input_slow rejects the
// IPv4 ones as martians, so a probe from them reaches no port and is
// nobody's evidence of scanning: the default rules never count them, and a
// spoofed flood from them costs no state at all.
//
// The sensors unmap v4-mapped addresses, so a v4-mapped IPv6 source reaches
// the rules as its IPv4 form; that form is judged by the IPv4 ranges.
func martian(a netip.Addr) bool {
	if a.Is4In6() {
		return true
	}
	if a.Is4() {
		b := a.As4()
		return b[0] == 0 || b[0] == 127 || b[0] >= 224
	}
	return a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || !a.IsValid()
}
