# shellcheck shell=bash
# Two network namespaces joined by a veth pair, for real scanners against a
# real target. Sourced by pcaps/capture.sh and lab/lab.sh.
#
# Network rule: every address here is a documentation range, assigned inside
# namespaces this script creates; nothing is routed anywhere else.
#   scanner  198.51.100.10/24, 192.0.2.0/24 (extra clients), 2001:db8:1::10/64
#   target   203.0.113.10/24 and, for sweeps, all of 203.0.113.0/24 on lo;
#            2001:db8:2::10/64

LAB_ID=${LAB_ID:-sw$$}
NS_SCAN=${LAB_ID}-scan
NS_TGT=${LAB_ID}-tgt
VETH_SCAN=${LAB_ID}s    # interface names are limited to 15 characters
VETH_TGT=${LAB_ID}t
SCAN_IP=198.51.100.10
TGT_IP=203.0.113.10
SCAN_IP6=2001:db8:1::10
TGT_IP6=2001:db8:2::10

lab_up() {
	lab_down
	ip netns add "$NS_SCAN"
	ip netns add "$NS_TGT"
	local ns
	for ns in "$NS_SCAN" "$NS_TGT"; do
		ip -n "$ns" link set lo up
		# Set before the veth exists, so its ends inherit the defaults. No
		# IPv6 duplicate-address wait: addresses are usable at once. No
		# router solicitations, and multicast listener reports at once
		# rather than spread over the next seconds: a capture of a test
		# then holds the test's traffic, and goes quiet when it ends.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.default.router_solicitations=0 \
			net.ipv6.conf.default.mldv1_unsolicited_report_interval=0 net.ipv6.conf.default.mldv2_unsolicited_report_interval=0
	done
	lab_veth
	# The target owns the whole /24, so a sweep finds 256 live hosts.
	ip -n "$NS_TGT" route add local 203.0.113.0/24 dev lo
	# Sweeps answer from 256 addresses; keep the kernel from rate-limiting RSTs.
	ip netns exec "$NS_TGT" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv4.tcp_syncookies=0
	# The evasion tests count ICMP errors (protocol unreachable, ICMPv6
	# parameter problems) per probe: no per-host or global rate limit.
	ip netns exec "$NS_TGT" sysctl -qw net.ipv6.icmp.ratelimit=0 net.ipv4.icmp_msgs_per_sec=100000 net.ipv4.icmp_msgs_burst=10000
}

# lab_veth makes the veth pair joining the namespaces, with its addresses
# and routes: lab_up's link, and lab_relink's again after a deletion.
lab_veth() {
	ip link add "$VETH_SCAN" netns "$NS_SCAN" type veth peer name "$VETH_TGT" netns "$NS_TGT"
	ip -n "$NS_SCAN" link set "$VETH_SCAN" up
	ip -n "$NS_TGT" link set "$VETH_TGT" up
	ip -n "$NS_SCAN" addr add "$SCAN_IP/24" dev "$VETH_SCAN"
	ip -n "$NS_SCAN" addr add "$SCAN_IP6/64" dev "$VETH_SCAN" nodad
	ip -n "$NS_SCAN" route add 203.0.113.0/24 dev "$VETH_SCAN"
	ip -n "$NS_SCAN" route add 2001:db8:2::/64 dev "$VETH_SCAN"
	ip -n "$NS_TGT" addr add "$TGT_IP/24" dev "$VETH_TGT"
	ip -n "$NS_TGT" addr add "$TGT_IP6/64" dev "$VETH_TGT" nodad
	ip -n "$NS_TGT" route add 198.51.100.0/24 dev "$VETH_TGT"
	ip -n "$NS_TGT" route add 192.0.2.0/24 dev "$VETH_TGT"
	ip -n "$NS_TGT" route add 2001:db8:1::/64 dev "$VETH_TGT"
}

# lab_wire_segments makes the veth carry segments of at most one MSS each,
# as a real link does: by default the kernel hands veth 64 KB GSO
# super-segments, and a capture then shows a pipelined batch of HTTP
# requests as one packet that no wire would carry.
lab_wire_segments() {
	ip -n "$NS_SCAN" link set dev "$VETH_SCAN" gso_max_segs 1
	ip -n "$NS_TGT" link set dev "$VETH_TGT" gso_max_segs 1
}

# lab_unlink deletes the veth pair (both ends go), as a driver reload or
# a hot-unplug takes an interface away under whatever is attached to it.
lab_unlink() {
	ip -n "$NS_SCAN" link del "$VETH_SCAN" 2>/dev/null || ip -n "$NS_TGT" link del "$VETH_TGT" 2>/dev/null || true
}

# lab_relink re-creates the pair with the same names, addresses and routes
# (deleting it first if it is still there, wherever its ends are); the
# namespaces and their settings are untouched.
lab_relink() {
	lab_unlink
	lab_veth
}

lab_down() {
	ip netns del "$NS_SCAN" 2>/dev/null || true
	ip netns del "$NS_TGT" 2>/dev/null || true
	return 0
}

# lab_mac NS IFACE prints an interface's MAC, which masscan and zmap need
# as their "router" because they write Ethernet frames themselves.
lab_mac() {
	ip -n "$1" -br link show "$2" | awk '{print $3}'
}
