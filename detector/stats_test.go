package detector

import "testing"

func TestStatsCountSourcesAndOpenEpisodes(t *testing.T) {
	tr := newTraffic()
	tr.vertical("198.51.100.10", "203.0.113.10", 60, KindSYN, FlagSYN) // one FullNetworkScan episode
	tr.syn("192.0.2.1", "203.0.113.10", 80)                            // one probe: probation
	for name, r := range map[string]StatsReporter{"default": NewDefault(Config{Window: DefaultWindow}), "seed": NewSeedWindow(Config{Window: DefaultWindow})} {
		rules := r.(Rules)
		for i := range tr.evs {
			rules.Observe(&tr.evs[i])
		}
		st := r.Stats()
		if st.Sources != 1 || st.Probation != 1 || st.Episodes[LabelFullNetworkScan] != 1 || len(st.Episodes) != 1 {
			t.Errorf("%s: %+v, want one source with evidence, one in probation, one FullNetworkScan open", name, st)
		}
	}
}
