package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// replayRaw runs 'scanwatch replay' and returns its stdout and stderr.
func replayRaw(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"replay"}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

// Reading HTTP heads must not change a byte of either rule set's alerts on
// the shipped captures (--rules seed must stay exactly the starting rule):
// the same replay with inspection off gives the same output.
func TestReplayHTTPLeavesShippedVerdicts(t *testing.T) {
	names := make([]string, 0, len(shipped))
	for name := range shipped {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		file := filepath.Join("../../pcaps", name)
		for _, rules := range []string{"seed", "default"} {
			on, stderr, err := replayRaw(t, "--rules", rules, file)
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, stderr)
			}
			off, stderr, err := replayRaw(t, "--rules", rules, "--http-ports", "none", file)
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, stderr)
			}
			if on != off {
				t.Errorf("%s --rules %s: alerts differ with HTTP inspection on\n--- on\n%s--- off\n%s", name, rules, on, off)
			}
		}
	}
}

func TestReplayHTTPPortsFlag(t *testing.T) {
	for _, bad := range []string{"80,x", "0", "70000", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"} {
		_, _, err := replayRaw(t, "--http-ports", bad, "../../pcaps/curl-light.pcap")
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--http-ports") {
			t.Errorf("--http-ports %q: error %v, want a usage error naming the flag", bad, err)
		}
	}
	// What was read is in the debug summary: curl-light.pcap holds 30
	// requests to port 80 and their 30 responses.
	for _, tc := range []struct {
		ports, want string
	}{
		{"80,8000,8080,8888", "http_requests=30 http_responses=30"},
		{"none", "http_requests=0 http_responses=0"},
		{"8080", "http_requests=0 http_responses=0"},
	} {
		_, stderr, err := replayRaw(t, "--log.level", "debug", "--http-ports", tc.ports, "../../pcaps/curl-light.pcap")
		if err != nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("--http-ports %s: err %v, stderr %q; want %q", tc.ports, err, stderr, tc.want)
		}
	}
}

// The third-party web browsing capture: 61 segments to port 80 begin with
// GET or POST and 61 from it with HTTP/ (tshark counts the same first
// segments: -o tcp.desegment_tcp_streams:FALSE, payload[0:4]).
func TestReplayHTTPThirdPartyBrowsing(t *testing.T) {
	requireThirdParty(t)
	file := filepath.Join(thirdPartyDir, "benign_web-browsing_ipv4_chrissanders.pcapng")
	_, stderr, err := replayRaw(t, "--log.level", "debug", "--ignore-sources", "none", file)
	if err != nil || !strings.Contains(stderr, "http_requests=61 http_responses=61") {
		t.Fatalf("err %v, stderr %q", err, stderr)
	}
}
