package detector

import "net/netip"

// LabelEvasive is a source whose probes have a shape no stack of its own
// accord sends (a fragmented TCP probe, a first fragment too short to hold
// the TCP flags, an IPv6 header chain longer than any real stack builds),
// below every scan threshold. Such a probe is built by a tool to get past
// filters and sensors (nmap -f, --mtu; RFC 1858): reconnaissance with
// intent, so it is T1595 (Active Scanning), not a new technique. MITRE has
// no sub-technique for evasive probing; "EvasiveProbe" names what was seen,
// as PortScan and IPSweep do. It ranks with the sweep labels, below
// PortScan: once a scan label applies, that stands, and the evasion field
// names the marks.
const LabelEvasive = "T1595 - EvasiveProbe"

// evasive reports whether marks on a probe are evidence on their own. A
// fragmented UDP datagram is not: large DNS (EDNS) and NFS answers
// fragment legitimately. A tiny first fragment or an over-long header
// chain is evidence whatever the protocol.
func evasive(marks Evasion, p Probe) bool {
	return marks&(EvasionTinyFragment|EvasionHeaderChain) != 0 || (marks&EvasionFragmented != 0 && p != ProbeUDP && p != ProbeNone)
}

var evasiveKey = episodeKey{kind: epEvasive}

// judgeEvasive opens (or grows) the source's EvasiveProbe episode while no
// scan episode of the source is open; one episode per source, not an
// alert per packet.
func (d *Default) judgeEvasive(s *source, dst netip.Addr, marks Evasion, p Probe, packets uint64, t int64) {
	s.marks |= marks
	if !evasive(marks, p) {
		return
	}
	if s.evasivePackets == 0 {
		s.evasiveFirst, s.evasiveHost = t, dst.As16()
	}
	s.evasivePackets += packets
	if p != ProbeNone {
		s.evasiveProbes |= 1 << p
	}
	for k := range s.eps {
		if k != evasiveKey {
			return // a scan label applies: it carries the marks
		}
	}
	// Size 1 throughout: the episode alerts once (its final carries the
	// counts); growth is what the scan thresholds are for.
	d.report(s, evasiveKey, LabelEvasive, 1, d.window, t)
}

// headerChain accounts an event whose transport header the sensor could
// not reach (more IPv6 extension headers than MaxIPv6ExtHeaders): no port,
// no probe kind, but evidence of evasion from its source, which goes
// straight to full state.
func (d *Default) headerChain(ev *Event, t int64) {
	if martian(ev.Src) || d.cfg.Ignore.Contains(ev.Src) {
		return
	}
	s := d.lru.get(ev.Src)
	if s == nil {
		if r, ok := d.prob.get(ev.Src); ok {
			d.prob.remove(ev.Src)
			s = d.newSource(ev.Src, r.first)
			d.replayFirst(s, r)
		} else {
			s = d.newSource(ev.Src, t)
		}
	}
	d.lru.touch(s)
	s.last = max(s.last, t)
	d.judgeEvasive(s, ev.Dst, ev.Evasion, ProbeNone, ev.Packets(), t)
}
