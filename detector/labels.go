package detector

import "strings"

// Labels lists every label either rule set can raise, so dashboards and
// alerting rules can count each from zero before its first alert.
var Labels = []string{
	LabelPortScan, LabelFullNetworkScan, LabelIPSweep, // the starting rule's
	LabelSweep, LabelFlood, LabelDistributed, LabelEvasive,
	LabelVulnScan, LabelWordlistScan,
}

// LabelParts splits a label into a MITRE technique and a name without
// spaces, for metric label values: "T1595 - PortScan" is ("T1595",
// "PortScan"). A sweep is T1595.001 (Scanning IP Blocks) whichever rule set
// raised it, so the seed rule's "T1595 - IPSweep" and the default rules'
// "T1595.001 - IPSweep" count as one series.
func LabelParts(label string) (technique, name string) {
	technique, name, ok := strings.Cut(label, " - ")
	if !ok {
		return "unknown", strings.ReplaceAll(label, " ", "_")
	}
	if name == "IPSweep" {
		technique = "T1595.001"
	}
	return technique, name
}
