package detector

import (
	"net/netip"
	"slices"
	"time"
)

// SensorTracker remembers which fleet sensors saw each source's events
// (Event.Sensor), so that an alert judged over the union of many sensors'
// probes can say where its evidence came from (Alert.Sensors). It sits
// beside the rules rather than inside them: the rules judge a probe the
// same whichever sensor saw it, and the tracker costs nothing to a single
// sensor, whose events all carry Sensor 0 and are not tracked.
//
// State is bounded: sources idle for Keep of event time are forgotten
// (the long window: no episode is older), at most MaxSources are held
// (new ones beyond are not tracked, and Untracked counts them), and at
// most MaxSensorsListed sensors are kept per source.
type SensorTracker struct {
	// Name turns an index into the sensor's id for the alert.
	Name       func(uint16) string
	Keep       time.Duration // default DefaultLongWindow
	MaxSources int           // default DefaultMaxSources
	// Untracked counts events of sources not held because MaxSources
	// were held already.
	Untracked uint64

	bySrc map[netip.Addr]*sensorsSeen
	last  *sensorsSeen
	lastA netip.Addr
	now   int64
	prune int64
}

// MaxSensorsListed bounds the sensors named per source, like the members
// of a DistributedScan.
const MaxSensorsListed = 64

type sensorsSeen struct {
	last int64
	ids  []uint16 // sorted
}

// Observe records that ev.Sensor saw ev.Src. Events without a sensor are
// ignored.
func (t *SensorTracker) Observe(ev *Event) {
	if ev.Sensor == 0 {
		return
	}
	tn := ev.Time.UnixNano()
	if tn > t.now {
		t.now = tn
	}
	if t.bySrc == nil {
		t.bySrc = make(map[netip.Addr]*sensorsSeen)
	}
	keep := int64(t.Keep)
	if keep <= 0 {
		keep = int64(DefaultLongWindow)
	}
	if t.now >= t.prune {
		t.expire(t.now - keep)
		t.prune = t.now + keep/10
	}
	s := t.last
	if s == nil || t.lastA != ev.Src {
		if s = t.bySrc[ev.Src]; s == nil {
			max := t.MaxSources
			if max <= 0 {
				max = DefaultMaxSources
			}
			if len(t.bySrc) >= max {
				t.Untracked++
				return
			}
			s = &sensorsSeen{}
			t.bySrc[ev.Src] = s
		}
		t.last, t.lastA = s, ev.Src
	}
	s.last = max(s.last, tn)
	if i, found := slices.BinarySearch(s.ids, ev.Sensor); !found && len(s.ids) < MaxSensorsListed {
		s.ids = slices.Insert(s.ids, i, ev.Sensor)
	}
}

func (t *SensorTracker) expire(before int64) {
	for a, s := range t.bySrc {
		if s.last < before {
			delete(t.bySrc, a)
		}
	}
	t.last = nil
}

// Annotate sets a.Sensors: the sensors that saw its source, or for a
// DistributedScan any of its members.
func (t *SensorTracker) Annotate(a *Alert) {
	var ids []uint16
	add := func(src netip.Addr) {
		if s := t.bySrc[src]; s != nil {
			ids = append(ids, s.ids...)
		}
	}
	add(a.Source)
	for _, m := range a.MemberSources {
		add(m)
	}
	if len(ids) == 0 {
		return
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	a.Sensors = a.Sensors[:0]
	for _, id := range ids {
		if t.Name != nil {
			a.Sensors = append(a.Sensors, t.Name(id))
		}
	}
	slices.Sort(a.Sensors)
	if len(a.Sensors) > MaxSensorsListed {
		a.Sensors = a.Sensors[:MaxSensorsListed]
	}
}

// Held reports how many sources the tracker holds.
func (t *SensorTracker) Held() int { return len(t.bySrc) }
