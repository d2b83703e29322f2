package detector

import (
	"cmp"
	"encoding/binary"
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
const (
	maxPrefixes       = 16384
	maxPrefixTargets  = 1024
	maxPrefixServices = 1024
	maxPrefixMembers  = 256
	maxMembersListed  = 64
)

// Who feeds a prefix. Every TCP probe of a promoted source, as before; and
// since a scan split one probe per address never promotes anyone, also the
// first probe of each source on probation, once the prefix has a second
// such member (probation.mate finds the first): a random spoofed flood puts
// about one source in each /24 it touches (a million spoofed IPv4 sources
// pair up in some 30,000 of the 16 M /24s), so most of it never gets here,
// and what does holds a key or two and is evicted first (evictPrefix). In
// IPv6 a spoofer can fill one /64 at will; that /64 then scans, and
// accusing the spoofed network is no worse than accusing a spoofed address.
// Only probes no connection sends are fed from probation: SYN and the
// stealth probes. A lone ACK or FIN+ACK is what an established connection
// that predates the sensor looks like, from every client of a busy /24.

// prefixKey names a /24 or /64 in one word, a cheaper map key than
// netip.Prefix (24 bytes with a pointer, hashed as memory): an IPv6 /64 is
// its top 64 bits, an IPv4 /24 its 24 bits under v4PrefixTag. ff00::/8 is
// multicast, never a source (martian), so no /64 collides with the tag.
type prefixKey uint64

const v4PrefixTag prefixKey = 0xff << 56

func prefix24(a [4]byte) uint32 { return uint32(a[0])<<16 | uint32(a[1])<<8 | uint32(a[2]) }

func prefix64(a [16]byte) uint64 { return binary.BigEndian.Uint64(a[:8]) }

func prefixKeyOf(a netip.Addr) prefixKey {
	if a.Is4() {
		return v4PrefixTag | prefixKey(prefix24(a.As4()))
	}
	return prefixKey(prefix64(a.As16()))
}

// prefixState aggregates the TCP probes of a prefix's members.
// Its episodes live in a source of their own whose address is the prefix.
type prefixState struct {
	src source // addr: the prefix's first address; eps: its episodes
	key prefixKey
	// Per host: ports; per TCP port: hosts. lastTg and lastSv below
	// point into them, and are replaced after every insert.
	targets  denseMap[[16]byte, prefixSet[uint16, portHash], addrHash]
	services denseMap[uint16, prefixSet[[16]byte, addrHash], portHash]
	members  map[netip.Addr]struct{} // promoted members (memberAlone walks them)
	last     netip.Addr              // the member members was last given
	// oneProbe: members fed from probation, and the first maxMembersListed
	// of them for the alert (they have no episodes for memberAlone).
	oneProbe int
	listed   []netip.Addr
	// Probes and evasion marks of every member fed in, listed or not, so
	// the alert's total_conns and evasion cover the whole network.
	packets uint64
	marks   Evasion
	// The host and port last probed, and their sets: a scan's or a flood's
	// probes come in runs to one host or one port, and a [16]byte map key
	// costs a hash. Sets are never deleted while the prefix lives.
	lastHost [16]byte
	lastPort uint16
	lastTg   *prefixSet[uint16, portHash]
	lastSv   *prefixSet[[16]byte, addrHash]
	// judged: the (host, port) and second prefixSee last judged. Another
	// probe of them within that second changes no count and no verdict:
	// a flood of one service from a whole /24 (the probes of a spoofed
	// flood, or one service's clients) pays for a compare.
	judgedHost [16]byte
	judgedPort uint16
	judgedSec  int64

	lazy prefixLazy // services held back, one host so far (prefix_lazy.go)
}

// prefixSet is keys probed by any member, and those whose handshake a
// member completed: Zeek's failed attempts, per prefix.
type prefixSet[K comparable, H keyHasher[K]] struct {
	first      int64
	keys, done tieredSet[K, H]
	// alone: until this event time a member is known to scan this key on
	// its own, so memberAlone (a walk over the members) is not asked on
	// every probe of a busy prefix.
	alone int64
}

// prefix returns the state of prefix k, or nil. The last one found is
// kept, as a scan's probes come in runs from one network.
func (d *Default) prefix(k prefixKey) *prefixState {
	if d.lastPrefix != nil && d.lastPrefix.key == k {
		return d.lastPrefix
	}
	p := d.prefixes[k]
	if p != nil {
		d.lastPrefix = p
	}
	return p
}

// prefixFor returns (making it) the state of prefix k, src's.
func (d *Default) prefixFor(k prefixKey, src netip.Addr, t int64) *prefixState {
	if p := d.prefix(k); p != nil {
		return p
	}
	if d.prefixes == nil {
		d.prefixes = make(map[prefixKey]*prefixState)
	}
	if len(d.prefixes) >= maxPrefixes {
		d.evictPrefix()
	}
	bits := prefixBits6
	if src.Is4() {
		bits = prefixBits4
	}
	pf, _ := src.Prefix(bits)
	p := &prefixState{key: k, judgedSec: -1, members: map[netip.Addr]struct{}{}, lazy: prefixLazy{on: holdServices && d.th.SweepHosts >= 2}}
	p.src = source{addr: pf.Addr(), first: t, prefix: p}
	d.prefixes[k] = p
	d.lastPrefix = p
	return p
}

// dropPrefix forgets p.
func (d *Default) dropPrefix(p *prefixState) {
	delete(d.prefixes, p.key)
	if d.lastPrefix == p {
		d.lastPrefix = nil
	}
}

// evictPrefix drops one of a few sampled prefixes, closing its episodes
// first: the one with the least evidence, ranked by an open episode, then
// a promoted member, then its breadth (hosts plus ports held), then the
// least recently active. A flood's stray pairs hold a key or two and go
// first; a scan under way, even a slow one, outranks them.
func (d *Default) evictPrefix() {
	var victim *prefixState
	n := 0
	for _, p := range d.prefixes {
		if victim == nil || prefixRank(p, victim) < 0 {
			victim = p
		}
		if n++; n == 8 {
			break
		}
	}
	d.closeQuiet(&victim.src, d.now, true)
	d.dropPrefix(victim)
}

// prefixRank orders prefixes by evidence, least first.
func prefixRank(a, b *prefixState) int {
	for _, c := range [...][2]int{
		{min(len(a.src.eps), 1), min(len(b.src.eps), 1)},
		{min(len(a.members), 1), min(len(b.members), 1)},
		{a.targets.len() + a.serviceCount(), b.targets.len() + b.serviceCount()},
	} {
		if c[0] != c[1] {
			return cmp.Compare(c[0], c[1])
		}
	}
	return cmp.Compare(a.src.last, b.src.last)
}

// prefixProbe adds a promoted source's TCP probe to its prefix and judges
// the prefix.
func (d *Default) prefixProbe(s *source, pa probeArgs, host [16]byte, w instant, t int64) {
	p := d.prefixFor(prefixKeyOf(s.addr), s.addr, t)
	if s.addr != p.last && len(p.members) < maxPrefixMembers {
		p.members[s.addr] = struct{}{}
		p.last = s.addr
	}
	p.packets += pa.packets
	p.marks |= pa.marks
	d.prefixSee(p, host, pa.port, w, t)
}

// probationProbe adds the first probe of src, just put on probation, to
// its prefix k if the prefix has state, or if another member on probation
// is found to open it with; otherwise it makes src the one found next.
func (d *Default) probationProbe(src netip.Addr, r firstProbe, k prefixKey) (first bool) {
	p := d.prefix(k)
	if p == nil {
		m, mr, ok := d.prob.mate(src, k)
		if !ok {
			return true
		}
		p = d.prefixFor(k, src, mr.first)
		d.oneProbeMember(p, m, mr)
	}
	d.oneProbeMember(p, src, r)
	return false
}

// feedsPrefix reports whether a probe from probation feeds its prefix.
func feedsPrefix(p Probe) bool { return p >= ProbeSYN && p <= ProbeXMAS }

// oneProbeMember adds a probation member's first probe to p, at its time,
// with its handshake if it completed.
func (d *Default) oneProbeMember(p *prefixState, m netip.Addr, r firstProbe) {
	p.oneProbe++
	p.packets += uint64(r.packets)
	p.marks |= r.marks()
	if len(p.listed) < maxMembersListed {
		p.listed = append(p.listed, m)
	}
	w, host := d.at(r.first), r.host.As16()
	d.prefixSee(p, host, r.port, w, r.first)
	if r.flags&recCompleted != 0 {
		d.prefixDone(p, host, r.port, w)
	}
}

// prefixSee adds a member's probe of (host, port) to p and judges p.
func (d *Default) prefixSee(p *prefixState, host [16]byte, port uint16, w instant, t int64) {
	p.src.last = max(p.src.last, t)
	if w.sec == p.judgedSec && port == p.judgedPort && host == p.judgedHost {
		return
	}
	if p.lazy.on && !p.holds(w, host) {
		p.materialize() // before a second host: the log's is at 0
	}
	tg := p.lastTg
	if tg == nil || p.lastHost != host {
		if tg = p.targets.get(host); tg == nil {
			if p.targets.len() >= maxPrefixTargets {
				return
			}
			tg, _ = p.targets.put(host)
			tg.first = t
		}
		p.lastHost, p.lastTg = host, tg
	}
	keys, _ := tg.keys.see(w, port, &p.src.budget)
	tg.done.age(w)
	var sv *prefixSet[[16]byte, addrHash]
	if p.lazy.on {
		p.lazySee(port, keys, w, t)
	} else if sv = p.prefixService(host, port, w, t); sv == nil {
		return // the services' cap
	}
	if len(p.members)+p.oneProbe < 2 {
		return
	}
	p.judgedHost, p.judgedPort, p.judgedSec = host, port, w.sec
	// While a member is known to scan the key alone (aloneMemo), nothing
	// is reported: the counts are not even asked for.
	if t >= tg.alone {
		if n, win := d.prefixFailed(tg, d.th.PortScanPorts); n >= d.th.PortScanPorts &&
			!d.aloneMemo(p, &tg.alone, true, host, port, failed(tg.keys.long(), tg.done.long()), t) {
			d.report(&p.src, episodeKey{kind: epDistributed, host: host}, LabelDistributed, n, win, t)
		}
	}
	if sv != nil && t >= sv.alone { // a held-back service's one host is no sweep
		if n, win := d.prefixFailedHosts(sv); n >= d.th.SweepHosts &&
			!d.aloneMemo(p, &sv.alone, false, host, port, failed(sv.keys.long(), sv.done.long()), t) {
			d.report(&p.src, episodeKey{kind: epDistributed, port: 1<<17 | uint32(port)}, LabelDistributed, n, win, t)
		}
	}
}

// prefixService is prefixSee's service half: port's host set sees host.
// It returns the service, or nil when the services are at their cap.
func (p *prefixState) prefixService(host [16]byte, port uint16, w instant, t int64) *prefixSet[[16]byte, addrHash] {
	sv := p.lastSv
	if sv == nil || p.lastPort != port {
		if sv = p.services.get(port); sv == nil {
			if p.services.len() >= maxPrefixServices {
				return nil
			}
			sv, _ = p.services.put(port)
			sv.first = t
		}
		p.lastPort, p.lastSv = port, sv
	}
	sv.keys.see(w, host, &p.src.budget)
	sv.done.age(w)
	return sv
}

// aloneMemo is memberAlone, remembered for a tenth of a short window.
func (d *Default) aloneMemo(p *prefixState, until *int64, vertical bool, host [16]byte, port uint16, n int, t int64) bool {
	if t < *until {
		return true
	}
	if d.memberAlone(p, vertical, host, port, n) {
		*until = t + int64(d.window)/10
		return true
	}
	return false
}

func (d *Default) prefixFailed(tg *prefixSet[uint16, portHash], min int) (int, time.Duration) {
	n := failed(tg.keys.short(), tg.done.short())
	if ln := failed(tg.keys.long(), tg.done.long()); n < min && ln >= min {
		return ln, d.long
	}
	return n, d.window
}

func (d *Default) prefixFailedHosts(sv *prefixSet[[16]byte, addrHash]) (int, time.Duration) {
	n := failed(sv.keys.short(), sv.done.short())
	if ln := failed(sv.keys.long(), sv.done.long()); n < d.th.SweepHosts && ln >= d.th.SweepHosts {
		return ln, d.long
	}
	return n, d.window
}

// memberAlone reports whether one promoted member crosses the threshold
// on this host's ports (vertical) or this port's hosts by itself, in the
// long window, and the other members add less than a threshold's worth to
// the prefix's n: then its own alert says it and the prefix's would only
// repeat it. Counted, not asked of its open episodes: once a scanner's
// episode had closed, one SYN from a neighbour would otherwise report the
// scanner's old ports again as the network's. More than a threshold added
// by the others is a scan of their own, and is reported.
func (d *Default) memberAlone(p *prefixState, vertical bool, host [16]byte, port uint16, n int) bool {
	thr, best := d.th.SweepHosts, 0
	if vertical {
		thr = d.th.PortScanPorts
	}
	for m := range p.members {
		s := d.lru.byAddr[m]
		if s == nil {
			continue
		}
		if vertical {
			if tg := s.targets.get(host); tg != nil {
				best = max(best, failed(tg.tcp.long(), tg.done.long()))
			}
		} else if k := serviceKey(false, port); s.services.get(k) != nil {
			sv := s.services.get(k)
			h := s.svHosts(k, sv)
			best = max(best, failed(h.long(), s.svCredited(k, sv).long()))
		}
	}
	return best >= thr && n-best < thr
}

// prefixCompletion credits a member's completed handshake to its prefix.
func (d *Default) prefixCompletion(src netip.Addr, dst [16]byte, port uint16, w instant) {
	if p := d.prefix(prefixKeyOf(src)); p != nil {
		d.prefixDone(p, dst, port, w)
	}
}

func (d *Default) prefixDone(p *prefixState, dst [16]byte, port uint16, w instant) {
	p.materialize() // a credited host of a service: its own set
	if tg := p.targets.get(dst); tg != nil {
		tg.done.see(w, port, &p.src.budget)
	}
	if sv := p.services.get(port); sv != nil {
		sv.done.see(w, dst, &p.src.budget)
	}
}

// describeDistributed fills a DistributedScan alert from the prefix.
func (d *Default) describeDistributed(p *prefixState, k episodeKey, a *Alert) bool {
	a.Technique, a.ScanType = "T1595", "syn"
	if k.port == 0 { // ports of one host
		tg := p.targets.get(k.host)
		if tg == nil {
			return false
		}
		dst := netip.AddrFrom16(k.host).Unmap()
		a.DestHost, a.UniqueDestHosts = &dst, 1
		a.UniqueDestPorts, _ = d.prefixFailed(tg, d.th.PortScanPorts)
		a.DestPorts = samplePorts(&tg.keys, 64)
		a.FirstSeen, a.Estimated = time.Unix(0, tg.first).UTC(), tg.keys.estimated()
	} else { // hosts on one port
		sv := p.services.get(uint16(k.port))
		if sv == nil {
			return false
		}
		a.UniqueDestHosts, _ = d.prefixFailedHosts(sv)
		a.DestPorts, a.UniqueDestPorts = []uint16{uint16(k.port)}, 1
		a.FirstSeen, a.Estimated = time.Unix(0, sv.first).UTC(), sv.keys.estimated()
	}
	// Promoted and one-probe members, once each: a one-probe member may
	// have been promoted since.
	for m := range p.members {
		a.MemberSources = append(a.MemberSources, m)
	}
	a.MemberSources = append(a.MemberSources, p.listed...)
	slices.SortFunc(a.MemberSources, netip.Addr.Compare)
	a.MemberSources = slices.Compact(a.MemberSources)
	if len(a.MemberSources) > maxMembersListed {
		a.MemberSources = a.MemberSources[:maxMembersListed]
	}
	a.TotalConns, a.Evasion = p.packets, p.marks.Names()
	return true
}
