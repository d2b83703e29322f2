package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
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

// Web says where and how /metrics is served: the exporter conventions'
// --web.listen-address (repeatable), --web.telemetry-path and
// --web.config.file (TLS, basic auth; prometheus/exporter-toolkit).
type Web struct {
	Addrs      []string
	Path       string
	ConfigFile string
	Limits     ServerLimits // zero means DefaultLimits
}

// Serve exposes the registry until ctx ends. It returns once listening on
// every address (or failing to), so a bad address or web config file is
// reported at start-up, not by a background goroutine later.
func (m *Metrics) Serve(ctx context.Context, w Web, log *slog.Logger) error {
	if w.Limits == (ServerLimits{}) {
		w.Limits = DefaultLimits
	}
	if w.ConfigFile != "" {
		if err := web.Validate(w.ConfigFile); err != nil {
			return fmt.Errorf("--web.config.file %s: %w (see https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md)", w.ConfigFile, err)
		}
	}
	var lns []net.Listener
	for _, addr := range w.Addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("--web.listen-address %s: %w (is another exporter, or another scanwatch, using the port?)", addr, err)
			}
			return fmt.Errorf("--web.listen-address %s: %w (give host:port, e.g. 127.0.0.1:9595 or :9595)", addr, err)
		}
		lns = append(lns, ln)
	}
	for _, ln := range lns {
		m.serveOn(ctx, ln, w, log)
	}
	return nil
}

// serveOn serves one listener with a server of its own: exporter-toolkit's
// Serve wraps the server's handler, so servers are not shared.
func (m *Metrics) serveOn(ctx context.Context, ln net.Listener, w Web, log *slog.Logger) {
	lim := w.Limits
	var limiter *connLimiter
	if lim.MaxConns > 0 {
		limiter = newConnLimiter(ln, lim.MaxConns)
		ln = limiter
	}
	mux := http.NewServeMux()
	mux.Handle(w.Path, promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelError),
		MaxRequestsInFlight: 4, // scrapes are cheap but not free: a burst of them waits
		Timeout:             lim.WriteTimeout,
	}))
	if w.Path != "/" {
		mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(rw, r)
				return
			}
			fmt.Fprintf(rw, "<html><head><title>scanwatch</title></head><body><h1>scanwatch</h1><p><a href=%q>Metrics</a></p></body></html>\n", w.Path)
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
	cfg := w.ConfigFile
	flags := &web.FlagConfig{WebConfigFile: &cfg}
	quiet := slog.New(discardBelow{log.Handler(), slog.LevelWarn}) // its "Listening on" lines repeat ours
	go func() {
		if err := web.Serve(ln, srv, flags, quiet); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "address", ln.Addr().String(), "err", err)
		}
	}()
	bound := ln.Addr().String()
	auth := "none"
	if cfg != "" {
		auth = cfg
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		log.Info("serving metrics on loopback only: Prometheus on another host needs --web.listen-address, e.g. :9595, behind a firewall", "address", bound, "path", w.Path, "web_config", auth)
	} else if cfg == "" {
		log.Warn("serving metrics on a non-loopback address without --web.config.file: anyone who can reach it reads what scanwatch sees and misses; add TLS and basic auth, or a firewall", "address", bound, "path", w.Path)
	} else {
		log.Info("serving metrics", "address", bound, "path", w.Path, "web_config", auth)
	}
}

// discardBelow drops records under a level.
type discardBelow struct {
	slog.Handler
	min slog.Level
}

func (d discardBelow) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= d.min && d.Handler.Enabled(ctx, l)
}

func (d discardBelow) WithAttrs(as []slog.Attr) slog.Handler {
	return discardBelow{d.Handler.WithAttrs(as), d.min}
}

func (d discardBelow) WithGroup(name string) slog.Handler {
	return discardBelow{d.Handler.WithGroup(name), d.min}
}
