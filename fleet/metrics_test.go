package fleet

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/scanwatch/scanwatch/lab"
)

// promtool check metrics finds nothing to say about the publisher's and
// the correlator's metrics (names, units, _total suffixes, help texts).
func TestPromtoolCheckFleetMetrics(t *testing.T) {
	lab.Require(t, "promtool")
	reg := prometheus.NewRegistry()
	ps := &PublisherStats{QueueLen: func() int { return 3 }, QueueCap: 1024}
	ps.Dropped.Add(7)
	cs := &CorrelatorStats{}
	cs.Messages.Add(5)
	cs.Rebuilt.Add(2)
	reg.MustRegister(PublisherCollector{S: ps}, CorrelatorCollector{S: cs})
	fams, err := reg.Gather()
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
	if !bytes.Contains(buf.Bytes(), []byte(`scanwatch_publish_records_total{result="dropped"} 7`)) ||
		!bytes.Contains(buf.Bytes(), []byte(`scanwatch_correlate_messages_total{result="processed"} 3`)) {
		t.Fatalf("unexpected exposition:\n%s", buf.Bytes())
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
