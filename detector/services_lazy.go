package detector

// Services held back while a source has probed one host only.
//
// A vertical scan of one host (nmap's default, every port of a box) makes a
// service per port, each with that one host in its set: 56 bytes, a table
// insert and a fresh cache line per probe, for sweep counts that cannot
// pass 1 until a second host is probed. Measured in one run of the replay
// benchmark (1,000 sources x 1,000 ports), the services were 135 of 378 ms.
//
// So a new source keeps, instead, a log of its probes in arrival order,
// one entry per run of probes to one (protocol, port): an append, no hash.
// The services are built from the log, exactly as they would stand had
// they been kept all along, the moment anything needs one: a second host,
// a credited connection, a log past lazyMaxEntries, or a long window since
// its oldest probe (past which the target's sets, whose key counts stand
// in for the services' below, may drop keys the services keep). After
// that the source keeps services as before.
//
// While the log stands, the one host's port sets say everything the
// services would: a service's host set is that host, seen last when its
// port was last probed, and a service is new exactly when its port is new
// to the target's set for its protocol (no key has left the set). The key
// budget is charged the same (probe), the sweep judge could count at most
// one host (lazy only with a sweep threshold of 2 or more), and nothing
// else reads services without building them first (completion, recount,
// serviceCount; memberAlone's count of one host cannot decide).

// lazyMaxEntries bounds a source's log (32 bytes an entry): well below
// maxServices and maxExactKeys, so no set it stands for is capped or
// sketched while it stands.
const lazyMaxEntries = 2048

// svProbe is a run of probes to one service key while services are held
// back: what service keeps but its host set, whose one host is the
// target's.
type svProbe struct {
	first   int64 // Unix ns of the run's first probe
	packets uint64
	lastSec int64 // second of its latest probe, as the host set's oneSec
	sk      uint32
	probes  uint16
}

// lazyLog is a source's held-back services.
type lazyLog struct {
	on      bool // services held back: entries stand for them
	entries []svProbe
	minSec  int64 // the earliest second any entry saw
}

// lazyFor reports whether a new source may hold its services back: with a
// sweep threshold of one host a single host's services are sweeps.
func (d *Default) lazyFor() lazyLog { return lazyLog{on: holdServices && d.th.SweepHosts >= 2} }

// holdServices is off only in the test that runs the same events with and
// without the log and compares every alert.
var holdServices = true

// logProbe records a probe of service sk at w in s's log; false when the
// log is full (the caller builds the services and goes on with them).
func (l *lazyLog) logProbe(sk uint32, probe Probe, packets uint64, t int64, w instant) bool {
	if n := len(l.entries); n > 0 && l.entries[n-1].sk == sk {
		e := &l.entries[n-1]
		e.packets += packets
		e.probes |= 1 << probe
		e.lastSec = w.sec
		l.minSec = min(l.minSec, w.sec)
		return true
	}
	if len(l.entries) >= lazyMaxEntries {
		return false
	}
	if len(l.entries) == 0 {
		l.minSec = w.sec
	}
	l.entries = append(l.entries, svProbe{first: t, packets: packets, lastSec: w.sec, sk: sk, probes: 1 << probe})
	l.minSec = min(l.minSec, w.sec)
	return true
}

// holds reports whether the log may go on standing for s's services at w
// with a probe to host: one host only, and no key of its sets old enough
// to leave them.
func (s *source) holds(w instant, host [16]byte) bool {
	if len(s.lazy.entries) == 0 {
		return s.targets.len() == 0 || s.targets.len() == 1 && s.targets.keys[0] == host
	}
	return w.longCut < s.lazy.minSec && s.targets.keys[0] == host
}

// materialize builds s's services from its log, as probe would have kept
// them, and ends the log. The log holds one host's probes: the target at
// position 0 (no target is deleted while the log stands: recount deletes
// only targets with no key left, and no key has left).
func (s *source) materialize() {
	l := &s.lazy
	if !l.on {
		return
	}
	if len(l.entries) > 0 {
		host, _ := s.targets.at(0)
		for _, e := range l.entries {
			sv, added := s.services.put(e.sk)
			if added {
				sv.first, sv.one, sv.oneValid = e.first, host, true
			}
			sv.probes |= e.probes
			sv.packets += e.packets
			// svSeeInline's state after the latest see: the host valid,
			// in the short window, seen at that probe's second.
			sv.oneSec, sv.shortCount = e.lastSec, 1
		}
	}
	*l = lazyLog{}
}

// serviceCount is how many (protocol, port) services s holds. While the
// log stands, one per key of the host's TCP and UDP port sets.
func (s *source) serviceCount() int {
	if s.lazy.on && s.targets.len() == 1 {
		_, tg := s.targets.at(0)
		return tg.tcp.exact() + tg.udp.exact()
	}
	return s.services.len()
}
