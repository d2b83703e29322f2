package detector

import (
	"strings"
	"testing"
)

func TestLabelParts(t *testing.T) {
	for label, want := range map[string][2]string{
		LabelPortScan:        {"T1595", "PortScan"},
		LabelFullNetworkScan: {"T1595", "FullNetworkScan"},
		LabelIPSweep:         {"T1595.001", "IPSweep"}, // the seed's sweep ...
		LabelSweep:           {"T1595.001", "IPSweep"}, // ... is the default rules' sweep
		LabelFlood:           {"T1499.001", "SYNFlood"},
		LabelDistributed:     {"T1595", "DistributedScan"},
		LabelEvasive:         {"T1595", "EvasiveProbe"},
	} {
		tech, name := LabelParts(label)
		if tech != want[0] || name != want[1] {
			t.Errorf("%q: %s, %s; want %s, %s", label, tech, name, want[0], want[1])
		}
	}
	for _, l := range Labels {
		if _, name := LabelParts(l); strings.ContainsAny(name, " -") {
			t.Errorf("%q: name %q is not a clean label value", l, name)
		}
	}
}
