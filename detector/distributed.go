package detector

import (
	"net/netip"
	"slices"
	"time"
)

// LabelDistributed: the sources of one network prefix together probe as
// many ports of a host, or hosts on a port, as the scan thresholds ask of
// one source, while no member alone crosses them: a scan split over many
// addresses of one network (issue 7, item 5). Still T1595, Active Scanning.
const LabelDistributed = "T1595 - DistributedScan"

// Prefix lengths members are grouped by. IPv4 /24: the smallest block
// routed between networks, and what one host or provider commonly holds.
// IPv6 /64: a single subnet, which SLAAC and privacy addresses let one host
// roam freely inside (RFC 4941: a new address per day, or per connection),
// so a /64 is "one machine or one LAN" the way an IPv4 address and /24 are.
// A /48 is a whole site (RFC 6177's end-site assignment): grouping by it
// would join unrelated hosts of one organisation, as grouping IPv4 by /16
// would, and raise the busy-site false alarms the per-address rules avoid.
const (
	prefixBits4 = 24
	prefixBits6 = 64
)

// Bounds: prefixes held, and per prefix hosts, services and members kept.
// Only promoted sources feed prefixes, so a spoofed one-packet flood never
// reaches this table (a member that sends one probe only is not counted:
// a known limit).
const (
	maxPrefixes       = 16384
	maxPrefixTargets  = 1024
	maxPrefixServices = 1024
	maxPrefixMembers  = 256
	maxMembersListed  = 64
)

// prefixState aggregates the TCP probes of a prefix's promoted sources.
// Its episodes live in a source of their own whose address is the prefix.
type prefixState struct {
	src      source // addr: the prefix's first address; eps: its episodes
	prefix   netip.Prefix
	targets  map[[16]byte]*prefixSet[uint16] // per host: ports
	services map[uint16]*prefixSet[[16]byte] // per TCP port: hosts
	members  map[netip.Addr]struct{}
}

// prefixSet is keys probed by any member, and those whose handshake a
// member completed: Zeek's failed attempts, per prefix.
type prefixSet[K comparable] struct {
	first      int64
	keys, done tieredSet[K]
	// alone: until this event time a member is known to scan this key on
	// its own, so memberAlone (a walk over the members) is not asked on
	// every probe of a busy prefix.
	alone int64
}

func prefixOf(a netip.Addr) netip.Prefix {
	bits := prefixBits6
	if a.Is4() {
		bits = prefixBits4
	}
	p, _ := a.Prefix(bits)
	return p
}

// prefixFor returns (making it) the state of src's prefix.
func (d *Default) prefixFor(src netip.Addr, t int64) *prefixState {
	pf := prefixOf(src)
	p := d.prefixes[pf]
	if p != nil {
		return p
	}
	if d.prefixes == nil {
		d.prefixes = make(map[netip.Prefix]*prefixState)
	}
	if len(d.prefixes) >= maxPrefixes {
		d.evictPrefix()
	}
	p = &prefixState{prefix: pf, targets: map[[16]byte]*prefixSet[uint16]{}, services: map[uint16]*prefixSet[[16]byte]{},
		members: map[netip.Addr]struct{}{}}
	p.src = source{addr: pf.Addr(), first: t, prefix: p}
	d.prefixes[pf] = p
	return p
}

// evictPrefix drops the least recently active of a few sampled prefixes,
// closing its episodes first.
func (d *Default) evictPrefix() {
	var victim *prefixState
	n := 0
	for _, p := range d.prefixes {
		if victim == nil || p.src.last < victim.src.last {
			victim = p
		}
		if n++; n == 8 {
			break
		}
	}
	d.closeQuiet(&victim.src, d.now, true)
	delete(d.prefixes, victim.prefix)
}

// prefixProbe adds a promoted source's TCP probe to its prefix and judges
// the prefix.
func (d *Default) prefixProbe(s *source, pa probeArgs, w instant, t int64) {
	p := d.prefixFor(s.addr, t)
	p.src.last = max(p.src.last, t)
	if len(p.members) < maxPrefixMembers {
		p.members[s.addr] = struct{}{}
	}
	host := pa.dst.As16()
	tg := p.targets[host]
	if tg == nil {
		if len(p.targets) >= maxPrefixTargets {
			return
		}
		tg = &prefixSet[uint16]{first: t}
		p.targets[host] = tg
	}
	tg.keys.see(w, pa.port, &p.src.budget)
	tg.done.age(w)
	sv := p.services[pa.port]
	if sv == nil {
		if len(p.services) >= maxPrefixServices {
			return
		}
		sv = &prefixSet[[16]byte]{first: t}
		p.services[pa.port] = sv
	}
	sv.keys.see(w, host, &p.src.budget)
	sv.done.age(w)
	if len(p.members) < 2 {
		return
	}
	if n, win := d.prefixFailed(tg, d.th.PortScanPorts); n >= d.th.PortScanPorts && !d.aloneMemo(p, &tg.alone, epVertical, host, t) {
		d.report(&p.src, episodeKey{kind: epDistributed, host: host}, LabelDistributed, n, win, t)
	}
	if n, win := d.prefixFailedHosts(sv); n >= d.th.SweepHosts && !d.aloneMemo(p, &sv.alone, epSweep, [16]byte{}, t) {
		d.report(&p.src, episodeKey{kind: epDistributed, port: 1<<17 | uint32(pa.port)}, LabelDistributed, n, win, t)
	}
}

// aloneMemo is memberAlone, remembered for a tenth of a short window.
func (d *Default) aloneMemo(p *prefixState, until *int64, kind episodeKind, host [16]byte, t int64) bool {
	if t < *until {
		return true
	}
	if d.memberAlone(p, kind, host) {
		*until = t + int64(d.window)/10
		return true
	}
	return false
}

func (d *Default) prefixFailed(tg *prefixSet[uint16], min int) (int, time.Duration) {
	n := failed(tg.keys.short(), tg.done.short())
	if ln := failed(tg.keys.long(), tg.done.long()); n < min && ln >= min {
		return ln, d.long
	}
	return n, d.window
}

func (d *Default) prefixFailedHosts(sv *prefixSet[[16]byte]) (int, time.Duration) {
	n := failed(sv.keys.short(), sv.done.short())
	if ln := failed(sv.keys.long(), sv.done.long()); n < d.th.SweepHosts && ln >= d.th.SweepHosts {
		return ln, d.long
	}
	return n, d.window
}

// memberAlone reports whether a member has an open scan episode of that
// kind on that host (vertical) or any port (sweep): then its own alert says
// it, and the prefix's would only repeat it.
func (d *Default) memberAlone(p *prefixState, kind episodeKind, host [16]byte) bool {
	for m := range p.members {
		s := d.lru.byAddr[m]
		if s == nil {
			continue
		}
		for k := range s.eps {
			if k.kind == kind && (kind != epVertical || k.host == host) {
				return true
			}
		}
	}
	return false
}

// prefixCompletion credits a member's completed handshake to its prefix.
func (d *Default) prefixCompletion(s *source, dst [16]byte, port uint16, w instant) {
	p := d.prefixes[prefixOf(s.addr)]
	if p == nil {
		return
	}
	if tg := p.targets[dst]; tg != nil {
		tg.done.see(w, port, &p.src.budget)
	}
	if sv := p.services[port]; sv != nil {
		sv.done.see(w, dst, &p.src.budget)
	}
}

// describeDistributed fills a DistributedScan alert from the prefix.
func (d *Default) describeDistributed(p *prefixState, k episodeKey, a *Alert) bool {
	a.Technique, a.ScanType = "T1595", "syn"
	if k.port == 0 { // ports of one host
		tg := p.targets[k.host]
		if tg == nil {
			return false
		}
		dst := netip.AddrFrom16(k.host).Unmap()
		a.DestHost, a.UniqueDestHosts = &dst, 1
		a.UniqueDestPorts, _ = d.prefixFailed(tg, d.th.PortScanPorts)
		a.DestPorts = samplePorts(&tg.keys, 64)
		a.FirstSeen, a.Estimated = time.Unix(0, tg.first).UTC(), tg.keys.estimated()
	} else { // hosts on one port
		sv := p.services[uint16(k.port)]
		if sv == nil {
			return false
		}
		a.UniqueDestHosts, _ = d.prefixFailedHosts(sv)
		a.DestPorts, a.UniqueDestPorts = []uint16{uint16(k.port)}, 1
		a.FirstSeen, a.Estimated = time.Unix(0, sv.first).UTC(), sv.keys.estimated()
	}
	for m := range p.members {
		a.MemberSources = append(a.MemberSources, m)
	}
	slices.SortFunc(a.MemberSources, netip.Addr.Compare)
	if len(a.MemberSources) > maxMembersListed {
		a.MemberSources = a.MemberSources[:maxMembersListed]
	}
	var marks Evasion
	for _, m := range a.MemberSources {
		if s := d.lru.byAddr[m]; s != nil {
			a.TotalConns += s.syns.total
			marks |= s.marks
		}
	}
	a.Evasion = marks.Names()
	return true
}
