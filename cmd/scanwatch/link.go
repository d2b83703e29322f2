package main

import (
	"errors"
	"flag"

	"github.com/scanwatch/scanwatch/metrics"
	"github.com/scanwatch/scanwatch/sensor"
)

// linkFlags say what 'scanwatch run' does when its interface goes away.
type linkFlags struct {
	reattach   bool
	exitOnLoss bool
}

func (lf *linkFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&lf.reattach, "reattach", true, "when the interface is deleted, renamed or moved away, re-attach to the next interface of that name, keeping all state; false stays detached")
	fs.BoolVar(&lf.exitOnLoss, "exit-on-link-loss", false, "exit with status 1 when the interface goes away, for a service manager to restart scanwatch (instead of --reattach)")
}

// policy turns the two flags into one choice. --exit-on-link-loss wins
// over the default --reattach; asking for both explicitly is a mistake.
func (lf *linkFlags) policy(fs *flag.FlagSet) (sensor.LinkLossPolicy, error) {
	var explicit bool
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "reattach" })
	switch {
	case lf.exitOnLoss && lf.reattach && explicit:
		return 0, usageError{errors.New("--reattach and --exit-on-link-loss: choose one (re-attach in place, or exit for the service manager to restart)")}
	case lf.exitOnLoss:
		return sensor.LinkExit, nil
	case lf.reattach:
		return sensor.LinkReattach, nil
	}
	return sensor.LinkWait, nil
}

// linkMetrics sets scanwatch_xdp_attached{iface} to 1 (the program is on
// the interface once Attach returns) and scanwatch_link_lost_total{iface}
// to 0, and returns the sensor's OnLink callback that keeps them.
func linkMetrics(m *metrics.Metrics, iface string) func(attached bool) {
	gauge, lost := m.Attached.WithLabelValues(iface), m.LinkLost.WithLabelValues(iface)
	gauge.Set(1)
	return func(attached bool) {
		if attached {
			gauge.Set(1)
			return
		}
		gauge.Set(0)
		lost.Inc()
	}
}
