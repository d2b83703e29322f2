package capture

import (
	"testing"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// counters names the decoder's per-packet verdict counters, so a case can
// say which one a frame must land in (and that no other moved).
func counters(s DecodeStats) map[string]uint64 {
	return map[string]uint64{
		"TCP": s.TCP, "UDP": s.UDP, "NotIP": s.NotIP, "Malformed": s.Malformed,
		"BadChecksum": s.BadChecksum, "BadIPChecksum": s.BadIPChecksum, "OffloadedChecksum": s.OffloadedChecksum,
		"Unverified": s.Unverified, "HeaderChain": s.HeaderChain, "TooManyVLANs": s.TooManyVLANs,
		"Tunneled": s.Tunneled, "Decapsulated": s.Decapsulated,
		"HTTPRequests": s.HTTPRequests, "HTTPResponses": s.HTTPResponses,
	}
}

// checkOptions are the decoder options a check case names.
func checkOptions(t *testing.T, tc packettest.CheckCase) DecodeOptions {
	var o DecodeOptions
	if tc.Strict {
		o.Checksums = ChecksumStrict
	}
	var err error
	if o.Decapsulate, err = ParseTunnels(tc.Decap); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestDecodeChecks(t *testing.T) {
	tests := packettest.CheckCases(t)
	for _, tc := range tests {
		t.Run(tc.Name, func(t *testing.T) {
			d := NewDecoderWith(checkOptions(t, tc))
			var evs []detector.Event
			var ev detector.Event
			if d.Decode(uint32(tc.Link), tc.Frame, 1, &ev) {
				evs = append(evs, ev)
				for d.More(&ev) {
					evs = append(evs, ev)
				}
			}
			if len(evs) != tc.Events {
				t.Fatalf("%d events, want %d (stats %+v)", len(evs), tc.Events, d.Stats)
			}
			for name, n := range counters(d.Stats) {
				want := uint64(0)
				switch {
				case name == tc.Stat:
					want = 1
				case name == "TCP" || name == "UDP":
					continue
				}
				if n != want {
					t.Errorf("%s = %d, want %d", name, n, want)
				}
			}
			if tc.Check != nil {
				tc.Check(t, evs)
			}
		})
	}
}

func TestParseTunnels(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Tunnels
		ok   bool
	}{
		{"", 0, true}, {"ipip", TunnelIPIP, true}, {"gre,vxlan", TunnelGRE | TunnelVXLAN, true},
		{" IPIP , gre ", TunnelIPIP | TunnelGRE, true}, {"ipsec", 0, false}, {"gre,", 0, false},
	} {
		got, err := ParseTunnels(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseTunnels(%q) = %v, %v", tc.in, got, err)
		}
	}
}
