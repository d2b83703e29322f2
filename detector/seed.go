package detector

import (
	"net/netip"
	"time"
)

// The starting rule's cut points (the CrowdStrike LogScale query).
const (
	SeedMinPorts      = 20  // UniqueDestPorts >= 20 alerts, and labels PortScan
	SeedMinConns      = 200 // TotalConns >= 200 alerts
	SeedFullScanPorts = 50  // UniqueDestPorts >= 50 labels FullNetworkScan
)

// SeedLabel is the starting rule's label for a source, or "" when the source
// does not cross a threshold.
func SeedLabel(conns uint64, ports int) string {
	switch {
	case ports >= SeedFullScanPorts:
		return LabelFullNetworkScan
	case ports >= SeedMinPorts:
		return LabelPortScan
	case conns >= SeedMinConns:
		return LabelIPSweep
	}
	return ""
}

// seedSource is what the starting rule keeps per source.
type seedSource struct {
	first, last int64 // unix ns of the first and last counted SYN
	conns       uint64
	ports       portSet
	hosts       hostSet
}

// Seed is the starting rule, exactly: per external source, SYN-without-ACK
// packets (retransmissions included) and their distinct destination ports
// over the whole input.
type Seed struct {
	cfg     Config
	sources *sourceTable[seedSource] // promoted: more than one SYN's worth of evidence
	prob    probation                // sources with one SYN so far

	// Scanners send runs of packets; remembering the last source skips most
	// map lookups on the hot path.
	lastAddr netip.Addr
	lastSrc  *seedSource
}

// NewSeed returns the starting rule.
func NewSeed(cfg Config) *Seed {
	cfg.fillSeedCaps()
	return &Seed{cfg: cfg, sources: newSourceTable[seedSource](), prob: probation{max: cfg.MaxProbation}}
}

func (s *Seed) Observe(ev *Event) {
	if ev.Kind != KindSYN {
		return
	}
	st := s.lastSrc
	if st == nil || ev.Src != s.lastAddr {
		st = s.sources.get(ev.Src)
		if st == nil {
			if s.cfg.Ignore.Contains(ev.Src) {
				return
			}
			if st = s.admit(ev); st == nil {
				return
			}
		}
		s.lastAddr, s.lastSrc = ev.Src, st
	}
	t := ev.Time.UnixNano()
	st.first = min(st.first, t)
	st.last = max(st.last, t)
	st.conns += ev.Packets()
	st.ports.Add(ev.DstPort)
	st.hosts.Add(ev.Dst.As16())
}

// admit holds a new source on probation and promotes it on its second
// (host, port) or third SYN, with its first SYN replayed: the counts stay
// the LogScale rule's exactly, as long as no source is evicted.
func (s *Seed) admit(ev *Event) *seedSource {
	r, promote := seedProbation(&s.prob, &s.cfg, ev, ev.Time.UnixNano())
	if !promote {
		return nil
	}
	if s.sources.len() >= s.cfg.MaxSeedSources {
		s.evict()
	}
	st := s.sources.add(ev.Src)
	st.first, st.last = r.first, r.first
	if r.packets > 0 {
		st.conns = uint64(r.packets)
		st.ports.Add(r.port)
		st.hosts.Add(r.host.As16())
	}
	return st
}

// evict drops one promoted source to respect MaxSeedSources: of a few
// sampled, one that has not crossed a threshold, fewest SYNs first. A
// source that would alert goes only when every sampled one would.
func (s *Seed) evict() {
	var victim netip.Addr
	best := uint64(0)
	s.sources.sample(8, func(a netip.Addr, st *seedSource) bool {
		score := st.conns
		if SeedLabel(st.conns, st.ports.Len()) != "" {
			score += 1 << 62
		}
		if !victim.IsValid() || score < best {
			victim, best = a, score
		}
		return true
	})
	s.sources.remove(victim)
	s.lastSrc = nil
	if s.cfg.OnEvict != nil {
		s.cfg.OnEvict()
	}
}

// Flush returns one alert per source that crossed a threshold and starts
// over, so the next input is judged on its own.
func (s *Seed) Flush() []Alert {
	var out []Alert
	s.sources.each(func(addr netip.Addr, st *seedSource) {
		label := SeedLabel(st.conns, st.ports.Len())
		if label == "" {
			return
		}
		out = append(out, Alert{
			Timestamp:       time.Unix(0, st.last).UTC(),
			Source:          addr,
			Label:           label,
			Technique:       "T1595",
			TotalConns:      st.conns,
			UniqueDestPorts: st.ports.Len(),
			UniqueDestHosts: st.hosts.Len(),
			Estimated:       st.hosts.Estimated(),
			FirstSeen:       time.Unix(0, st.first).UTC(),
			LastSeen:        time.Unix(0, st.last).UTC(),
			Rules:           "seed",
			Status:          StatusFinal,
		})
	})
	SortAlerts(out)
	s.sources.reset()
	s.prob.reset()
	s.lastSrc = nil
	return out
}

// seedProbation is the probation step both forms of the starting rule
// share: a new source's first SYN waits in probation, a repeat to the same
// (host, port) stays there until it makes promoteAfter SYNs. It reports
// whether ev's source is promoted now, with the probe to replay into its
// new state (packets 0 when there is none, as for a source that cannot
// fit probation).
func seedProbation(prob *probation, cfg *Config, ev *Event, t int64) (firstProbe, bool) {
	r, ok := prob.get(ev.Src)
	switch {
	case !ok && fits(ev.Src, ev.Dst):
		if prob.add(ev.Src, firstProbe{first: t, host: ev.Dst, port: ev.DstPort, packets: uint32(min(ev.Packets(), 1<<31)), probes: 1 << ProbeSYN}) && cfg.OnProbationEvict != nil {
			cfg.OnProbationEvict()
		}
		return r, false
	case !ok:
		return firstProbe{first: t}, true
	case r.sameService(ev.Dst, ev.DstPort, ProbeSYN) && uint64(r.packets)+ev.Packets() < promoteAfter:
		prob.update(ev.Src, r.packets+uint32(ev.Packets()), r.probes, r.flags)
		return r, false
	}
	prob.remove(ev.Src)
	return r, true
}
