// Command capdrop attaches the sensor as 'scanwatch run --promisc' does,
// then keeps only CAP_NET_ADMIN and CAP_BPF on every thread, as a
// capability-dropping scanwatch will, and runs it until SIGINT. The link
// tests use it to prove a re-attach needs nothing more. Build it with
// CGO_ENABLED=0: AllThreadsSyscall refuses to run under cgo.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/sensor"
)

func main() {
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "capdrop:", err)
		os.Exit(1)
	}
}

func run(iface string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	live, err := sensor.Attach(sensor.LiveConfig{Iface: iface, Promisc: true, Log: log})
	if err != nil {
		return err
	}
	defer live.Close()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[unix.CAP_NET_ADMIN/32].Permitted |= 1 << (unix.CAP_NET_ADMIN % 32)
	data[unix.CAP_BPF/32].Permitted |= 1 << (unix.CAP_BPF % 32)
	for i := range data {
		data[i].Effective = data[i].Permitted
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	// Proof the drop took: an AF_PACKET socket needs CAP_NET_RAW.
	if fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0); err == nil {
		unix.Close(fd)
		return fmt.Errorf("CAP_NET_RAW still held after the drop")
	}
	log.Info("capabilities dropped", "kept", "cap_net_admin,cap_bpf")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return live.Run(ctx, func(*detector.Event) {})
}
