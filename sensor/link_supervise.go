package sensor

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// LinkLossPolicy is what Run does when the watched interface goes away
// (deleted, renamed, moved to another network namespace). Whatever the
// policy, the loss is logged at ERROR and reported through OnLink.
type LinkLossPolicy uint8

const (
	// LinkReattach (the default) keeps running and attaches the same
	// loaded program to the next interface of the watched name: maps,
	// ring buffer, flow tracker and the detector's state carry over.
	LinkReattach LinkLossPolicy = iota
	// LinkExit makes Run return an error, so the process exits non-zero
	// and a service manager restarts it.
	LinkExit
	// LinkWait keeps running, detached, until stopped.
	LinkWait
)

// linkState follows the watched name: index is the ifindex the program
// is attached to, 0 while it is not.
type linkState struct {
	name  string
	index int
}

// linkVerdict is what one message means: lost is why the program's
// interface is gone ("" if it is not); back is the ifindex of an
// interface of the watched name while the program is on none (0 if none).
// A single message can carry both: the interface was replaced.
type linkVerdict struct {
	lost string
	back int
}

// apply updates s with m. It never attaches; the caller does, and sets
// s.index when that succeeds.
func (s *linkState) apply(m linkMsg) linkVerdict {
	var v linkVerdict
	if s.index != 0 {
		switch {
		case m.Kind == linkDel && m.Index == s.index && m.Moved:
			v.lost = "moved to another network namespace"
		case m.Kind == linkDel && m.Index == s.index:
			v.lost = "deleted"
		case m.Kind == linkNew && m.Index == s.index && m.Name != "" && m.Name != s.name:
			v.lost = "renamed to " + m.Name
		case m.Kind == linkNew && m.Index != s.index && m.Name == s.name:
			// Names are unique in a namespace: ours went while messages
			// about it were lost.
			v.lost = fmt.Sprintf("replaced by a new interface of the same name (ifindex %d)", m.Index)
		case m.Kind == linkAbsent:
			v.lost = "gone (notifications were lost; the kernel has no interface of that name now)"
		}
		if v.lost != "" {
			s.index = 0
		}
	}
	if s.index == 0 && m.Kind == linkNew && m.Name == s.name && m.Index > 0 {
		v.back = m.Index
	}
	return v
}

// supervisor is Run's view of the interface: the netlink socket opened in
// Attach, its reader goroutine, and the re-attach retry timer.
type supervisor struct {
	w       *linkWatch
	netns   *attachNetns // where Attach ran; nil if /proc could not say
	st      linkState
	batches chan linkBatch
	stop    chan struct{}
	done    chan struct{}
	retry   *time.Timer // set while a failed re-attach waits
	backoff time.Duration
	waiting bool // LinkWait: "not re-attaching" logged since the loss
}

// linkBatch is one datagram's messages, or why there are none.
type linkBatch struct {
	msgs []linkMsg
	err  error // errLinkResync, or the socket failed for good
}

// Re-attach attempts after a failure: 1 s, doubling up to 30 s.
const (
	retryFirst = time.Second
	retryMax   = 30 * time.Second
)

func (s *supervisor) start() {
	s.batches = make(chan linkBatch)
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		for {
			msgs, err := s.w.next()
			if errors.Is(err, os.ErrClosed) {
				return
			}
			select {
			case s.batches <- linkBatch{msgs, err}:
			case <-s.stop:
				return
			}
			if err != nil && !errors.Is(err, errLinkResync) {
				return
			}
		}
	}()
}

// end stops the reader goroutine and closes the socket.
func (s *supervisor) end() {
	close(s.stop)
	s.w.Close()
	<-s.done
	if s.retry != nil {
		s.retry.Stop()
	}
}

func (s *supervisor) retryC() <-chan time.Time {
	if s.retry == nil {
		return nil
	}
	return s.retry.C
}

// onBatch handles one datagram; a non-nil error ends Run (LinkExit).
func (l *Live) onBatch(b linkBatch) error {
	s := l.sup
	for _, m := range b.msgs {
		if m.Kind == linkNoAnswer {
			l.cfg.Log.Warn("the kernel did not answer for the interface; asking again later", "iface", l.cfg.Iface, "err", m.Errno)
			if s.retry == nil {
				l.scheduleRetry()
			}
			continue
		}
		if err := l.onVerdict(s.st.apply(m)); err != nil {
			return err
		}
	}
	switch {
	case errors.Is(b.err, errLinkResync):
		l.cfg.Log.Warn("link notifications lost (netlink socket overflowed): asking the kernel for the interface again", "iface", l.cfg.Iface)
		l.lookup()
	case b.err != nil:
		l.sup.batches = nil
		l.cfg.Log.Error("watching the interface stopped: a deleted or re-created interface will go unnoticed; restart scanwatch",
			"iface", l.cfg.Iface, "err", b.err)
	}
	return nil
}

// onRetry is the retry timer: ask for the interface again; the answer
// re-attaches if it is there.
func (l *Live) onRetry() {
	l.sup.retry = nil
	l.lookup()
}

func (l *Live) lookup() {
	if err := l.sup.w.lookup(l.cfg.Iface); err != nil {
		l.cfg.Log.Error("looking the interface up failed", "iface", l.cfg.Iface, "err", err)
		l.scheduleRetry()
	}
}

func (l *Live) onVerdict(v linkVerdict) error {
	if v.lost != "" {
		if err := l.lost(v.lost); err != nil {
			return err
		}
	}
	if v.back == 0 {
		return nil
	}
	switch {
	case l.cfg.LinkLoss == LinkWait:
		if !l.sup.waiting {
			l.sup.waiting = true
			l.cfg.Log.Warn("an interface of the watched name is back; not re-attaching (re-attach is off): restart scanwatch to watch it",
				"iface", l.cfg.Iface, "ifindex", v.back)
		}
	case l.sup.retry != nil:
		// A failed attempt waits out its back-off; the timer asks again.
	default:
		l.reattach(v.back)
	}
	return nil
}

// lost takes the program off an interface that is no longer the watched
// one: closing a deleted interface's bpf_link is harmless, and on a
// renamed or moved interface it detaches the program from a device no
// one asked to watch. The AF_PACKET socket's promiscuous membership goes
// with it (the kernel already dropped it if the device is gone).
func (l *Live) lost(reason string) error {
	idx := l.Ifindex
	if l.link != nil {
		if err := l.link.Close(); err != nil {
			l.cfg.Log.Debug("closing the old bpf_link", "err", err)
		}
		l.link = nil
	}
	if l.egress != nil {
		if err := l.egress.Close(); err != nil {
			l.cfg.Log.Debug("closing the old egress bpf_link", "err", err)
		}
		l.egress = nil
	}
	if l.promisc >= 0 {
		mreq := unix.PacketMreq{Ifindex: int32(idx), Type: unix.PACKET_MR_PROMISC}
		_ = unix.SetsockoptPacketMreq(l.promisc, unix.SOL_PACKET, unix.PACKET_DROP_MEMBERSHIP, &mreq)
	}
	l.sup.waiting = false
	if l.cfg.OnLink != nil {
		l.cfg.OnLink(false)
	}
	var action string
	switch l.cfg.LinkLoss {
	case LinkExit:
		action = "exiting (--exit-on-link-loss): let the service manager restart scanwatch"
	case LinkWait:
		action = "re-attach is off (--reattach=false): restart scanwatch once the interface is back"
	default:
		action = fmt.Sprintf("scanwatch re-attaches by itself when an interface named %s appears; check 'ip link show %s'", l.cfg.Iface, l.cfg.Iface)
	}
	l.cfg.Log.Error("watched interface lost: the XDP program sees no traffic", "iface", l.cfg.Iface, "ifindex", idx, "reason", reason, "action", action)
	if l.cfg.LinkLoss == LinkExit {
		return fmt.Errorf("interface %s (ifindex %d) %s: exiting as --exit-on-link-loss asks", l.cfg.Iface, idx, reason)
	}
	return nil
}

// reattach puts the same loaded program on the new interface with the
// same mode logic. Only BPF_LINK_CREATE and a setsockopt on the socket
// opened at start are needed, no program load and no new socket: on
// Linux 5.19 and later no capability at all (DropCapabilities probes it).
func (l *Live) reattach(index int) {
	old := l.Ifindex
	l.Ifindex = index
	if err := l.sup.netns.do(l.attach); err != nil {
		l.Ifindex = old
		d := l.scheduleRetry()
		l.cfg.Log.Error("re-attaching the XDP program failed; trying again later", "iface", l.cfg.Iface, "ifindex", index, "retry_in", d, "err", err)
		return
	}
	l.sup.st.index, l.sup.backoff = index, 0
	if l.promisc >= 0 {
		mreq := unix.PacketMreq{Ifindex: int32(index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(l.promisc, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			l.cfg.Log.Error("the re-attached interface is not promiscuous: frames not addressed to it go unseen", "iface", l.cfg.Iface, "err", err)
		}
	}
	l.cfg.Log.Info("XDP program re-attached", "iface", l.cfg.Iface, "ifindex", index, "mode", l.Mode)
	if l.cfg.OnLink != nil {
		l.cfg.OnLink(true)
	}
}

func (l *Live) scheduleRetry() time.Duration {
	s := l.sup
	switch {
	case s.backoff == 0:
		s.backoff = retryFirst
	case s.backoff < retryMax:
		s.backoff = min(2*s.backoff, retryMax)
	}
	if s.retry != nil {
		s.retry.Stop()
	}
	s.retry = time.NewTimer(s.backoff)
	return s.backoff
}
