package detector

// Stats is the size of the rules' state, for gauges read at scrape time:
// how close the tables are to their caps, and which episodes are open.
type Stats struct {
	Sources   int            // sources with scan evidence (capped by MaxSources)
	Probation int            // one-probe sources (capped by MaxProbation per family)
	Episodes  map[string]int // open episodes by label
	// The web rules (default rules only): clients held, and the HTTP
	// requests and responses inspected since start (counters).
	WebClients    int
	WebEvicted    uint64 // clients dropped to respect the table's cap
	HTTPRequests  uint64
	HTTPResponses uint64
}

// StatsReporter is implemented by every rule set. Stats walks the tables,
// so callers serialise it with Observe as they do Flush.
type StatsReporter interface {
	Stats() Stats
}

// Stats counts sources and open episodes. It walks every source: at the
// default 100,000 sources that is about a millisecond, once a scrape.
func (d *Default) Stats() Stats {
	st := Stats{Sources: len(d.lru.byAddr), Probation: d.prob.len(), Episodes: map[string]int{}}
	for _, s := range d.lru.byAddr {
		for _, ep := range s.eps {
			st.Episodes[ep.label]++
		}
	}
	for _, c := range d.web.clients {
		if c.ep != nil {
			st.Episodes[c.ep.label]++
		}
	}
	st.WebClients, st.HTTPRequests, st.HTTPResponses, st.WebEvicted = len(d.web.clients), d.web.requests, d.web.responses, d.web.evicted
	return st
}

// Stats counts sources; the seed rule judges each source as one episode.
func (s *SeedWindow) Stats() Stats {
	st := Stats{Sources: len(s.sources), Probation: s.prob.len(), Episodes: map[string]int{}}
	for _, w := range s.sources {
		if w.label != "" {
			st.Episodes[w.label]++
		}
	}
	return st
}

// Stats counts sources; a replay's episodes are only judged at Flush.
func (s *Seed) Stats() Stats {
	return Stats{Sources: s.sources.len(), Probation: s.prob.len()}
}
