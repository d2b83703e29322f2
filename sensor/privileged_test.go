package sensor

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// requirePrivileged skips a TestPrivileged… test when the process lacks
// CAP_BPF/CAP_SYS_ADMIN, except under CI=true, where the skip would hide a
// missing prerequisite and so fails instead.
func requirePrivileged(t testing.TB) {
	t.Helper()
	if hasCap(unix.CAP_SYS_ADMIN) || (hasCap(unix.CAP_BPF) && hasCap(unix.CAP_NET_ADMIN)) {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root (CAP_BPF, CAP_NET_ADMIN); CI runs as root")
	}
	t.Skip("needs root (CAP_BPF, CAP_NET_ADMIN): run 'sudo make test'")
}

func hasCap(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(uint(c)%32)) != 0
}
