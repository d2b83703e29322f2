package main

import (
	"flag"

	"github.com/scanwatch/scanwatch/internal/httpwire"
)

// addHTTPFlags defines --http-ports on fs, for replay and run alike, and
// returns what reads it once fs is parsed: the set of ports whose HTTP
// requests (to them) and responses (from them) are read, empty for
// "none". A bad list is a usage error naming the flag and the fix.
func addHTTPFlags(fs *flag.FlagSet) func() (*httpwire.Ports, error) {
	s := fs.String("http-ports", httpwire.NewPorts(httpwire.DefaultPorts...).String(),
		"TCP ports whose HTTP request heads (to them) and status lines (from them) are read, comma-separated, at most 16; live, the kernel copies them within a per-client budget. none turns HTTP inspection off. Plain HTTP only: TLS ports carry nothing readable")
	return func() (*httpwire.Ports, error) {
		p, err := httpwire.ParsePorts(*s)
		if err != nil {
			return nil, usageError{err}
		}
		return p, nil
	}
}
