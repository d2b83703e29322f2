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
	if err := New(Build{Version: "test"}, nil).Serve(ctx, Web{Addrs: []string{addr}, Path: "/metrics", Limits: lim}, slog.New(slog.DiscardHandler)); err != nil {
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

// get scrapes over conn, leaving it open (keep-alive).
func get(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	conn.SetDeadline(time.Time{})
}

// At the cap, idle and silent clients yield their slot to a newcomer: a
// scrape is never locked out by connections that are not asking anything.
func TestServerCapsConnections(t *testing.T) {
	lim := DefaultLimits
	lim.MaxConns = 3
	addr := serve(t, lim)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Three keep-alive clients scrape once and go idle; the first is the
	// longest idle.
	idle := []net.Conn{dial(), dial(), dial()}
	for _, c := range idle {
		get(t, c)
		time.Sleep(20 * time.Millisecond)
	}
	get(t, dial()) // a fourth is served at once...
	if !closedWithin(idle[0], time.Second) {
		t.Error("the longest-idle connection kept its slot past the cap")
	}
	for _, c := range idle[1:] { // ...and the others keep theirs
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			t.Error("a more recently idle connection was closed")
		}
	}
	// Silent clients (no request yet) fill the slots: a scrape still gets in.
	for range 3 {
		dial()
	}
	get(t, dial())
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

func TestServeNamesTheAddressProblem(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	log := slog.New(slog.DiscardHandler)
	for addr, want := range map[string]string{busy.Addr().String(): "another exporter", "999.1.1.1:1": "give host:port", "9595": "give host:port"} {
		err := New(Build{Version: "test"}, nil).Serve(context.Background(), Web{Addrs: []string{addr}, Path: "/metrics"}, log)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", addr, err, want)
		}
	}
}
