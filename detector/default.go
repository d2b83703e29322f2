package detector

import (
	"net/netip"
	"time"
)

// Default is the default rule set: per source, vertical scans (ports of one
// host), horizontal sweeps (hosts on one port) and SYN floods, judged over a
// short and a long sliding window of event time, with handshakes that
// complete taken as evidence of legitimate use. See README.md for the
// thresholds and where each comes from.
type Default struct {
	cfg    Config
	th     Thresholds
	window time.Duration // short
	long   time.Duration
	lru    sourceLRU
	prob   probation // sources with one probe so far
	// prefixes aggregates sources per /24 or /64 (distributed.go);
	// lastPrefix is the one last looked up.
	prefixes   map[prefixKey]*prefixState
	lastPrefix *prefixState
	web        *webRules // HTTP clients (web.go)
	clock      clock
	now        int64
	prune      int64 // next event time to prune at

	// While Flush runs, final alerts are collected for its result instead
	// of going to OnAlert (the Rules contract: Flush returns them).
	collect bool
	flushed []Alert
}

// NewDefault builds the default rule set. Alerts go to cfg.OnAlert as they
// happen; Flush closes every open episode.
func NewDefault(cfg Config) *Default {
	cfg.Thresholds.fill()
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.LongWindow < cfg.Window {
		cfg.LongWindow = max(DefaultLongWindow, cfg.Window)
	}
	if cfg.MaxSources == 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	if cfg.MaxProbation == 0 {
		cfg.MaxProbation = DefaultMaxProbation
	}
	d := &Default{cfg: cfg, th: cfg.Thresholds, window: cfg.Window, long: cfg.LongWindow,
		lru: sourceLRU{byAddr: make(map[netip.Addr]*source)}, prob: probation{max: cfg.MaxProbation},
		web: newWebRules(cfg.Web)}
	if cfg.WebLists != nil {
		d.web.lists = cfg.WebLists
	}
	return d
}

// SetAllowlist swaps the allowlist without touching any state (SIGHUP).
func (d *Default) SetAllowlist(p PrefixSet) { d.cfg.Allow = p }

// SetWebLists swaps the web rules' lists without touching any state
// (SIGHUP); requests already counted keep what they matched.
func (d *Default) SetWebLists(l *WebLists) {
	if l != nil {
		d.web.lists = l
	}
}

func (d *Default) Observe(ev *Event) {
	t := ev.Time.UnixNano()
	if !d.clock.observe(t) && d.cfg.OnClockHeld != nil {
		d.cfg.OnClockHeld()
	}
	d.now = d.clock.now
	if d.now >= d.prune {
		d.pruneIdle(d.now)
	}
	if ev.HTTP != nil {
		// A data segment: web evidence, and for the scan rules nothing
		// (classify returns no probe for it; its credit comes apart).
		d.observeWeb(ev, t)
		if ev.HTTP.Method == "" && !ev.HTTP.Response {
			return // a count-only record: no packet of its own
		}
	}
	if ev.Kind == KindCreditTCP || ev.Kind == KindCreditUDP {
		d.credit(ev, t)
		return
	}
	probe, response := d.classify(ev)
	if response || probe == ProbeNone && ev.Evasion&EvasionHeaderChain == 0 {
		// Data, handshakes and answers are nobody's scan evidence; what
		// credit a connection earns comes as a credit event.
		return
	}
	if ev.Evasion&EvasionHeaderChain != 0 {
		d.headerChain(ev, t)
		return
	}
	s := d.lru.get(ev.Src)
	if s == nil {
		if martian(ev.Src) || d.cfg.Ignore.Contains(ev.Src) {
			return
		}
		if s = d.admit(ev, probe, t); s == nil {
			return
		}
	}
	d.lru.touch(s)
	s.last = max(s.last, t)
	d.probe(s, probeOf(ev), probe, t, ev)
}

// Held reports how many sources are on probation and how many promoted,
// for a gauge.
func (d *Default) Held() (probation, promoted int) { return d.prob.len(), len(d.lru.byAddr) }

// admit handles a probe from a source without full state: the first one
// puts the source on probation, and evidence of scanning promotes it.
// It returns the promoted source, or nil while the source stays on
// probation.
func (d *Default) admit(ev *Event, probe Probe, t int64) *source {
	r, ok := d.prob.get(ev.Src)
	if !ok {
		if !fits(ev.Src, ev.Dst) || evasive(ev.Evasion, probe) {
			return d.newSource(ev.Src, t)
		}
		r = firstProbe{first: t, host: ev.Dst, port: ev.DstPort, packets: uint32(min(ev.Packets(), 1<<31)),
			probes: 1 << probe, flags: uint8(ev.Evasion)}
		// Its prefix counts the probe now (distributed.go): a scan split one
		// probe per address promotes no member. The prefix looks before the
		// record goes in, so the member it finds cannot be src itself.
		var k prefixKey
		first := false
		if feedsPrefix(probe) {
			k = prefixKeyOf(ev.Src)
			first = d.probationProbe(ev.Src, r, k)
		}
		if d.prob.addMember(ev.Src, r, k, first) && d.cfg.OnProbationEvict != nil {
			d.cfg.OnProbationEvict()
		}
		return nil
	}
	if r.sameService(ev.Dst, ev.DstPort, probe) && uint64(r.packets)+ev.Packets() < promoteAfter && !evasive(ev.Evasion, probe) {
		d.prob.update(ev.Src, r.packets+uint32(ev.Packets()), r.probes|1<<probe, r.flags|uint8(ev.Evasion))
		return nil
	}
	d.prob.remove(ev.Src)
	s := d.newSource(ev.Src, r.first)
	d.replayFirst(s, r)
	return s
}

// promoteAfter: the third probe packet to the same (host, port) promotes a
// source, so a flood on one port still gets full state (and a SYN
// retransmitted twice is what a client does against a port that is down,
// which full state then judges as before).
const promoteAfter = 3

// newSource gives src full state, evicting the least recently active
// promoted source beyond MaxSources.
func (d *Default) newSource(src netip.Addr, t int64) *source {
	s := &source{addr: src, first: t, last: t, lazy: d.lazyFor()}
	d.lru.byAddr[src] = s
	if len(d.lru.byAddr) > d.cfg.MaxSources {
		d.evict()
	}
	return s
}

// replayFirst accounts a promoted source's probation record as the probes
// it stands for, at the time of the first one: one call per probe kind,
// the packets with the first kind. Header traits were not kept, so the
// tool fingerprint starts with the next probe.
func (d *Default) replayFirst(s *source, r firstProbe) {
	n := uint64(r.packets)
	for p := ProbeSYN; p < probeCount; p++ {
		if r.probes&(1<<p) == 0 {
			continue
		}
		pk := max(n, 1)
		n = 1
		d.probe(s, probeArgs{dst: r.host, port: r.port, packets: pk, marks: r.marks()}, p, r.first, nil)
	}
	if r.flags&recCompleted != 0 {
		d.completion(s, r.host, r.port, r.probes&(1<<ProbeUDP) != 0, 1, r.first)
	}
}

// probeArgs is what a probe contributes to full state.
type probeArgs struct {
	dst     netip.Addr
	port    uint16
	packets uint64
	marks   Evasion
}

func probeOf(ev *Event) probeArgs {
	return probeArgs{dst: ev.Dst, port: ev.DstPort, packets: ev.Packets(), marks: ev.Evasion}
}

// classify says whether ev is a probe, or a response to someone else's
// probe or connection (which is nobody's evidence of scanning).
func (d *Default) classify(ev *Event) (Probe, bool) {
	switch ev.Kind {
	case KindSYN:
		return ProbeSYN, false
	case KindUDP:
		if d.reverseOf(ev, true) {
			return ProbeNone, true
		}
		return ProbeUDP, false
	case KindOther:
		if p := stealthProbe(ev.Flags); p != ProbeNone {
			return p, false
		}
		p := ackProbe(ev.Flags)
		if p == ProbeNone || ev.Payload != 0 || ev.OptLen != 0 || ev.Established {
			// Data, PSH, or an ACK shaped as no probe tool sends it
			// (options: every stack that uses timestamps sends them on
			// each segment), or on a connection the sensor saw open. The
			// XDP program reports only bare ACKs on no known connection.
			return ProbeNone, false
		}
		if d.reverseOf(ev, false) {
			return ProbeNone, true
		}
		if s := d.lru.get(ev.Src); s != nil {
			if tg := s.targets.get(ev.Dst.As16()); tg != nil && tg.synPorts().has(ev.DstPort) {
				return ProbeNone, false // its own connection
			}
		} else if r, ok := d.prob.get(ev.Src); ok && r.probes&(1<<ProbeSYN) != 0 && r.sameService(ev.Dst, ev.DstPort, ProbeSYN) {
			return ProbeNone, false
		}
		return p, false
	}
	return ProbeNone, true // SYN-ACK, RST: answers
}

// reverseOf reports whether ev answers traffic the destination started:
// the destination sent a SYN (or a UDP datagram) to ev's source port.
func (d *Default) reverseOf(ev *Event, udp bool) bool {
	peer := d.lru.byAddr[ev.Dst]
	if peer == nil {
		r, ok := d.prob.get(ev.Dst)
		want := ProbeSYN
		if udp {
			want = ProbeUDP
		}
		return ok && r.probes&(1<<want) != 0 && r.sameService(ev.Src, ev.SrcPort, want)
	}
	tg := peer.targets.get(ev.Src.As16())
	if tg == nil {
		return false
	}
	if udp {
		return tg.udp.has(ev.SrcPort)
	}
	return tg.synPorts().has(ev.SrcPort)
}

func (d *Default) windowSec() int64 { return max(int64(d.window/time.Second), 1) }

// at places event time t in both windows.
func (d *Default) at(t int64) instant {
	sec := t / 1e9
	return instant{sec: sec, shortCut: sec - d.windowSec(), longCut: sec - max(int64(d.long/time.Second), 1)}
}

// probe accounts one probe (or a run of them) of s; ev is the event for
// the tool fingerprint, nil when a probation record is replayed.
func (d *Default) probe(s *source, pa probeArgs, probe Probe, t int64, ev *Event) {
	w := d.at(t)
	host := pa.dst.As16()
	udp := probe == ProbeUDP
	if s.lazy.on && !s.holds(w, host) {
		s.materialize() // before a second host's target: the log's is at 0
	}

	// tg and sv point into their tables: valid until the next insert.
	// Below the cap, put finds or adds in one lookup.
	var tg *target
	added := false
	if s.targets.len() < maxTargets {
		tg, added = s.targets.put(host)
	} else if tg = s.targets.get(host); tg == nil {
		s.evictTarget()
		tg, added = s.targets.put(host)
	}
	if added {
		tg.first = t
	}
	tg.probes |= 1 << probe
	tg.packets += pa.packets
	var synKeys, udpKeys int
	var synSketch bool
	if udp {
		udpKeys, _ = tg.udp.see(w, pa.port, &s.budget)
		if tg.udpDone != nil {
			tg.udpDone.age(w)
		}
	} else {
		// The SYN ports part from tcp's before a probe that would make
		// them differ: one that is not a SYN, or one near the budget's
		// limits (up to two keys and sketches are charged between the
		// two sets' sightings).
		if tg.syn == nil && (probe != ProbeSYN || s.budget.keys >= maxSourceKeys-4 || s.budget.sketches >= maxSourceSketches-4) {
			tg.syn = tg.tcp.clone()
		}
		synKeys, synSketch = tg.tcp.see(w, pa.port, &s.budget)
		tg.done.age(w)
	}
	sk := serviceKey(udp, pa.port)
	var sv *service
	held := s.lazy.on && s.lazy.logProbe(sk, probe, pa.packets, t, w)
	if held {
		// What svSee charges: a new service is a new key of the host's
		// set for its protocol (services_lazy.go).
		s.budget.keys += synKeys + udpKeys
	} else {
		s.materialize()
		sv = s.serviceProbe(sk, pa, probe, w, host, t)
	}
	if !udp && ev != nil {
		s.fp.add(ev, probe)
	}

	if probe == ProbeSYN {
		if tg.syn != nil {
			tg.syn.see(w, pa.port, &s.budget)
		} else {
			// What the SYN ports' own sighting would have charged.
			s.budget.keys += synKeys
			if synSketch {
				s.budget.sketches++
			}
		}
		s.syns.expire(w.shortCut)
		s.syns.add(w.sec, pa.packets)
		s.pairs.add(w.sec, pairKey{host, pa.port}, w.shortCut)
		s.acks.expire(w.shortCut)
		d.judgeFlood(s, t)
	}
	d.judgeVertical(s, host, tg, udp, t)
	if !held { // a held service's one host is no sweep
		d.judgeSweep(s, sk, sv, udp, t)
	}
	if pa.marks != 0 {
		d.judgeEvasive(s, pa.dst, pa.marks, probe, pa.packets, t)
	}
	if !udp { // after the source's own judges
		d.prefixProbe(s, pa, host, w, t)
	}
}

// serviceProbe accounts a probe of s to (host, service sk) in the
// service's own state, and returns it (valid until the next insert).
func (s *source) serviceProbe(sk uint32, pa probeArgs, probe Probe, w instant, host [16]byte, t int64) *service {
	var sv *service
	added := false
	if s.services.len() < maxServices {
		sv, added = s.services.put(sk)
	} else if sv = s.services.get(sk); sv == nil {
		s.evictService()
		sv, added = s.services.put(sk)
	}
	if added {
		sv.first = t
	}
	sv.probes |= 1 << probe
	sv.packets += pa.packets
	s.svSee(sk, sv, w, host)
	if sv.more {
		if m := s.svMore.get(sk); m != nil && m.done != nil {
			m.done.age(w)
		}
	}
	return sv
}

// failed is a tier's count of keys probed minus keys whose handshake
// completed: Zeek and Snort count failed attempts, so a busy client's
// successful connections are not scan evidence.
func failed(probed, done int) int { return max(probed-done, 0) }

func (d *Default) judgeVertical(s *source, host [16]byte, tg *target, udp bool, t int64) {
	n, window := d.verticalPorts(tg, udp, d.th.PortScanPorts)
	if n < d.th.PortScanPorts {
		return
	}
	label := LabelPortScan
	if n >= d.th.FullScanPorts {
		label = LabelFullNetworkScan
	}
	key, ix := episodeKey{kind: epVertical, host: host}, 0
	if udp {
		key.kind, ix = epVerticalUDP, 1
	}
	if ep := tg.ep[ix]; ep != nil && label == ep.label && n < 10*ep.alerted {
		// What report does with a size that sends no alert, without
		// finding the episode: a scan passes here on every probe.
		if n > ep.max {
			ep.max, ep.lastGrow = n, t
		}
		ep.active = max(ep.active, t)
		return
	}
	tg.ep[ix] = d.report(s, key, label, n, window, t)
}

// verticalPorts is a target's count of failed ports in the short window,
// or in the long one when only that reaches min.
func (d *Default) verticalPorts(tg *target, udp bool, min int) (int, time.Duration) {
	set, doneShort, doneLong := &tg.tcp, tg.done.short(), tg.done.long()
	if udp {
		set, doneShort, doneLong = &tg.udp, 0, 0
		if tg.udpDone != nil {
			doneShort, doneLong = tg.udpDone.short(), tg.udpDone.long()
		}
	}
	n := failed(set.short(), doneShort)
	if ln := failed(set.long(), doneLong); n < min && ln >= min {
		return ln, d.long
	}
	return n, d.window
}

// judgeSweep: distinct hosts that did not complete a handshake on one port.
// A sweep of several ports is one episode, listing every port that crossed.
func (d *Default) judgeSweep(s *source, sk uint32, sv *service, udp bool, t int64) {
	n, window := d.sweepHosts(s, sk, sv)
	if n < d.th.SweepHosts {
		return
	}
	if s.sweeping == nil {
		s.sweeping = make(map[uint32]struct{})
	}
	s.sweeping[sk] = struct{}{}
	key := episodeKey{kind: epSweep}
	if udp {
		key.port = 1
	}
	// The episode's size is its largest port's host count.
	if ep := s.episode(key); ep != nil && ep.max > n {
		n = ep.max
	}
	d.report(s, key, LabelSweep, n, window, t)
}

// sweepHosts is a service's count of failed hosts in the short window, or
// in the long one when only that crosses the threshold.
func (d *Default) sweepHosts(s *source, sk uint32, sv *service) (int, time.Duration) {
	if !sv.more {
		// One host at most, none credited: what the sets below would say.
		n, ln := int(sv.shortCount), 0
		if sv.oneValid {
			ln = 1
		}
		if n < d.th.SweepHosts && ln >= d.th.SweepHosts {
			return ln, d.long
		}
		return n, d.window
	}
	hosts, done := s.svHosts(sk, sv), s.svCredited(sk, sv)
	n := failed(hosts.short(), done.short())
	if ln := failed(hosts.long(), done.long()); n < d.th.SweepHosts && ln >= d.th.SweepHosts {
		return ln, d.long
	}
	return n, d.window
}

// judgeFlood: many SYNs at a high rate to one or two (host, port) pairs,
// most never completing, is denial of service (T1499.001), not
// reconnaissance.
func (d *Default) judgeFlood(s *source, t int64) {
	syns := s.syns.total
	if syns < uint64(d.th.FloodSYNs) || s.pairs.count() > d.th.FloodMaxPairs || s.acks.total*2 >= syns {
		return
	}
	span := float64(t-max(s.first, t-int64(d.window))) / 1e9
	if float64(syns)/max(span, 1) < d.th.FloodRate {
		return
	}
	d.report(s, episodeKey{kind: epFlood, host: s.pairs.p[0].host}, LabelFlood, int(syns), d.window, t)
}

// evict drops the least recently active source, closing its open
// episodes first so no alert_id is left without its final alert.
func (d *Default) evict() {
	if s := d.lru.tail; s != nil {
		d.closeQuiet(s, d.now, true)
		d.lru.remove(s)
		if d.cfg.OnEvict != nil {
			d.cfg.OnEvict()
		}
	}
}

// pruneIdle closes quiet episodes and forgets state idle for a long
// window, once per tenth of a short window of event time.
func (d *Default) pruneIdle(t int64) {
	d.prune = t + int64(d.window)/10
	d.pruneWeb(t)
	d.prob.expire(t - int64(d.long))
	for s := d.lru.tail; s != nil; {
		prev := s.prev
		d.closeQuiet(s, t, false)
		if s.last <= t-int64(d.long) {
			d.lru.remove(s)
		} else {
			s.recount(t - int64(d.long))
		}
		s = prev
	}
	for _, p := range d.prefixes {
		d.closeQuiet(&p.src, t, false)
		if p.src.last <= t-int64(d.long) {
			d.dropPrefix(p)
		}
	}
}

// Flush closes every open episode with a final alert, returns those, and
// forgets everything.
func (d *Default) Flush() []Alert {
	d.collect, d.flushed = true, nil
	for s := d.lru.tail; s != nil; s = s.prev {
		d.closeQuiet(s, d.now, true)
	}
	for _, p := range d.prefixes {
		d.closeQuiet(&p.src, d.now, true)
	}
	d.prefixes, d.lastPrefix = nil, nil
	for c := d.web.tail; c != nil; c = c.prev {
		d.closeWeb(c, true)
	}
	d.web.clients, d.web.head, d.web.tail, d.web.entries = map[netip.Addr]*webClient{}, nil, nil, 0
	out := d.flushed
	d.collect, d.flushed = false, nil
	SortAlerts(out)
	d.lru = sourceLRU{byAddr: make(map[netip.Addr]*source)}
	d.prob.reset()
	d.now, d.prune, d.clock = 0, 0, clock{}
	return out
}
