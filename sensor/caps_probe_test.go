package sensor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/lab"
)

// TestPrivilegedCapabilitiesAfterAttach is the measurement behind
// DropCapabilities, done for real: after Attach, one thread keeps only
// what the probes say (effective and permitted, irreversibly; the thread
// dies with the test's goroutine) and does, on that thread, everything
// the sensor does later: read the ring buffer, look the maps up, re-attach
// the loaded program to an interface deleted and created again, and join
// its promiscuous mode on the socket already open. Linux 5.19 and later
// need no capability for any of it.
func TestPrivilegedCapabilitiesAfterAttach(t *testing.T) {
	requirePrivileged(t)
	lab.Require(t, "nmap")
	l := lab.New(t)
	var live *Live
	if err := l.InTargetNS(func() (err error) {
		live, err = Attach(LiveConfig{Iface: l.VethTgt, Mode: ModeAuto, Promisc: true})
		return err
	}); err != nil {
		t.Fatalf("attach: %+v", err)
	}
	defer live.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := l.Nmap(ctx, "-sS", "-p1-30", lab.TgtIP).CombinedOutput(); err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}

	// Same name, new ifindex: what re-attach meets.
	re := l.ID + "r"
	ip := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"-n", l.NSTgt}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	ip("link", "add", re, "type", "veth", "peer", "name", l.ID+"p")
	ip("link", "del", re)
	ip("link", "add", re, "type", "veth", "peer", "name", l.ID+"p")
	ip("link", "set", re, "up")
	ip("link", "set", l.ID+"p", "up")

	_, data, err := threadCaps()
	if err != nil {
		t.Fatal(err)
	}
	need, why, err := live.neededCaps(effective(data), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("probed: keep %v: %s", need.names(), why)
	if atLeast(t, 5, 19) && need != 0 {
		t.Errorf("Linux 5.19+ should need no capability after attach, probed %v", need.names())
	}

	var steps []string
	err = l.InTargetNS(func() error {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		d := [2]unix.CapUserData{{Effective: uint32(need), Permitted: uint32(need)}, {Effective: uint32(need >> 32), Permitted: uint32(need >> 32)}}
		if err := unix.Capset(&hdr, &d[0]); err != nil {
			return fmt.Errorf("capset: %w", err)
		}
		step := func(name string, err error) error {
			steps = append(steps, fmt.Sprintf("%s: %v", name, err))
			if err != nil {
				return fmt.Errorf("%s with %v: %w", name, need.names(), err)
			}
			return nil
		}
		// The thread really has lost them: loading says so, by name.
		if _, err := LoadProgram(ProgramConfig{}); err == nil || !strings.Contains(err.Error(), "CAP_BPF") || strings.Contains(err.Error(), "verifier rejected") {
			return fmt.Errorf("loading on the reduced thread: %v", err)
		}
		// The records wait below the wakeup threshold: Flush releases them
		// (an eventfd write, as Run's flush timer does), and ReadInto
		// reads them from the mapped ring.
		var rec ringbuf.Record
		err := live.rd.Flush()
		if err == nil {
			err = live.rd.ReadInto(&rec)
		}
		if err := step("ring buffer read", err); err != nil {
			return err
		}
		if _, ok := decodeRecord(rec.RawSample); !ok {
			return errors.New("the ring record does not decode")
		}
		_, err = live.Objs.ReadCounters()
		if err := step("per-CPU counter lookups", err); err != nil {
			return err
		}
		if err := step("flow map batch lookup", live.Sweep(func(*detector.Event) {})); err != nil {
			return err
		}
		ifc, err := net.InterfaceByName(re)
		if err := step("interface lookup", err); err != nil {
			return err
		}
		for _, mode := range []link.XDPAttachFlags{link.XDPDriverMode, link.XDPGenericMode} {
			lk, err := link.AttachXDP(link.XDPOptions{Program: live.Objs.ScanwatchXdp, Interface: ifc.Index, Flags: mode})
			if err := step("XDP re-attach, "+map[link.XDPAttachFlags]string{link.XDPDriverMode: ModeNative, link.XDPGenericMode: ModeGeneric}[mode], err); err != nil {
				return err
			}
			lk.Close()
		}
		// A new AF_PACKET socket would need CAP_NET_RAW, which is why
		// re-joining uses the one already open.
		if fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err == nil {
			unix.Close(fd)
			if need&(1<<unix.CAP_NET_RAW) == 0 {
				return errors.New("a new AF_PACKET socket opened without CAP_NET_RAW: the thread did not lose it")
			}
		}
		mreq := unix.PacketMreq{Ifindex: int32(ifc.Index), Type: unix.PACKET_MR_PROMISC}
		return step("promisc re-join", unix.SetsockoptPacketMreq(live.promisc, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq))
	})
	for _, s := range steps {
		t.Log(s)
	}
	if err != nil {
		t.Fatal(err)
	}
	if out := ip("-d", "link", "show", re); !strings.Contains(out, "promiscuity 1 ") {
		t.Errorf("the re-created interface is not promiscuous:\n%s", out)
	}
}

func atLeast(t *testing.T, major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi)
	return ma > major || ma == major && mi >= minor
}
