package detector

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestDecoysLookOnlyAtRecentSources: the decoy search walks the sources
// touched most recently, maxDecoyWalk of them, not every source held. A
// decoy still turns up behind a few hundred busy sources; behind more than
// the bound it does not, so a spoofer who keeps MaxSources alive cannot make
// every alert walk them all.
func TestDecoysLookOnlyAtRecentSources(t *testing.T) {
	decoy, real := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.10")
	host := netip.MustParseAddr("203.0.113.10")
	related := func(busy int) []netip.Addr {
		var evs []Event
		syn := func(at time.Time, src, dst netip.Addr, port uint16) {
			evs = append(evs, Event{Time: at, Src: src, Dst: dst, SrcPort: 40000, DstPort: port,
				Kind: KindSYN, Flags: FlagSYN, Window: 1024, TTL: 50})
		}
		for p := 1; p <= 60; p++ {
			syn(t0, decoy, host, uint16(p))
		}
		// Promoted sources (two probes each, each in its own /64) touched
		// between the decoy's probes and the real source's.
		other := netip.MustParseAddr("2001:db8::2")
		for i := range busy {
			b := other.As16()
			b[4], b[5] = byte(i>>8), byte(i)
			src := netip.AddrFrom16(b)
			syn(t0.Add(time.Second/2), src, other, 22)
			syn(t0.Add(time.Second/2), src, other, 23)
		}
		for p := 1; p <= 60; p++ {
			syn(t0.Add(time.Second), real, host, uint16(p))
		}
		finals, _, _ := runDefault(t, Config{}, evs)
		for _, a := range finals {
			if a.Source == real {
				return a.RelatedSources
			}
		}
		t.Fatalf("%d busy sources: no alert for the real source in %+v", busy, finals)
		return nil
	}
	if got := related(300); !slices.Contains(got, decoy) {
		t.Errorf("behind 300 sources: related %v, want the decoy %s", got, decoy)
	}
	if got := related(maxDecoyWalk + 50); slices.Contains(got, decoy) {
		t.Errorf("behind %d sources: related %v, want the walk to stop before the decoy", maxDecoyWalk+50, got)
	}
}
