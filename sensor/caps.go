package sensor

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Capabilities, as measured on Linux 6.18 by running scanwatch run with
// each one taken out of the bounding set (setpriv --bounding-set):
//
//   - CAP_BPF: creating the maps (the ring-buffer probe fails first with
//     "operation not permitted") and loading the program.
//   - CAP_PERFMON: the verifier refuses the parser's pointer arithmetic
//     without it ("R3 pointer -= pointer prohibited", EACCES).
//   - CAP_NET_ADMIN: BPF_PROG_LOAD of an XDP program (a network type)
//     fails with EPERM without it. Attaching through a bpf_link needs no
//     capability at all.
//   - CAP_NET_RAW: only --promisc, for its AF_PACKET socket.
//   - CAP_SYS_ADMIN alone stands in for the first three.
//
// What stays needed after attach is probed at run time (caps_drop.go).
type capability struct {
	bit  int
	name string // as systemd and /proc spell it
	why  string
}

var (
	capBPF      = capability{unix.CAP_BPF, "CAP_BPF", "to create the BPF maps and load the program"}
	capPerfmon  = capability{unix.CAP_PERFMON, "CAP_PERFMON", "for the verifier to accept the packet parser's pointer arithmetic"}
	capNetAdmin = capability{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN", "to load an XDP program"}
	capNetRaw   = capability{unix.CAP_NET_RAW, "CAP_NET_RAW", "for --promisc, which holds promiscuous mode through an AF_PACKET socket"}
	capSysAdmin = capability{unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN", ""}
)

// capSet holds capabilities as a bit mask, bit n being capability n.
type capSet uint64

func (s capSet) has(c capability) bool { return s&(1<<c.bit) != 0 }
func (s capSet) with(c capability) capSet {
	return s | 1<<c.bit
}

// capNames maps the capabilities this package reasons about to names;
// others are shown by number.
var capNames = map[int]string{}

func init() {
	for _, c := range []capability{capBPF, capPerfmon, capNetAdmin, capNetRaw, capSysAdmin} {
		capNames[c.bit] = c.name
	}
	capNames[unix.CAP_SETPCAP] = "CAP_SETPCAP"
}

// names lists the set's capabilities, lowest first.
func (s capSet) names() []string {
	var out []string
	for bit := 0; bit < 64; bit++ {
		if s&(1<<bit) == 0 {
			continue
		}
		if n, ok := capNames[bit]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("capability %d", bit))
		}
	}
	return out
}

// threadCaps reads the calling thread's capability sets. The Go runtime
// keeps every thread's sets alike, except while a probe holds one thread.
func threadCaps() (unix.CapUserHeader, [2]unix.CapUserData, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	err := unix.Capget(&hdr, &data[0])
	return hdr, data, err
}

func effective(data [2]unix.CapUserData) capSet {
	return capSet(data[0].Effective) | capSet(data[1].Effective)<<32
}

func permitted(data [2]unix.CapUserData) capSet {
	return capSet(data[0].Permitted) | capSet(data[1].Permitted)<<32
}

// missingCaps is what eff lacks to load and attach the program.
func missingCaps(eff capSet, promisc bool) []capability {
	var missing []capability
	if !eff.has(capSysAdmin) {
		for _, c := range []capability{capBPF, capPerfmon, capNetAdmin} {
			if !eff.has(c) {
				missing = append(missing, c)
			}
		}
	}
	if promisc && !eff.has(capNetRaw) {
		missing = append(missing, capNetRaw)
	}
	return missing
}

// checkCapabilities fails, before anything is loaded, when the process
// lacks a capability it needs, with an error that names it and the fix.
// When the sets cannot be read it says nothing and the kernel decides.
func checkCapabilities(promisc bool) error {
	_, data, err := threadCaps()
	if err != nil {
		return nil
	}
	missing := missingCaps(effective(data), promisc)
	if len(missing) == 0 {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "/path/to/scanwatch"
	}
	return errMissingCaps(missing, promisc, exe)
}

// errMissingCaps names each missing capability and the fix for each way
// of running scanwatch. setcap and systemd replace the whole set, so the
// fixes name every capability needed, not only the missing ones.
func errMissingCaps(missing []capability, promisc bool, exe string) error {
	var what []string
	for _, c := range missing {
		what = append(what, c.name+" ("+c.why+")")
	}
	need := []capability{capBPF, capNetAdmin, capPerfmon}
	if promisc {
		need = append(need, capNetRaw)
	}
	var lower, names, docker []string
	for _, c := range need {
		lower = append(lower, strings.ToLower(c.name))
		names = append(names, c.name)
		docker = append(docker, "--cap-add "+strings.TrimPrefix(c.name, "CAP_"))
	}
	fallback := "--cap-add SYS_ADMIN"
	if promisc {
		fallback += " --cap-add NET_RAW"
	}
	noun := "capability"
	if len(missing) > 1 {
		noun = "capabilities"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "missing %s %s. Grant %s in one of these ways:\n", noun, strings.Join(what, ", "), strings.Join(names, ", "))
	fmt.Fprintf(&b, "  file capabilities: setcap %s+ep %s\n", strings.Join(lower, ","), shellQuote(exe))
	fmt.Fprintf(&b, "  systemd unit:      AmbientCapabilities=%s\n", strings.Join(names, " "))
	fmt.Fprintf(&b, "                     CapabilityBoundingSet=%s\n", strings.Join(names, " "))
	fmt.Fprintf(&b, "  container:         --user 0 --cap-drop ALL %s\n", strings.Join(docker, " "))
	fmt.Fprintf(&b, "                     (Docker 20.10, as in Debian 12, rejects BPF and PERFMON as unknown: there use --cap-drop ALL %s)\n", fallback)
	b.WriteString("  or run it as root with its full capability set")
	return errors.New(b.String())
}

// errRefused is a permission error from the kernel although the process
// holds every capability checkCapabilities asks for. It shows the errno
// alone: cilium/ebpf's MEMLOCK hint does not apply (the rlimit is lifted
// before loading, and kernels since 5.11 do not use it).
func errRefused(step string, err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		err = errno
	}
	return fmt.Errorf("%s: the kernel refused (%v) although the process holds the capabilities it needs: inside a user namespace (a rootless container) capabilities do not count for BPF, and an LSM (SELinux, AppArmor) or kernel lockdown can forbid it", step, err)
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
