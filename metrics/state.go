package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scanwatch/scanwatch/detector"
)

var (
	descTracked  = prometheus.NewDesc(namespace+"_tracked_sources", "Sources the rules hold: tier=evidence (capped by --max-sources), probation (one probe so far, capped by --max-probation per address family) or web (HTTP clients the web rules follow, capped at 32,768).", []string{"tier"}, nil)
	descMaxSrc   = prometheus.NewDesc(namespace+"_max_sources", "The --max-sources cap: sources with evidence beyond it evict the least recently active.", nil, nil)
	descHTTP     = prometheus.NewDesc(namespace+"_http_messages_inspected_total", "HTTP heads the web rules inspected: kind=request, or response (status lines, seen in replay and on a span port only).", []string{"kind"}, nil)
	descWebEvict = prometheus.NewDesc(namespace+"_web_clients_evicted_total", "HTTP clients the web rules dropped to respect their 32,768-client cap, the least evidence first; routine on a busy server, unlike scanwatch_sources_evicted_total.", nil, nil)
	descEpisodes = prometheus.NewDesc(namespace+"_open_episodes", "Scan episodes open now (alerted, not yet closed), by technique and name.", []string{"technique", "name"}, nil)
)

// WatchRules exports the rules' state size, read at scrape time through
// read (which must serialise with the detector's Observe).
func (m *Metrics) WatchRules(read func() detector.Stats, maxSources int) {
	m.Registry.MustRegister(&stateCollector{read: read, max: maxSources})
}

// statsEvery bounds how often a scrape walks the rules' tables: the walk
// holds the sensor's event path, and whoever can reach /metrics decides
// how often it is scraped.
const statsEvery = time.Second

type stateCollector struct {
	read func() detector.Stats
	max  int

	mu   sync.Mutex
	last detector.Stats
	at   time.Time
}

// stats reads the rules at most once per statsEvery.
func (c *stateCollector) stats() detector.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); c.at.IsZero() || now.Sub(c.at) >= statsEvery {
		c.last, c.at = c.read(), now
	}
	return c.last
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descTracked
	ch <- descMaxSrc
	ch <- descEpisodes
	ch <- descHTTP
	ch <- descWebEvict
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(descTracked, prometheus.GaugeValue, float64(st.Sources), "evidence")
	ch <- prometheus.MustNewConstMetric(descTracked, prometheus.GaugeValue, float64(st.Probation), "probation")
	ch <- prometheus.MustNewConstMetric(descTracked, prometheus.GaugeValue, float64(st.WebClients), "web")
	ch <- prometheus.MustNewConstMetric(descMaxSrc, prometheus.GaugeValue, float64(c.max))
	ch <- prometheus.MustNewConstMetric(descHTTP, prometheus.CounterValue, float64(st.HTTPRequests), "request")
	ch <- prometheus.MustNewConstMetric(descHTTP, prometheus.CounterValue, float64(st.HTTPResponses), "response")
	ch <- prometheus.MustNewConstMetric(descWebEvict, prometheus.CounterValue, float64(st.WebEvicted))
	// Every known technique, 0 when none is open, so the series never vanish.
	open := map[[2]string]int{}
	for _, l := range detector.Labels {
		tech, name := detector.LabelParts(l)
		open[[2]string{tech, name}] += 0
	}
	for l, n := range st.Episodes {
		tech, name := detector.LabelParts(l)
		open[[2]string{tech, name}] += n
	}
	for k, n := range open {
		ch <- prometheus.MustNewConstMetric(descEpisodes, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}
