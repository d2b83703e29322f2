// Package natstest starts a real nats-server with JetStream for tests, on
// loopback, on a free port, with its store in the test's temporary
// directory, and ends it by its PID.
package natstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Server is one nats-server process.
type Server struct {
	URL   string
	Port  int
	Dir   string // JetStream store
	t     testing.TB
	cmd   *exec.Cmd
	log   string
	netns string // a named network namespace (ip netns) it runs in, or ""
}

// Binary finds nats-server: missing, the test skips, or under CI=true
// fails (lab/deps.sh installs Debian's nats-server).
func Binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("nats-server")
	if err != nil {
		msg := "nats-server not found: install it (apt-get install nats-server, or bash lab/deps.sh as root)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// Start runs nats-server -js on 127.0.0.1 and waits until it accepts
// connections. It is stopped when the test ends.
func Start(t testing.TB) *Server { t.Helper(); return StartIn(t, "") }

// StartIn is Start inside the named network namespace (ip netns), on its
// loopback, for sensors that run there.
func StartIn(t testing.TB, netns string) *Server {
	t.Helper()
	bin := Binary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{Port: port, URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Dir: t.TempDir(), t: t, netns: netns}
	s.log = filepath.Join(s.Dir, "nats-server.log")
	s.start(bin)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(bin string) {
	s.t.Helper()
	args := []string{bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-sd", s.Dir, "-l", s.log}
	if s.netns != "" {
		// ip netns exec execs nats-server in place: the PID is the server's.
		args = append([]string{"ip", "netns", "exec", s.netns}, args...)
	}
	s.cmd = exec.Command(args[0], args[1:]...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting nats-server: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := s.dial()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(s.log)
			s.Stop()
			s.t.Fatalf("nats-server did not listen on %d within 15 s: %v\n%s", s.Port, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the server (SIGKILL to its PID) and waits for it. Its store
// stays, so Restart brings the same streams back.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_, _ = s.cmd.Process.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port and store.
func (s *Server) Restart() {
	s.t.Helper()
	s.start(Binary(s.t))
}

// dial checks the server listens, from its namespace.
func (s *Server) dial() error {
	try := func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	if s.netns == "" {
		return try()
	}
	errc := make(chan error, 1)
	go func() {
		// Locked and left to exit with the goroutine: the thread never
		// goes back to the pool from inside the namespace.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + s.netns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", s.netns, err)
			return
		}
		errc <- try()
	}()
	return <-errc
}
