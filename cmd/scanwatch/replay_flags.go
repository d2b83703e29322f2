package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/scanwatch/scanwatch/capture"
	"github.com/scanwatch/scanwatch/internal/httpwire"
)

// replayFlags are replay's own: how the host under judgement treats
// packets, and how far a capture's clock may be trusted.
type replayFlags struct {
	checksums   string
	decapsulate string
	maxAhead    time.Duration
	maxBehind   time.Duration
	httpPorts   func() (*httpwire.Ports, error)
}

func (r *replayFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.checksums, "checksums", "tolerant", "tolerant: accept checksums left to offload (captures from the sending host), counted apart; strict: reject them like bad ones")
	fs.StringVar(&r.decapsulate, "decapsulate", "", "tunnels the host terminates, comma-separated: ipip, gre, vxlan; their inner packets are judged too (default: only the outermost packet counts)")
	fs.DurationVar(&r.maxAhead, "max-time-ahead", capture.DefaultMaxAhead, "skip packets stamped further ahead of the capture clock (0: no bound); a real jump is accepted once 64 packets in a row agree")
	fs.DurationVar(&r.maxBehind, "max-time-behind", capture.DefaultMaxBehind, "skip packets stamped further behind the capture clock (0: no bound)")
	r.httpPorts = addHTTPFlags(fs)
}

func (r *replayFlags) options() (capture.ReplayOptions, error) {
	o := capture.ReplayOptions{MaxAhead: r.maxAhead, MaxBehind: r.maxBehind}
	var ok bool
	if o.Decode.Checksums, ok = capture.ParseChecksumMode(r.checksums); !ok {
		return o, usageError{fmt.Errorf("--checksums %q: use tolerant or strict", r.checksums)}
	}
	t, err := capture.ParseTunnels(r.decapsulate)
	if err != nil {
		return o, usageError{fmt.Errorf("--decapsulate %q: %w", r.decapsulate, err)}
	}
	o.Decode.Decapsulate = t
	if o.Decode.HTTPPorts, err = r.httpPorts(); err != nil {
		return o, err
	}
	if r.maxAhead < 0 || r.maxBehind < 0 {
		return o, usageError{fmt.Errorf("--max-time-ahead %v, --max-time-behind %v: use 0 (no bound) or a positive duration", r.maxAhead, r.maxBehind)}
	}
	return o, nil
}
