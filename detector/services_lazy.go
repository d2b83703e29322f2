package detector

import "math"

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

// lazyMaxEntries bounds a source's log (12 bytes an entry): well below
// maxServices and maxExactKeys, so no set it stands for is capped or
// sketched while it stands.
const lazyMaxEntries = 2048

// svProbe is a run of probes to one service key while services are held
// back: what service keeps but its host set, whose one host is the
// target's. 12 bytes: a scan's log is written once and read once, and its
// cost is the memory it fills (16-byte entries were 40% of what the replay
// benchmark allocated). What a run cannot hold (more packets, a later
// second, an earlier one out of order) starts an entry of its own; a
// service is the sum of its entries. What no entry can hold (a second
// 9 hours from the log's first, a stamp before 1970, more than 255
// packets in one event) the log refuses, and the services are built.
type svProbe struct {
	ns      uint32 // the run's first probe: nanoseconds into its second
	key     uint32 // service key, and the run's probes (bit per Probe) from bit 17
	sec     int16  // that second, from the log's base
	packets uint8
	lastSec uint8 // second of its latest probe (the host set's oneSec), from sec
}

const svProbeShift = 17 // serviceKey uses 17 bits

// lazyLog is a source's held-back services.
type lazyLog struct {
	on bool // services held back: entries stand for them
	// The entries in chunks of 8, 32, 128 and then 256: appended to
	// without copying (append's growth copied a thousand-port scan's log
	// six times over, more than twice what it held), and a source with
	// a probe or two holds one small chunk.
	chunks [][]svProbe
	n      int
	minSec int64 // the earliest second any entry saw
	base   int64 // the second entries' sec counts from: the first entry's
}

// first is the Unix ns of e's first probe.
func (l *lazyLog) first(e *svProbe) int64 { return l.second(e)*1e9 + int64(e.ns) }

// second is the second of e's first probe.
func (l *lazyLog) second(e *svProbe) int64 { return l.base + int64(e.sec) }

// lazyFor reports whether a new source may hold its services back: with a
// sweep threshold of one host a single host's services are sweeps.
func (d *Default) lazyFor() lazyLog { return lazyLog{on: holdServices && d.th.SweepHosts >= 2} }

// holdServices is off only in the test that runs the same events with and
// without the log and compares every alert.
var holdServices = true

// logProbe records a probe of service sk at w in s's log; false when the
// log cannot take it (full, or more packets than an entry holds): the
// caller builds the services and goes on with them.
func (l *lazyLog) logProbe(sk uint32, probe Probe, packets uint64, t int64, w instant) bool {
	l.minSec = min(l.minSec, w.sec)
	if l.n > 0 {
		last := l.chunks[len(l.chunks)-1]
		e := &last[len(last)-1]
		d := w.sec - l.second(e)
		if e.key&(1<<svProbeShift-1) == sk && uint64(e.packets)+packets <= math.MaxUint8 && d >= 0 && d <= math.MaxUint8 {
			e.packets += uint8(packets)
			e.key |= 1 << (svProbeShift + probe)
			e.lastSec = uint8(d)
			return true
		}
	}
	if l.n >= lazyMaxEntries || packets > math.MaxUint8 || t < 0 {
		return false
	}
	if l.n == 0 {
		l.minSec, l.base = w.sec, w.sec
	}
	off := w.sec - l.base
	if off < math.MinInt16 || off > math.MaxInt16 {
		return false
	}
	if c := len(l.chunks); c == 0 || len(l.chunks[c-1]) == cap(l.chunks[c-1]) {
		l.chunks = append(l.chunks, make([]svProbe, 0, min(8<<(2*c), 256)))
	}
	c := len(l.chunks) - 1
	// w.sec is t's second (t >= 0): lastSec starts at 0.
	l.chunks[c] = append(l.chunks[c], svProbe{ns: uint32(t - w.sec*1e9), key: sk | 1<<(svProbeShift+probe),
		sec: int16(off), packets: uint8(packets)})
	l.n++
	return true
}

// holds reports whether the log may go on standing for s's services at w
// with a probe to host: one host only, and no key of its sets old enough
// to leave them.
func (s *source) holds(w instant, host [16]byte) bool {
	if s.lazy.n == 0 {
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
	if l.n > 0 {
		host, _ := s.targets.at(0)
		for _, c := range l.chunks {
			for i := range c {
				e := &c[i]
				sv, added := s.services.put(e.key & (1<<svProbeShift - 1))
				if added {
					sv.first, sv.one, sv.oneValid = l.first(e), host, true
				}
				sv.probes |= uint16(e.key >> svProbeShift)
				sv.packets += uint64(e.packets)
				// svSeeInline's state after the latest see: the host
				// valid, in the short window, seen at that probe's second.
				sv.oneSec, sv.shortCount = l.second(e)+int64(e.lastSec), 1
			}
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
