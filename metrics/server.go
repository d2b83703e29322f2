package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultListenAddress is loopback: on a perimeter host the default must
// not put /metrics on the internet-facing interface, where its counters
// (which packet shapes are parsed, which are refused) tell an attacker
// what goes unseen. Prometheus on another host needs an explicit address.
const DefaultListenAddress = "127.0.0.1:9595"

// ServerLimits bound what clients can hold: a scrape is one small request,
// so slow or idle clients are cut off rather than kept forever.
type ServerLimits struct {
	ReadHeaderTimeout time.Duration // slow-loris: headers must arrive within this
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration // a scrape is answered within this
	IdleTimeout       time.Duration // keep-alive connections between scrapes
	MaxConns          int           // connections held at once; see connLimiter for who yields
}

// DefaultLimits suit scrape intervals from 5 s to a few minutes: an idle
// keep-alive connection closed after a minute costs Prometheus one
// reconnect per scrape at most.
var DefaultLimits = ServerLimits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       10 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       60 * time.Second,
	MaxConns:          64,
}

// Serve exposes the registry at path on addr until ctx ends. It returns once
// listening (or failing to), so a bad address is reported at start-up.
func (m *Metrics) Serve(ctx context.Context, addr, path string, log *slog.Logger) error {
	return m.ServeWith(ctx, addr, path, DefaultLimits, log)
}

// ServeWith is Serve with explicit limits.
func (m *Metrics) ServeWith(ctx context.Context, addr, path string, lim ServerLimits, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--web.listen-address %s: %w (is another exporter using the port?)", addr, err)
	}
	var limiter *connLimiter
	if lim.MaxConns > 0 {
		limiter = newConnLimiter(ln, lim.MaxConns)
		ln = limiter
	}
	mux := http.NewServeMux()
	mux.Handle(path, promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelError),
		MaxRequestsInFlight: 4, // scrapes are cheap but not free: a burst of them waits
		Timeout:             lim.WriteTimeout,
	}))
	if path != "/" {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprintf(w, "<html><head><title>scanwatch</title></head><body><h1>scanwatch</h1><p><a href=%q>Metrics</a></p></body></html>\n", path)
		})
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug), // TLS and client noise
	}
	if limiter != nil {
		srv.ConnState = limiter.connState
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	bound := ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		log.Info("serving metrics on loopback only: Prometheus on another host needs --web.listen-address, e.g. :9595, behind a firewall", "address", bound, "path", path)
	} else {
		log.Warn("serving metrics on a non-loopback address: anyone who can reach it reads what scanwatch sees and misses; restrict it with a firewall", "address", bound, "path", path)
	}
	return nil
}
