package deploy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/scanwatch/scanwatch/lab"
)

// A real Prometheus (Debian's) on loopback inside the lab's target
// namespace scrapes a live sensor over TLS with basic auth, loads
// deploy/prometheus/scanwatch.rules.yml and evaluates the dashboard's
// queries while a real nmap scan runs.
func TestPrivilegedPrometheusScrapesAlertsAndDashboards(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root; CI runs as root")
		}
		t.Skip("needs root: sudo make test")
	}
	lab.Require(t, "prometheus", "promtool", "nmap", "curl")
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // Debian's prometheus may drop to its own user
	bin := filepath.Join(dir, "scanwatch")
	build := exec.Command("go", "build", "-o", bin, "../cmd/scanwatch")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as it ships: the capability drop needs it
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l := lab.New(t)
	cert, key := writeCert(t, dir)
	hash, _ := bcrypt.GenerateFromPassword([]byte("scrape-secret"), bcrypt.MinCost)
	webCfg := write(t, dir, "web.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prometheus: %s\n", cert, key, hash))
	rules, _ := filepath.Abs("prometheus/scanwatch.rules.yml")
	promCfg := write(t, dir, "prometheus.yml", fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: scanwatch
    scheme: https
    tls_config: {ca_file: %q}
    basic_auth: {username: prometheus, password: scrape-secret}
    static_configs: [{targets: ["127.0.0.1:9595"]}]
`, rules, cert))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start(t, l.InTgt(ctx, bin, "run", "--iface", l.VethTgt, "--web.listen-address", "127.0.0.1:9595", "--web.config.file", webCfg), dir, "scanwatch.log")
	start(t, l.InTgt(ctx, "prometheus", "--config.file", promCfg, "--storage.tsdb.path", filepath.Join(dir, "tsdb"),
		"--web.listen-address", "127.0.0.1:9090", "--log.level", "warn"), dir, "prometheus.log")

	q := func(expr string) ([]json.RawMessage, error) { return query(ctx, l, expr) }
	waitFor(t, "the target to be up", func() bool { r, err := q(`up{job="scanwatch"} == 1`); return err == nil && len(r) == 1 })
	// Prometheus's scrape (TLS, basic auth) is accepted; one without
	// credentials is refused.
	if out, err := l.InTgt(ctx, "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:9595/metrics").Output(); err != nil || string(out) != "401" {
		t.Errorf("a scrape without credentials: %q %v, want 401", out, err)
	}
	// A few scrapes at 0 first: the scan must be the first after start-up.
	waitFor(t, "scans_total at 0", func() bool {
		r, err := q(`count_over_time(scanwatch_scans_total{name="PortScan"}[1m]) >= 3`)
		return err == nil && len(r) == 1
	})
	if out, err := l.InTgt(ctx, "curl", "-sf", "--cacert", cert, "-u", "prometheus:scrape-secret", "https://127.0.0.1:9595/metrics").Output(); err != nil {
		t.Errorf("scrape with credentials: %v", err)
	} else {
		lint := exec.Command("promtool", "check", "metrics")
		lint.Stdin = strings.NewReader(string(out))
		if msg, err := lint.CombinedOutput(); err != nil || len(msg) > 0 {
			t.Errorf("promtool check metrics on a live scrape: %v\n%s", err, msg)
		}
	}

	if out, err := l.Nmap(ctx, "-sS", "-p1-200", lab.TgtIP).CombinedOutput(); err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	waitFor(t, "the scan counter to rise", func() bool {
		r, err := q(`increase(scanwatch_scans_total{job="scanwatch",name="PortScan"}[5m]) > 0`)
		return err == nil && len(r) == 1
	})
	waitFor(t, "ScanwatchPortScan to fire", func() bool {
		r, err := q(`ALERTS{alertname="ScanwatchPortScan",alertstate="firing",name="PortScan"}`)
		return err == nil && len(r) == 1
	})

	// Every dashboard query evaluates; most return data.
	time.Sleep(3 * time.Second) // a few more scrapes after the scan
	queries := dashboardQueries(t)
	var empty []string
	for title, expr := range queries {
		r, err := q(expr)
		if err != nil {
			t.Errorf("dashboard %s: %v\n%s", title, err, expr)
			continue
		}
		if len(r) == 0 {
			empty = append(empty, title)
		}
	}
	t.Logf("%d of %d dashboard queries returned data; empty: %v", len(queries)-len(empty), len(queries), empty)
	if len(empty)*4 > len(queries) {
		t.Errorf("%d of %d dashboard queries returned no data: %v", len(empty), len(queries), empty)
	}
}

// query runs an instant query through the HTTP API from inside the
// namespace (curl: Go's HTTP client dials on threads outside it).
func query(ctx context.Context, l *lab.Lab, expr string) ([]json.RawMessage, error) {
	out, err := l.InTgt(ctx, "curl", "-sG", "--max-time", "5", "--data-urlencode", "query="+expr, "http://127.0.0.1:9090/api/v1/query").Output()
	if err != nil {
		return nil, fmt.Errorf("curl: %w", err)
	}
	var resp struct {
		Status, Error string
		Data          struct{ Result json.RawMessage }
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("%w: %.200s", err, out)
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("%s", resp.Error)
	}
	var vec []json.RawMessage
	if err := json.Unmarshal(resp.Data.Result, &vec); err != nil {
		return []json.RawMessage{resp.Data.Result}, nil // a scalar
	}
	return vec, nil
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// start runs cmd with its output in dir/logName (shown on failure) and
// ends it by its PID when the test ends.
func start(t *testing.T, cmd *exec.Cmd, dir, logName string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s:\n%s", logName, b)
		}
	})
	return cmd
}

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scanwatch-test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	certFile = write(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = write(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	return certFile, keyFile
}
