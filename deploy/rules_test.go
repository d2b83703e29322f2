// Package deploy holds what operators install beside the binary: Prometheus
// rules, dashboards, service units. Its tests check those files against the
// real tools and against the metrics scanwatch really exports.
package deploy

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"testing"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/fleet"
	"github.com/scanwatch/scanwatch/lab"
	"github.com/scanwatch/scanwatch/metrics"
)

func TestPrometheusRules(t *testing.T) {
	lab.Require(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "prometheus/scanwatch.rules.yml"},
		{"test", "rules", "prometheus/scanwatch.rules.test.yml"},
	} {
		out, err := exec.Command("promtool", args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// A rule on a metric scanwatch does not export never fires: every
// scanwatch_ name the rules use must be one the sensor registers.
func TestRulesUseExportedMetrics(t *testing.T) {
	rules, err := os.ReadFile("prometheus/scanwatch.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	exported := exportedNames(t)
	used := regexp.MustCompile(`scanwatch_[a-z0-9_]+`).FindAllString(string(rules), -1)
	if len(used) == 0 {
		t.Fatal("no scanwatch_ metric in the rules")
	}
	for _, name := range used {
		if !slices.Contains(exported, name) {
			t.Errorf("the rules use %s, which scanwatch does not export", name)
		}
	}
}

func exportedNames(t *testing.T) []string {
	t.Helper()
	m := metrics.New(metrics.Build{Version: "test"}, func() (metrics.KernelCounters, error) { return metrics.KernelCounters{}, nil })
	m.Attached.WithLabelValues("eth0").Set(1) // labelled per interface once attached
	m.LinkLost.WithLabelValues("eth0")
	m.WatchRules(func() detector.Stats { return detector.Stats{} }, 100)
	// A sensor with --publish, and scanwatch correlate.
	m.Registry.MustRegister(fleet.PublisherCollector{S: &fleet.PublisherStats{QueueLen: func() int { return 0 }}}, fleet.CorrelatorCollector{S: &fleet.CorrelatorStats{}})
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fams {
		names = append(names, f.GetName())
	}
	return names
}
