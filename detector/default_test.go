package detector

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// traffic builds event sequences for the default rules' table tests.
type traffic struct {
	evs []Event
	t   time.Time
}

func newTraffic() *traffic { return &traffic{t: t0} }

func (tr *traffic) after(d time.Duration) *traffic { tr.t = tr.t.Add(d); return tr }

func (tr *traffic) pkt(src, dst string, sport, dport uint16, kind Kind, flags uint8) *traffic {
	tr.evs = append(tr.evs, Event{Time: tr.t, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
		SrcPort: sport, DstPort: dport, Kind: kind, Flags: flags, Window: 64240})
	tr.t = tr.t.Add(time.Millisecond)
	return tr
}

func (tr *traffic) syn(src, dst string, dport uint16) *traffic {
	return tr.pkt(src, dst, 40000, dport, KindSYN, FlagSYN)
}

// connect is a used connection as the sensors report it: SYN, SYN-ACK,
// ACK, a request with the credit it earns, the response and the server's
// bare ACK (every segment but the probes with timestamps, as Linux sends).
func (tr *traffic) connect(src, dst string, sport, dport uint16) *traffic {
	tr.pkt(src, dst, sport, dport, KindSYN, FlagSYN)
	tr.evs[len(tr.evs)-1].OptLen = 20 // MSS, SACK, timestamps, window scale
	tr.pkt(dst, src, dport, sport, KindSYNACK, FlagSYN|FlagACK)
	tr.est(src, dst, sport, dport, FlagACK, 0)
	tr.est(src, dst, sport, dport, FlagACK|FlagPSH, 120) // request
	tr.pkt(src, dst, sport, dport, KindCreditTCP, 0)
	tr.est(dst, src, dport, sport, FlagACK|FlagPSH, 900) // response
	tr.est(dst, src, dport, sport, FlagACK, 0)           // server's bare ACK
	return tr
}

// est is a segment of an established connection.
func (tr *traffic) est(src, dst string, sport, dport uint16, flags uint8, payload uint16) *traffic {
	tr.pkt(src, dst, sport, dport, KindOther, flags)
	ev := &tr.evs[len(tr.evs)-1]
	ev.OptLen, ev.Payload, ev.Established = 12, payload, true
	return tr
}

// vertical probes ports 1..ports, without options as raw-packet tools do.
func (tr *traffic) vertical(src, dst string, ports int, kind Kind, flags uint8) *traffic {
	for p := 1; p <= ports; p++ {
		tr.pkt(src, dst, 40000, uint16(p), kind, flags)
	}
	return tr
}

func (tr *traffic) sweep(src string, hosts int, port uint16) *traffic {
	for h := 1; h <= hosts; h++ {
		tr.syn(src, fmt.Sprintf("203.0.113.%d", h-1), port)
	}
	return tr
}

type wantAlert struct {
	source, label, scanType string
	ports, hosts            int
}

func runDefault(t *testing.T, cfg Config, evs []Event) (finals, live, suppressed []Alert) {
	t.Helper()
	cfg.OnAlert = func(a Alert) {
		live = append(live, a)
		if a.Status == StatusFinal {
			finals = append(finals, a)
		}
	}
	cfg.OnSuppressed = func(a Alert) { suppressed = append(suppressed, a) }
	d := NewDefault(cfg)
	for i := range evs {
		d.Observe(&evs[i])
	}
	finals = append(finals, d.Flush()...)
	SortAlerts(finals)
	return finals, live, suppressed
}

func TestDefaultVerdicts(t *testing.T) {
	const scanner, target = "198.51.100.10", "203.0.113.10"
	busy := newTraffic()
	for i := 0; i < 300; i++ {
		busy.connect("198.51.100.20", target, uint16(30000+i), []uint16{80, 443, 22}[i%3])
	}
	page := newTraffic()
	for i := 1; i <= 13; i++ {
		for j := 0; j < 2; j++ {
			page.connect("198.51.100.30", fmt.Sprintf("203.0.113.%d", i), uint16(31000+2*i+j), 80)
		}
	}
	health := newTraffic()
	for round := 0; round < 6; round++ {
		for h := 1; h <= 30; h++ {
			health.connect("198.51.100.40", fmt.Sprintf("203.0.113.%d", h), uint16(32000+round*30+h), 443)
		}
		health.after(10 * time.Second)
	}
	failingHealth := newTraffic().sweep("198.51.100.40", 30, 443)
	slow := newTraffic()
	for p := 1; p <= 30; p++ {
		slow.syn(scanner, target, uint16(p)).after(time.Minute)
	}
	flood := newTraffic()
	for i := 0; i < 3000; i++ {
		flood.pkt(scanner, target, uint16(1000+i%60000), 80, KindSYN, FlagSYN)
	}
	apiClient := newTraffic()
	for i := 0; i < 2000; i++ {
		apiClient.connect("198.51.100.50", target, uint16(20000+i), 443)
	}
	ackScan := newTraffic().vertical(scanner, target, 100, KindOther, FlagACK)
	dns := newTraffic()
	for i := 0; i < 100; i++ {
		sport := uint16(40000 + i)
		dns.pkt("198.51.100.60", target, sport, 53, KindUDP, 0).pkt(target, "198.51.100.60", 53, sport, KindUDP, 0)
	}

	// nmap -sT of 40 open ports: every handshake completes, nothing is
	// sent, the connection is reset: no credit.
	connectScan := newTraffic()
	for p := uint16(1); p <= 40; p++ {
		connectScan.pkt(scanner, target, 41000, p, KindSYN, FlagSYN)
		connectScan.evs[len(connectScan.evs)-1].OptLen = 20
		connectScan.pkt(target, scanner, p, 41000, KindSYNACK, FlagSYN|FlagACK).
			est(scanner, target, 41000, p, FlagACK, 0).pkt(scanner, target, 41000, p, KindRST, FlagRST|FlagACK)
	}
	// A QUIC client of 30 servers: every flow answered from its port.
	quic := newTraffic()
	for h := 1; h <= 30; h++ {
		dst := fmt.Sprintf("203.0.113.%d", h)
		quic.pkt("198.51.100.70", dst, 50000, 443, KindUDP, 0).pkt(dst, "198.51.100.70", 443, 50000, KindUDP, 0).
			pkt("198.51.100.70", dst, 50000, 443, KindCreditUDP, 0)
	}
	quicUnanswered := newTraffic()
	for h := 1; h <= 30; h++ {
		quicUnanswered.pkt("198.51.100.70", fmt.Sprintf("203.0.113.%d", h), 50000, 443, KindUDP, 0)
	}
	// A media peer whose 30 UDP ports on one host all answer.
	media := newTraffic()
	for p := uint16(1); p <= 30; p++ {
		media.pkt("198.51.100.71", target, 50000, 20000+p, KindUDP, 0).pkt(target, "198.51.100.71", 20000+p, 50000, KindUDP, 0).
			pkt("198.51.100.71", target, 50000, 20000+p, KindCreditUDP, 0)
	}
	// Bare ACKs with timestamps, or on connections the sensor saw open,
	// are no ACK probes.
	tsACKs := newTraffic()
	for p := uint16(1); p <= 60; p++ {
		tsACKs.est(scanner, target, 40000, p, FlagACK, 0).evs[len(tsACKs.evs)-1].Established = false
	}
	establishedACKs := newTraffic()
	for p := uint16(1); p <= 60; p++ {
		establishedACKs.vertical(scanner, target, 0, KindOther, FlagACK).pkt(scanner, target, 40000, p, KindOther, FlagACK)
		ev := &establishedACKs.evs[len(establishedACKs.evs)-1]
		ev.OptLen, ev.Established = 0, true
	}

	tests := []struct {
		name string
		evs  []Event
		cfg  Config
		want []wantAlert
	}{
		{"a connect scan of open ports earns no credit", connectScan.evs, Config{},
			[]wantAlert{{scanner, LabelPortScan, "connect", 40, 1}}},
		{"a QUIC client whose flows are answered is quiet", quic.evs, Config{}, nil},
		{"unanswered datagrams to 30 hosts are a UDP sweep", quicUnanswered.evs, Config{},
			[]wantAlert{{"198.51.100.70", LabelSweep, "udp", 1, 30}}},
		{"a media peer whose 30 ports answer is quiet", media.evs, Config{}, nil},
		{"bare ACKs with timestamps are no ACK scan", tsACKs.evs, Config{}, nil},
		{"bare ACKs on connections seen open are no ACK scan", establishedACKs.evs, Config{}, nil},
		{"19 ports is quiet", newTraffic().vertical(scanner, target, 19, KindSYN, FlagSYN).evs, Config{}, nil},
		{"20 ports is a PortScan", newTraffic().vertical(scanner, target, 20, KindSYN, FlagSYN).evs, Config{},
			[]wantAlert{{scanner, LabelPortScan, "syn", 20, 1}}},
		{"60 ports is a FullNetworkScan", newTraffic().vertical(scanner, target, 60, KindSYN, FlagSYN).evs, Config{},
			[]wantAlert{{scanner, LabelFullNetworkScan, "syn", 60, 1}}},
		{"FIN probes", newTraffic().vertical(scanner, target, 60, KindOther, FlagFIN).evs, Config{},
			[]wantAlert{{scanner, LabelFullNetworkScan, "fin", 60, 1}}},
		{"NULL probes", newTraffic().vertical(scanner, target, 60, KindOther, 0).evs, Config{},
			[]wantAlert{{scanner, LabelFullNetworkScan, "null", 60, 1}}},
		{"XMAS probes", newTraffic().vertical(scanner, target, 60, KindOther, FlagFIN|FlagPSH|FlagURG).evs, Config{},
			[]wantAlert{{scanner, LabelFullNetworkScan, "xmas", 60, 1}}},
		{"Maimon probes", newTraffic().vertical(scanner, target, 60, KindOther, FlagFIN|FlagACK).evs, Config{},
			[]wantAlert{{scanner, LabelFullNetworkScan, "maimon", 60, 1}}},
		{"ACK probes outside any connection", ackScan.evs, Config{},
			[]wantAlert{{scanner, LabelFullNetworkScan, "ack", 100, 1}}},
		{"UDP probes", newTraffic().vertical(scanner, target, 30, KindUDP, 0).evs, Config{},
			[]wantAlert{{scanner, LabelPortScan, "udp", 30, 1}}},
		{"DNS answers to many client ports are not a UDP scan", dns.evs, Config{}, nil},
		{"IPv6 vertical scan", newTraffic().vertical("2001:db8:1::10", "2001:db8:2::10", 60, KindSYN, FlagSYN).evs, Config{},
			[]wantAlert{{"2001:db8:1::10", LabelFullNetworkScan, "syn", 60, 1}}},
		{"a /24 sweep on one port", newTraffic().sweep(scanner, 256, 80).evs, Config{},
			[]wantAlert{{scanner, LabelSweep, "syn", 1, 256}}},
		{"24 hosts is below the sweep threshold", newTraffic().sweep(scanner, 24, 80).evs, Config{}, nil},
		{"one client loading a page from 13 servers", page.evs, Config{}, nil},
		{"a busy client: 300 completed connections to 80/443/22", busy.evs, Config{}, nil},
		{"a health checker whose connections complete", health.evs, Config{}, nil},
		{"a health checker whose connections fail is a sweep", failingHealth.evs, Config{},
			[]wantAlert{{"198.51.100.40", LabelSweep, "syn", 1, 30}}},
		{"allowlisted: no alert", failingHealth.evs, Config{Allow: MustParsePrefixes("198.51.100.40/32")}, nil},
		{"a SYN flood is T1499, not T1595", flood.evs, Config{},
			[]wantAlert{{scanner, LabelFlood, "syn", 1, 1}}},
		{"2000 completed connections to one port are not a flood", apiClient.evs, Config{}, nil},
		{"30 ports over 30 minutes: the long window", slow.evs, Config{},
			[]wantAlert{{scanner, LabelPortScan, "syn", 30, 1}}},
		{"ignored sources stay ignored", newTraffic().vertical("10.0.0.1", target, 60, KindSYN, FlagSYN).evs, Config{Ignore: SeedIgnored}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			finals, _, suppressed := runDefault(t, tc.cfg, tc.evs)
			if len(finals) != len(tc.want) {
				t.Fatalf("%d final alerts, want %d: %+v", len(finals), len(tc.want), finals)
			}
			for i, w := range tc.want {
				g := finals[i]
				if g.Source.String() != w.source || g.Label != w.label || g.ScanType != w.scanType || g.UniqueDestPorts != w.ports || g.UniqueDestHosts != w.hosts {
					t.Errorf("got %s %q %s ports=%d hosts=%d, want %s %q %s %d %d", g.Source, g.Label, g.ScanType, g.UniqueDestPorts, g.UniqueDestHosts,
						w.source, w.label, w.scanType, w.ports, w.hosts)
				}
				if g.AlertID == "" || g.Rules != "default" {
					t.Errorf("alert lacks id or rules: %+v", g)
				}
			}
			if tc.cfg.Allow != nil && len(suppressed) == 0 {
				t.Error("an allowlisted source's alert must still be counted (OnSuppressed)")
			}
		})
	}
}

func TestDefaultSlowScanUsesLongWindow(t *testing.T) {
	tr := newTraffic()
	for p := 1; p <= 30; p++ {
		tr.syn("198.51.100.10", "203.0.113.10", uint16(p)).after(time.Minute)
	}
	finals, _, _ := runDefault(t, Config{}, tr.evs)
	if len(finals) != 1 || finals[0].Window != "1h0m0s" {
		t.Fatalf("want one alert from the 1h window: %+v", finals)
	}
}

func TestDefaultEpisodeUpdates(t *testing.T) {
	// One vertical scan of 1000 ports: new at 20, escalated at 50, updated
	// at 500 (tenfold), final with 1000; one alert_id throughout.
	tr := newTraffic().vertical("198.51.100.10", "203.0.113.10", 1000, KindSYN, FlagSYN)
	_, live, _ := runDefault(t, Config{}, tr.evs)
	var statuses []string
	for _, a := range live {
		statuses = append(statuses, fmt.Sprintf("%s@%d", a.Status, a.UniqueDestPorts))
		if a.AlertID != live[0].AlertID {
			t.Fatalf("alert_id changed within one episode: %v", live)
		}
	}
	want := "[new@20 escalated@50 updated@500]"
	if fmt.Sprint(statuses) != want {
		t.Fatalf("live alerts %v, want %s", statuses, want)
	}
}

func TestDefaultEpisodeClosesWhenQuiet(t *testing.T) {
	tr := newTraffic().vertical("198.51.100.10", "203.0.113.10", 30, KindSYN, FlagSYN)
	tr.after(20*time.Minute).syn("198.51.100.99", "203.0.113.10", 1) // time moves on
	_, live, _ := runDefault(t, Config{}, tr.evs)
	if len(live) != 2 || live[1].Status != StatusFinal || live[1].AlertID != live[0].AlertID {
		t.Fatalf("want new then final for one episode, got %+v", live)
	}
}

func TestDefaultDecoysAreGrouped(t *testing.T) {
	// nmap -D: each probe goes out from every decoy and the real source.
	tr := newTraffic()
	srcs := []string{"198.51.100.10", "192.0.2.1", "192.0.2.2"}
	for p := 1; p <= 60; p++ {
		for _, s := range srcs {
			tr.syn(s, "203.0.113.10", uint16(p))
		}
	}
	finals, _, _ := runDefault(t, Config{}, tr.evs)
	if len(finals) != 3 {
		t.Fatalf("%d alerts, want one per source", len(finals))
	}
	for _, a := range finals {
		if len(a.RelatedSources) != 2 {
			t.Errorf("%s: related %v, want the two others", a.Source, a.RelatedSources)
		}
	}
}

func TestDefaultToolFingerprints(t *testing.T) {
	mk := func(window uint16, mss bool, optLen uint8, ipid uint16, fixedSport bool, flags ...uint8) []Event {
		kind, f := KindSYN, FlagSYN
		if len(flags) > 0 {
			kind, f = KindOther, flags[0]
		}
		var evs []Event
		for p := 1; p <= 60; p++ {
			sport := uint16(40000)
			if !fixedSport {
				sport += uint16(p)
			}
			evs = append(evs, Event{Time: t0.Add(time.Duration(p) * time.Millisecond), Src: netip.MustParseAddr("198.51.100.10"),
				Dst: netip.MustParseAddr("203.0.113.10"), SrcPort: sport, DstPort: uint16(p), Kind: kind, Flags: f,
				Window: window, MSSOnly: mss, OptLen: optLen, IPID: ipid})
		}
		return evs
	}
	for _, tc := range []struct {
		name string
		evs  []Event
		tool string
	}{
		{"nmap", mk(1024, true, 4, 1, true), "nmap"},
		{"masscan", mk(1024, false, 0, 7, false), "masscan"},
		{"zmap", mk(65535, false, 0, 54321, false), "zmap"},
		{"an OS stack (nmap -sT)", mk(64240, false, 20, 9, false), ""},
		{"nmap FIN probes", mk(2048, false, 0, 3, true, FlagFIN), "nmap"},
		{"FIN probes from elsewhere", mk(65535, false, 0, 3, false, FlagFIN), ""},
	} {
		finals, _, _ := runDefault(t, Config{}, tc.evs)
		if len(finals) != 1 || finals[0].Tool != tc.tool {
			t.Errorf("%s: tool %q, want %q", tc.name, finals[0].Tool, tc.tool)
		}
	}
}

func TestDefaultBoundedStateKeepsTheScanner(t *testing.T) {
	if testing.Short() {
		t.Skip("a million spoofed sources")
	}
	// A million spoofed one-SYN sources with a real scan spread through
	// them: probation holds at most its cap and evicts the spoofed ones
	// (counted), none reaches the promoted tier, the scanner stays.
	evicted, probEvicted := 0, 0
	var alerts []Alert
	d := NewDefault(Config{MaxSources: 10_000, MaxProbation: 100_000, OnEvict: func() { evicted++ },
		OnProbationEvict: func() { probEvicted++ }, OnAlert: func(a Alert) { alerts = append(alerts, a) }})
	ev := Event{Dst: netip.MustParseAddr("203.0.113.10"), DstPort: 80, Kind: KindSYN, Flags: FlagSYN}
	scan := Event{Src: netip.MustParseAddr("198.51.100.10"), Dst: netip.MustParseAddr("203.0.113.20"), Kind: KindSYN, Flags: FlagSYN}
	maxProb := 0
	for i := 0; i < 1_000_000; i++ {
		ev.Time = t0.Add(time.Duration(i) * time.Microsecond)
		ev.Src = netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)})
		d.Observe(&ev)
		if i%1000 == 0 { // one scan probe per 1000 flood packets
			scan.Time, scan.DstPort = ev.Time, uint16(i/1000+1)
			d.Observe(&scan)
			p, _ := d.Held()
			maxProb = max(maxProb, p)
		}
	}
	prob, promoted := d.Held()
	alerts = append(alerts, d.Flush()...)
	if promoted != 1 || prob > 100_000 || maxProb > 100_000 {
		t.Fatalf("%d promoted (want the scanner alone), %d on probation (cap 100,000)", promoted, max(prob, maxProb))
	}
	if probEvicted < 899_000 || evicted != 0 {
		t.Fatalf("%d probation evictions, %d promoted evictions: want about 900,000 and 0", probEvicted, evicted)
	}
	if last := lastAlertOf(alerts, scan.Src); last.Label != LabelFullNetworkScan || last.UniqueDestPorts != 1000 {
		t.Fatalf("the scan in the middle of the flood: %+v", last)
	}
}

func lastAlertOf(alerts []Alert, src netip.Addr) Alert {
	var last Alert
	for _, a := range alerts {
		if a.Source == src {
			last = a
		}
	}
	return last
}

func TestDefaultPromotedCapEvictsLeastRecentlyActive(t *testing.T) {
	// Sources that do show evidence (two ports each) are promoted; past
	// MaxSources the least recently active goes, counted, and a scanner
	// active all along stays at the head of the LRU.
	evicted := 0
	var alerts []Alert
	d := NewDefault(Config{MaxSources: 1000, OnEvict: func() { evicted++ }, OnAlert: func(a Alert) { alerts = append(alerts, a) }})
	scanner := promotedChurn(d)
	if _, promoted := d.Held(); promoted > 1000 {
		t.Fatalf("%d promoted, cap 1000", promoted)
	}
	alerts = append(alerts, d.Flush()...)
	if evicted < 48_000 {
		t.Fatalf("only %d promoted evictions counted", evicted)
	}
	if last := lastAlertOf(alerts, scanner); last.Label != LabelFullNetworkScan || last.UniqueDestPorts != 100 {
		t.Fatalf("the scanner: %+v", last)
	}
}

// promotedChurn feeds r 50,000 sources that each show evidence (SYNs to
// two ports) and so are promoted, with a scanner probing one new port
// every 500 of them (100 ports in all); it returns the scanner.
func promotedChurn(r Rules) netip.Addr {
	ev := Event{Dst: netip.MustParseAddr("203.0.113.10"), Kind: KindSYN, Flags: FlagSYN}
	scan := Event{Src: netip.MustParseAddr("198.51.100.10"), Dst: netip.MustParseAddr("203.0.113.20"), Kind: KindSYN, Flags: FlagSYN}
	for i := 0; i < 50_000; i++ {
		ev.Time = t0.Add(time.Duration(i) * time.Microsecond)
		ev.Src = netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)})
		for _, p := range []uint16{80, 443} {
			ev.DstPort = p
			r.Observe(&ev)
		}
		if i%500 == 0 {
			scan.Time, scan.DstPort = ev.Time, uint16(i/500+1)
			r.Observe(&scan)
		}
	}
	return scan.Src
}

// spoofedFlood is the blinding case: a 40-port SYN scan whose first
// and second probes have a million one-SYN spoofed sources between them,
// and 30,000 more between each later pair, 2.14 M in all: more than the
// probation cap, so the flood's own oldest sources are evicted meanwhile.
func spoofedFlood(observe func(*Event)) (scanner netip.Addr) {
	scan := Event{Src: netip.MustParseAddr("198.51.100.10"), Dst: netip.MustParseAddr("203.0.113.20"), Kind: KindSYN, Flags: FlagSYN}
	ev := Event{Dst: netip.MustParseAddr("203.0.113.10"), DstPort: 80, Kind: KindSYN, Flags: FlagSYN}
	tm, n := t0, 0
	for p := 1; p <= 40; p++ {
		scan.Time, scan.DstPort = tm, uint16(p)
		observe(&scan)
		between := 30_000
		if p == 1 {
			between = 1_000_000
		}
		if p == 40 {
			between = 0
		}
		for range between {
			tm = tm.Add(time.Microsecond)
			ev.Time, ev.Src = tm, netip.AddrFrom4([4]byte{100, byte(n >> 16), byte(n >> 8), byte(n)})
			n++
			observe(&ev)
		}
	}
	return scan.Src
}

func TestDefaultScanInsideSpoofedFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("two million spoofed sources")
	}
	probEvicted := 0
	var alerts []Alert
	d := NewDefault(Config{OnProbationEvict: func() { probEvicted++ }, OnAlert: func(a Alert) { alerts = append(alerts, a) }})
	scanner := spoofedFlood(d.Observe)
	prob, promoted := d.Held()
	alerts = append(alerts, d.Flush()...)
	t.Logf("%d on probation, %d promoted, %d probation evictions", prob, promoted, probEvicted)
	if probEvicted == 0 || prob > DefaultMaxProbation || promoted != 1 {
		t.Fatalf("want the probation cap reached and only the scanner promoted")
	}
	if last := lastAlertOf(alerts, scanner); last.Label != LabelPortScan || last.UniqueDestPorts != 40 || last.TotalConns != 40 {
		t.Fatalf("the scan inside the flood: %+v", last)
	}
}
