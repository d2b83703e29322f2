package metrics

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/lab"
)

// promtool check metrics finds nothing to say about what scanwatch exports
// (names, units, _total suffixes, help texts).
func TestPromtoolCheckMetrics(t *testing.T) {
	lab.Require(t, "promtool")
	m := New(Build{Version: "test"}, func() (KernelCounters, error) { return KernelCounters{}, nil })
	m.Attached.WithLabelValues("eth0").Set(1)
	m.LinkLost.WithLabelValues("eth0")
	m.WatchRules(func() detector.Stats {
		return detector.Stats{Sources: 3, Episodes: map[string]int{detector.LabelPortScan: 1}}
	}, 100)
	m.AlertLatency.Observe(0.01)
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
