package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// Counters is one reading of a namespace's kernel SNMP counters, by nstat
// name (IpReasmOKs, TcpInCsumErrors, Ip6InHdrErrors, ...). The target's own
// counters are the referee of the evasion tests: they say which probes its
// stack processed, dropped or answered.
type Counters map[string]uint64

// Snapshot reads every counter of namespace ns with nstat: absolute values
// (-a), zeros included (-z), without touching nstat's history file (-s),
// which is shared by every namespace of the same user.
func Snapshot(t testing.TB, ns string) Counters {
	t.Helper()
	Require(t, "nstat")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := execIn(ctx, ns, "nstat", "-asz").Output()
	if err != nil {
		t.Fatalf("nstat in %s: %v", ns, err)
	}
	c, err := parseNstat(out)
	if err != nil {
		t.Fatalf("nstat in %s: %v", ns, err)
	}
	return c
}

func parseNstat(out []byte) (Counters, error) {
	c := Counters{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		var v uint64
		if _, err := fmt.Sscan(f[1], &v); err != nil {
			return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		c[f[0]] = v
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("no counters in %q", out)
	}
	return c, nil
}

// Delta is after minus before, counter by counter; a counter absent from
// before counts from zero.
func Delta(before, after Counters) Counters {
	d := Counters{}
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}

// String lists the non-zero counters, sorted, for a test log.
func (c Counters) String() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if c[k] != 0 {
			fmt.Fprintf(&b, "%s=%d ", k, c[k])
		}
	}
	return strings.TrimSpace(b.String())
}
