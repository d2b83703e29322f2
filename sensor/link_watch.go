package sensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// The watched interface is followed through a route netlink socket
// subscribed to link notifications (RTMGRP_LINK), written against
// golang.org/x/sys/unix: it needs three facts from each message (ifindex,
// name, moved to another namespace or not), an overflow it can resync
// after, and a lookup that asks the socket's own namespace. No capability
// is needed to open, read or query it.

// linkMsg is what one netlink message says about one interface.
type linkMsg struct {
	Kind  linkMsgKind
	Index int
	Name  string
	Moved bool // RTM_DELLINK because the interface went to another namespace
	Errno unix.Errno
}

type linkMsgKind uint8

const (
	linkNew      linkMsgKind = iota + 1 // RTM_NEWLINK: created, changed, renamed, or our lookup's answer
	linkDel                             // RTM_DELLINK: deleted or moved away
	linkAbsent                          // our lookup's answer: no interface of that name (ENODEV)
	linkNoAnswer                        // our lookup failed otherwise (Errno says why): ask again later
)

// errLinkResync says messages were lost (the socket overflowed, ENOBUFS,
// or one was truncated): what the interface is now must be asked.
var errLinkResync = errors.New("link notifications lost")

// parseLinkMsgs decodes one datagram of route netlink messages, keeping
// the link messages and the "no such device" answer to a lookup. Every
// length is checked against the buffer: a malformed message ends the
// parse with an error, never a panic.
func parseLinkMsgs(b []byte) ([]linkMsg, error) {
	var out []linkMsg
	for len(b) > 0 {
		if len(b) < unix.SizeofNlMsghdr {
			return out, fmt.Errorf("netlink: %d trailing bytes, shorter than a header", len(b))
		}
		n := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if n < unix.SizeofNlMsghdr || n > len(b) {
			return out, fmt.Errorf("netlink: message length %d in %d bytes", n, len(b))
		}
		body := b[unix.SizeofNlMsghdr:n]
		switch typ {
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			m, err := parseIfInfo(body)
			if err != nil {
				return out, err
			}
			m.Kind = linkNew
			if typ == unix.RTM_DELLINK {
				m.Kind = linkDel
			}
			out = append(out, m)
		case unix.NLMSG_ERROR:
			if len(body) < 4 {
				return out, fmt.Errorf("netlink: error message of %d bytes", len(body))
			}
			switch e := -int32(binary.NativeEndian.Uint32(body[0:4])); e {
			case 0: // an acknowledgement: nothing asked for one
			case int32(unix.ENODEV):
				out = append(out, linkMsg{Kind: linkAbsent})
			default:
				out = append(out, linkMsg{Kind: linkNoAnswer, Errno: unix.Errno(e)})
			}
		}
		adv := nlmAlign(n)
		if adv > len(b) {
			adv = len(b)
		}
		b = b[adv:]
	}
	return out, nil
}

// parseIfInfo reads an ifinfomsg and the attributes scanwatch needs.
func parseIfInfo(b []byte) (linkMsg, error) {
	var m linkMsg
	if len(b) < unix.SizeofIfInfomsg {
		return m, fmt.Errorf("netlink: link message of %d bytes, shorter than ifinfomsg", len(b))
	}
	m.Index = int(int32(binary.NativeEndian.Uint32(b[4:8])))
	attrs := b[unix.SizeofIfInfomsg:]
	for len(attrs) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(attrs[0:2]))
		typ := binary.NativeEndian.Uint16(attrs[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < unix.SizeofRtAttr || l > len(attrs) {
			return m, fmt.Errorf("netlink: attribute length %d in %d bytes", l, len(attrs))
		}
		val := attrs[unix.SizeofRtAttr:l]
		switch typ {
		case unix.IFLA_IFNAME:
			m.Name = cString(val)
		case unix.IFLA_NEW_NETNSID:
			m.Moved = true
		}
		adv := nlmAlign(l)
		if adv > len(attrs) {
			adv = len(attrs)
		}
		attrs = attrs[adv:]
	}
	return m, nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// linkWatch is the netlink socket. It lives in the network namespace it
// was opened in, whichever thread later reads it.
type linkWatch struct {
	f      *os.File
	rc     syscall.RawConn
	buf    []byte
	seq    uint32
	closed atomic.Bool
}

// watchRcvBuf holds a burst of link notifications (one to two kilobytes
// each) while the reader is busy.
const watchRcvBuf = 1 << 20

func openLinkWatch() (*linkWatch, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening a route netlink socket to watch the interface: %w", err)
	}
	// FORCE passes net.core.rmem_max with CAP_NET_ADMIN, held at start.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, watchRcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, watchRcvBuf)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("subscribing to link notifications: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netlink-route")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	// 64 KiB: a datagram larger than this is reported truncated (MSG_TRUNC)
	// and handled as lost messages.
	return &linkWatch{f: f, rc: rc, buf: make([]byte, 64<<10)}, nil
}

// next blocks for the next datagram from the kernel. It returns
// errLinkResync when messages were lost, os.ErrClosed once closed.
func (w *linkWatch) next() ([]linkMsg, error) {
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := w.rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), w.buf, unix.MSG_TRUNC)
			return rerr != unix.EAGAIN && rerr != unix.EINTR
		})
		switch {
		case w.closed.Load():
			return nil, os.ErrClosed
		case err != nil:
			return nil, err
		case errors.Is(rerr, unix.ENOBUFS):
			return nil, errLinkResync
		case rerr != nil:
			return nil, fmt.Errorf("reading link notifications: %w", rerr)
		case n > len(w.buf):
			return nil, errLinkResync
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // only the kernel speaks for the interfaces
		}
		msgs, err := parseLinkMsgs(w.buf[:n])
		if err != nil {
			// A message we cannot read may have been about our interface.
			return msgs, errLinkResync
		}
		return msgs, nil
	}
}

// lookup asks the kernel for the interface called name, in the socket's
// own namespace. The answer arrives through next, in order with the
// notifications: an RTM_NEWLINK, or linkAbsent when there is none.
func (w *linkWatch) lookup(name string) error {
	if len(name) >= unix.IFNAMSIZ {
		return fmt.Errorf("interface name %q is too long", name)
	}
	attrLen := unix.SizeofRtAttr + len(name) + 1
	total := unix.SizeofNlMsghdr + unix.SizeofIfInfomsg + nlmAlign(attrLen)
	req := make([]byte, total)
	w.seq++
	binary.NativeEndian.PutUint32(req[0:4], uint32(total))
	binary.NativeEndian.PutUint16(req[4:6], unix.RTM_GETLINK)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(req[8:12], w.seq)
	a := req[unix.SizeofNlMsghdr+unix.SizeofIfInfomsg:]
	binary.NativeEndian.PutUint16(a[0:2], uint16(attrLen))
	binary.NativeEndian.PutUint16(a[2:4], unix.IFLA_IFNAME)
	copy(a[unix.SizeofRtAttr:], name)
	var serr error
	err := w.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN && serr != unix.EINTR
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("asking the kernel for interface %s: %w", name, err)
	}
	return nil
}

// Close ends a blocked next with os.ErrClosed. Safe to call twice.
func (w *linkWatch) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	return w.f.Close()
}
