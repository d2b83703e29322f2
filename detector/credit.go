package detector

import "net/netip"

// credit accounts a sensor's credit event: the source used the connection
// (or UDP flow) it opened to ev.Dst:ev.DstPort, so that port and host were
// not a miss. Zeek and Snort count failed attempts, not attempts: a busy
// client's real connections are no scan evidence.
func (d *Default) credit(ev *Event, t int64) {
	udp := ev.Kind == KindCreditUDP
	s := d.lru.get(ev.Src)
	if s == nil {
		d.probationCredit(ev, udp)
		return
	}
	d.lru.touch(s)
	s.last = max(s.last, t)
	d.completion(s, ev.Dst, ev.DstPort, udp, ev.Packets(), t)
}

// completion records n credited connections (TCP) or a replied flow (UDP)
// of s to (dst, port), if s probed it.
func (d *Default) completion(s *source, dst netip.Addr, port uint16, udp bool, n uint64, t int64) {
	host := dst.As16()
	tg := s.targets.get(host)
	if tg == nil {
		return
	}
	w := d.at(t)
	if udp {
		if !tg.udp.has(port) {
			return
		}
		if tg.udpDone == nil {
			tg.udpDone = new(portTiers)
		}
		tg.udpDone.see(w, port, &s.budget)
	} else {
		if !tg.synPorts().has(port) {
			return
		}
		// Every credited connection counts: a flood's source earns none
		// (it sends no data), a busy client one per connection.
		s.acks.expire(w.shortCut)
		s.acks.add(w.sec, n)
		tg.done.see(w, port, &s.budget)
	}
	s.materialize() // a credited host of a service: its own set
	if k := serviceKey(udp, port); s.services.get(k) != nil {
		s.svCredit(k, s.services.get(k)).see(w, host, &s.budget)
	}
	if !udp {
		d.prefixCompletion(s.addr, host, port, w)
	}
}

// probationCredit notes that a source on probation used its first probe's
// connection (or got its UDP datagram answered), so its promotion will not
// count that port as a miss.
func (d *Default) probationCredit(ev *Event, udp bool) {
	want := ProbeSYN
	if udp {
		want = ProbeUDP
	}
	r, ok := d.prob.get(ev.Src)
	if !ok || r.flags&recCompleted != 0 || r.probes&(1<<want) == 0 || !r.sameService(ev.Dst, ev.DstPort, want) {
		return
	}
	d.prob.update(ev.Src, r.packets, r.probes, r.flags|recCompleted)
	if !udp {
		d.prefixCompletion(ev.Src, r.host.As16(), r.port, d.at(d.now))
	}
}
