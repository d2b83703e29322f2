package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Services are real TCP and UDP servers in the target namespace, for the
// credit tests (issue 11): a host with many open ports for nmap to find,
// request/response services for health checkers and busy clients, an FTP
// server whose passive downloads open data connections to many high
// ports, and UDP services that answer every datagram. Their sockets are
// made on a thread inside the target namespace and served from ordinary
// goroutines; they listen on every target address (the target owns all of
// 203.0.113.0/24). Every connection has a deadline, and everything is
// closed when the test ends.
//
// The counters are the target's own view of the traffic, the referee of
// the benign cases: they prove the clients really exchanged data.
type Services struct {
	Accepted  atomic.Int64 // TCP connections accepted on the request/response ports
	Requests  atomic.Int64 // requests answered there
	Transfers atomic.Int64 // FTP passive downloads completed
	Datagrams atomic.Int64 // UDP datagrams answered

	t       testing.TB
	mu      sync.Mutex
	closers []io.Closer
	wg      sync.WaitGroup
}

// connDeadline bounds every connection a service serves.
const connDeadline = 5 * time.Second

// ftpBlob is the file every FTP download returns: more than one segment,
// so the client's ACKs of the server's data are on the wire.
var ftpBlob = []byte(strings.Repeat("scanwatch lab passive download\n", 200))

// NewServices returns an empty set, closed when the test ends.
func (l *Lab) NewServices(t testing.TB) *Services {
	s := &Services{t: t}
	t.Cleanup(s.close)
	return s
}

func (s *Services) close() {
	s.mu.Lock()
	for _, c := range s.closers {
		c.Close()
	}
	s.closers = nil
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Services) keep(c io.Closer) {
	s.mu.Lock()
	s.closers = append(s.closers, c)
	s.mu.Unlock()
}

// inNamespace runs fn on an OS thread moved into namespace ns and never
// handed back to the scheduler (the goroutine exits locked, so its thread
// dies with it): sockets made by fn belong to ns, and no other code ever
// runs there by accident.
func inNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// listenTCP opens TCP listeners on ports of every target address, IPv4
// and IPv6.
func (l *Lab) listenTCP(t testing.TB, ports []int) []net.Listener {
	t.Helper()
	var lns []net.Listener
	err := inNamespace(l.NSTgt, func() error {
		for _, p := range ports {
			ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
			if err != nil {
				for _, o := range lns {
					o.Close()
				}
				return err
			}
			lns = append(lns, ln)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listening on the target: %v", err)
	}
	return lns
}

// serve accepts on ln until it is closed, handling each connection in its
// own goroutine under connDeadline.
func (s *Services) serve(ln net.Listener, handle func(net.Conn)) {
	s.keep(ln)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(connDeadline))
				handle(c)
			}()
		}
	}()
}

// TCP opens request/response services on ports: each connection's request
// (up to an empty line, 4 KB, or a second without data) is answered with
// a small HTTP/1.0 response, and the connection closed; a client that
// sends nothing (a connect scan) is closed without an answer.
func (s *Services) TCP(l *Lab, ports ...int) { s.tcp(l, "", ports) }

// SSHBanner is what an OpenSSH server says first.
const SSHBanner = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"

// SpeakFirst opens services like TCP's that greet each client with
// banner on accept, before it sends anything, as SSH, SMTP and FTP
// servers do.
func (s *Services) SpeakFirst(l *Lab, banner string, ports ...int) { s.tcp(l, banner, ports) }

func (s *Services) tcp(l *Lab, banner string, ports []int) {
	for _, ln := range l.listenTCP(s.t, ports) {
		s.serve(ln, func(c net.Conn) {
			s.Accepted.Add(1)
			if banner != "" {
				if _, err := io.WriteString(c, banner); err != nil {
					return
				}
			}
			if !readRequest(c) {
				return
			}
			body := "ok\n"
			fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
			s.Requests.Add(1)
		})
	}
}

// readRequest reads a request head; false when the client sent nothing.
func readRequest(c net.Conn) bool {
	var got []byte
	buf := make([]byte, 4096)
	for len(got) < 4096 {
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if strings.Contains(string(got), "\r\n\r\n") || err != nil {
			break
		}
	}
	c.SetDeadline(time.Now().Add(connDeadline))
	return len(got) > 0
}

// FTP runs a passive-mode FTP server on ctl (USER, PASS, PWD, CWD, TYPE,
// SIZE, EPSV, PASV, RETR, QUIT; anything else 502), as curl drives one:
// each EPSV or PASV hands out the next of the passive ports in turn, and
// RETR sends ftpBlob over the data connection the client opened to it.
// So one client downloading n files opens n data connections to n high
// ports, the way a passive FTP session looks on the wire.
func (s *Services) FTP(l *Lab, ctl int, passive []int) {
	lns := l.listenTCP(s.t, append([]int{ctl}, passive...))
	type dataPort struct {
		port  int
		conns chan net.Conn
	}
	pasv := make([]dataPort, len(passive))
	for i, ln := range lns[1:] {
		pasv[i] = dataPort{passive[i], make(chan net.Conn, 4)}
		s.serve(ln, func(c net.Conn) {
			done := make(chan struct{})
			// The control connection writes the file and closes done.
			select {
			case pasv[i].conns <- &doneConn{c, done}:
			default:
				return
			}
			select {
			case <-done:
			case <-time.After(connDeadline):
			}
		})
	}
	var next atomic.Int64
	s.serve(lns[0], func(c net.Conn) {
		r := bufio.NewReader(c)
		reply := func(format string, a ...any) { fmt.Fprintf(c, format+"\r\n", a...) }
		reply("220 scanwatch lab FTP")
		var cur *dataPort
		for {
			// An idle limit, not the connection's: a session may
			// download many files.
			c.SetDeadline(time.Now().Add(connDeadline))
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			switch strings.ToUpper(cmd) {
			case "USER":
				reply("331 password please")
			case "PASS":
				reply("230 logged in")
			case "PWD":
				reply(`257 "/"`)
			case "CWD":
				reply("250 ok")
			case "TYPE":
				reply("200 ok")
			case "SIZE":
				reply("213 %d", len(ftpBlob))
			case "EPSV", "PASV":
				cur = &pasv[int(next.Add(1)-1)%len(pasv)]
				if strings.EqualFold(cmd, "EPSV") {
					reply("229 Entering Extended Passive Mode (|||%d|)", cur.port)
				} else if a := c.LocalAddr().(*net.TCPAddr).IP.To4(); a == nil {
					reply("522 IPv6: use EPSV")
					cur = nil
				} else {
					reply("227 Entering Passive Mode (%d,%d,%d,%d,%d,%d)", a[0], a[1], a[2], a[3], cur.port>>8, cur.port&0xff)
				}
			case "RETR":
				if cur == nil {
					reply("425 use EPSV or PASV first")
					continue
				}
				var dc net.Conn
				select {
				case dc = <-cur.conns:
				case <-time.After(connDeadline):
					reply("425 no data connection")
					continue
				}
				reply("150 sending")
				_, err := dc.Write(ftpBlob)
				dc.Close()
				if err != nil {
					reply("426 transfer aborted")
					continue
				}
				s.Transfers.Add(1)
				reply("226 transfer complete")
				cur = nil
			case "QUIT":
				reply("221 bye")
				return
			default:
				reply("502 not implemented")
			}
		}
	})
}

// doneConn closes done when the control connection closes the data
// connection, so the accepting goroutine can return.
type doneConn struct {
	net.Conn
	done chan struct{}
}

func (d *doneConn) Close() error {
	select {
	case <-d.done:
	default:
		close(d.done)
	}
	return d.Conn.Close()
}

// UDP opens UDP services on ports of every target address: each datagram
// is answered from the port it reached with the same payload.
func (s *Services) UDP(l *Lab, ports ...int) {
	var pcs []net.PacketConn
	err := inNamespace(l.NSTgt, func() error {
		for _, p := range ports {
			pc, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", p))
			if err != nil {
				return err
			}
			pcs = append(pcs, pc)
		}
		return nil
	})
	for _, pc := range pcs {
		s.keep(pc)
	}
	if err != nil {
		s.t.Fatalf("UDP services on the target: %v", err)
	}
	for _, pc := range pcs {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				if _, err := pc.WriteTo(buf[:n], from); err == nil {
					s.Datagrams.Add(1)
				}
			}
		}()
	}
}

// UDPExchange is a UDP client in the scanner namespace, from src (one of
// the scanner's addresses): for each port of dst it sends per datagrams
// from one socket, each waiting up to a second for its answer, as a media
// or game client talks to its peer. It returns the datagrams sent and the
// answers received; at most len(ports)*per of each, in at most a second
// per datagram.
func (l *Lab) UDPExchange(t testing.TB, src, dst netip.Addr, ports []int, per int) (sent, answered int) {
	t.Helper()
	err := inNamespace(l.NSScan, func() error {
		buf := make([]byte, 2048)
		for _, p := range ports {
			c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, uint16(p))))
			if err != nil {
				return err
			}
			for i := range per {
				msg := fmt.Sprintf("frame %d of stream %d", i, p)
				if _, err := c.Write([]byte(msg)); err != nil {
					c.Close()
					return err
				}
				sent++
				c.SetReadDeadline(time.Now().Add(time.Second))
				n, err := c.Read(buf)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				if err != nil {
					c.Close()
					return err
				}
				if string(buf[:n]) == msg {
					answered++
				}
			}
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("UDP client in the scanner namespace: %v", err)
	}
	return sent, answered
}

// Ports returns n consecutive ports from first.
func Ports(first, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = first + i
	}
	return p
}

// ftpClient is Python's ftplib (the standard library's FTP client) in
// passive mode: log in, download each file, check its size, quit.
const ftpClient = `
import ftplib, io, sys
src, host, port, n, prefix, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
f = ftplib.FTP(timeout=10, source_address=(src, 0))
f.connect(host, port)
f.login()
for i in range(n):
    b = io.BytesIO()
    f.retrbinary("RETR %s%d.txt" % (prefix, i), b.write)
    if len(b.getvalue()) != size:
        sys.exit("file %d: %d bytes, want %d" % (i, len(b.getvalue()), size))
f.quit()
`

// FTPDownloads runs an FTP client in the scanner namespace, from src: one
// session to host:port downloading n files (prefix0.txt, prefix1.txt...)
// in passive mode, each over a data connection to the port the server's
// PASV reply names. python3 on PATH: ftplib is in its standard library.
// Bounded by ctx and by the client's 10 s timeout per operation. curl
// would do as well, but curl 7.88 idles up to a second before opening a
// data connection while tcpdump watches the link (its own wait, seen on
// the wire after the server's reply), which made a 60-file session take
// 5-14 s here; ftplib does not.
func (l *Lab) FTPDownloads(ctx context.Context, src, host string, port, n int, prefix string) error {
	out, err := l.InScan(ctx, "python3", "-c", ftpClient, src, host, fmt.Sprint(port), fmt.Sprint(n), prefix, fmt.Sprint(len(ftpBlob))).CombinedOutput()
	if err != nil {
		return fmt.Errorf("FTP client: %v\n%s", err, out)
	}
	return nil
}
