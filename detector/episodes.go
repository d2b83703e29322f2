package detector

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/bits"
	"net/netip"
	"slices"
	"time"
)

// An episode is one scan by one source, reported under one alert_id: a new
// alert when it starts, an update when its label escalates or its size grows
// tenfold, and a final alert once it has been quiet for a whole short window.
type episodeKind uint8

const (
	epVertical    episodeKind = iota // ports of one host, TCP
	epVerticalUDP                    // ports of one host, UDP
	epSweep                          // hosts on one (protocol, port)
	epFlood                          // SYNs to one or two (host, port) pairs
	epEvasive                        // probes no stack sends (evasion.go), below every scan threshold
	epDistributed                    // a source prefix's members together (distributed.go)
	epWeb                            // a client's web scan (web.go): its own state, this only keys its alert_id
)

type episodeKey struct {
	kind episodeKind
	host [16]byte // vertical, flood
	port uint32   // sweep: serviceKey
}

type episode struct {
	id       string
	label    string
	window   time.Duration // the window whose threshold was crossed
	alerted  int           // size (ports, hosts or SYNs) at the last alert
	max      int           // largest size seen
	lastGrow int64         // event time the size last grew
	active   int64         // event time the source last probed the episode's key above its threshold
	sent     Alert         // the last alert that went out
	related  []netip.Addr  // decoys, found once when the episode opens
}

func episodeID(src netip.Addr, k episodeKey, first int64) string {
	h := fnv.New64a()
	b := src.As16()
	h.Write(b[:])
	h.Write([]byte{byte(k.kind)})
	h.Write(k.host[:])
	var buf [12]byte
	binary.BigEndian.PutUint32(buf[:4], k.port)
	binary.BigEndian.PutUint64(buf[4:], uint64(first))
	h.Write(buf[:])
	return fmt.Sprintf("%016x", h.Sum64())
}

// report feeds an episode's current label and size in; it alerts when the
// episode is new, escalates, or has grown tenfold since its last alert. It
// returns the episode.
func (d *Default) report(s *source, k episodeKey, label string, size int, window time.Duration, now int64) *episode {
	ep := s.episode(k)
	status := ""
	switch {
	case ep == nil:
		if s.eps == nil {
			s.eps = make(map[episodeKey]*episode)
		}
		ep = &episode{id: episodeID(s.addr, k, now), label: label}
		status = StatusNew
		// The first scan of an evasive source takes over its EvasiveProbe
		// episode: one alert_id, the label escalated to the scan's.
		if ev := s.eps[evasiveKey]; ev != nil && k != evasiveKey {
			ep.id = ev.id
			s.dropEpisode(evasiveKey)
			status = StatusEscalated
		}
		s.eps[k] = ep
	case label != ep.label && labelRank[label] > labelRank[ep.label]:
		status = StatusEscalated
	case size >= 10*ep.alerted:
		status = StatusUpdated
	}
	if size > ep.max {
		ep.max, ep.lastGrow = size, now
	}
	ep.active = max(ep.active, now)
	if status == "" {
		return ep
	}
	// An episode's label never steps down.
	if status == StatusNew || label != ep.label && labelRank[label] > labelRank[ep.label] {
		ep.label = label
	}
	ep.alerted, ep.window = size, window
	a := d.describe(s, k, ep)
	// An episode's records never go back in time: events reach the rules
	// out of order (ring records and map sweeps, several CPUs), and an
	// escalation triggered by an older event must not predate its "new".
	a.Status, a.Timestamp = status, time.Unix(0, now).UTC()
	if a.Timestamp.Before(ep.sent.Timestamp) {
		a.Timestamp = ep.sent.Timestamp
	}
	ep.sent = a
	d.send(s, a)
	return ep
}

// closeQuiet ends the episodes of s that have been quiet for a short
// window (or all of them, at the end of the input) with a final alert
// carrying the episode's final counts. Quiet means the source has not
// probed the episode's key while it stood above its threshold: a slow scan
// whose window count has stopped growing (new ports replacing those that
// leave the long window) is still one scan, one alert_id. Closing on
// lastGrow instead split such a scan into a new episode every window.
func (d *Default) closeQuiet(s *source, now int64, all bool) {
	for k, ep := range s.eps {
		if !all && ep.active > now-int64(d.window) {
			continue
		}
		a := d.describe(s, k, ep)
		if a.UniqueDestPorts+a.UniqueDestHosts < ep.sent.UniqueDestPorts+ep.sent.UniqueDestHosts {
			a = ep.sent // the windows have moved past the peak: report the peak
		}
		a.Status, a.Timestamp = StatusFinal, time.Unix(0, max(s.last, ep.sent.Timestamp.UnixNano())).UTC()
		d.send(s, a)
		s.dropEpisode(k)
	}
}

// episode is s's episode k, or nil. The one last found is kept: a scan
// reports its episode on every probe past the threshold.
func (s *source) episode(k episodeKey) *episode {
	if s.lastEp != nil && s.lastEpKey == k {
		return s.lastEp
	}
	ep := s.eps[k]
	if ep != nil {
		s.lastEp, s.lastEpKey = ep, k
	}
	return ep
}

// dropEpisode forgets s's episode k.
func (s *source) dropEpisode(k episodeKey) {
	delete(s.eps, k)
	if k.kind == epVertical || k.kind == epVerticalUDP {
		if tg := s.targets.get(k.host); tg != nil {
			tg.ep[k.kind-epVertical] = nil
		}
	}
	if s.lastEpKey == k {
		s.lastEp = nil
	}
}

func (d *Default) send(s *source, a Alert) { d.sendFor(s.addr, a) }

// sendFor delivers an alert about addr: suppressed when the allowlist
// names addr, collected while Flush runs, otherwise to OnAlert.
func (d *Default) sendFor(addr netip.Addr, a Alert) {
	if d.cfg.Allow.Contains(addr) {
		if d.cfg.OnSuppressed != nil {
			d.cfg.OnSuppressed(a)
		}
		return
	}
	if d.collect {
		d.flushed = append(d.flushed, a)
		return
	}
	if d.cfg.OnAlert != nil {
		d.cfg.OnAlert(a)
	}
}

// samplePorts lists up to max ports in order: the lowest ones.
func samplePorts(set *portTiers, max int) []uint16 {
	if set.exact() > max {
		// A scan's thousand ports, at each of its alerts: marked in a
		// bitmap and read off from the bottom, not gathered and sorted.
		var marks [1 << 16 / 64]uint64
		for _, p := range set.more.last.keys {
			marks[p/64] |= 1 << (p % 64)
		}
		out := make([]uint16, 0, max)
		for w, m := range marks {
			for ; m != 0 && len(out) < max; m &= m - 1 {
				out = append(out, uint16(w*64+bits.TrailingZeros64(m)))
			}
			if len(out) == max {
				break
			}
		}
		return out
	}
	out := make([]uint16, 0, min(set.long(), max))
	set.each(func(p uint16) { out = append(out, p) })
	slices.Sort(out)
	if len(out) > max {
		out = out[:max]
	}
	return out
}
