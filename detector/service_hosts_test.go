package detector

import (
	"math/rand/v2"
	"testing"
)

// A service's host set, kept in its own fields while inline (svSee's fast
// path) and in svMore past them, counts as a hostTiers does: the same
// short and long counts and the same key budget, probe by probe, through
// hosts aging out of both windows and coming back.
func TestServiceHostsCountAsHostTiers(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		s := &source{}
		var sv service
		var ref hostTiers
		var refBudget keyBudget
		sec := int64(1000)
		for i := range 300 {
			// Windows below: 60 s and 300 s; now and then a gap past both.
			sec += int64(r.IntN(40))
			if r.IntN(8) == 0 {
				sec += 250 + int64(r.IntN(100))
			}
			var host [16]byte
			host[15] = byte(r.IntN(1 + trial%4)) // one host only, or up to four
			w := instant{sec: sec, shortCut: sec - 60, longCut: sec - 300}
			s.svSee(7, &sv, w, host)
			ref.see(w, host, &refBudget)
			h := s.svHosts(7, &sv)
			if h.short() != ref.short() || h.long() != ref.long() || s.budget != refBudget {
				t.Fatalf("trial %d probe %d: short %d long %d budget %+v, hostTiers: %d %d %+v",
					trial, i, h.short(), h.long(), s.budget, ref.short(), ref.long(), refBudget)
			}
		}
	}
}
