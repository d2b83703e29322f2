#!/usr/bin/python3
"""Adversarial probes for the evasion tests (issue 7), crafted with scapy.

Run inside the scanner namespace:

    ip netns exec NS /usr/bin/python3 lab/craft.py CASE --iface IF --dmac MAC \
        [--src IP --dst IP --src6 IP6 --dst6 IP6 --ports N --sources N]

Every case sends a bounded list of Ethernet frames (at most a few thousand)
with sendp on the scanner's veth, so nothing depends on scapy's own address
resolution and the frames are exactly what the case says. Each probe goes to
its own destination port 1..N on the target, so a case that the host
processes crosses the port thresholds. The target's reaction is judged by
the Go test (nstat, replies on the wire), not here.

Documentation addresses only (lab/netns.sh): scanners 198.51.100.0/24,
targets 203.0.113.0/24, IPv6 2001:db8::/32.
"""

import argparse
import sys

from scapy.all import (
    IP,
    IPv6,
    TCP,
    Dot1AD,
    Dot1Q,
    Ether,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    Raw,
    conf,
    fragment,
    get_if_hwaddr,
)

MAX_FRAMES = 20000  # a hard bound on what one run may send
SPORT = 40000  # one source port, as nmap uses


def syn4(a, port, flags="S", payload=b"", ipid=None):
    ip = IP(src=a.src, dst=a.dst, id=ipid if ipid is not None else 0x3000 + port)
    return ip / TCP(sport=SPORT, dport=port, flags=flags, seq=1000 + port, window=1024) / payload


def syn6(a, port, flags="S"):
    return IPv6(src=a.src6, dst=a.dst6) / TCP(sport=SPORT, dport=port, flags=flags, seq=1000 + port, window=1024)


def tcp_bytes(pkt):
    """The TCP segment of pkt (IPv4 or IPv6) with its checksum filled in."""
    raw = bytes(pkt)
    if isinstance(pkt, IPv6) or pkt.version == 6:
        return raw[40:]
    return raw[pkt.ihl * 4 if pkt.ihl else 20 :]


def frags4(a, size, reverse=False, payload=b""):
    """nmap -f / --mtu SIZE: each SYN cut into SIZE-byte IPv4 fragments."""
    out = []
    for port in a.portlist:
        p = IP(bytes(syn4(a, port, payload=payload)))  # checksums computed whole
        fs = fragment(p, fragsize=size)
        out += reversed(fs) if reverse else fs
    return out


def overlap4(a, first=16):
    """The SYN in a first fragment of `first` bytes; a later fragment starts
    inside it (offset 8) and rewrites the flags to RST. The overlap is
    partial, so Linux (>= 4.19, RFC 5722 style) drops the whole datagram.
    With first=24 the first fragment holds the whole TCP header (the SYN
    carries 16 bytes of data): a sensor that counts a first fragment as its
    probe, without waiting for the rest, is fooled."""
    out = []
    payload = b"\x00" * 16 if first > 16 else b""
    for port in a.portlist:
        syn = tcp_bytes(syn4(a, port, payload=payload))
        rst = bytearray(syn)
        rst[13] = 0x04  # RST
        ipid = 0x4000 + port
        out.append(IP(src=a.src, dst=a.dst, id=ipid, flags="MF", frag=0, proto=6) / Raw(syn[:first]))
        out.append(IP(src=a.src, dst=a.dst, id=ipid, flags=0, frag=1, proto=6) / Raw(bytes(rst[8:])))
    return out


def exthdrs6(a, n):
    """A SYN behind n destination-options headers (8 bytes each, PadN)."""
    out = []
    for port in a.portlist:
        chain = IPv6(src=a.src6, dst=a.dst6)
        for _ in range(n):
            chain = chain / IPv6ExtHdrDestOpt()
        out.append(chain / TCP(sport=SPORT, dport=port, flags="S", seq=1000 + port, window=1024))
    return out


def badsum(pkts):
    """pkts with a wrong TCP checksum: neither the right one nor the
    pseudo-header sum that checksum offload leaves (that one is "offloaded",
    accepted unverified by design)."""
    out = []
    for p in pkts:
        good = p.__class__(bytes(p))[TCP].chksum
        q = p.copy()
        q[TCP].chksum = good ^ 0x5A5A
        out.append(q)
    return out


def lone6(a):
    """Non-first IPv6 fragments (offset 16 bytes, M=0) whose payload is a
    whole TCP SYN header: no first fragment ever comes, so the host holds
    them until ip6frag_time and never processes a SYN."""
    out = []
    for port in a.portlist:
        seg = tcp_bytes(syn6(a, port))
        out.append(IPv6(src=a.src6, dst=a.dst6) / IPv6ExtHdrFragment(nh=6, offset=2, m=0, id=0x6000 + port) / Raw(seg))
    return out


def nochain6(a):
    """An IPv6 first fragment holding only 16 bytes of the TCP header (the
    flags are in, the header is not whole), then the rest. Linux drops the
    first fragment (RFC 7112; Ip6InHdrErrors, ICMPv6 parameter problem)
    and the datagram never completes."""
    out = []
    for port in a.portlist:
        seg = tcp_bytes(syn6(a, port))
        fid = 0x7000 + port
        out.append(IPv6(src=a.src6, dst=a.dst6) / IPv6ExtHdrFragment(nh=6, offset=0, m=1, id=fid) / Raw(seg[:16]))
        out.append(IPv6(src=a.src6, dst=a.dst6) / IPv6ExtHdrFragment(nh=6, offset=2, m=0, id=fid) / Raw(seg[16:]))
    return out


def ipip(a):
    """IPv4-in-IPv4 with an inner SYN scan from another address; a host
    without an IPIP tunnel answers "protocol 4 unreachable"."""
    inner = argparse.Namespace(src=a.inner, dst=a.dst)
    return [IP(src=a.src, dst=a.dst, proto=4) / syn4(inner, p) for p in a.portlist]


def distributed(a):
    """a.sources sources (a.src's /24, from .100 up), a.ports ports each,
    all different: together one scan of sources*ports ports."""
    base = a.src.rsplit(".", 1)[0]
    out = []
    for i in range(a.sources):
        src = "%s.%d" % (base, 100 + i)
        for j in range(a.ports):
            port = 1 + i * a.ports + j
            out.append(IP(src=src, dst=a.dst, id=0x5000 + port) / TCP(sport=SPORT, dport=port, flags="S", window=1024))
    return out


CASES = {
    "frag8": lambda a: frags4(a, 8),
    "frag16": lambda a: frags4(a, 16),
    "frag8-reverse": lambda a: frags4(a, 8, reverse=True),
    "frag24-data16": lambda a: frags4(a, 24, payload=b"\x00" * 16),
    "overlap": overlap4,
    "overlap-fullheader": lambda a: overlap4(a, first=24),
    "badsum4": lambda a: badsum([syn4(a, p) for p in a.portlist]),
    "badsum6": lambda a: badsum([syn6(a, p) for p in a.portlist]),
    "synrst": lambda a: [syn4(a, p, flags="SR") for p in a.portlist],
    "v6frag-lone": lone6,
    "v6frag-nochain": nochain6,
    "ipip": ipip,
    "distributed": distributed,
}
for _n in (6, 7, 8, 10, 16, 17):
    CASES["ext%d" % _n] = lambda a, n=_n: exthdrs6(a, n)


def vlan3(a):
    """Three stacked tags (802.1ad outer, two 802.1Q), already framed."""
    return [Dot1AD(vlan=10) / Dot1Q(vlan=20) / Dot1Q(vlan=30) / syn4(a, p) for p in a.portlist]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", choices=sorted(list(CASES) + ["vlan3"]))
    ap.add_argument("--iface", required=True)
    ap.add_argument("--dmac", required=True, help="the target veth's MAC")
    ap.add_argument("--src", default="198.51.100.10")
    ap.add_argument("--dst", default="203.0.113.10")
    ap.add_argument("--src6", default="2001:db8:1::10")
    ap.add_argument("--dst6", default="2001:db8:2::10")
    ap.add_argument("--inner", default="198.51.100.77", help="ipip: the inner source")
    ap.add_argument("--ports", type=int, default=60, help="ports probed (per source for distributed)")
    ap.add_argument("--sources", type=int, default=40, help="distributed: how many sources")
    a = ap.parse_args()
    a.portlist = range(1, a.ports + 1)
    conf.verb = 0
    smac = get_if_hwaddr(a.iface)
    if a.case == "vlan3":
        frames = [Ether(src=smac, dst=a.dmac) / p for p in vlan3(a)]
    else:
        frames = [Ether(src=smac, dst=a.dmac) / p for p in CASES[a.case](a)]
    if len(frames) > MAX_FRAMES:
        sys.exit("%s: %d frames is past the bound of %d" % (a.case, len(frames), MAX_FRAMES))
    s = conf.L2socket(iface=a.iface)
    try:
        for f in frames:
            s.send(f)
    finally:
        s.close()
    print("%s: sent %d frames" % (a.case, len(frames)))


if __name__ == "__main__":
    main()
