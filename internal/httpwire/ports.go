package httpwire

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DefaultPorts are inspected when --http-ports is not given: the plain
// HTTP ports scanners try first. TLS ports are out of scope (the payload is
// encrypted).
var DefaultPorts = []uint16{80, 8000, 8080, 8888}

// MaxPorts bounds --http-ports; the XDP program holds this many. A test
// keeps bpf's HTTP_MAX_PORTS equal.
const MaxPorts = 16

// Ports is a set of TCP ports whose traffic is read as HTTP.
type Ports struct {
	list []uint16
	bits [1024]uint64
}

// NewPorts builds a set; it does not check MaxPorts (ParsePorts does).
func NewPorts(ports ...uint16) *Ports {
	p := &Ports{}
	for _, n := range ports {
		if n == 0 || p.Has(n) {
			continue
		}
		p.list = append(p.list, n)
		p.bits[n>>6] |= 1 << (n & 63)
	}
	slices.Sort(p.list)
	return p
}

// Has reports whether port is in the set; a nil set has none.
func (p *Ports) Has(port uint16) bool {
	return p != nil && p.bits[port>>6]&(1<<(port&63)) != 0
}

// Any reports whether the set holds a port; a nil set holds none.
func (p *Ports) Any() bool { return p != nil && len(p.list) > 0 }

// List returns the ports, ascending.
func (p *Ports) List() []uint16 {
	if p == nil {
		return nil
	}
	return slices.Clone(p.list)
}

func (p *Ports) String() string {
	s := make([]string, len(p.List()))
	for i, n := range p.List() {
		s[i] = strconv.Itoa(int(n))
	}
	return strings.Join(s, ",")
}

// ParsePorts reads a comma-separated port list ("80,8080"). An empty
// string or "none" turns HTTP inspection off.
func ParsePorts(s string) (*Ports, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "none") {
		return NewPorts(), nil
	}
	var ports []uint16
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("--http-ports: %q is not a TCP port (1-65535); give a comma-separated list such as 80,8080, or none", f)
		}
		ports = append(ports, uint16(n))
	}
	p := NewPorts(ports...)
	if len(p.list) > MaxPorts {
		return nil, fmt.Errorf("--http-ports: %d ports given, at most %d are inspected; list the plain-HTTP ports your servers use", len(p.list), MaxPorts)
	}
	return p, nil
}
