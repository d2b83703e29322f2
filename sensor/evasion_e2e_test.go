package sensor

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/capture"
	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/lab"
)

// evasionPorts is how many ports each case probes, one probe per port:
// past the FullNetworkScan threshold (50), so a case the host processes is
// a scan without doubt.
const evasionPorts = 60

// hostView is the referee: the target namespace's counter deltas and its
// answers on the wire during one case.
type hostView struct {
	n    lab.Counters
	wire lab.Wire
}

// evAlert is an expected default-rules final alert. ports < 0 skips the
// port count (a header-chain probe carries no port).
type evAlert struct {
	source  string // "" matches by label (a distributed scan's source is its prefix)
	label   string
	ports   int
	hosts   int
	evasion []string
	members int // member_sources
}

type evasionCase struct {
	name string
	send func(ctx context.Context, t *testing.T, l *lab.Lab)
	// host asserts what the target's stack did with the probes. It tests
	// the bench, so it must pass whatever the sensors do.
	host func(t *testing.T, h hostView)
	want []evAlert // every final alert, live and in replay; none when empty
}

func craft(name string, extra ...string) func(context.Context, *testing.T, *lab.Lab) {
	return func(ctx context.Context, t *testing.T, l *lab.Lab) { l.Craft(ctx, t, name, extra...) }
}

func nmapRun(args ...string) func(context.Context, *testing.T, *lab.Lab) {
	return func(ctx context.Context, t *testing.T, l *lab.Lab) {
		cmd := l.Nmap(ctx, append(append([]string{"-sS"}, args...), fmt.Sprintf("-p1-%d", evasionPorts), lab.TgtIP)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
}

// expect checks a counter delta exactly.
func expect(t *testing.T, h hostView, counter string, want uint64) {
	t.Helper()
	if got := h.n[counter]; got != want {
		t.Errorf("host: %s = %d, want %d (deltas: %s)", counter, got, want, h.n)
	}
}

// answered: the host reassembled (when fragmented) and answered every probe
// from the scanner, one RST per closed port.
func answered(fragmented bool, v6 bool) func(*testing.T, hostView) {
	return func(t *testing.T, h hostView) {
		t.Helper()
		src := lab.ScanIP
		if v6 {
			src = lab.ScanIP6
		}
		if got := h.wire.Answered[netip.MustParseAddr(src)]; got != evasionPorts {
			t.Errorf("host answered %d probes from %s, want %d (wire %+v)", got, src, evasionPorts, h.wire)
		}
		expect(t, h, "TcpInSegs", evasionPorts)
		if fragmented {
			expect(t, h, "IpReasmOKs", evasionPorts)
		}
	}
}

// silent: the host answered nothing over TCP; each named counter moved by
// exactly one per probe.
func silent(per ...string) func(*testing.T, hostView) {
	return func(t *testing.T, h hostView) {
		t.Helper()
		if h.wire.SynAcks+h.wire.Rsts != 0 {
			t.Errorf("host answered %d SYN-ACKs and %d RSTs, want none", h.wire.SynAcks, h.wire.Rsts)
		}
		for _, c := range per {
			expect(t, h, c, evasionPorts)
		}
	}
}

func both(fs ...func(*testing.T, hostView)) func(*testing.T, hostView) {
	return func(t *testing.T, h hostView) {
		t.Helper()
		for _, f := range fs {
			f(t, h)
		}
	}
}

func zero(counters ...string) func(*testing.T, hostView) {
	return func(t *testing.T, h hostView) {
		t.Helper()
		for _, c := range counters {
			expect(t, h, c, 0)
		}
	}
}

var (
	fragTiny = []string{"fragmented", "tiny_fragment"}
	fragOnly = []string{"fragmented"}
)

func scanOf(src string, evasion []string) []evAlert {
	return []evAlert{{source: src, label: detector.LabelFullNetworkScan, ports: evasionPorts, hosts: 1, evasion: evasion}}
}

// distributedSources are the 40 members of the one-/24 scan.
func distributedSources() []netip.Addr {
	var out []netip.Addr
	for i := range 40 {
		out = append(out, netip.AddrFrom4([4]byte{198, 51, 100, byte(100 + i)}))
	}
	return out
}

// spoofedSYNs is the size of the spoofed flood; spoofScanPorts the scan
// hidden in it.
const (
	spoofedSYNs    = 200_000
	spoofScanPorts = 40
)

func evasionCases() []evasionCase {
	return []evasionCase{
		// Fragmented scans the host reassembles and answers: a scan, marked.
		{"frag8", craft("frag8"), answered(true, false), scanOf(lab.ScanIP, fragTiny)},
		{"frag8-reverse", craft("frag8-reverse"), answered(true, false), scanOf(lab.ScanIP, fragTiny)},
		// 16 bytes hold the flags (byte 13): fragmented, not tiny
		// (design: tiny is fewer than 14 bytes of TCP in the first fragment).
		{"frag16", craft("frag16"), answered(true, false), scanOf(lab.ScanIP, fragOnly)},
		{"frag24-data16", craft("frag24-data16"), answered(true, false), scanOf(lab.ScanIP, fragOnly)},
		{"nmap -f", nmapRun("-f"), answered(true, false), scanOf(lab.ScanIP, fragTiny)},
		{"nmap --mtu 8", nmapRun("--mtu", "8"), answered(true, false), scanOf(lab.ScanIP, fragTiny)},
		{"nmap --mtu 16", nmapRun("--mtu", "16"), answered(true, false), scanOf(lab.ScanIP, fragOnly)},
		{"nmap --mtu 24 --data-length 16", nmapRun("--mtu", "24", "--data-length", "16"), answered(true, false), scanOf(lab.ScanIP, fragOnly)},

		// Probes the host drops accuse nobody.
		{"overlap rewrites SYN to RST", craft("overlap"),
			both(silent("IpReasmFails", "IpExtReasmOverlaps"), zero("IpReasmOKs", "TcpInSegs")), nil},
		{"overlap after a first fragment with the whole header", craft("overlap-fullheader"),
			both(silent("IpReasmFails", "IpExtReasmOverlaps"), zero("IpReasmOKs", "TcpInSegs")), nil},
		{"bad checksum IPv4", craft("badsum4"), silent("TcpInCsumErrors"), nil},
		{"bad checksum IPv6", craft("badsum6"), silent("TcpInCsumErrors"), nil},
		{"SYN+RST", craft("synrst"), both(silent("TcpInSegs"), zero("TcpOutRsts")), nil},
		{"IPv6 lone non-first fragments", craft("v6frag-lone"),
			both(silent("Ip6ReasmReqds"), zero("Ip6ReasmOKs", "TcpInSegs")), nil},
		{"IPv6 first fragment without the chain", craft("v6frag-nochain"),
			both(silent("Ip6InHdrErrors", "Icmp6OutParmProblems"), zero("Ip6ReasmOKs", "TcpInSegs"), func(t *testing.T, h hostView) {
				if h.wire.ParamProblems != evasionPorts {
					t.Errorf("host sent %d ICMPv6 parameter problems, want %d", h.wire.ParamProblems, evasionPorts)
				}
			}), nil},
		{"IP-in-IP, host does not decapsulate", craft("ipip"),
			both(silent("IpInUnknownProtos", "IcmpOutDestUnreachs"), zero("TcpInSegs"), func(t *testing.T, h hostView) {
				if h.wire.ProtoUnreach != evasionPorts {
					t.Errorf("host sent %d protocol-unreachable, want %d", h.wire.ProtoUnreach, evasionPorts)
				}
			}), nil},

		// Header chains: walked up to the limit, reported beyond it.
		{"IPv6 6 extension headers", craft("ext6"), answered(false, true), scanOf(lab.ScanIP6, nil)},
		{"IPv6 7 extension headers", craft("ext7"), answered(false, true), scanOf(lab.ScanIP6, nil)},
		{"IPv6 8 extension headers", craft("ext8"), answered(false, true), scanOf(lab.ScanIP6, nil)},
		{"IPv6 10 extension headers", craft("ext10"), answered(false, true), scanOf(lab.ScanIP6, nil)},
		{"IPv6 16 extension headers", craft("ext16"), answered(false, true), scanOf(lab.ScanIP6, nil)},
		// The host walks 17 and answers; the sensors stop at 16 and say so.
		{"IPv6 17 extension headers", craft("ext17"), answered(false, true),
			[]evAlert{{source: lab.ScanIP6, label: detector.LabelEvasive, ports: -1, hosts: 1, evasion: []string{"header_chain"}}}},
		// This kernel has no 802.1Q module: the host never sees these, so
		// the verdict is the sensors' alone. Assert only that it stayed blind.
		{"3 stacked VLAN tags", craft("vlan3"), both(silent(), zero("IpInReceives", "TcpInSegs")), scanOf(lab.ScanIP, nil)},

		// 40 sources of one /24, 5 ports each: one 200-port scan.
		{"40 sources in one /24", func(ctx context.Context, t *testing.T, l *lab.Lab) {
			l.AddScanAddrs(t, distributedSources()...)
			l.Craft(ctx, t, "distributed", "--sources", "40", "--ports", "5")
		}, func(t *testing.T, h hostView) {
			for _, a := range distributedSources() {
				if got := h.wire.Answered[a]; got != 5 {
					t.Errorf("host answered %d probes from %s, want 5", got, a)
				}
			}
			expect(t, h, "TcpInSegs", 200)
		}, []evAlert{{label: detector.LabelDistributed, ports: 200, hosts: 1, members: 40}}},

		// A 40-port scan hidden among 200k one-SYN spoofed sources.
		{"spoofed one-SYN sources around a 40-port scan", func(ctx context.Context, t *testing.T, l *lab.Lab) {
			smac, tmac := l.MACs(t)
			pcap := filepath.Join(t.TempDir(), "spoofed.pcap")
			if err := lab.WriteSpoofedFlood(pcap, smac, tmac, spoofedSYNs, spoofScanPorts, 7); err != nil {
				t.Fatal(err)
			}
			l.Tcpreplay(ctx, t, pcap)
		}, func(t *testing.T, h hostView) {
			if got := h.wire.Answered[netip.MustParseAddr(lab.ScanIP)]; got != spoofScanPorts {
				t.Errorf("host answered %d probes of the scan, want %d", got, spoofScanPorts)
			}
			expect(t, h, "TcpInSegs", spoofedSYNs+spoofScanPorts)
		}, []evAlert{{source: lab.ScanIP, label: detector.LabelPortScan, ports: spoofScanPorts, hosts: 1}}},
	}
}

// TestPrivilegedEvasion sends each adversarial case of issue 7 from the
// scanner namespace through the XDP sensor on the target's veth, with the
// target's own stack as the referee: its counters and its answers prove
// which probes it processed. Then the default rules' live verdict, the
// replay verdict of the wire capture, and live == replay.
func TestPrivilegedEvasion(t *testing.T) {
	requirePrivileged(t)
	lab.Require(t, "nmap", "tcpdump", "tcpreplay", "nstat")
	lab.RequireScapy(t)
	for _, tc := range evasionCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := startLive(t, detector.SeedIgnored)
			before := lab.Snapshot(t, r.lab.NSTgt)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			tc.send(ctx, t, r.lab)
			// Answers and the sensor's ring records need a moment; stop
			// then waits for the capture to go quiet.
			time.Sleep(300 * time.Millisecond)
			r.stop()
			live := flatten(r.defaultFinals())
			h := hostView{n: lab.Delta(before, lab.Snapshot(t, r.lab.NSTgt)), wire: lab.ReadWire(t, r.pcap)}
			t.Logf("host: answered %d (SYN-ACK %d, RST %d), ICMP proto-unreach %d, ICMPv6 param-problem %d; %d frames; nstat: %s",
				h.wire.AnsweredTotal(), h.wire.SynAcks, h.wire.Rsts, h.wire.ProtoUnreach, h.wire.ParamProblems, h.wire.Frames, h.n)

			// (a) the referee.
			t.Run("host", func(t *testing.T) { tc.host(t, h) })
			// (b) live, (c) replay, each against the design's verdict.
			t.Run("live", func(t *testing.T) { checkEvasionAlerts(t, live, tc.want) })
			replayed, st := replayDefault(t, r.pcap)
			t.Run("replay", func(t *testing.T) {
				t.Logf("replay: %d packets, %d events", st.Decode.Packets, st.Events)
				checkEvasionAlerts(t, replayed, tc.want)
			})
			// (d) live == replay: the same packets, the same verdict.
			t.Run("live=replay", func(t *testing.T) {
				l, p := alertKeys(live), alertKeys(replayed)
				if !slices.Equal(l, p) {
					t.Errorf("live and replay differ:\nlive   %q\nreplay %q", l, p)
				}
			})
		})
	}
}

func flatten(m map[netip.Addr][]detector.Alert) []detector.Alert {
	var out []detector.Alert
	for _, as := range m {
		out = append(out, as...)
	}
	return out
}

// replayDefault replays a wire capture through the default rules and
// returns every episode's final alert.
func replayDefault(t *testing.T, pcap string) ([]detector.Alert, capture.ReplayStats) {
	t.Helper()
	f, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var finals []detector.Alert
	d := detector.NewDefault(detector.Config{Ignore: detector.SeedIgnored, OnAlert: func(a detector.Alert) {
		if a.Status == detector.StatusFinal {
			finals = append(finals, a)
		}
	}})
	st, err := capture.Replay(context.Background(), f, d.Observe, nil)
	if err != nil {
		t.Fatalf("replaying the wire capture: %v", err)
	}
	for _, a := range d.Flush() {
		if a.Status == detector.StatusFinal {
			finals = append(finals, a)
		}
	}
	return finals, st
}

// alertKeys is what live and replay must agree on: source, label, ports,
// hosts, evasion marks, member sources.
func alertKeys(as []detector.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s %q ports=%d hosts=%d evasion=%v members=%v", a.Source, a.Label, a.UniqueDestPorts, a.UniqueDestHosts,
			a.Evasion, a.MemberSources)) // the detector sorts members
	}
	slices.Sort(out)
	return out
}

func checkEvasionAlerts(t *testing.T, got []detector.Alert, want []evAlert) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d final alerts, want %d: %q", len(got), len(want), alertKeys(got))
	}
	for _, w := range want {
		i := slices.IndexFunc(got, func(a detector.Alert) bool {
			if w.source != "" {
				return a.Source == netip.MustParseAddr(w.source)
			}
			return a.Label == w.label
		})
		if i < 0 {
			t.Errorf("no alert for %s %q; alerts: %q", w.source, w.label, alertKeys(got))
			continue
		}
		a := got[i]
		ev := slices.Clone(a.Evasion)
		slices.Sort(ev)
		var problems []string
		if a.Label != w.label {
			problems = append(problems, fmt.Sprintf("label %q, want %q", a.Label, w.label))
		}
		if w.ports >= 0 && a.UniqueDestPorts != w.ports {
			problems = append(problems, fmt.Sprintf("ports %d, want %d", a.UniqueDestPorts, w.ports))
		}
		if a.UniqueDestHosts != w.hosts {
			problems = append(problems, fmt.Sprintf("hosts %d, want %d", a.UniqueDestHosts, w.hosts))
		}
		if !slices.Equal(ev, w.evasion) {
			problems = append(problems, fmt.Sprintf("evasion %v, want %v", a.Evasion, w.evasion))
		}
		if w.members > 0 {
			if m := a.MemberSources; len(m) != w.members {
				problems = append(problems, fmt.Sprintf("%d member sources, want %d", len(m), w.members))
			}
		}
		if len(problems) > 0 {
			t.Errorf("%s: %s", a.Source, strings.Join(problems, "; "))
		}
	}
}
