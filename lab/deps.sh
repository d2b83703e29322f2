#!/usr/bin/env bash
# Installs the Debian packages the tests use, when they are missing: clang,
# llvm and libbpf-dev build the BPF object; nmap, masscan, zmap, hping3,
# curl and tcpdump make and check real traffic; python3-scapy crafts the
# adversarial packets (lab/craft.py) and tcpreplay pushes a generated flood
# onto the wire; iproute2 builds the namespaces and its nstat reads the
# target's own counters, the referee of the evasion tests. prometheus brings
# promtool and the real Prometheus that deploy/'s tests run; systemd brings
# systemd-analyze for deploy/systemd/; libcap2-bin's setcap gives a copy of
# the binary file capabilities for the least-privilege tests. The web
# scanners of issue 10 run against lab/webserver.py: dirb, gobuster (dir
# mode) and ffuf brute-force paths from a wordlist (dirb ships the lists,
# /usr/share/dirb/wordlists); wfuzz fuzzes a URL part from a wordlist;
# wapiti crawls the site and attacks the parameters it finds (SQL, XSS,
# exec, file, backup...); sqlmap probes one parameter for SQL injection;
# whatweb fingerprints a site; nmap's http-enum script ships with nmap.
# nats-server (2.9, run with -js for JetStream) is the engine fleet/'s
# tests publish probe summaries through and correlate from (issue 12);
# the tests start their own on loopback (internal/natstest), never the
# package's systemd service.
# Run by 'make test' (and so by .ci/run). Without root it only
# says what is missing: the tests then skip what needs it, except under
# CI=true, where they fail.
set -euo pipefail
packages=(clang llvm libbpf-dev nmap masscan hping3 zmap tcpdump iproute2 curl python3 python3-scapy tcpreplay prometheus systemd libcap2-bin
	dirb gobuster ffuf wfuzz wapiti sqlmap whatweb nats-server)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
if ((EUID != 0)) || ! command -v apt-get >/dev/null; then
	echo "missing Debian packages: ${missing[*]} (as root: apt-get install ${missing[*]})" >&2
	exit 0
fi
echo "installing: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
