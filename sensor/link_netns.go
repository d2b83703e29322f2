package sensor

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// BPF_LINK_CREATE resolves an ifindex in the calling thread's network
// namespace. A re-attach runs on whichever thread Run is on, which need
// not be in the namespace Attach ran in (a caller may attach from a
// thread moved into a namespace, as the tests do): there the same ifindex
// is another interface. attachNetns is the namespace Attach ran in; do
// runs a function on a thread in it, or refuses.
type attachNetns struct {
	f        *os.File // /proc/thread-self/ns/net as at Attach
	dev, ino uint64
}

func currentNetns() (*attachNetns, error) {
	f, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, err
	}
	return &attachNetns{f: f, dev: st.Dev, ino: st.Ino}, nil
}

// do runs fn on a locked thread of the namespace. If the thread is
// elsewhere it is moved there (which needs CAP_SYS_ADMIN) and then
// discarded with its goroutine, never handed back to other code.
func (n *attachNetns) do(fn func() error) error {
	if n == nil {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err == nil && st.Dev == n.dev && st.Ino == n.ino {
			err := fn()
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		if err := unix.Setns(int(n.f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread() // never moved: safe to hand back
			errc <- fmt.Errorf("the interface is in the network namespace scanwatch attached in (inode %d) and this thread is not; moving it there needs CAP_SYS_ADMIN: %w", n.ino, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func (n *attachNetns) Close() error {
	if n == nil {
		return nil
	}
	return n.f.Close()
}
