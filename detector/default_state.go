package detector

import (
	"math/rand/v2"
	"net/netip"
	"slices"
)

// source is what the default rules keep per source address.
type source struct {
	addr        netip.Addr
	prev, next  *source // LRU list, most recent first
	first, last int64   // Unix ns of its first and latest event

	targets  denseMap[[16]byte, target, addrHash]   // vertical scans: per destination host
	services denseMap[uint32, service, serviceHash] // horizontal sweeps: per (protocol, port)
	// What services with more than one host, or credit, hold beyond
	// their inline set; made on the first (most sources have none).
	svMore   *denseMap[uint32, serviceMore, serviceHash]
	sweeping map[uint32]struct{} // services that crossed the sweep threshold
	lazy     lazyLog             // services held back, one host so far (services_lazy.go)

	syns  slidingCount // SYNs in the short window (floods)
	acks  slidingCount // handshakes it completed, short window
	pairs recentPairs  // the latest distinct (host, port) pairs its SYNs went to
	fp    fingerprint  // tool attribution
	eps   map[episodeKey]*episode
	// The episode last looked up (episode, dropEpisode).
	lastEp    *episode
	lastEpKey episodeKey

	budget keyBudget // exact keys and sketches held by its sets

	// Evasion marks of its probes, ORed, and its evasive probes.
	marks          Evasion
	evasivePackets uint64
	evasiveProbes  uint16 // bit per Probe
	evasiveFirst   int64
	evasiveHost    [16]byte // the first evasive probe's destination

	prefix *prefixState // set on a prefix's own source (distributed.go)
}

// Per-source table caps: a source probing millions of hosts or every port
// keeps at most this many hosts (targets) and (protocol, port) services,
// each set in them exact to maxExactKeys and estimated beyond. Hosts beyond
// the cap replace a sampled one with the fewest ports (vertical scans keep
// their host); services likewise (sweeps keep their port).
const (
	maxTargets  = 4096
	maxServices = 4096
)

// evictTarget drops one of a few sampled targets: the one with the fewest
// ports probed in the long window (the sample starts at a random place,
// so it is spread over the table).
func (s *source) evictTarget() {
	var victim [16]byte
	best, n := -1, s.targets.len()
	for i, start := 0, rand.IntN(n); i < min(n, 8); i++ {
		h, tg := s.targets.at((start + i) % n)
		if c := tg.tcp.long() + tg.udp.long(); best < 0 || c < best {
			victim, best = h, c
		}
	}
	if tg := s.targets.get(victim); tg != nil {
		for _, set := range tg.sets() {
			s.budget.release(set.exact(), set.sketched())
		}
	}
	s.targets.del(victim)
}

func (b *keyBudget) release(keys int, sketched bool) {
	b.keys = max(b.keys-keys, 0)
	if sketched {
		b.sketches = max(b.sketches-1, 0)
	}
}

func (s *source) evictService() {
	var victim uint32
	best, n := -1, s.services.len()
	for i, start := 0, rand.IntN(n); i < min(n, 8); i++ {
		k, sv := s.services.at((start + i) % n)
		h := s.svHosts(k, sv)
		c := h.long()
		if _, ok := s.sweeping[k]; ok {
			c += 1 << 30
		}
		if best < 0 || c < best {
			victim, best = k, c
		}
	}
	if sv := s.services.get(victim); sv != nil {
		h, done := s.svHosts(victim, sv), s.svCredited(victim, sv)
		s.budget.release(h.exact(), h.sketched())
		s.budget.release(done.exact(), done.sketched())
		if sv.more {
			s.svMore.del(victim)
		}
	}
	s.services.del(victim)
}

// recount forgets targets idle since before cut and recomputes the key
// budget from what the sets hold now: between recounts the budget only
// grows, so expired keys are charged until the next one.
func (s *source) recount(cut int64) {
	var b keyBudget
	count := func(n int, sketched bool) {
		b.keys += n
		if sketched {
			b.sketches++
		}
	}
	// Downward, so that del's move of the last entry into a hole brings
	// one already visited.
	for i := s.targets.len() - 1; i >= 0; i-- {
		h, tg := s.targets.at(i)
		if tg.tcp.long()+tg.udp.long() == 0 && tg.first <= cut {
			s.targets.del(h)
			continue
		}
		for _, set := range tg.sets() {
			count(set.exact(), set.sketched())
		}
	}
	if s.lazy.on {
		// Each held-back service's one host, never deleted (as its
		// service's set would hold it), and no credit.
		b.keys += s.serviceCount()
	}
	for i := range s.services.len() {
		k, sv := s.services.at(i)
		h, done := s.svHosts(k, sv), s.svCredited(k, sv)
		count(h.exact(), h.sketched())
		count(done.exact(), done.sketched())
	}
	s.budget = b
}

type pairKey struct {
	host [16]byte
	port uint16
}

// recentPairs keeps the three most recently used distinct (host, port)
// pairs with when each was last seen: enough to tell "one or two pairs" from
// "more" within a window without a set that grows with a scan.
type recentPairs struct {
	p   [3]pairKey
	sec [3]int64
	n   int
	cut int64 // seconds at or before this are outside the window
}

func (r *recentPairs) add(sec int64, k pairKey, cut int64) {
	r.cut = cut
	for i := 0; i < r.n; i++ {
		// The port first: a scan's next pair differs there, and it is
		// one compare where the host is sixteen bytes.
		if r.p[i].port == k.port && r.p[i].host == k.host {
			r.sec[i] = sec
			return
		}
	}
	i := r.n
	if r.n < len(r.p) {
		r.n++
	} else {
		i = 0 // replace the oldest
		for j := 1; j < r.n; j++ {
			if r.sec[j] < r.sec[i] {
				i = j
			}
		}
	}
	r.p[i], r.sec[i] = k, sec
}

// count is how many of the kept pairs are inside the window (at most 3).
func (r *recentPairs) count() int {
	c := 0
	for i := 0; i < r.n; i++ {
		if r.sec[i] > r.cut {
			c++
		}
	}
	return c
}

// ports lists the kept pairs' ports on host that are inside the window.
func (r *recentPairs) ports(host [16]byte) []uint16 {
	var out []uint16
	for i := 0; i < r.n; i++ {
		if r.sec[i] > r.cut && r.p[i].host == host {
			out = append(out, r.p[i].port)
		}
	}
	slices.Sort(out)
	return out
}

// target is one destination host as seen from one source.
type target struct {
	first int64
	tcp   portTiers // TCP ports probed (any probe type)
	udp   portTiers // UDP ports probed
	done  portTiers // TCP ports of connections the source used (credit.go)
	// TCP ports it sent a SYN to: nil while they are tcp's, to the
	// second (every TCP probe so far a SYN, and the key budget far from
	// its limits, so that both sets took the same branches): a SYN
	// scan's second set of ports, which cost as much again as the first.
	syn *portTiers
	// UDP ports that answered it; allocated on the first answer, as most
	// sources get none.
	udpDone *portTiers
	probes  uint16 // bit per Probe seen
	packets uint64 // probes since the target was first seen
	// Its open vertical episodes, TCP and UDP, as report last returned
	// them (judgeVertical); dropEpisode clears them.
	ep [2]*episode
}

// synPorts is the set of ports the source sent a SYN to.
func (tg *target) synPorts() *portTiers {
	if tg.syn != nil {
		return tg.syn
	}
	return &tg.tcp
}

// sets are the target's port sets, for the key budget: the SYN ports
// count as a set of their own while they are tcp's (as they were charged).
func (tg *target) sets() []*portTiers {
	if tg.udpDone != nil {
		return []*portTiers{&tg.tcp, &tg.udp, &tg.done, tg.synPorts(), tg.udpDone}
	}
	return []*portTiers{&tg.tcp, &tg.udp, &tg.done, tg.synPorts()}
}

// service is one (protocol, port) as seen from one source: 56 bytes, one
// per port of a vertical scan, and no pointer in them, so the collector
// never scans a scanner's thousands. Its host set is kept as the fields of
// a hostTiers but for the table past its first host (most services of a
// port scan never see a second), which, with the hosts that earned credit
// on the port, is in the source's svMore under the same key.
type service struct {
	first   int64
	packets uint64
	// hostTiers' fields but more.
	one        [16]byte
	oneSec     int64
	shortCount int32
	oneValid   bool
	lossy      bool
	probes     uint16
	more       bool // s.svMore holds an entry for it
}

// serviceMore is what a service holds behind pointers.
type serviceMore struct {
	hosts *tieredMore[[16]byte, addrHash] // its host set's more, once made
	done  *hostTiers                      // hosts whose connection (or UDP reply) on this port earned credit; made on the first
}

var noHosts hostTiers

// svHosts is the host set of sv, service k of s, to read: a copy, built
// from sv's fields and its more.
func (s *source) svHosts(k uint32, sv *service) hostTiers {
	h := hostTiers{one: sv.one, oneValid: sv.oneValid, lossy: sv.lossy, shortCount: sv.shortCount, oneSec: sv.oneSec}
	if sv.more {
		if m := s.svMore.get(k); m != nil {
			h.more = m.hosts
		}
	}
	return h
}

// svSee records host at w in sv's host set.
func (s *source) svSee(k uint32, sv *service, w instant, host [16]byte) {
	if !sv.more && s.svSeeInline(sv, w, host) {
		return
	}
	h := s.svHosts(k, sv)
	had := h.more != nil
	h.see(w, host, &s.budget)
	sv.one, sv.oneValid, sv.lossy, sv.shortCount, sv.oneSec = h.one, h.oneValid, h.lossy, h.shortCount, h.oneSec
	if !had && h.more != nil { // a second host: the set's table is made
		m, _ := s.svMoreTable().put(k)
		m.hosts = h.more
		sv.more = true
	}
}

// svSeeInline is hostTiers.see on sv's own fields while its set is inline
// and host needs no table (the set is empty, or host is its one host): a
// port scan's services, one host each, are neither copied out nor back.
// It reports false, changing nothing but the aging see repeats, otherwise.
func (s *source) svSeeInline(sv *service, w instant, host [16]byte) bool {
	// hostTiers.age of an inline set (expire of its one key).
	switch {
	case !sv.oneValid:
	case sv.oneSec <= w.longCut:
		sv.oneValid, sv.shortCount = false, 0
	case sv.oneSec <= w.shortCut:
		sv.shortCount = 0
	}
	// hostTiers.add of an inline set, charging a new key as see does.
	switch {
	case !sv.oneValid:
		sv.one, sv.oneSec, sv.oneValid, sv.shortCount = host, w.sec, true, 1
		s.budget.keys++
		return true
	case sv.one == host:
		sv.oneSec, sv.shortCount = w.sec, 1
		return true
	}
	return false
}

func (s *source) svMoreTable() *denseMap[uint32, serviceMore, serviceHash] {
	if s.svMore == nil {
		s.svMore = new(denseMap[uint32, serviceMore, serviceHash])
	}
	return s.svMore
}

// svCredited is the set of credited hosts of sv, service k of s, or an
// empty set (never written) while it has none.
func (s *source) svCredited(k uint32, sv *service) *hostTiers {
	if sv.more {
		if m := s.svMore.get(k); m != nil && m.done != nil {
			return m.done
		}
	}
	return &noHosts
}

// svCredit returns sv's set of credited hosts to write, making it.
func (s *source) svCredit(k uint32, sv *service) *hostTiers {
	m, _ := s.svMoreTable().put(k)
	sv.more = true
	if m.done == nil {
		m.done = new(hostTiers)
	}
	return m.done
}

func serviceKey(udp bool, port uint16) uint32 {
	if udp {
		return 1<<16 | uint32(port)
	}
	return uint32(port)
}

// sourceLRU holds sources under a hard cap, evicting the least recently
// active: a flood of spoofed one-packet sources cycles through the tail
// while a real scanner, active all along, stays at the head.
type sourceLRU struct {
	byAddr     map[netip.Addr]*source
	last       *source // the source get last found: probes come in runs from one
	head, tail *source
}

// get returns the state of src, or nil.
func (l *sourceLRU) get(src netip.Addr) *source {
	if l.last != nil && l.last.addr == src {
		return l.last
	}
	s := l.byAddr[src]
	if s != nil {
		l.last = s
	}
	return s
}

func (l *sourceLRU) touch(s *source) {
	if l.head == s {
		return
	}
	l.unlink(s)
	s.next = l.head
	if l.head != nil {
		l.head.prev = s
	}
	l.head = s
	if l.tail == nil {
		l.tail = s
	}
}

func (l *sourceLRU) unlink(s *source) {
	if s.prev != nil {
		s.prev.next = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	if l.head == s {
		l.head = s.next
	}
	if l.tail == s {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

func (l *sourceLRU) remove(s *source) {
	l.unlink(s)
	delete(l.byAddr, s.addr)
	if l.last == s {
		l.last = nil
	}
}
