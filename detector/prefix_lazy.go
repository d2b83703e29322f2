package detector

// A prefix's services held back while its members have probed one host.
//
// The same as a source's (services_lazy.go), for the aggregate of a
// network's members (distributed.go): when a /24's scanners all probe one
// host's ports, every probe looked up the port's host set, whose one host
// is that host, and judged a sweep that cannot pass one host. While the
// prefix holds one host, the host's port set says what those sets would:
// a port's set holds the host, seen last when the port was, and a port is
// new to the services exactly when it is new to the host's set (no key
// has left it). The log keeps only when each port was first seen, which
// the services' alerts give as first_seen; the rest is built from the
// host's set when anything needs a service: a second host, a credited
// connection (prefixDone), the log at prefixLazyMax, or a long window
// since the earliest probe the log stands for.

// prefixLazyMax bounds the log below maxPrefixServices, so the services'
// cap (which ends prefixSee early, and keeps no service for ports past it)
// is never reached while it stands: a probe that may bring the last port
// builds the services first.
const prefixLazyMax = maxPrefixServices - 1

type prefixLazy struct {
	on     bool
	ports  []uint16 // in first-seen order, as the services were made
	firsts []int64  // Unix ns each was first seen
	minSec int64
}

// holds reports whether p's log may go on standing with a probe to host
// at w.
func (p *prefixState) holds(w instant, host [16]byte) bool {
	l := &p.lazy
	switch {
	case p.targets.len() > 1 || p.targets.len() == 1 && p.targets.keys[0] != host:
		return false
	case len(l.ports) == 0:
		return true
	}
	return w.longCut < l.minSec && len(l.ports) < prefixLazyMax
}

// lazySee accounts what prefixSee's service half would for a probe of
// port, whose host set has just charged keys for it: a new service, and
// the one host charged in its set.
func (p *prefixState) lazySee(port uint16, keys int, w instant, t int64) {
	l := &p.lazy
	if len(l.ports) == 0 || w.sec < l.minSec {
		l.minSec = w.sec
	}
	if keys > 0 {
		l.ports, l.firsts = append(l.ports, port), append(l.firsts, t)
		p.src.budget.keys += keys
	}
}

// materialize builds p's services from its log and its one host's port
// set, and ends the log.
func (p *prefixState) materialize() {
	l := &p.lazy
	if !l.on {
		return
	}
	if len(l.ports) > 0 {
		host, tg := p.targets.at(0)
		for i, port := range l.ports {
			sv, _ := p.services.put(port)
			sv.first = l.firsts[i]
			// The host set after its latest see: that host, in the short
			// window, at the second the port was last seen.
			sv.keys.one, sv.keys.oneValid, sv.keys.shortCount = host, true, 1
			sv.keys.oneSec = tg.keys.lastSec(port)
		}
	}
	*l = prefixLazy{} // lastSv is nil: prefixService is not called while it stands
}

// serviceCount is how many ports p holds services for.
func (p *prefixState) serviceCount() int {
	if p.lazy.on && p.targets.len() == 1 {
		_, tg := p.targets.at(0)
		return tg.keys.exact()
	}
	return p.services.len()
}
