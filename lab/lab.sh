#!/usr/bin/env bash
# sudo make lab: two namespaces, scanwatch attached to the target's side of
# the link, a real nmap SYN scan from the scanner's side, the live alerts on
# the terminal, then everything torn down. Bounded: nmap scans 1,000 ports
# once, under a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lab/netns.sh
source lab/netns.sh

BIN=${BIN:-bin/scanwatch}
[[ -x $BIN ]] || { echo "build first: make build" >&2; exit 1; }
(( EUID == 0 )) || { echo "the lab needs root (namespaces, XDP): sudo make lab" >&2; exit 1; }
command -v nmap >/dev/null || { echo "nmap is missing: apt-get install nmap" >&2; exit 1; }

SW=
cleanup() {
	[[ -n $SW ]] && kill -INT "$SW" 2>/dev/null && wait "$SW" 2>/dev/null
	lab_down
}
trap cleanup EXIT
lab_up

echo "== scanwatch run --iface $VETH_TGT (in namespace $NS_TGT)"
ip netns exec "$NS_TGT" "$BIN" run --iface "$VETH_TGT" --format table --web.listen-address 127.0.0.1:9595 &
SW=$!
sleep 1
echo "== nmap -sS -p1-1000 $TGT_IP from $SCAN_IP"
ip netns exec "$NS_SCAN" timeout 60 nmap -n -Pn -sS -p1-1000 --max-retries 1 "$TGT_IP" >/dev/null
sleep 2
echo "== metrics (curl http://127.0.0.1:9595/metrics inside $NS_TGT)"
ip netns exec "$NS_TGT" curl -s http://127.0.0.1:9595/metrics | grep -E '^scanwatch_(syn_packets|ringbuf_(events|dropped)|alerts)_total' || true
echo "== stopping scanwatch (SIGINT): final summaries, then the program detaches"
kill -INT "$SW"
wait "$SW"
SW=
