package sensor

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Checksum policies for --checksums.
const (
	ChecksumsAuto     = "auto"     // strict on a bus device (a NIC), tolerant on a software link
	ChecksumsStrict   = "strict"   // offloaded (pseudo-header only) checksums are forgeries
	ChecksumsTolerant = "tolerant" // offloaded checksums are accepted, and counted
)

// strictChecksums decides, for an interface, whether a checksum field that
// holds only the pseudo-header sum is a forgery. Checksum offload leaves
// that value in packets that never crossed a wire: a veth, tun or bridge
// hands them on marked CHECKSUM_PARTIAL and the receiving stack trusts
// them, so there they are real traffic. A NIC on a bus (PCI, virtio)
// delivers frames off a wire, whose checksums are complete; a packet with
// the pseudo-header value there was made to look offloaded, and the host
// drops it. ethtool's bus_info tells the two apart, in the caller's network
// namespace.
func strictChecksums(policy, iface string) (bool, error) {
	switch policy {
	case ChecksumsStrict:
		return true, nil
	case ChecksumsTolerant:
		return false, nil
	case ChecksumsAuto, "":
	default:
		return false, fmt.Errorf("unknown checksum policy %q: use auto, strict or tolerant", policy)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return true, nil // cannot ask: the safe side
	}
	defer unix.Close(fd)
	info, err := unix.IoctlGetEthtoolDrvinfo(fd, iface)
	if err != nil {
		return true, nil
	}
	return unix.ByteSliceToString(info.Bus_info[:]) != "", nil
}
