package sensor

import (
	"fmt"
	"time"

	"github.com/scanwatch/scanwatch/bpf"
	"github.com/scanwatch/scanwatch/internal/httpwire"
)

// HTTPBudget bounds how many HTTP heads the kernel copies into the ring:
// per client (the request's source), and per CPU whatever the clients.
// A head over budget is not copied; the client's next request record
// says how many were skipped (detector.HTTP.Skipped), so request totals
// stay exact. Zero fields take the defaults.
type HTTPBudget struct {
	Rate, Burst       uint32 // per client: records per second, and at once
	CPURate, CPUBurst uint32 // per CPU
}

// The default budget. 200 at once hold every request of a short scan, of
// a browser loading a page with its assets, and of the first seconds of
// a wordlist scan, which is far more than any web-scanning threshold
// needs (tens of requests); past it, 100 a second is still a dense sample
// while Skipped keeps the totals. Per CPU, 1000 a second is ten clients at
// full rate, and about 0.56 MiB of the 4 MiB ring a second (a request
// record takes 576 bytes there): spoofed sources, each with a burst of
// its own, cannot crowd the scan records out of the ring.
const (
	DefaultHTTPRate     = 100
	DefaultHTTPBurst    = 200
	DefaultHTTPCPURate  = 1000
	DefaultHTTPCPUBurst = 1000
)

func (b HTTPBudget) withDefaults() HTTPBudget {
	def := func(v *uint32, d uint32) {
		if *v == 0 {
			*v = d
		}
	}
	def(&b.Rate, DefaultHTTPRate)
	def(&b.Burst, DefaultHTTPBurst)
	def(&b.CPURate, DefaultHTTPCPURate)
	def(&b.CPUBurst, DefaultHTTPCPUBurst)
	return b
}

// setHTTP fills the program config's HTTP fields: the ports, the
// prefilter bits and the two buckets as GCRA intervals. No ports leave
// http_nports 0, which turns the whole path off.
func setHTTP(c *bpf.ScanwatchConfig, ports *httpwire.Ports, b HTTPBudget) error {
	list := ports.List()
	if len(list) > httpwire.MaxPorts {
		return fmt.Errorf("%d HTTP ports given, the XDP program holds at most %d: list the plain-HTTP ports your servers use", len(list), httpwire.MaxPorts)
	}
	if len(list) == 0 {
		return nil
	}
	b = b.withDefaults()
	if b.Rate > uint32(time.Second) || b.CPURate > uint32(time.Second) {
		return fmt.Errorf("HTTP record rate %d/%d a second is past one a nanosecond: give at most 1000000000", b.Rate, b.CPURate)
	}
	c.HttpNports = uint32(len(list))
	for i, p := range list {
		c.HttpPorts[i] = p
		c.HttpPortBits[p>>6&15] |= 1 << (p & 63)
	}
	c.HttpIntervalNs = uint64(time.Second) / uint64(b.Rate)
	c.HttpLimitNs = c.HttpIntervalNs * uint64(b.Burst)
	c.HttpCpuIntervalNs = uint64(time.Second) / uint64(b.CPURate)
	c.HttpCpuLimitNs = c.HttpCpuIntervalNs * uint64(b.CPUBurst)
	return nil
}
