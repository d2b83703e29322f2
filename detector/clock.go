package detector

import "time"

// clock is the rules' event-time clock: the newest event time seen, which
// decides when episodes are quiet and state is idle. One event stamped far
// in the future (a corrupt or injected capture record, a live clock step)
// must not move it, or every episode would look quiet at once and close,
// and every source be forgotten: one packet would split every scan in
// progress. So an event more than maxClockJump ahead of the clock leaves it
// where it is, unless it is the jumpRun-th in a row ahead, all within
// maxClockJump of the first of them: a capture that really resumes days
// later, or a live clock that really stepped, moves the clock after
// jumpRun events, as the sensor's replay filter does (design section 7).
//
// The event itself is still counted, at its own time, for its own source:
// dropping it would lose real probes twice when the sensor has already
// held back the start of a real jump, and a future stamp can only
// mislead about its own source. maxClockJump is the sensor's default
// bound, well above any quiet gap in a capture or on a link.
type clock struct {
	now     int64 // Unix ns; 0 before the first event
	ahead   int   // consecutive events beyond maxClockJump
	aheadAt int64 // the first of them
}

const (
	maxClockJump = int64(24 * time.Hour)
	jumpRun      = 64
)

// observe takes an event time; it reports false when t is far ahead and
// the clock held.
func (c *clock) observe(t int64) bool {
	if c.now != 0 && t > c.now+maxClockJump {
		if c.ahead == 0 || t < c.aheadAt || t > c.aheadAt+maxClockJump {
			c.ahead, c.aheadAt = 0, t
		}
		c.ahead++
		if c.ahead < jumpRun {
			return false
		}
	}
	c.ahead = 0
	c.now = max(c.now, t)
	return true
}
