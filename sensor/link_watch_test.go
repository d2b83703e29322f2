package sensor

import (
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nlLink builds one RTM_NEWLINK or RTM_DELLINK message as the kernel
// sends it: nlmsghdr, ifinfomsg, then attributes (name, optionally the
// new namespace's id, and one unrelated attribute).
func nlLink(typ uint16, index int32, name string, moved bool) []byte {
	var attrs []byte
	attr := func(t uint16, v []byte) {
		a := make([]byte, nlmAlign(unix.SizeofRtAttr+len(v)))
		binary.NativeEndian.PutUint16(a[0:2], uint16(unix.SizeofRtAttr+len(v)))
		binary.NativeEndian.PutUint16(a[2:4], t)
		copy(a[unix.SizeofRtAttr:], v)
		attrs = append(attrs, a...)
	}
	attr(unix.IFLA_MTU, []byte{0xdc, 0x05, 0, 0})
	if name != "" {
		attr(unix.IFLA_IFNAME, append([]byte(name), 0))
	}
	if moved {
		attr(unix.IFLA_NEW_NETNSID, []byte{1, 0, 0, 0})
	}
	b := make([]byte, unix.SizeofNlMsghdr+unix.SizeofIfInfomsg, unix.SizeofNlMsghdr+unix.SizeofIfInfomsg+len(attrs))
	b = append(b, attrs...)
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint32(b[unix.SizeofNlMsghdr+4:], uint32(index))
	return b
}

// nlErr builds the NLMSG_ERROR answer to a request.
func nlErr(errno unix.Errno) []byte {
	b := make([]byte, unix.SizeofNlMsghdr+4+unix.SizeofNlMsghdr)
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], unix.NLMSG_ERROR)
	binary.NativeEndian.PutUint32(b[unix.SizeofNlMsghdr:], uint32(-int32(errno)))
	return b
}

func TestParseLinkMsgs(t *testing.T) {
	dgram := append(append(nlLink(unix.RTM_NEWLINK, 7, "eth0", false), nlLink(unix.RTM_DELLINK, 9, "veth1", true)...), nlErr(unix.ENODEV)...)
	got, err := parseLinkMsgs(dgram)
	if err != nil {
		t.Fatal(err)
	}
	want := []linkMsg{{Kind: linkNew, Index: 7, Name: "eth0"}, {Kind: linkDel, Index: 9, Name: "veth1", Moved: true}, {Kind: linkAbsent}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	// Other errors are a lookup to repeat; an acknowledgement and other
	// message types say nothing of the link.
	got, err = parseLinkMsgs(append(append(nlErr(unix.ENOBUFS), nlErr(0)...), nlLink(unix.RTM_NEWADDR, 7, "", false)...))
	if err != nil || len(got) != 1 || got[0] != (linkMsg{Kind: linkNoAnswer, Errno: unix.ENOBUFS}) {
		t.Errorf("ENOBUFS answer, ack and RTM_NEWADDR: %+v, %v", got, err)
	}
}

func TestParseLinkMsgsMalformed(t *testing.T) {
	good := nlLink(unix.RTM_NEWLINK, 7, "eth0", false)
	cases := map[string][]byte{
		"short header":       good[:10],
		"length past buffer": good[:len(good)-4],
		"length below header": func() []byte {
			b := append([]byte(nil), good...)
			binary.NativeEndian.PutUint32(b[0:4], 8)
			return b
		}(),
		"no ifinfomsg": func() []byte {
			b := append([]byte(nil), good[:unix.SizeofNlMsghdr+8]...)
			binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
			return b
		}(),
		"attribute past message": func() []byte {
			b := append([]byte(nil), good...)
			binary.NativeEndian.PutUint16(b[unix.SizeofNlMsghdr+unix.SizeofIfInfomsg:], 200)
			return b
		}(),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := parseLinkMsgs(b); err == nil {
				t.Error("no error")
			}
		})
	}
}

func FuzzParseLinkMsgs(f *testing.F) {
	f.Add(nlLink(unix.RTM_NEWLINK, 7, "eth0", false))
	f.Add(append(nlLink(unix.RTM_DELLINK, 7, "eth0", true), nlErr(unix.ENODEV)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseLinkMsgs(b)
	})
}

func TestLinkStateApply(t *testing.T) {
	const name, idx = "eth0", 7
	cases := []struct {
		name     string
		attached bool
		msg      linkMsg
		lost     string
		back     int
	}{
		{"deleted", true, linkMsg{Kind: linkDel, Index: idx, Name: name}, "deleted", 0},
		{"moved to another namespace", true, linkMsg{Kind: linkDel, Index: idx, Name: name, Moved: true}, "moved to another network namespace", 0},
		{"renamed away", true, linkMsg{Kind: linkNew, Index: idx, Name: "old0"}, "renamed to old0", 0},
		{"flags change", true, linkMsg{Kind: linkNew, Index: idx, Name: name}, "", 0},
		{"another interface deleted", true, linkMsg{Kind: linkDel, Index: 8, Name: "eth1"}, "", 0},
		{"another interface created", true, linkMsg{Kind: linkNew, Index: 8, Name: "eth1"}, "", 0},
		{"replaced unseen", true, linkMsg{Kind: linkNew, Index: 12, Name: name}, "replaced by a new interface of the same name (ifindex 12)", 12},
		{"lookup: still there", true, linkMsg{Kind: linkNew, Index: idx, Name: name}, "", 0},
		{"lookup: gone", true, linkMsg{Kind: linkAbsent}, "gone (notifications were lost; the kernel has no interface of that name now)", 0},
		{"back", false, linkMsg{Kind: linkNew, Index: 12, Name: name}, "", 12},
		{"renamed back", false, linkMsg{Kind: linkNew, Index: idx, Name: name}, "", idx},
		{"lost: other name", false, linkMsg{Kind: linkNew, Index: 12, Name: "eth1"}, "", 0},
		{"lost: deletion of the old one again", false, linkMsg{Kind: linkDel, Index: idx, Name: name}, "", 0},
		{"lost: lookup finds nothing", false, linkMsg{Kind: linkAbsent}, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := linkState{name: name}
			if c.attached {
				s.index = idx
			}
			v := s.apply(c.msg)
			if v.lost != c.lost || v.back != c.back {
				t.Errorf("got lost %q back %d, want lost %q back %d", v.lost, v.back, c.lost, c.back)
			}
			if v.lost != "" && s.index != 0 {
				t.Errorf("index %d after a loss", s.index)
			}
		})
	}
}

// A real socket in a namespace of its own: the lookup answers in order
// with the notifications, and a reader that falls behind is told to
// resync (ENOBUFS) instead of missing a deletion silently.
func TestPrivilegedLinkWatch(t *testing.T) {
	requirePrivileged(t)
	type result struct {
		lo, absent []linkMsg
		overflow   error
		err        error
	}
	res := make(chan result, 1)
	go func() {
		// The thread is never handed back: it dies with the goroutine.
		runtime.LockOSThread()
		var r result
		defer func() { res <- r }()
		if r.err = unix.Unshare(unix.CLONE_NEWNET); r.err != nil {
			return
		}
		w, err := openLinkWatch()
		if r.err = err; err != nil {
			return
		}
		defer w.Close()
		if r.err = w.lookup("lo"); r.err != nil {
			return
		}
		if r.lo, r.err = w.next(); r.err != nil {
			return
		}
		if r.err = w.lookup("nosuch0"); r.err != nil {
			return
		}
		if r.absent, r.err = w.next(); r.err != nil {
			return
		}
		// A tiny receive buffer and a burst of MTU changes on lo, each an
		// RTM_NEWLINK, unread.
		r.err = w.rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 1024) })
		if r.err != nil {
			return
		}
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if r.err = err; err != nil {
			return
		}
		defer unix.Close(s)
		for i := range 200 {
			ifr, _ := unix.NewIfreq("lo")
			ifr.SetUint32(uint32(1280 + i%2))
			if r.err = unix.IoctlIfreq(s, unix.SIOCSIFMTU, ifr); r.err != nil {
				return
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := w.next(); err != nil {
				r.overflow = err
				return
			}
		}
	}()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.lo) != 1 || r.lo[0].Kind != linkNew || r.lo[0].Name != "lo" || r.lo[0].Index != 1 {
		t.Errorf("lookup of lo: %+v", r.lo)
	}
	if len(r.absent) != 1 || r.absent[0].Kind != linkAbsent {
		t.Errorf("lookup of a missing interface: %+v", r.absent)
	}
	if !errors.Is(r.overflow, errLinkResync) {
		t.Errorf("after an overflow: %v, want errLinkResync", r.overflow)
	}
}
