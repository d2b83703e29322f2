package detector

import "time"

// Advance moves the rules' event-time clock to t without an event, as an
// event stamped t would (the same guard against far jumps, clock.go), so
// episodes quiet for a whole window close with their final alerts. The
// correlator calls it with the sensors' clocks when their streams carry
// no probes: otherwise a fleet that goes quiet would never close the last
// scan it saw. A t behind the clock changes nothing.
func (d *Default) Advance(t time.Time) {
	tn := t.UnixNano()
	if tn <= d.now {
		return
	}
	if !d.clock.observe(tn) {
		if d.cfg.OnClockHeld != nil {
			d.cfg.OnClockHeld()
		}
		return
	}
	d.now = d.clock.now
	if d.now >= d.prune {
		d.pruneIdle(d.now)
	}
}
