package metrics

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func serve(t *testing.T, lim ServerLimits) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addr := freeAddr(t)
	if err := New("test", nil).ServeWith(ctx, addr, "/metrics", lim, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return addr
}

// closedWithin reports whether the server closes conn within d.
func closedWithin(conn net.Conn, d time.Duration) bool {
	conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	return err == nil // EOF: the server closed it; a timeout is an error
}

func TestServerCutsOffIdleAndSlowClients(t *testing.T) {
	lim := ServerLimits{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second, IdleTimeout: 300 * time.Millisecond, MaxConns: 4}
	addr := serve(t, lim)

	// A client that never finishes its headers (slow-loris).
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
	if !closedWithin(slow, 3*time.Second) {
		t.Error("a client that never finished its headers was held past ReadHeaderTimeout")
	}

	// A keep-alive client that scraped once and went idle.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	if !closedWithin(idle, 3*time.Second) {
		t.Error("an idle keep-alive connection was held past IdleTimeout")
	}
}

func TestServerCapsConnections(t *testing.T) {
	lim := DefaultLimits
	lim.MaxConns = 2
	addr := serve(t, lim)
	// Two clients hold the two slots without sending a byte.
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	third, err := net.Dial("tcp", addr) // completes in the kernel's backlog
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	io.WriteString(third, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	third.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, _ := third.Read(make([]byte, 1)); n > 0 {
		t.Fatal("a third connection was served past MaxConns 2")
	}
}

func TestDefaultListenAddressIsLoopback(t *testing.T) {
	host, _, err := net.SplitHostPort(DefaultListenAddress)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		t.Fatalf("default listen address %q is not loopback", DefaultListenAddress)
	}
	if !strings.HasSuffix(DefaultListenAddress, ":9595") {
		t.Fatalf("default port changed: %s", DefaultListenAddress)
	}
}
