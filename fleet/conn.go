package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Auth is how a process proves itself to NATS and checks the server,
// through NATS's own options, so that whatever a NATS operator already
// issues (a creds file from nsc, an nkey seed, TLS certificates) works as
// it does for every other NATS client.
type Auth struct {
	Creds   string // user JWT and nkey seed (nats.UserCredentials)
	NKey    string // nkey seed file (nats.NkeyOptionFromSeed)
	CA      string // CA bundle the server's certificate must chain to
	Cert    string // client certificate (mutual TLS), with Key
	Key     string
	Timeout time.Duration // connect timeout; default 5 s
}

// Options turns a into NATS options, checking that the files exist so a
// typo is reported at start-up with the flag's name.
func (a Auth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	for _, f := range [...]struct{ flag, path string }{{"nats.creds", a.Creds}, {"nats.nkey", a.NKey}, {"nats.tls.ca", a.CA}, {"nats.tls.cert", a.Cert}, {"nats.tls.key", a.Key}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return nil, fmt.Errorf("--%s %s: %w: give a readable file", f.flag, f.path, err)
		}
	}
	if a.Creds != "" && a.NKey != "" {
		return nil, errors.New("--nats.creds and --nats.nkey both given: a creds file already holds the nkey seed; give one")
	}
	if a.Creds != "" {
		opts = append(opts, nats.UserCredentials(a.Creds))
	}
	if a.NKey != "" {
		o, err := nats.NkeyOptionFromSeed(a.NKey)
		if err != nil {
			return nil, fmt.Errorf("--nats.nkey %s: %w: give a file holding an nkey user seed (SU...)", a.NKey, err)
		}
		opts = append(opts, o)
	}
	if a.CA != "" {
		opts = append(opts, nats.RootCAs(a.CA))
	}
	if (a.Cert == "") != (a.Key == "") {
		return nil, errors.New("--nats.tls.cert and --nats.tls.key go together: give both or neither")
	}
	if a.Cert != "" {
		opts = append(opts, nats.ClientCert(a.Cert, a.Key))
	}
	opts = append(opts, nats.Timeout(cmpOr(a.Timeout, 5*time.Second)))
	return opts, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// CheckURL checks a NATS server URL (or a comma list of them) before any
// connection is tried, so a typo is a usage error, not a retry loop.
func CheckURL(u string) error {
	for _, s := range strings.Split(u, ",") {
		p, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q: %w: give nats://HOST:4222", s, err)
		}
		switch p.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%q: scheme %q: give nats://HOST:4222 (or tls://)", s, p.Scheme)
		}
		if p.Host == "" {
			return fmt.Errorf("%q: no host: give nats://HOST:4222", s)
		}
	}
	return nil
}

// backoff is the reconnect delay: doubling from 100 ms to 5 s, with a
// quarter of jitter so a fleet of sensors that lost the server together
// does not come back in one burst.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 6)
	d = min(d, 5*time.Second)
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// connect dials url and keeps redialling for ever with backoff: a sensor
// that starts before the server, or outlives it, reconnects on its own.
// Publishes while disconnected fail at once (no hidden client buffer):
// the publisher's own bounded queue is the only buffer, and it is counted.
func connect(url, name string, opts []nats.Option, log *slog.Logger, onState func(bool)) (*nats.Conn, error) {
	all := append([]nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(backoff),
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(c *nats.Conn) {
			log.Info("connected to NATS", "url", c.ConnectedUrlRedacted())
			onState(true)
		}),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			onState(false)
			if err == nil || c.IsClosed() {
				return // our own Close
			}
			log.Warn("disconnected from NATS; reconnecting with back-off", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("reconnected to NATS", "url", c.ConnectedUrlRedacted())
			onState(true)
		}),
	}, opts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", url, err)
	}
	if nc.IsConnected() {
		onState(true)
	}
	return nc, nil
}

// StreamConfig is the stream probes go to. Sensors and correlators both
// create it when it is missing (never change it: an operator may have
// tuned it), so whichever starts first works.
type StreamConfig struct {
	Name     string        // default DefaultStream
	Subjects []string      // default DefaultSubjects
	MaxAge   time.Duration // default DefaultMaxAge
	MaxBytes int64         // 0: no limit beyond the server's
	Replicas int           // default 1; 3 on a JetStream cluster
}

// Defaults of the probe stream.
const (
	DefaultStream  = "SCANWATCH_PROBES"
	DefaultSubject = "scanwatch.probes"
	// DefaultMaxAge keeps two long windows of evidence: a restarted
	// correlator rebuilds its state from what the stream still holds.
	DefaultMaxAge = 2 * time.Hour
)

// DefaultSubjects are every probe subject.
var DefaultSubjects = []string{DefaultSubject + ".>"}

func (c StreamConfig) filled() StreamConfig {
	if c.Name == "" {
		c.Name = DefaultStream
	}
	if len(c.Subjects) == 0 {
		c.Subjects = DefaultSubjects
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	c.Replicas = max(c.Replicas, 1)
	return c
}

// ensureStream creates the stream unless it exists.
func ensureStream(ctx context.Context, js jetstream.JetStream, c StreamConfig) (jetstream.Stream, error) {
	c = c.filled()
	s, err := js.Stream(ctx, c.Name)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("looking up stream %s: %w (is JetStream enabled? nats-server -js)", c.Name, err)
	}
	s, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: c.Name, Subjects: c.Subjects, MaxAge: c.MaxAge, MaxBytes: cmpOrI(c.MaxBytes),
		Storage: jetstream.FileStorage, Replicas: c.Replicas, Duplicates: 2 * time.Minute, Discard: jetstream.DiscardOld})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.Stream(ctx, c.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("creating stream %s on %v: %w", c.Name, c.Subjects, err)
	}
	return s, nil
}

func cmpOrI(n int64) int64 {
	if n > 0 {
		return n
	}
	return -1
}
