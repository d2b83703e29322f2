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
	sources *sourceTable[seedSource]

	// Scanners send runs of packets; remembering the last source skips most
	// map lookups on the hot path.
	lastAddr netip.Addr
	lastSrc  *seedSource
}

// NewSeed returns the starting rule.
func NewSeed(cfg Config) *Seed {
	return &Seed{cfg: cfg, sources: newSourceTable[seedSource]()}
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
			st = s.sources.add(ev.Src)
			st.first = ev.Time.UnixNano()
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
			FirstSeen:       time.Unix(0, st.first).UTC(),
			LastSeen:        time.Unix(0, st.last).UTC(),
			Rules:           "seed",
			Status:          StatusFinal,
		})
	})
	SortAlerts(out)
	s.sources.reset()
	s.lastSrc = nil
	return out
}
