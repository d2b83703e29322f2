package sensor

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMinimalCaps(t *testing.T) {
	cand := []capability{capBPF, capNetAdmin, capPerfmon, capSysAdmin}
	cases := []struct {
		name  string
		needs func(capSet) bool
		want  capSet
	}{
		{"needs none", func(capSet) bool { return true }, 0},
		{"gated by CAP_BPF or CAP_SYS_ADMIN, CAP_BPF preferred", func(s capSet) bool { return s.has(capBPF) || s.has(capSysAdmin) }, setOf(capBPF)},
		{"only CAP_SYS_ADMIN", func(s capSet) bool { return s.has(capSysAdmin) }, setOf(capSysAdmin)},
		{"two together", func(s capSet) bool { return s.has(capBPF) && s.has(capNetAdmin) }, setOf(capBPF, capNetAdmin)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tried := 0
			got, err := minimalCaps(cand, func(s capSet) (bool, error) { tried++; return c.needs(s), nil })
			if err != nil || got != c.want {
				t.Errorf("got %v, %v; want %v", got.names(), err, c.want.names())
			}
			if tried > 1<<len(cand) {
				t.Errorf("%d tries for %d candidates", tried, len(cand))
			}
		})
	}
	if _, err := minimalCaps(cand, func(capSet) (bool, error) { return false, nil }); err == nil {
		t.Error("an operation denied with every capability: no error")
	}
	inconclusive := errors.New("no such device")
	if _, err := minimalCaps(cand, func(capSet) (bool, error) { return false, inconclusive }); !errors.Is(err, inconclusive) {
		t.Errorf("an inconclusive probe: %v", err)
	}
}

func TestPermission(t *testing.T) {
	for _, c := range []struct {
		err     error
		ok, bad bool
	}{
		{nil, true, false},
		{fmt.Errorf("map lookup: %w", unix.EPERM), false, false},
		{fmt.Errorf("create link: %w", unix.EACCES), false, false},
		{fmt.Errorf("create link: %w", unix.ENODEV), false, true},
	} {
		ok, err := permission(c.err)
		if ok != c.ok || (err != nil) != c.bad {
			t.Errorf("permission(%v) = %v, %v", c.err, ok, err)
		}
	}
}
