package sensor

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/capture"
	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/lab"
)

// liveRun is the XDP sensor attached to a lab's target veth, feeding the
// windowed starting rule, with tcpdump recording what the scanner sent.
type liveRun struct {
	t       *testing.T
	lab     *lab.Lab
	live    *Live
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	alerts  []detector.Alert // windowed starting rule
	dalerts []detector.Alert // default rules
	rules   detector.Rules
	drules  detector.Rules
	pcap    string
	stopCap func()
}

func startLive(t *testing.T, ignore detector.PrefixSet) *liveRun {
	t.Helper()
	requirePrivileged(t)
	l := lab.New(t)
	r := &liveRun{t: t, lab: l, done: make(chan error, 1), pcap: filepath.Join(t.TempDir(), "wire.pcap")}
	// The scanner's side of the link: exactly what the sender put on the wire.
	r.stopCap = l.Tcpdump(t, l.NSScan, l.VethScan, r.pcap)
	err := l.InTargetNS(func() error {
		var err error
		r.live, err = Attach(LiveConfig{Iface: l.VethTgt, Mode: ModeAuto})
		return err
	})
	if err != nil {
		t.Fatalf("attach: %+v", err)
	}
	t.Cleanup(func() { r.live.Close() })
	r.rules = detector.NewSeedWindow(detector.Config{Ignore: ignore, Window: 5 * time.Minute, OnAlert: func(a detector.Alert) {
		r.mu.Lock()
		r.alerts = append(r.alerts, a)
		r.mu.Unlock()
	}})
	r.drules = detector.NewDefault(detector.Config{Ignore: ignore, OnAlert: func(a detector.Alert) {
		r.mu.Lock()
		r.dalerts = append(r.dalerts, a)
		r.mu.Unlock()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	// Both rule sets judge the same live events.
	go func() {
		r.done <- r.live.Run(ctx, func(ev *detector.Event) {
			r.rules.Observe(ev)
			r.drules.Observe(ev)
		})
	}()
	return r
}

// defaultFinals returns the default rules' final alerts, by source, after
// stop.
func (r *liveRun) defaultFinals() map[netip.Addr][]detector.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[netip.Addr][]detector.Alert{}
	for _, a := range append(r.dalerts, r.drules.Flush()...) {
		if a.Status == detector.StatusFinal {
			out[a.Source] = append(out[a.Source], a)
		}
	}
	return out
}

// stop ends the run the way SIGINT does and returns the final word on
// each source (the last alert, usually the closing summary).
func (r *liveRun) stop() map[netip.Addr]detector.Alert {
	r.t.Helper()
	r.stopCap()
	r.cancel()
	if err := <-r.done; err != nil {
		r.t.Fatalf("live run: %v", err)
	}
	last := map[netip.Addr]detector.Alert{}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, r.rules.Flush()...)
	for _, a := range r.alerts {
		last[a.Source] = a
	}
	return last
}

// liveScenario attaches the sensor in a fresh lab, runs one scanner to its
// end (bounded by 90 s) and leaves a moment for replies and retransmissions.
func liveScenario(t *testing.T, name string, run func(context.Context, *testing.T, *lab.Lab) *exec.Cmd) *liveRun {
	t.Helper()
	r := startLive(t, detector.SeedIgnored)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	runTool(t, name, run(ctx, t, r.lab))
	time.Sleep(500 * time.Millisecond)
	return r
}

// nmapTo is a test case's traffic: nmap with args against target.
func nmapTo(target string, args ...string) func(context.Context, *testing.T, *lab.Lab) *exec.Cmd {
	return func(ctx context.Context, t *testing.T, l *lab.Lab) *exec.Cmd {
		return l.Nmap(ctx, append(append([]string{}, args...), target)...)
	}
}

// runTool runs a scanner to its end. masscan is killed by its timeout when
// it hangs, and hping3 exits 1 when it misses the replies (its own summary
// is unreliable: the wire is counted instead). Anything else failing is a
// broken test bench.
func runTool(t *testing.T, name string, cmd *exec.Cmd) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil && !strings.HasPrefix(name, "masscan") && !(strings.HasPrefix(name, "hping3") && strings.Contains(string(out), "packets transmitted")) {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
}

// wireSYNs counts SYN-without-ACK in the capture with tcpdump: IPv4 through
// its tcpflags filter, IPv6 through the fixed header (no extension headers
// in this traffic).
func wireSYNs(t *testing.T, pcap string) uint64 {
	t.Helper()
	var total uint64
	for _, f := range []string{"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "ip6[6] == 6 and ip6[53] & 0x12 == 0x02"} {
		out, err := exec.Command("tcpdump", "-nn", "-r", pcap, f).Output()
		if err != nil {
			t.Fatalf("tcpdump -r: %v", err)
		}
		total += uint64(strings.Count(string(out), "\n"))
	}
	return total
}

func replayFile(t *testing.T, pcap string) map[netip.Addr]detector.Alert {
	t.Helper()
	f, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules := detector.NewSeed(detector.Config{Ignore: detector.SeedIgnored})
	if _, err := capture.Replay(context.Background(), f, rules.Observe, nil); err != nil {
		t.Fatalf("replaying the wire capture: %v", err)
	}
	out := map[netip.Addr]detector.Alert{}
	for _, a := range rules.Flush() {
		out[a.Source] = a
	}
	return out
}

func TestPrivilegedE2E(t *testing.T) {
	lab.Require(t, "nmap", "masscan", "zmap", "hping3", "tcpdump")
	tests := []struct {
		name   string
		source string
		label  string
		ports  int // exact distinct ports, or 0 to skip
		hosts  int
		run    func(ctx context.Context, t *testing.T, l *lab.Lab) *exec.Cmd
	}{
		{"nmap -sS", lab.ScanIP, detector.LabelFullNetworkScan, 1000, 1, nmapTo(lab.TgtIP, "-sS", "-p1-1000")},
		{"nmap -6 -sS", lab.ScanIP6, detector.LabelFullNetworkScan, 300, 1, nmapTo(lab.TgtIP6, "-6", "-sS", "-p1-300")},
		{"masscan sweep", lab.ScanIP, detector.LabelIPSweep, 2, 256, func(ctx context.Context, t *testing.T, l *lab.Lab) *exec.Cmd {
			return l.Masscan(ctx, t, "80,443")
		}},
		{"zmap sweep", lab.ScanIP, detector.LabelIPSweep, 1, 256, func(ctx context.Context, t *testing.T, l *lab.Lab) *exec.Cmd {
			return l.Zmap(ctx, t, "80")
		}},
		{"hping3 flood", lab.ScanIP, detector.LabelIPSweep, 1, 1, func(ctx context.Context, t *testing.T, l *lab.Lab) *exec.Cmd {
			return l.Hping3Flood(ctx, 20000)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := liveScenario(t, tc.name, tc.run)
			live := r.stop()

			src := netip.MustParseAddr(tc.source)
			a, ok := live[src]
			if !ok {
				t.Fatalf("no live alert for %s; alerts: %+v", src, live)
			}
			if a.Label != tc.label || (tc.ports > 0 && a.UniqueDestPorts != tc.ports) || a.UniqueDestHosts != tc.hosts {
				t.Errorf("live: %q ports=%d hosts=%d, want %q ports=%d hosts=%d", a.Label, a.UniqueDestPorts, a.UniqueDestHosts, tc.label, tc.ports, tc.hosts)
			}

			// The kernel counted exactly what the sender put on the wire,
			// and the detector got every one of those SYNs.
			c, err := r.live.Objs.ReadCounters()
			if err != nil {
				t.Fatal(err)
			}
			wire := wireSYNs(t, r.pcap)
			if c.Values[CntSYN] != wire || r.live.Emitted() != wire || a.TotalConns != wire {
				t.Errorf("SYNs: wire %d, kernel %d, to detector %d, in alert %d: all must be equal", wire, c.Values[CntSYN], r.live.Emitted(), a.TotalConns)
			}
			if c.Values[CntRingbufDrops] != 0 {
				t.Errorf("%d ring records dropped", c.Values[CntRingbufDrops])
			}
			ratio := float64(c.Values[CntRingbufEvents]) / float64(c.Values[CntSYN])
			t.Logf("%s: %d SYNs on the wire, %d ring records (%.4f per SYN), %d flows", tc.name, wire, c.Values[CntRingbufEvents], ratio, c.Values[CntFlowsNew])
			if tc.name == "hping3 flood" && ratio > 0.01 {
				t.Errorf("flood: %.4f ring records per SYN, want at most 0.01", ratio)
			}

			// Live equals replay: the same packets, captured and replayed,
			// give the same verdict.
			rep := replayFile(t, r.pcap)
			if len(rep) != len(live) {
				t.Errorf("replay has %d alerting sources, live %d", len(rep), len(live))
			}
			for s, w := range rep {
				g := live[s]
				if g.Label != w.Label || g.TotalConns != w.TotalConns || g.UniqueDestPorts != w.UniqueDestPorts || g.UniqueDestHosts != w.UniqueDestHosts {
					t.Errorf("%s: live %q %d/%d/%d, replay %q %d/%d/%d", s, g.Label, g.TotalConns, g.UniqueDestPorts, g.UniqueDestHosts,
						w.Label, w.TotalConns, w.UniqueDestPorts, w.UniqueDestHosts)
				}
			}
		})
	}
}

// TestPrivilegedE2EDefaultRules runs real tools through the XDP sensor into
// the default rules (and, on the same events, the starting rule): stealth
// and UDP probes reach the detector live, floods are told apart, decoys are
// grouped, and replaying the wire capture gives the same default verdict.
func TestPrivilegedE2EDefaultRules(t *testing.T) {
	lab.Require(t, "nmap", "hping3", "masscan", "tcpdump")
	type want struct {
		source, label, scanType string
		ports, hosts            int
		related                 int
	}
	tests := []struct {
		name string
		run  func(ctx context.Context, t *testing.T, l *lab.Lab) *exec.Cmd
		want []want
		seed string // the starting rule's live label for lab.ScanIP, "" for none
	}{
		{"nmap -sF", nmapTo(lab.TgtIP, "-sF", "-p1-200"),
			[]want{{lab.ScanIP, detector.LabelFullNetworkScan, "fin", 200, 1, 0}}, ""},
		{"nmap -sN", nmapTo(lab.TgtIP, "-sN", "-p1-200"),
			[]want{{lab.ScanIP, detector.LabelFullNetworkScan, "null", 200, 1, 0}}, ""},
		{"nmap -sX", nmapTo(lab.TgtIP, "-sX", "-p1-200"),
			[]want{{lab.ScanIP, detector.LabelFullNetworkScan, "xmas", 200, 1, 0}}, ""},
		{"nmap -sU", nmapTo(lab.TgtIP, "-sU", "-p1-60"),
			[]want{{lab.ScanIP, detector.LabelFullNetworkScan, "udp", 60, 1, 0}}, ""},
		{"nmap -6 -sS", nmapTo(lab.TgtIP6, "-6", "-sS", "-p1-100"), []want{{lab.ScanIP6, detector.LabelFullNetworkScan, "syn", 100, 1, 0}}, ""},
		{"nmap -D decoys", nmapTo(lab.TgtIP, "-sS", "-D", "192.0.2.1,192.0.2.2,ME", "-p1-100"), []want{
			{"192.0.2.1", detector.LabelFullNetworkScan, "syn", 100, 1, 2},
			{"192.0.2.2", detector.LabelFullNetworkScan, "syn", 100, 1, 2},
			{lab.ScanIP, detector.LabelFullNetworkScan, "syn", 100, 1, 2},
		}, detector.LabelFullNetworkScan},
		{"masscan sweep", func(ctx context.Context, t *testing.T, l *lab.Lab) *exec.Cmd { return l.Masscan(ctx, t, "80,443") },
			[]want{{lab.ScanIP, detector.LabelSweep, "syn", 2, 256, 0}}, detector.LabelIPSweep},
		{"hping3 flood", func(ctx context.Context, t *testing.T, l *lab.Lab) *exec.Cmd { return l.Hping3Flood(ctx, 5000) },
			[]want{{lab.ScanIP, detector.LabelFlood, "syn", 1, 1, 0}}, detector.LabelIPSweep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := liveScenario(t, tc.name, tc.run)
			seed := r.stop()
			live := r.defaultFinals()

			// Every non-SYN probe the kernel counted reached the detector.
			c, err := r.live.Objs.ReadCounters()
			if err != nil {
				t.Fatal(err)
			}
			if got := r.live.EmittedProbes(); got != c.Values[CntProbes] {
				t.Errorf("probes: kernel %d, to detector %d", c.Values[CntProbes], got)
			}
			if w := tc.want[0]; w.scanType != "syn" && c.Values[CntProbes] == 0 {
				t.Errorf("%s probes were not counted in the kernel", w.scanType)
			}

			if got := len(live); got != len(tc.want) {
				t.Fatalf("default rules: %d alerting sources, want %d: %+v", got, len(tc.want), live)
			}
			for _, w := range tc.want {
				as := live[netip.MustParseAddr(w.source)]
				if len(as) != 1 {
					t.Fatalf("%s: %d final alerts, want 1: %+v", w.source, len(as), as)
				}
				a := as[0]
				if a.Label != w.label || a.ScanType != w.scanType || a.UniqueDestPorts != w.ports || a.UniqueDestHosts != w.hosts || len(a.RelatedSources) != w.related {
					t.Errorf("%s live: %q %s ports=%d hosts=%d related=%v; want %q %s %d %d %d related", w.source, a.Label, a.ScanType,
						a.UniqueDestPorts, a.UniqueDestHosts, a.RelatedSources, w.label, w.scanType, w.ports, w.hosts, w.related)
				}
			}
			if got := seed[netip.MustParseAddr(lab.ScanIP)].Label; got != tc.seed {
				t.Errorf("starting rule live: %q, want %q", got, tc.seed)
			}

			// The same packets replayed give the same default verdict.
			replayed, st := replayDefault(t, r.pcap)
			if len(replayed) != len(live) {
				t.Errorf("replay of %d packets (%d TCP, %d UDP): %d alerts %+v; live %d sources %+v", st.Decode.Packets, st.Decode.TCP, st.Decode.UDP,
					len(replayed), replayed, len(live), live)
			}
			for _, a := range replayed {
				g := live[a.Source]
				if len(g) != 1 || g[0].Label != a.Label || g[0].UniqueDestPorts != a.UniqueDestPorts || g[0].UniqueDestHosts != a.UniqueDestHosts || g[0].ScanType != a.ScanType {
					t.Errorf("%s: replay %q %s %d/%d, live %+v", a.Source, a.Label, a.ScanType, a.UniqueDestPorts, a.UniqueDestHosts, g)
				}
			}
		})
	}
}
