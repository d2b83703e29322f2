package detector

import "time"

// Thresholds of the default rule set; README.md has the table with the
// reference each comes from.
type Thresholds struct {
	PortScanPorts int     // distinct failed ports on one host: PortScan (starting rule: 20)
	FullScanPorts int     // ... FullNetworkScan (starting rule: 50)
	SweepHosts    int     // distinct failed hosts on one port: IPSweep (Zeek: 25)
	FloodSYNs     int     // SYNs in the window to at most FloodMaxPairs (host, port) pairs
	FloodMaxPairs int     // ... beyond this many pairs it is not one service being flooded
	FloodRate     float64 // ... at no less than this many SYNs per second
}

// DefaultThresholds: see README.md, "The default rule set".
var DefaultThresholds = Thresholds{
	PortScanPorts: 20,
	FullScanPorts: 50,
	SweepHosts:    25,
	FloodSYNs:     1000,
	FloodMaxPairs: 2,
	FloodRate:     100,
}

// Default windows and caps.
const (
	DefaultWindow     = 5 * time.Minute // Zeek's scan epoch
	DefaultLongWindow = time.Hour       // psad's default timeout
	DefaultMaxSources = 100_000
	// DefaultMaxProbation holds over two million one-probe sources (about
	// 60 bytes each for IPv4: ~125 MB), so a million spoofed sources
	// between a scanner's first and second probe do not push it out.
	DefaultMaxProbation = 1 << 21
	// DefaultMaxSeedSources: a million promoted sources of the seed rule
	// take about 125 MB (TestSeedMillionSourcesMemory).
	DefaultMaxSeedSources = 1_000_000
)

// Labels and techniques beyond the starting rule's.
const (
	LabelSweep = "T1595.001 - IPSweep"
	LabelFlood = "T1499.001 - SYNFlood"
)

func (t *Thresholds) fill() {
	d := DefaultThresholds
	orDefault(&t.PortScanPorts, d.PortScanPorts)
	orDefault(&t.FullScanPorts, d.FullScanPorts)
	orDefault(&t.SweepHosts, d.SweepHosts)
	orDefault(&t.FloodSYNs, d.FloodSYNs)
	orDefault(&t.FloodMaxPairs, d.FloodMaxPairs)
	orDefault(&t.FloodRate, d.FloodRate)
}

func orDefault[T int | float64](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}
