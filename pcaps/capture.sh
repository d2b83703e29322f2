#!/usr/bin/env bash
# Re-creates the shipped captures: real scanners and clients in network
# namespaces, tcpdump on the target's side of the link. Needs root and
# nmap masscan zmap hping3 tcpdump curl python3 (apt-get install ...).
#
#   sudo pcaps/capture.sh            # all captures into pcaps/
#   sudo pcaps/capture.sh nmap-syn   # one of them
#   sudo pcaps/capture.sh web        # every web-*.pcap (issue 10)
#   sudo pcaps/capture.sh web-dirb   # one of those
#
# The web captures run the tools of lab/web.sh (dirb gobuster ffuf wfuzz
# wapiti sqlmap whatweb, nmap's http-enum, two benign curl clients; see
# lab/deps.sh) against lab/webserver.py.
#
# Every traffic source is bounded in count and time, and every process this
# script starts is ended by its PID.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lab/netns.sh
source ../lab/netns.sh
# shellcheck source=lab/web.sh
source ../lab/web.sh

OUT=${OUT:-.}
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
	lab_down
}
trap cleanup EXIT

in_scan() { ip netns exec "$NS_SCAN" "$@"; }
in_tgt() { ip netns exec "$NS_TGT" "$@"; }

# start_servers runs two small web servers, so scans find open ports and
# clients complete their handshakes.
start_servers() {
	local port
	for port in 80 443 22; do
		# ip netns exec execs the command, so $! is the server's own PID.
		ip netns exec "$NS_TGT" python3 -m http.server "$port" --bind :: >/dev/null 2>&1 &
		PIDS+=($!)
	done
	for _ in $(seq 50); do
		in_tgt ss -ltn | grep -q ':443 ' && return 0
		sleep 0.1
	done
	echo "web servers did not start" >&2
	return 1
}

# start_web runs the lab web site (lab/webserver.py) on port 80. The web
# captures are made with lab_wire_segments, so pipelined requests sit in
# MSS-sized segments, split where a wire would split them.
start_web() {
	( web_server 300 ) >/dev/null 2>&1 &
	PIDS+=($!)
	web_wait
}

# capture NAME CMD...: starts tcpdump on the target's veth, runs CMD, waits
# for late replies and stops tcpdump.
capture() {
	local name=$1; shift
	local file="$OUT/$name.pcap" log
	log=$(mktemp)
	ip netns exec "$NS_TGT" tcpdump -i "$VETH_TGT" -n -U -s 262144 -w "$file" 2>"$log" &
	local tpid=$!
	for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
	echo "== $name: $*" >&2
	"$@" || echo "   (exit status $?)" >&2
	sleep 1
	kill -INT "$tpid"
	wait "$tpid" || true
	grep -E 'packets (captured|dropped by kernel)' "$log" >&2 || true
	rm -f "$log"
}

scan_mac() { lab_mac "$NS_SCAN" "$VETH_SCAN"; }
tgt_mac() { lab_mac "$NS_TGT" "$VETH_TGT"; }

nmap_syn() { capture nmap-syn in_scan timeout 120 nmap -n -Pn -sS -p1-1024 "$TGT_IP"; }
nmap_connect() { capture nmap-connect in_scan timeout 120 nmap -n -Pn -sT -p1-1024 "$TGT_IP"; }
nmap_syn6() { capture nmap-syn-ipv6 in_scan timeout 120 nmap -6 -n -Pn -sS -p1-100 "$TGT_IP6"; }
nmap_fin() { capture nmap-fin in_scan timeout 120 nmap -n -Pn -sF -p1-1024 "$TGT_IP"; }
nmap_null() { capture nmap-null in_scan timeout 120 nmap -n -Pn -sN -p1-1024 "$TGT_IP"; }
nmap_xmas() { capture nmap-xmas in_scan timeout 120 nmap -n -Pn -sX -p1-1024 "$TGT_IP"; }
nmap_ack() { capture nmap-ack in_scan timeout 120 nmap -n -Pn -sA -p1-1024 "$TGT_IP"; }
nmap_maimon() { capture nmap-maimon in_scan timeout 120 nmap -n -Pn -sM -p1-1024 "$TGT_IP"; }
nmap_udp() { capture nmap-udp in_scan timeout 120 nmap -n -Pn -sU -p1-100 "$TGT_IP"; }
# Slow enough that no 60 s window holds 20 ports: 25 ports, one per 3.5 s.
nmap_slow() { capture nmap-slow in_scan timeout 200 nmap -n -Pn -sS --scan-delay 3.5s --max-retries 0 -p1-25 "$TGT_IP"; }
# Decoys: every probe also goes out from two spoofed documentation addresses.
nmap_decoy() { capture nmap-decoy in_scan timeout 120 nmap -n -Pn -sS -D 192.0.2.1,192.0.2.2,ME -p1-100 "$TGT_IP"; }

masscan_sweep() {
	# masscan never exits once the link is quiet (upstream #144/#558): timeout.
	capture masscan-sweep in_scan timeout 30 masscan 203.0.113.0/24 -p22,80,443 --rate 2000 --wait 2 \
		--interface "$VETH_SCAN" --router-mac "$(tgt_mac)" --adapter-ip "$SCAN_IP"
}

zmap_sweep() {
	local empty
	empty=$(mktemp)
	# zmap's default blocklist covers the documentation ranges: an empty one.
	capture zmap-sweep in_scan timeout 60 zmap -q -p 80 -r 2000 -c 2 -i "$VETH_SCAN" -G "$(tgt_mac)" \
		-S "$SCAN_IP" -b "$empty" -o /dev/null 203.0.113.0/24
	rm -f "$empty"
}

hping3_flood() {
	# 3000 SYNs to one port at ~10,000/s: a flood, not a scan.
	capture hping3-flood in_scan timeout 60 hping3 -q -S -p 80 -c 3000 -i u100 "$TGT_IP"
}

curl_busy() {
	# One client, 250 complete connections to 80 and 443: legitimate load.
	capture curl-busy in_scan timeout 120 bash -c '
		for i in $(seq 125); do
			curl -s -o /dev/null --max-time 5 http://'"$TGT_IP"':80/
			curl -s -o /dev/null --max-time 5 http://'"$TGT_IP"':443/
		done'
}

curl_busy3() {
	# One client, 300 complete connections spread over 80, 443 and 22.
	capture curl-busy3 in_scan timeout 120 bash -c '
		for i in $(seq 100); do
			for p in 80 443 22; do curl -s -o /dev/null --max-time 5 http://'"$TGT_IP"':$p/; done
		done'
}

health_check() {
	# A health checker: 30 hosts on 443, every 10 s, three rounds.
	capture health-check in_scan timeout 120 bash -c '
		for round in 1 2 3; do
			for h in $(seq 1 30); do curl -s -o /dev/null --max-time 2 http://203.0.113.$h:443/; done
			[ $round = 3 ] || sleep 10
		done'
}

health_check_down() {
	# The same checker while the service is down on every host (port 8443,
	# closed): by its packets a sweep; an allowlist is what silences it.
	capture health-check-down in_scan timeout 120 bash -c '
		for round in 1 2 3; do
			for h in $(seq 1 30); do curl -s -o /dev/null --max-time 2 http://203.0.113.$h:8443/; done
			[ $round = 3 ] || sleep 10
		done'
}

curl_light() {
	# Five clients in 192.0.2.0/24, a few requests each.
	local ip
	for ip in 192.0.2.21 192.0.2.22 192.0.2.23 192.0.2.24 192.0.2.25; do
		ip -n "$NS_SCAN" addr add "$ip/24" dev "$VETH_SCAN"
	done
	capture curl-light in_scan timeout 60 bash -c '
		for ip in 192.0.2.21 192.0.2.22 192.0.2.23 192.0.2.24 192.0.2.25; do
			for i in 1 2 3 4 5 6; do
				curl -s -o /dev/null --max-time 5 --interface "$ip" http://'"$TGT_IP"':80/
			done
			curl -s -o /dev/null --max-time 5 --interface "$ip" http://'"$TGT_IP"':443/
		done'
}

ALL=(nmap_syn nmap_connect nmap_syn6 nmap_fin nmap_null nmap_xmas nmap_ack nmap_maimon nmap_udp nmap_slow nmap_decoy
	masscan_sweep zmap_sweep hping3_flood curl_busy curl_busy3 health_check health_check_down curl_light)
WEB=()
for t in "${WEB_TOOLS[@]}"; do WEB+=("web-$t"); done
if (($#)); then want=("$@"); else want=("${ALL[@]}" "${WEB[@]}"); fi
[[ ${want[*]} != web ]] || want=("${WEB[@]}")
for job in "${want[@]}"; do
	lab_up
	if [[ $job == web-* ]]; then
		lab_wire_segments
		start_web
		capture "$job" web_run "${job#web-}"
	else
		start_servers
		"${job//-/_}"
	fi
	cleanup
done
