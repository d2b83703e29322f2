#!/usr/bin/env python3
"""Measures the HTTP requests in a capture, for choosing web-scan thresholds.

Python 3 stdlib only (its own pcap/pcapng reader), so anyone can rerun it:

  lab/httpfacts.py pcaps/web-dirb.pcap [more.pcap...]      # markdown
  lab/httpfacts.py --per-source FILE                        # a table per client
  lab/httpfacts.py --json FILE

It reassembles each TCP direction to the HTTP ports (default 80,8000,8080,
8888, as internal/httpwire), splits the client stream into requests (heads,
and bodies by Content-Length), pairs them with the server's status lines in
order, and reports per capture: requests, distinct paths, distinct non-static
paths, status counts, User-Agents, Referer share, request-line length, where
the User-Agent header ends within the segment that starts the request (does
a 512-byte prefix hold it?), heads split over segments, requests that start
mid-segment (pipelined or coalesced: an XDP prefix of that segment sees only
the first), injection-looking payloads, sample paths, rate and duration.
"""

import argparse
import collections
import json
import re
import struct
import sys
from urllib.parse import unquote_plus, urlsplit

METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"TRACE ", b"CONNECT ", b"PROPFIND ")
STATIC = (".css", ".js", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".svg", ".woff", ".woff2", ".ttf", ".map", ".webp")
PREFIX = 512  # internal/httpwire.PrefixBytes

# Patterns are checked on the request line and header values, raw and
# percent-decoded (twice, for double encoding), and on bodies decoded once.
INJECTION = {
    "sql": [r"'", r"\bunion\b[\s\S]*\bselect\b", r"\bselect\b[\s\S]+\bfrom\b", r"\bor\s+\d+\s*=\s*\d+",
            r"\band\s+\d+\s*=\s*\d+", r"\border\s+by\s+\d+", r"sleep\s*\(", r"benchmark\s*\(", r"waitfor\s+delay", r"pg_sleep"],
    "xss": [r"<script", r"onerror\s*=", r"onload\s*=", r"javascript:", r"<svg", r"alert\s*\("],
    "traversal": [r"\.\./", r"\.\.\\", r"%2e%2e", r"/etc/passwd", r"win\.ini", r"boot\.ini"],
    "command": [r";\s*(id|env|uname|whoami|sleep\s|cat\s|ping\s|ls\b)", r"\|\s*(id|env|uname|whoami|sleep\s|cat\s|ping\s)",
                r"\$\([^)]*\)", r"`[^`]+`", r"&&\s*\w"],
    "shellshock": [r"\(\)\s*\{"],
    "log4shell": [r"\$\{jndi:"],
}
INJ_RE = {k: [re.compile(p, re.I) for p in v] for k, v in INJECTION.items()}


# --- capture reading -------------------------------------------------------

def read_packets(path):
    """Yields (timestamp, linktype, frame) from a pcap or pcapng file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic[0] in (0xD4, 0x4D) else ">"
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        lt = struct.unpack(e + "I", data[20:24])[0]
        off = 24
        while off + 16 <= len(data):
            sec, frac, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
            off += 16
            yield sec + frac / (1e9 if nano else 1e6), lt, data[off:off + incl]
            off += incl
    elif magic == b"\x0a\x0d\x0d\x0a":
        off, e, ifs = 0, "<", []
        while off + 12 <= len(data):
            if data[off:off + 4] == b"\x0a\x0d\x0d\x0a":
                e = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                ifs = []
            btype, blen = struct.unpack(e + "II", data[off:off + 8])
            if blen < 12:
                raise SystemExit(f"{path}: corrupt pcapng block at byte {off}")
            body = data[off + 8:off + blen - 4]
            if btype == 1:  # interface description
                ifs.append([struct.unpack(e + "H", body[:2])[0], 1e6])
                o = 8
                while o + 4 <= len(body):  # options: if_tsresol
                    code, ln = struct.unpack(e + "HH", body[o:o + 4])
                    if code == 0:
                        break
                    if code == 9 and ln >= 1:
                        r = body[o + 4]
                        ifs[-1][1] = 2 ** (r & 0x7F) if r & 0x80 else 10 ** r
                    o += 4 + (ln + 3) // 4 * 4
            elif btype == 6:  # enhanced packet
                ifid, hi, lo, cap = struct.unpack(e + "IIII", body[:16])
                lt, res = ifs[ifid] if ifid < len(ifs) else (1, 1e6)
                yield ((hi << 32) | lo) / res, lt, body[20:20 + cap]
            elif btype == 3:  # simple packet
                lt, _ = ifs[0] if ifs else (1, 1e6)
                yield 0.0, lt, body[4:]
            off += blen
    else:
        raise SystemExit(f"{path}: not a pcap or pcapng file (magic {magic.hex()})")


def ip_payload(lt, frame):
    """Returns (version, src, dst, proto, l4) or None."""
    if lt == 1:  # Ethernet, with VLAN tags
        o, et = 14, struct.unpack("!H", frame[12:14])[0] if len(frame) >= 14 else 0
        while et in (0x8100, 0x88A8) and len(frame) >= o + 4:
            et, o = struct.unpack("!H", frame[o + 2:o + 4])[0], o + 4
        pkt = frame[o:]
    elif lt == 113:  # Linux cooked
        et, pkt = struct.unpack("!H", frame[14:16])[0], frame[16:]
    elif lt == 276:  # Linux cooked v2
        et, pkt = struct.unpack("!H", frame[0:2])[0], frame[20:]
    elif lt in (101, 228, 229, 12, 14):  # raw IP
        pkt = frame
        et = 0x86DD if pkt[:1] and pkt[0] >> 4 == 6 else 0x0800
    else:
        return None
    if et == 0x0800 and len(pkt) >= 20:
        ihl = (pkt[0] & 15) * 4
        tot = struct.unpack("!H", pkt[2:4])[0]
        if struct.unpack("!H", pkt[6:8])[0] & 0x3FFF:  # fragment: not reassembled here
            return None
        return 4, ".".join(map(str, pkt[12:16])), ".".join(map(str, pkt[16:20])), pkt[9], pkt[ihl:tot]
    if et == 0x86DD and len(pkt) >= 40:
        import ipaddress
        plen = struct.unpack("!H", pkt[4:6])[0]
        return (6, str(ipaddress.IPv6Address(pkt[8:24])), str(ipaddress.IPv6Address(pkt[24:40])), pkt[6],
                pkt[40:40 + plen])  # extension headers are not followed
    return None


# --- TCP streams -----------------------------------------------------------

class Direction:
    def __init__(self):
        self.isn = None
        self.segs = {}  # relative seq -> (ts, payload); first copy wins

    def add(self, ts, seq, flags, payload):
        if flags & 0x02:  # SYN
            self.isn = (seq + 1) & 0xFFFFFFFF
            return
        if not payload:
            return
        if self.isn is None:
            self.isn = seq
        rel = (seq - self.isn) & 0xFFFFFFFF
        if rel > 1 << 31:  # before the ISN we assumed: a retransmission
            return
        self.segs.setdefault(rel, (ts, payload))

    def stream(self):
        """Returns (bytes, [(start, length, ts)]) of the contiguous stream."""
        out, segs, end = bytearray(), [], 0
        for rel in sorted(self.segs):
            ts, p = self.segs[rel]
            if rel + len(p) <= end:
                continue
            if rel > end:  # a hole: stop, what follows cannot be framed
                break
            segs.append((rel, len(p), ts))
            out += p[end - rel:]
            end = rel + len(p)
        return bytes(out), segs


def conversations(path, ports):
    conns = collections.OrderedDict()
    for ts, lt, frame in read_packets(path):
        ip = ip_payload(lt, frame)
        if not ip or ip[3] != 6 or len(ip[4]) < 20:
            continue
        _, src, dst, _, tcp = ip
        sp, dp, seq = struct.unpack("!HHI", tcp[:8])
        doff, flags = (tcp[12] >> 4) * 4, tcp[13]
        payload = tcp[doff:]
        if dp in ports:
            key, side = (src, sp, dst, dp), 0
        elif sp in ports:
            key, side = (dst, dp, src, sp), 1
        else:
            continue
        if flags & 0x02 and not flags & 0x10 and key in conns and conns[key][0].segs:
            key = key + (ts,)  # port reuse: a new connection
        c = conns.setdefault(key, (Direction(), Direction(), []))
        c[side].add(ts, seq, flags, payload)
        c[2].append(ts)
    return conns


# --- HTTP ------------------------------------------------------------------

def parse_requests(data, segs):
    reqs, o = [], 0
    while o < len(data):
        if not any(data.startswith(m, o) for m in METHODS):
            break
        he = data.find(b"\r\n\r\n", o)
        if he < 0:
            break
        head = data[o:he]
        lines = head.split(b"\r\n")
        hdrs = []
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            hdrs.append((k.strip().lower().decode("latin-1"), v.strip().decode("latin-1")))
        h = dict(hdrs)
        blen = int(h.get("content-length", "0") or 0) if h.get("content-length", "0").strip().isdigit() else 0
        body = data[he + 4:he + 4 + blen]
        seg = next(s for s in segs if s[0] <= o < s[0] + s[1])
        segend = seg[0] + seg[1]
        ua_end = None
        m = re.search(rb"\r\nUser-Agent:[^\r\n]*\r\n", data[o:he + 4], re.I)
        if m:
            ua_end = o + m.end() - seg[0]
        rl = lines[0].decode("latin-1")
        reqs.append({
            "ts": seg[2], "line": rl, "headers": hdrs, "body": body.decode("latin-1"),
            "seg_off": o - seg[0], "line_len": len(lines[0]),
            "line_split": o + len(lines[0]) + 2 > segend, "head_split": he + 4 > segend,
            "ua_end_in_seg": ua_end if ua_end is not None and ua_end <= seg[1] else None,
            "ua_in_later_seg": ua_end is not None and ua_end > seg[1],
            "head_len": he + 4 - o,
            # What a sensor that copies the first PREFIX bytes of a segment
            # starting with a method can read: the request line whole?
            "line_in_prefix": o == seg[0] and len(lines[0]) + 2 <= min(seg[1], PREFIX),
            "prefix": data[o:o + min(seg[1], PREFIX)].decode("latin-1") if o == seg[0] else "",
        })
        o = he + 4 + blen
    return reqs


def parse_statuses(data, reqs):
    out, o, i = [], 0, 0
    while o < len(data) and data.startswith(b"HTTP/", o):
        he = data.find(b"\r\n\r\n", o)
        if he < 0:
            break
        lines = data[o:he].split(b"\r\n")
        parts = lines[0].split(b" ")
        code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        h = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            h[k.strip().lower()] = v.strip()
        is_head = i < len(reqs) and reqs[i]["line"].startswith("HEAD ")
        if code == 100:
            o = he + 4
            continue
        out.append(code)
        i += 1
        cl = h.get(b"content-length", b"0")
        if is_head or code in (204, 304) or code < 200:
            cl = b"0"
        if h.get(b"transfer-encoding", b"").lower() == b"chunked":
            o = he + 4
            while True:  # chunked body
                le = data.find(b"\r\n", o)
                if le < 0:
                    return out
                n = int(data[o:le].split(b";")[0] or b"0", 16)
                o = le + 2 + n + 2
                if n == 0:
                    break
            continue
        o = he + 4 + (int(cl) if cl.isdigit() else 0)
    return out


def injection_hits(req):
    """Returns {category: where} for the request, where in raw/decoded/body."""
    line = req["line"]
    target = line.split(" ")[1] if " " in line else line
    return match_injection(target, req["headers"], req["body"])


def prefix_injection_hits(req):
    """The same, on only the first PREFIX bytes that a sensor copies."""
    head, _, body = req["prefix"].partition("\r\n\r\n")
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    target = parts[1] if len(parts) > 1 else ""
    hdrs = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.append((k.strip().lower(), v.strip()))
    return match_injection(target, hdrs, body)


def match_injection(target, headers, body):
    hv = " ".join(v for k, v in headers if k not in ("accept", "accept-language", "accept-encoding", "cookie"))
    raw = target + " " + hv
    dec = unquote_plus(unquote_plus(raw))
    body = unquote_plus(body)
    hits = {}
    for cat, pats in INJ_RE.items():
        for p in pats:
            # A lone quote in a header value (a UA, a date) is not SQL.
            text_raw, text_dec = (target, unquote_plus(unquote_plus(target))) if p.pattern == "'" else (raw, dec)
            if p.search(text_raw):
                hits[cat] = "raw"
                break
            if p.search(text_dec):
                hits.setdefault(cat, "decoded")
            elif p.search(body):
                hits.setdefault(cat, "body")
    return hits


def analyze(path, ports):
    reqs_by_src = collections.defaultdict(list)
    pipelined_segs = 0
    for key, (cdir, sdir, _) in conversations(path, ports).items():
        data, segs = cdir.stream()
        reqs = parse_requests(data, segs)
        sdata, _ = sdir.stream()
        codes = parse_statuses(sdata, reqs)
        starts = collections.Counter(r["ts"] for r in reqs if r["seg_off"] > 0)
        pipelined_segs += len(starts)
        for i, r in enumerate(reqs):
            r["status"] = codes[i] if i < len(codes) else None
            r["conn"] = key
            reqs_by_src[key[0]].append(r)
    return reqs_by_src, pipelined_segs


def summarize(reqs):
    n = len(reqs)
    paths = [urlsplit(r["line"].split(" ")[1] if " " in r["line"] else "").path for r in reqs]
    nonstatic = [p for p in paths if not p.lower().endswith(STATIC)]
    ts = sorted(r["ts"] for r in reqs)
    dur = ts[-1] - ts[0] if n > 1 else 0.0
    uas = collections.Counter(dict(r["headers"]).get("user-agent", "(none)") for r in reqs)
    inj = collections.defaultdict(list)
    inj_where = collections.defaultdict(collections.Counter)
    for r in reqs:
        for cat, where in injection_hits(r).items():
            inj[cat].append(r)
            inj_where[cat][where] += 1
    any_inj = sum(1 for r in reqs if injection_hits(r))
    seen, sample = set(), []
    for r in reqs:
        t = r["line"].split(" ")[1] if " " in r["line"] else r["line"]
        if t not in seen:
            seen.add(t)
            sample.append(t)
    step = max(1, len(sample) // 20)
    ua_ends = [r["ua_end_in_seg"] for r in reqs if r["ua_end_in_seg"] is not None]
    return {
        "requests": n,
        "connections": len({r["conn"] for r in reqs}),
        "max_requests_per_connection": max(collections.Counter(r["conn"] for r in reqs).values(), default=0),
        "methods": dict(collections.Counter(r["line"].split(" ")[0] for r in reqs)),
        "versions": dict(collections.Counter(r["line"].rsplit(" ", 1)[-1] for r in reqs)),
        "distinct_paths": len(set(paths)),
        "distinct_nonstatic_paths": len(set(nonstatic)),
        "distinct_targets": len(seen),
        "status": dict(sorted(collections.Counter(str(r["status"]) for r in reqs).items())),
        "status_4xx": sum(1 for r in reqs if r["status"] and 400 <= r["status"] < 500),
        "distinct_4xx_paths": len({p for p, r in zip(paths, reqs) if r["status"] and 400 <= r["status"] < 500}),
        "user_agents": dict(uas.most_common(8)),
        "distinct_user_agents": len(uas),
        "referer_share": round(sum(1 for r in reqs if "referer" in dict(r["headers"])) / n, 3) if n else 0,
        "host_missing": sum(1 for r in reqs if "host" not in dict(r["headers"])),
        "request_line_max": max((r["line_len"] for r in reqs), default=0),
        "head_len_max": max((r["head_len"] for r in reqs), default=0),
        "ua_end_offset_max": max(ua_ends, default=None),
        "ua_beyond_512": sum(1 for x in ua_ends if x > PREFIX),
        "ua_in_later_segment": sum(1 for r in reqs if r["ua_in_later_seg"]),
        "request_line_split": sum(1 for r in reqs if r["line_split"]),
        "head_split": sum(1 for r in reqs if r["head_split"]),
        "start_mid_segment": sum(1 for r in reqs if r["seg_off"] > 0),
        "injection_requests": any_inj,
        "prefix_view": prefix_view(reqs, paths),
        "injection": {c: {"requests": len(v), "where": dict(inj_where[c]),
                          "examples": [x["line"][:160] for x in v[:: max(1, len(v) // 3)][:3]]}
                      for c, v in sorted(inj.items())},
        "sample_targets": [s[:120] for s in sample[::step][:20]],
        "duration_s": round(dur, 3),
        "requests_per_s": round(n / dur, 1) if dur > 0 else None,
    }


def prefix_view(reqs, paths):
    """What a sensor reading only the first PREFIX bytes of segments that
    begin with a method sees: those requests, their paths, their UA."""
    vis = [(r, p) for r, p in zip(reqs, paths) if r["seg_off"] == 0]
    full = [(r, p) for r, p in vis if r["line_in_prefix"]]
    return {
        "requests": len(vis),
        "request_line_whole": len(full),
        "distinct_paths": len({p for _, p in full}),
        "distinct_nonstatic_paths": len({p for _, p in full if not p.lower().endswith(STATIC)}),
        "ua_in_prefix": sum(1 for r, _ in vis if r["ua_end_in_seg"] is not None and r["ua_end_in_seg"] <= PREFIX),
        "injection_requests": sum(1 for r, _ in vis if prefix_injection_hits(r)),
    }


def markdown(name, s, pipelined_segs):
    o = [f"### {name}", ""]
    o.append(f"- requests {s['requests']} over {s['connections']} connections (max {s['max_requests_per_connection']}"
             f" per connection); duration {s['duration_s']} s; {s['requests_per_s']} req/s")
    o.append(f"- methods {s['methods']}; versions {s['versions']}")
    o.append(f"- distinct paths {s['distinct_paths']}, non-static {s['distinct_nonstatic_paths']}, "
             f"distinct request targets (with query) {s['distinct_targets']}")
    o.append(f"- status {s['status']}; 4xx {s['status_4xx']} on {s['distinct_4xx_paths']} distinct paths")
    o.append(f"- User-Agents ({s['distinct_user_agents']} distinct):")
    for ua, c in s["user_agents"].items():
        o.append(f"  - `{ua}` ×{c}")
    o.append(f"- Referer on {s['referer_share'] * 100:.1f}% of requests; Host missing on {s['host_missing']}")
    o.append(f"- request line max {s['request_line_max']} B; head max {s['head_len_max']} B; User-Agent header ends at "
             f"byte {s['ua_end_offset_max']} of its segment at most ({s['ua_beyond_512']} beyond {PREFIX}, "
             f"{s['ua_in_later_segment']} in a later segment)")
    o.append(f"- split over segments: request line {s['request_line_split']}, head {s['head_split']}; requests "
             f"starting mid-segment {s['start_mid_segment']} (in {pipelined_segs} segments)")
    pv = s["prefix_view"]
    o.append(f"- {PREFIX}-byte prefix view (segments that begin with a method): {pv['requests']} requests, "
             f"{pv['request_line_whole']} with the whole request line, {pv['distinct_paths']} distinct paths "
             f"({pv['distinct_nonstatic_paths']} non-static), UA inside the prefix on {pv['ua_in_prefix']}, "
             f"injection-looking {pv['injection_requests']} (from the prefix alone)")
    o.append(f"- injection-looking requests: {s['injection_requests']}")
    for c, v in s["injection"].items():
        o.append(f"  - {c}: {v['requests']} ({', '.join(f'{k} {n}' for k, n in v['where'].items())}); e.g.")
        for ex in v["examples"]:
            o.append(f"    - `{ex.replace('`', chr(0x2035))}`")
    o.append("- sample targets: " + ", ".join(f"`{t.replace('`', chr(0x2035))}`" for t in s["sample_targets"]))
    return "\n".join(o) + "\n"


def pattern_table(files, ports):
    """Requests matching each injection pattern (decoded line, headers or
    body), one column per capture: which patterns carry which tool, and
    which fire on benign traffic."""
    cols, counts = [], []
    for f in files:
        by_src, _ = analyze(f, ports)
        cnt = collections.Counter()
        for r in (r for v in by_src.values() for r in v):
            target = r["line"].split(" ")[1] if " " in r["line"] else r["line"]
            hv = " ".join(v for k, v in r["headers"] if k not in ("accept", "accept-language", "accept-encoding", "cookie"))
            dec, body = unquote_plus(unquote_plus(target + " " + hv)), unquote_plus(r["body"])
            for cat, pats in INJ_RE.items():
                for p in pats:
                    text = unquote_plus(unquote_plus(target)) if p.pattern == "'" else dec
                    if p.search(text) or p.search(body):
                        cnt[p.pattern] += 1
        cols.append(f.rsplit("/", 1)[-1].split(".")[0])
        counts.append(cnt)
    o = ["| category | pattern | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for cat, pats in INJ_RE.items():
        for p in pats:
            pat = p.pattern.replace("|", "\\|").replace("`", "\u2035")
            o.append(f"| {cat} | `{pat}` | " + " | ".join(str(c[p.pattern] or "") for c in counts) + " |")
    return "\n".join(o)


def table(result):
    o = ["| capture | req | conns | distinct paths | non-static | 4xx (distinct paths) | req/s | duration s "
         "| UA | Referer | line max | UA end max | mid-seg | head split | injection | 512 B view: req / paths / inj |",
         "|" + "---|" * 16]
    for k, (s, _) in result.items():
        ua = "; ".join(f"`{u[:60]}`" for u in list(s["user_agents"])[:2]) + (" …" if s["distinct_user_agents"] > 2 else "")
        pv = s["prefix_view"]
        inj = ", ".join(f"{c} {v['requests']}" for c, v in s["injection"].items()) or "0"
        o.append(f"| {k} | {s['requests']} | {s['connections']} | {s['distinct_paths']} | {s['distinct_nonstatic_paths']} "
                 f"| {s['status_4xx']} ({s['distinct_4xx_paths']}) | {s['requests_per_s']} | {s['duration_s']} | {ua} "
                 f"| {s['referer_share'] * 100:.0f}% | {s['request_line_max']} | {s['ua_end_offset_max']} "
                 f"| {s['start_mid_segment']} | {s['head_split']} | {s['injection_requests']}: {inj} "
                 f"| {pv['requests']} / {pv['distinct_paths']} / {pv['injection_requests']} |")
    return "\n".join(o)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--ports", default="80,8000,8080,8888")
    ap.add_argument("--per-source", action="store_true", help="one summary per client address")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--table", action="store_true", help="one markdown summary row per capture (or source)")
    ap.add_argument("--patterns", action="store_true", help="requests per injection pattern, a column per capture")
    a = ap.parse_args()
    try:
        ports = {int(p) for p in a.ports.split(",")}
    except ValueError:
        ap.error(f"--ports {a.ports!r}: a comma-separated list of port numbers")
    if a.patterns:
        print(pattern_table(a.files, ports))
        return
    result = {}
    for f in a.files:
        by_src, pip = analyze(f, ports)
        name = f.rsplit("/", 1)[-1]
        if a.per_source:
            for src, reqs in sorted(by_src.items()):
                result[f"{name} client {src}"] = (summarize(reqs), pip)
        else:
            allr = [r for v in by_src.values() for r in v]
            result[name] = (summarize(allr), pip)
    if a.table:
        print(table(result))
    elif a.json:
        json.dump({k: v[0] for k, v in result.items()}, sys.stdout, indent=1)
        print()
    else:
        for k, (s, pip) in result.items():
            print(markdown(k, s, pip))


if __name__ == "__main__":
    main()
