package metrics

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scanwatch/scanwatch/detector"
)

func TestKernelCountersAtScrapeTime(t *testing.T) {
	k := KernelCounters{Packets: 10, SYN: 4, RingbufEvents: 3, RingbufDrops: 1, Actions: [5]uint64{2: 10}}
	m := New(Build{Version: "test"}, func() (KernelCounters, error) { return k, nil })
	want := `
# HELP scanwatch_syn_packets_total TCP SYN-without-ACK packets counted in the kernel.
# TYPE scanwatch_syn_packets_total counter
scanwatch_syn_packets_total 4
# HELP scanwatch_ringbuf_dropped_total Records lost because the ring buffer was full; the flow map sweep still counts their SYNs, and a client's next HTTP record its lost requests.
# TYPE scanwatch_ringbuf_dropped_total counter
scanwatch_ringbuf_dropped_total 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "scanwatch_syn_packets_total", "scanwatch_ringbuf_dropped_total"); err != nil {
		t.Fatal(err)
	}
	k.SYN = 9 // read again at the next scrape, not cached
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(strings.Replace(want, "total 4", "total 9", 1)), "scanwatch_syn_packets_total", "scanwatch_ringbuf_dropped_total"); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPCounters(t *testing.T) {
	k := KernelCounters{HTTPRequests: 9, HTTPResponses: 2, HTTPRecords: 6, HTTPSuppressedClient: 4, HTTPSuppressedCPU: 1, HTTPEvents: 5, HTTPUnparsed: 1}
	m := New(Build{Version: "test"}, func() (KernelCounters, error) { return k, nil })
	for name, want := range map[string]string{
		"scanwatch_http_heads_total":      `scanwatch_http_heads_total{direction="request"} 9` + "\n" + `scanwatch_http_heads_total{direction="response"} 2`,
		"scanwatch_http_records_total":    "scanwatch_http_records_total 6",
		"scanwatch_http_suppressed_total": `scanwatch_http_suppressed_total{budget="client"} 4` + "\n" + `scanwatch_http_suppressed_total{budget="cpu"} 1`,
		"scanwatch_http_events_total":     "scanwatch_http_events_total 5",
		"scanwatch_http_unparsed_total":   "scanwatch_http_unparsed_total 1",
	} {
		if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(helpOf(t, m, name)+want+"\n"), name); err != nil {
			t.Error(err)
		}
	}
}

// helpOf is the HELP and TYPE lines a counter is exported with.
func helpOf(t *testing.T, m *Metrics, name string) string {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return "# HELP " + name + " " + f.GetHelp() + "\n# TYPE " + name + " counter\n"
		}
	}
	t.Fatalf("no metric %s", name)
	return ""
}

func TestKernelCountersErrorFailsTheScrape(t *testing.T) {
	m := New(Build{Version: "test"}, func() (KernelCounters, error) { return KernelCounters{}, errors.New("map gone") })
	if _, err := m.Registry.Gather(); err == nil || !strings.Contains(err.Error(), "map gone") {
		t.Fatalf("gather error %v: a failed kernel read must show, not report zeros", err)
	}
}

func TestAlertCounting(t *testing.T) {
	m := New(Build{Version: "test"}, nil)
	// From start-up every series exists at 0: a rule on increase() sees
	// the first scan after a restart.
	if got := testutil.ToFloat64(m.Scans.WithLabelValues("T1595", "PortScan")); got != 0 {
		t.Fatalf("PortScan at start %v", got)
	}
	before := testutil.CollectAndCount(m.Scans)
	if before != 8 { // the seed's and the default rules' sweeps share a series; two web labels
		t.Errorf("%d scan series at start-up, want 8", before)
	}
	for _, a := range []detector.Alert{
		{Label: detector.LabelPortScan, Status: detector.StatusNew},
		{Label: detector.LabelFullNetworkScan, Status: detector.StatusEscalated}, // the same episode
		{Label: detector.LabelFullNetworkScan, Status: detector.StatusUpdated},
		{Label: detector.LabelFullNetworkScan, Status: detector.StatusFinal},
		{Label: detector.LabelFlood, Status: detector.StatusNew},
		{Label: detector.LabelIPSweep, Status: detector.StatusNew}, // seed
		{Label: detector.LabelSweep, Status: detector.StatusNew},   // default
	} {
		m.Alerted(a)
	}
	m.Suppressed(detector.Alert{Label: detector.LabelSweep, Status: detector.StatusNew})
	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(m.Scans.WithLabelValues("T1595", "PortScan")), 1, "PortScan episodes"},
		{testutil.ToFloat64(m.Scans.WithLabelValues("T1595", "FullNetworkScan")), 0, "an escalation is not a new episode"},
		{testutil.ToFloat64(m.Scans.WithLabelValues("T1499.001", "SYNFlood")), 1, "floods"},
		{testutil.ToFloat64(m.Scans.WithLabelValues("T1595.001", "IPSweep")), 2, "sweeps of both rule sets"},
		{testutil.ToFloat64(m.Records.WithLabelValues("T1595", "FullNetworkScan", "final")), 1, "final records"},
		{testutil.ToFloat64(m.Allowed.WithLabelValues("T1595.001", "IPSweep")), 1, "allowlisted"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	// Labels are techniques, never addresses: bounded cardinality.
	if n := testutil.CollectAndCount(m.Scans); n != before {
		t.Errorf("%d scan series after alerts, want %d", n, before)
	}
}

// A scrape storm walks the rules' tables (under the sensor's lock) at most
// once per statsEvery.
func TestRulesStatsAreReadAtMostOncePerSecond(t *testing.T) {
	m := New(Build{Version: "test"}, nil)
	reads := 0
	m.WatchRules(func() detector.Stats { reads++; return detector.Stats{Sources: reads} }, 100)
	for range 50 {
		if _, err := m.Registry.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if reads != 1 {
		t.Fatalf("%d walks of the rules for 50 scrapes within a second, want 1", reads)
	}
}
