package sensor

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/scanwatch/scanwatch/bpf"
)

// errCgo: Go changes the capabilities of every thread only through
// syscall.AllThreadsSyscall, which refuses in a binary linked with cgo.
var errCgo = errors.New("this binary is linked with cgo, where Go cannot change the capabilities of all threads: build it with CGO_ENABLED=0, as 'make build' and the Dockerfile do")

// probeCaps are the capabilities a probe may find an operation needs.
var probeCaps = []capability{capBPF, capNetAdmin, capPerfmon, capSysAdmin}

// DropCapabilities gives up, in every thread, each capability the
// attached sensor no longer needs, clears the ambient set and the
// inheritable set, empties the bounding set as far as CAP_SETPCAP allows,
// and sets no_new_privs, so no later execve can gain anything either.
//
// What stays is probed on this kernel, not assumed: a map read (what the
// flow-map sweep and /metrics do) and, with keepReattach, an XDP
// attach of the loaded program (what re-attaching to a re-created
// interface does), each tried on one thread with subsets of the
// capabilities held. On Linux 6.18 both need none; kernels before 5.19
// with kernel.unprivileged_bpf_disabled set gate every bpf() command
// behind CAP_BPF, and then CAP_BPF stays. Reading the ring buffer (mmap)
// and joining promiscuous mode again on the AF_PACKET socket already open
// need none on any kernel.
//
// It returns the names of the capabilities kept and logs what it did.
// On error the process may keep some or all of its capabilities.
func (l *Live) DropCapabilities(keepReattach bool) (kept []string, err error) {
	_, data, err := threadCaps()
	if err != nil {
		return nil, fmt.Errorf("reading capabilities: %w", err)
	}
	held := effective(data)
	keep, why, err := l.neededCaps(held, keepReattach)
	if err != nil {
		return nil, err
	}
	bounding, err := dropAllBut(keep, held)
	if err != nil {
		return nil, err
	}
	if _, data, err = threadCaps(); err != nil {
		return nil, fmt.Errorf("reading capabilities after the drop: %w", err)
	}
	if effective(data) != keep || permitted(data) != keep {
		return nil, fmt.Errorf("after the drop the process holds %v (permitted %v), not %v", effective(data).names(), permitted(data).names(), keep.names())
	}
	kept = keep.names()
	remaining := "none"
	if len(kept) > 0 {
		remaining = fmt.Sprint(kept)
	}
	l.cfg.Log.Info("capabilities dropped", "remaining", remaining, "why", why, "reattach", keepReattach, "bounding_set", bounding, "no_new_privs", true)
	return kept, nil
}

// neededCaps probes what the sensor still needs after attach.
func (l *Live) neededCaps(held capSet, keepReattach bool) (capSet, string, error) {
	var cand []capability
	for _, c := range probeCaps {
		if held.has(c) {
			cand = append(cand, c)
		}
	}
	read, err := minimalCaps(cand, onThreadWith(l.probeMapRead))
	if err != nil {
		return 0, "", fmt.Errorf("probing what map reads need: %w", err)
	}
	why := "map reads need " + describe(read)
	need := read
	if keepReattach {
		attach, err := minimalCaps(cand, onThreadWith(l.probeAttach))
		if err != nil {
			return 0, "", fmt.Errorf("probing what re-attach needs: %w", err)
		}
		why += ", re-attach needs " + describe(attach)
		need |= attach
	}
	return need, why + " (probed on this kernel); the ring buffer and the open AF_PACKET socket need none", nil
}

func describe(s capSet) string {
	if s == 0 {
		return "no capability"
	}
	return fmt.Sprint(s.names())
}

// probeMapRead does what the sweep and a scrape do: a per-CPU lookup and
// a batch lookup. It reports false on a permission error.
func (l *Live) probeMapRead() (bool, error) {
	var per []bpf.ScanwatchCounterSet
	err := l.Objs.Counters.Lookup(uint32(0), &per)
	if err == nil {
		keys := make([]bpf.ScanwatchFlowKey, 16)
		vals := make([]bpf.ScanwatchFlowValue, 16)
		var cursor ebpf.MapBatchCursor
		_, err = l.Objs.Flows.BatchLookup(&cursor, keys, vals, nil)
		// The end of the map, or a hash bucket fuller than the batch:
		// either way the kernel ran the command.
		if errors.Is(err, ebpf.ErrKeyNotExist) || errors.Is(err, unix.ENOSPC) {
			err = nil
		}
	}
	return permission(err)
}

// probeAttach does what re-attaching does, BPF_LINK_CREATE for the
// loaded program, on an ifindex no interface has: past the permission
// checks the kernel looks the device up and says EINVAL, so nothing is
// ever attached, whatever network namespace the probing thread is in.
// TestPrivilegedCapabilitiesAfterAttach re-attaches for real with what
// this finds.
func (l *Live) probeAttach() (bool, error) {
	ok, err := linkProbe(link.AttachXDP(link.XDPOptions{Program: l.Objs.ScanwatchXdp, Interface: math.MaxInt32}))
	if !ok || err != nil || l.egress == nil {
		return ok, err
	}
	// The egress program re-attaches too, when it could attach at all.
	return linkProbe(link.AttachTCX(link.TCXOptions{Program: l.Objs.ScanwatchEgress, Interface: math.MaxInt32, Attach: ebpf.AttachTCXEgress}))
}

// linkProbe sorts a BPF_LINK_CREATE on an ifindex no interface has.
func linkProbe(lk link.Link, err error) (bool, error) {
	if err == nil {
		lk.Close()
		return true, nil
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENODEV) {
		return true, nil
	}
	return permission(err)
}

// permission sorts an operation's error: nil is allowed, EPERM or EACCES
// is denied, anything else is a probe that could not tell.
func permission(err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return false, nil
	}
	return false, err
}

// minimalCaps finds the smallest subset of cand (earlier entries first
// among subsets of one size) that try allows.
func minimalCaps(cand []capability, try func(capSet) (bool, error)) (capSet, error) {
	n := len(cand)
	for size := 0; size <= n; size++ {
		for mask := 0; mask < 1<<n; mask++ {
			if bits.OnesCount(uint(mask)) != size {
				continue
			}
			var s capSet
			for i, c := range cand {
				if mask&(1<<i) != 0 {
					s = s.with(c)
				}
			}
			ok, err := try(s)
			if err != nil {
				return 0, err
			}
			if ok {
				return s, nil
			}
		}
	}
	return 0, errors.New("denied even with every capability held")
}

// onThreadWith makes a try for minimalCaps: it runs op on a locked thread
// whose effective set is lowered to the subset tried (the permitted set
// is left alone), then raises it back, so that every thread has the same
// sets again before anything calls AllThreadsSyscall (which kills the
// program when threads disagree). The thread is never unlocked: it exits
// with the goroutine, and no other code ever runs on it. Threads the
// runtime starts meanwhile are cloned from its template thread, not from
// a locked one.
func onThreadWith(op func() (bool, error)) func(capSet) (bool, error) {
	return func(eff capSet) (bool, error) { return withEffective(eff, op) }
}

func withEffective(eff capSet, op func() (bool, error)) (bool, error) {
	type result struct {
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		hdr, saved, err := threadCaps()
		if err != nil {
			done <- result{false, err}
			return
		}
		lowered := saved
		lowered[0].Effective = uint32(eff) & saved[0].Permitted
		lowered[1].Effective = uint32(eff>>32) & saved[1].Permitted
		if err := unix.Capset(&hdr, &lowered[0]); err != nil {
			done <- result{false, fmt.Errorf("lowering one thread's capabilities: %w", err)}
			return
		}
		ok, err := op()
		if rerr := unix.Capset(&hdr, &saved[0]); rerr != nil {
			err = fmt.Errorf("restoring one thread's capabilities: %w", rerr)
		}
		done <- result{ok, err}
	}()
	r := <-done
	return r.ok, r.err
}

// dropAllBut leaves every thread with keep as its effective and permitted
// sets and nothing else. It says what became of the bounding set.
func dropAllBut(keep, held capSet) (bounding string, err error) {
	// First, because it changes nothing that matters: in a cgo binary
	// this is where ENOTSUP comes back, before anything else is done.
	if err := allThreads(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return "", errCgo
		}
		return "", fmt.Errorf("clearing the ambient set: %w", err)
	}
	// The bounding set limits what an execve could ever grant. Dropping
	// from it needs CAP_SETPCAP, which root has and the ambient or file
	// capability set scanwatch documents does not; there no_new_privs
	// below does the same job.
	bounding = "left as the launcher set it (no CAP_SETPCAP)"
	if held&(1<<unix.CAP_SETPCAP) != 0 {
		for c := 0; c < 64; c++ {
			if keep&(1<<c) != 0 {
				continue
			}
			err := allThreads(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
			if errors.Is(err, unix.EINVAL) {
				break // past the kernel's last capability
			}
			if err != nil {
				return "", fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
			}
		}
		bounding = "cleared"
		if keep != 0 {
			bounding = fmt.Sprint("reduced to ", keep.names())
		}
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return "", fmt.Errorf("setting no_new_privs: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(keep), Permitted: uint32(keep)},
		{Effective: uint32(keep >> 32), Permitted: uint32(keep >> 32)},
	}
	// Called directly, so that the pointers stay valid (uintptrescapes).
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return "", fmt.Errorf("capset: %w", e)
	}
	return bounding, nil
}

func allThreads(trap, a1, a2, a3, a4, a5 uintptr) error {
	if _, _, e := syscall.AllThreadsSyscall6(trap, a1, a2, a3, a4, a5, 0); e != 0 {
		return e
	}
	return nil
}
