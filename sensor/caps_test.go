package sensor

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func setOf(cs ...capability) capSet {
	var s capSet
	for _, c := range cs {
		s = s.with(c)
	}
	return s
}

func TestMissingCaps(t *testing.T) {
	all := setOf(capBPF, capPerfmon, capNetAdmin, capNetRaw)
	cases := []struct {
		name    string
		eff     capSet
		promisc bool
		want    string
	}{
		{"root", ^capSet(0), true, ""},
		{"the documented three", setOf(capBPF, capPerfmon, capNetAdmin), false, ""},
		{"the three, --promisc", setOf(capBPF, capPerfmon, capNetAdmin), true, "CAP_NET_RAW"},
		{"no CAP_PERFMON", all &^ setOf(capPerfmon), false, "CAP_PERFMON"},
		{"no CAP_BPF", all &^ setOf(capBPF), false, "CAP_BPF"},
		{"no CAP_NET_ADMIN", all &^ setOf(capNetAdmin), false, "CAP_NET_ADMIN"},
		{"nothing", 0, false, "CAP_BPF CAP_PERFMON CAP_NET_ADMIN"},
		{"nothing, --promisc", 0, true, "CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_NET_RAW"},
		{"CAP_SYS_ADMIN stands in for three", setOf(capSysAdmin), false, ""},
		{"but not for CAP_NET_RAW", setOf(capSysAdmin), true, "CAP_NET_RAW"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, m := range missingCaps(c.eff, c.promisc) {
				got = append(got, m.name)
			}
			if strings.Join(got, " ") != c.want {
				t.Errorf("missing %v, want %q", got, c.want)
			}
		})
	}
}

func TestErrMissingCaps(t *testing.T) {
	msg := errMissingCaps([]capability{capPerfmon}, false, "/opt/scan watch/scanwatch").Error()
	for _, want := range []string{
		"missing capability CAP_PERFMON (for the verifier",
		"setcap cap_bpf,cap_net_admin,cap_perfmon+ep '/opt/scan watch/scanwatch'",
		"AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON\n",
		"CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON\n",
		"--cap-drop ALL --cap-add BPF --cap-add NET_ADMIN --cap-add PERFMON\n",
		"--cap-add SYS_ADMIN)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	for _, bad := range []string{"CAP_BPF (", "CAP_NET_ADMIN (", "verifier rejected", "MEMLOCK", "NET_RAW"} {
		if strings.Contains(msg, bad) {
			t.Errorf("message has %q:\n%s", bad, msg)
		}
	}
	msg = errMissingCaps([]capability{capBPF, capNetRaw}, true, "/usr/bin/scanwatch").Error()
	for _, want := range []string{
		"missing capabilities CAP_BPF (",
		", CAP_NET_RAW (for --promisc",
		"setcap cap_bpf,cap_net_admin,cap_perfmon,cap_net_raw+ep /usr/bin/scanwatch\n",
		"AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON CAP_NET_RAW\n",
		"--cap-add PERFMON --cap-add NET_RAW\n",
		"--cap-add SYS_ADMIN --cap-add NET_RAW)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("--promisc message lacks %q:\n%s", want, msg)
		}
	}
}

func TestErrRefusedHasNoMemlockHint(t *testing.T) {
	// What cilium/ebpf returns for EPERM from BPF_PROG_LOAD.
	err := fmt.Errorf("load program: %w (MEMLOCK may be too low, consider rlimit.RemoveMemlock)", unix.EPERM)
	msg := errRefused("loading the XDP program", err).Error()
	if strings.Contains(msg, "MEMLOCK") || !strings.Contains(msg, "operation not permitted") || !strings.Contains(msg, "user namespace") {
		t.Error(msg)
	}
}

func TestCapSetNames(t *testing.T) {
	got := fmt.Sprint(setOf(capBPF, capNetAdmin, capSysAdmin).with(capability{bit: 40}).names())
	if got != "[CAP_NET_ADMIN CAP_SYS_ADMIN CAP_BPF capability 40]" {
		t.Error(got)
	}
}
