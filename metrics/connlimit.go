package metrics

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimiter caps the connections the metrics server holds without
// letting idle clients lock out a scrape. A plain limiting listener (x/net's
// netutil) queues the newcomer until a slot frees: 64 idle keep-alive
// connections would then stall every scrape for the idle time-out. Here a
// newcomer at the cap takes the slot of the longest-idle keep-alive
// connection, else of the oldest connection that has not sent its first
// request (a slow-loris), and is refused only when every slot is busy
// answering a request.
type connLimiter struct {
	net.Listener
	max int

	mu    sync.Mutex
	conns map[net.Conn]*connSlot
}

type connSlot struct {
	state http.ConnState
	since time.Time
}

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, max: max, conns: make(map[net.Conn]*connSlot)}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if len(l.conns) >= l.max {
			victim := l.victim()
			if victim == nil {
				l.mu.Unlock()
				c.Close() // every slot is answering a request: refuse
				continue
			}
			delete(l.conns, victim)
			victim.Close()
		}
		l.conns[c] = &connSlot{state: http.StateNew, since: time.Now()}
		l.mu.Unlock()
		return c, nil
	}
}

// victim picks the longest-idle connection, else the oldest new one.
func (l *connLimiter) victim() net.Conn {
	var best net.Conn
	var bestSlot *connSlot
	for c, s := range l.conns {
		if s.state != http.StateIdle && s.state != http.StateNew {
			continue
		}
		switch {
		case bestSlot == nil,
			s.state == http.StateIdle && bestSlot.state == http.StateNew,
			s.state == bestSlot.state && s.since.Before(bestSlot.since):
			best, bestSlot = c, s
		}
	}
	return best
}

// connState is the server's ConnState hook. A TLS layer above this
// listener hands over its own conn; the one we track is underneath.
func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	if u, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = u.NetConn()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	default:
		if slot := l.conns[c]; slot != nil {
			slot.state, slot.since = s, time.Now()
		}
	}
}
