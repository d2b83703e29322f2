package detector

import (
	"net/netip"
	"slices"
	"time"
)

// What an episode's alert says: built from the source's state only when
// an alert goes out.

// describe builds the alert for an episode from the source's current
// state; only alerts that go out pay for it.
func (d *Default) describe(s *source, k episodeKey, ep *episode) Alert {
	a := Alert{Source: s.addr, Label: ep.label, LastSeen: time.Unix(0, s.last).UTC(), Rules: "default",
		Window: ep.window.String(), Tool: s.fp.tool(), AlertID: ep.id, Evasion: s.marks.Names()}
	switch k.kind {
	case epDistributed:
		if s.prefix == nil || !d.describeDistributed(s.prefix, k, &a) {
			return ep.sent
		}
	case epEvasive:
		dst := netip.AddrFrom16(s.evasiveHost).Unmap()
		a.Technique, a.TotalConns, a.DestHost, a.FirstSeen = "T1595", s.evasivePackets, &dst, time.Unix(0, s.evasiveFirst).UTC()
		a.UniqueDestHosts, a.UniqueDestPorts = max(s.targets.len(), 1), s.serviceCount()
		a.ScanType = probeType(s.evasiveProbes, s.evasiveProbes == 1<<ProbeUDP)
	case epVertical, epVerticalUDP:
		udp := k.kind == epVerticalUDP
		tg := s.targets.get(k.host)
		if tg == nil {
			return ep.sent
		}
		dst := netip.AddrFrom16(k.host).Unmap()
		a.Technique, a.TotalConns, a.UniqueDestHosts, a.DestHost = "T1595", tg.packets, 1, &dst
		a.UniqueDestPorts, _ = d.verticalPorts(tg, udp, d.th.PortScanPorts)
		a.FirstSeen = time.Unix(0, tg.first).UTC()
		a.ScanType = probeType(tg.probes, udp)
		if !udp && a.ScanType == "syn" && s.fp.stack*2 > s.fp.syns {
			// Its SYNs came from the OS's connect(): nmap -sT, or any
			// scanner without raw sockets. (Both sensors see SYN options;
			// neither reports the handshake ACK that follows.)
			a.ScanType = "connect"
		}
		set := &tg.tcp
		if udp {
			set = &tg.udp
		}
		a.Estimated = set.estimated()
		a.DestPorts = samplePorts(set, 64)
		if ep.related == nil {
			ep.related = d.decoys(s, k.host, tg)
		}
		a.RelatedSources = ep.related
	case epSweep:
		udp := k.port == 1
		var probes uint16
		first := s.last
		for sk := range s.sweeping {
			o := s.services.get(sk)
			if o == nil || (sk>>16 == 1) != udp {
				continue
			}
			n, _ := d.sweepHosts(s, sk, o)
			if n < d.th.SweepHosts {
				continue
			}
			a.DestPorts = append(a.DestPorts, uint16(sk))
			a.TotalConns += o.packets
			probes |= o.probes
			first = min(first, o.first)
			a.UniqueDestHosts = max(a.UniqueDestHosts, n)
			h := s.svHosts(sk, o)
			a.Estimated = a.Estimated || h.estimated()
		}
		if len(a.DestPorts) == 0 {
			return ep.sent
		}
		slices.Sort(a.DestPorts)
		a.Technique, a.UniqueDestPorts, a.ScanType = "T1595.001", len(a.DestPorts), probeType(probes, udp)
		a.FirstSeen = time.Unix(0, first).UTC()
	case epFlood:
		dst := netip.AddrFrom16(k.host).Unmap()
		a.Technique, a.TotalConns, a.UniqueDestHosts, a.DestHost, a.ScanType = "T1499.001", s.syns.total, 1, &dst, "syn"
		a.DestPorts = s.pairs.ports(k.host)
		a.UniqueDestPorts = len(a.DestPorts)
		a.FirstSeen = time.Unix(0, s.first).UTC()
		if ep.sent.TotalConns > a.TotalConns {
			a.TotalConns = ep.sent.TotalConns // the window has moved past the peak
		}
	}
	return a
}

// probeType names the probes an episode saw.
func probeType(bits uint16, udp bool) string {
	if udp {
		return ProbeUDP.String()
	}
	name := ""
	for p := ProbeSYN; p < ProbeUDP; p++ {
		if bits&(1<<p) != 0 {
			if name != "" {
				return "mixed"
			}
			name = p.String()
		}
	}
	return name
}

// decoys finds nmap -D companions: other sources that began probing the
// same host within the same two seconds with a similar number of ports.
//
// It looks at the maxDecoyWalk sources touched most recently, not at every
// source held: nmap sends each probe from every decoy in turn, so a decoy
// was touched a few events before the alert. A walk of every source made
// each new episode cost MaxSources steps, and a spoofer who keeps 100,000
// sources alive could make each of a scan's alerts cost milliseconds.
func (d *Default) decoys(s *source, host [16]byte, tg *target) []netip.Addr {
	var out []netip.Addr
	walked := 0
	for o := d.lru.head; o != nil && len(out) < 16 && walked < maxDecoyWalk; o, walked = o.next, walked+1 {
		// A source last active before the window began no probing in it
		// (a target's first probe is never after its source's last).
		if o == s || o.last < tg.first-2e9 {
			continue
		}
		ot := o.targets.get(host)
		if ot == nil || abs(ot.first-tg.first) > 2e9 {
			continue
		}
		if a, b := ot.tcp.long(), tg.tcp.long(); a*2 < b || b*2 < a {
			continue
		}
		out = append(out, o.addr)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// maxDecoyWalk bounds decoys' walk: far more sources than a busy sensor
// touches between a decoy's probe and the real source's.
const maxDecoyWalk = 4096

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
