package detector

import (
	"fmt"
	"time"
)

// Rules is a rule set: events in, alerts out. Implementations are not safe
// for concurrent use; the sensor feeds them from one goroutine.
type Rules interface {
	// Observe accounts one event.
	Observe(ev *Event)
	// Flush ends the input and returns the alerts it holds. Replay calls it
	// once per file, as the LogScale query runs once over its search range.
	Flush() []Alert
}

// RuleSets names the rule sets a user can pick with --rules.
var RuleSets = []string{"default", "seed"}

// Config is what every rule set is built from.
type Config struct {
	Ignore PrefixSet // sources skipped entirely
	// Window > 0 judges a sliding window of that length and alerts as soon
	// as a threshold is crossed (live); 0 judges the whole input at Flush
	// (replay, like the LogScale query over its search range).
	Window time.Duration
	// OnAlert receives alerts as they happen (windowed rules only).
	OnAlert func(Alert)

	// The default rule set's own settings; zero values take the defaults.
	LongWindow   time.Duration // low-and-slow tier; default 1 h
	Thresholds   Thresholds
	Web          WebThresholds // web scanning (web.go); zero values take the defaults
	WebLists     *WebLists     // nil: the built-in lists
	Allow        PrefixSet     // authorised scanners: tracked, never alerted
	MaxSources   int           // hard cap on sources held; default 100,000
	OnSuppressed func(Alert)   // an allowlisted source's would-be alert
	OnEvict      func()        // a promoted source dropped to respect MaxSources

	// MaxProbation bounds the probation tier, per address family, in every
	// rule set: sources seen with one probe only, held in a few dozen bytes
	// each until they show scan evidence (probation.go); oldest evicted
	// first. Default 1<<21.
	MaxProbation     int
	OnProbationEvict func() // a source on probation dropped to respect MaxProbation
	// MaxSeedSources bounds the seed rule's promoted sources (those past one
	// SYN's evidence); default 1,000,000. Evictions go to OnEvict.
	MaxSeedSources int
	// OnClockHeld: an event more than 24 h ahead of the rules' clock did
	// not move it (clock.go; 64 in a row do). The event still counts for its
	// own source. Windowed rules only.
	OnClockHeld func()
}

func (c *Config) fillSeedCaps() {
	orDefault(&c.MaxProbation, DefaultMaxProbation)
	orDefault(&c.MaxSeedSources, DefaultMaxSeedSources)
}

// New builds the named rule set.
func New(name string, cfg Config) (Rules, error) {
	switch name {
	case "default":
		return NewDefault(cfg), nil
	case "seed":
		if cfg.Window > 0 {
			return NewSeedWindow(cfg), nil
		}
		return NewSeed(cfg), nil
	}
	return nil, fmt.Errorf("unknown rule set %q: choose one of %v", name, RuleSets)
}
