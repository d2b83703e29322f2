package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/natstest"
	"github.com/scanwatch/scanwatch/lab"
)

var fleetT0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

type synPkt struct {
	at       time.Time
	src, dst netip.Addr
	port     uint16
}

// writeSYNs writes a pcap of SYNs, as nmap -sS sends them.
func writeSYNs(t *testing.T, path string, pkts []synPkt) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 44, Id: uint16(1000 + i), Protocol: layers.IPProtocolTCP, SrcIP: p.src.AsSlice(), DstIP: p.dst.AsSlice()}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(40000 + i%7), DstPort: layers.TCPPort(p.port), Seq: uint32(7777 + i), SYN: true, Window: 1024,
			Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: p.at, CaptureLength: len(sb.Bytes()), Length: len(sb.Bytes())}
		if err := w.WritePacket(ci, sb.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sweepHalf is 198.51.100.7's SYNs to port 22 of 203.0.113.from..to,
// 200 ms apart from at.
func sweepHalf(from, to int, at time.Time) []synPkt {
	var out []synPkt
	for h := from; h <= to; h++ {
		out = append(out, synPkt{at.Add(time.Duration(h-from) * 200 * time.Millisecond), netip.MustParseAddr("198.51.100.7"),
			netip.AddrFrom4([4]byte{203, 0, 113, byte(h)}), 22})
	}
	return out
}

func runCmd(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = run(ctx, args, &o, &e)
	return o.String(), e.String(), err
}

func decodeAlerts(t *testing.T, s string) []detector.Alert {
	t.Helper()
	var out []detector.Alert
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var a detector.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alert line %q: %v", sc.Text(), err)
		}
		out = append(out, a)
	}
	return out
}

// The proof: two sensors each replay half of a 40-host port-22
// sweep; neither alerts; the correlator alerts one IPSweep over 40 hosts
// naming both.
func TestFleetSplitSweep(t *testing.T) {
	srv := natstest.Start(t)
	dir := t.TempDir()
	halfA, halfB := filepath.Join(dir, "edge-a.pcap"), filepath.Join(dir, "edge-b.pcap")
	writeSYNs(t, halfA, sweepHalf(1, 20, fleetT0))
	writeSYNs(t, halfB, sweepHalf(21, 40, fleetT0.Add(5*time.Second)))
	ctx := context.Background()

	// A live correlator follows the stream while the sensors publish.
	lctx, stop := context.WithCancel(ctx)
	var live bytes.Buffer
	liveDone := make(chan error, 1)
	go func() {
		liveDone <- run(lctx, []string{"correlate", "--nats", srv.URL, "--web.listen-address", ""}, &syncWriter{w: &live}, &bytes.Buffer{})
	}()

	for _, c := range [][2]string{{"edge-a", halfA}, {"edge-b", halfB}} {
		out, errOut, err := runCmd(t, ctx, "replay", "--publish", srv.URL, "--publish.sensor", c[0], c[1])
		if err != nil {
			t.Fatalf("replay %s: %v\n%s", c[0], err, errOut)
		}
		if strings.TrimSpace(out) != "" {
			t.Fatalf("sensor %s alone alerts on its half: %s", c[0], out)
		}
		if !strings.Contains(errOut, "published=20 dropped=0") {
			t.Fatalf("sensor %s did not publish its 20 probes: %s", c[0], errOut)
		}
	}

	out, errOut, err := runCmd(t, ctx, "correlate", "--drain", "--nats", srv.URL)
	if err != nil {
		t.Fatalf("correlate --drain: %v\n%s", err, errOut)
	}
	got := decodeAlerts(t, out)
	if len(got) != 1 {
		t.Fatalf("correlate --drain printed %d alerts, want 1:\n%s", len(got), out)
	}
	a := got[0]
	if a.Label != detector.LabelSweep || a.UniqueDestHosts != 40 || a.TotalConns != 40 || a.Status != detector.StatusFinal ||
		a.Source != netip.MustParseAddr("198.51.100.7") || !slices.Equal(a.Sensors, []string{"edge-a", "edge-b"}) {
		t.Fatalf("alert %s: want a final IPSweep of 40 hosts from 198.51.100.7 naming edge-a and edge-b", out)
	}

	// The live correlator alerted when the 25th host was probed; a probe
	// ten minutes later (another source, one SYN) moves event time past
	// the window, and it closes the episode with all 40 hosts.
	later := filepath.Join(dir, "later.pcap")
	writeSYNs(t, later, []synPkt{{fleetT0.Add(10 * time.Minute), netip.MustParseAddr("192.0.2.50"), netip.MustParseAddr("203.0.113.99"), 443}})
	if _, errOut, err := runCmd(t, ctx, "replay", "--publish", srv.URL, "--publish.sensor", "edge-a", later); err != nil {
		t.Fatalf("replay later: %v\n%s", err, errOut)
	}
	deadline := time.Now().Add(20 * time.Second)
	var alerts []detector.Alert
	for time.Now().Before(deadline) {
		alerts = decodeAlerts(t, (&syncWriter{w: &live}).String())
		if len(alerts) == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-liveDone; err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 2 || alerts[0].Status != detector.StatusNew || alerts[1].Status != detector.StatusFinal ||
		alerts[0].AlertID != alerts[1].AlertID || alerts[0].AlertID != a.AlertID || alerts[1].UniqueDestHosts != 40 {
		t.Fatalf("live correlator: %+v; want new then final of the drained episode, 40 hosts at the end", alerts)
	}
	for _, al := range alerts {
		if !slices.Equal(al.Sensors, []string{"edge-a", "edge-b"}) {
			t.Fatalf("live alert %s names sensors %v, want edge-a and edge-b", al.Status, al.Sensors)
		}
	}
}

// syncWriter lets the test read what a running command writes.
type syncWriter struct{ w *bytes.Buffer }

var syncMu = make(chan struct{}, 1)

func (s *syncWriter) Write(p []byte) (int, error) {
	syncMu <- struct{}{}
	defer func() { <-syncMu }()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	syncMu <- struct{}{}
	defer func() { <-syncMu }()
	return s.w.String()
}

// Mistakes on the fleet flags are usage errors (exit 2) that name the
// flag and the fix, before anything connects.
func TestFleetFlagErrors(t *testing.T) {
	pcap := filepath.Join(t.TempDir(), "x.pcap")
	writeSYNs(t, pcap, sweepHalf(1, 1, fleetT0))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"correlate"}, "--nats is required"},
		{[]string{"correlate", "--nats", "http://x:4222"}, "give nats://HOST:4222"},
		{[]string{"correlate", "--nats", "nats://127.0.0.1:1", "--rules", "seed"}, "correlate runs the default rules"},
		{[]string{"correlate", "--nats", "nats://127.0.0.1:1", "extra"}, "takes flags only"},
		{[]string{"correlate", "--nats", "nats://127.0.0.1:1", "--nats.creds", "/nonexistent/x.creds"}, "--nats.creds /nonexistent/x.creds"},
		{[]string{"correlate", "--nats", "nats://127.0.0.1:1", "--nats.tls.cert", pcap}, "--nats.tls.cert and --nats.tls.key go together"},
		{[]string{"replay", "--publish", "127.0.0.1:4222", pcap}, "--publish"},
		{[]string{"replay", "--publish", "nats://127.0.0.1:1", "--publish.sensor", "a.b", pcap}, "cannot stand in a NATS subject token"},
		{[]string{"replay", "--publish", "nats://127.0.0.1:1", "--publish.sensor", "a", "--publish.subject", "scanwatch.>", pcap}, "no wildcards"},
		{[]string{"replay", "--publish", "nats://127.0.0.1:1", "--publish.sensor", "a", "--publish.shards", "0", pcap}, "--publish.shards 0"},
		{[]string{"replay", "--publish", "nats://127.0.0.1:1", "--publish.sensor", "a", "--publish.subject", "scanwatch.probes.b", pcap}, "must end in .a"},
		{[]string{"replay", "--publish", "nats://127.0.0.1:1", "--publish.sensor", "a", "--publish.shards", "4", "--publish.subject", "x.y", pcap}, "give one or the other"},
		{[]string{"replay", "--publish", "nats://127.0.0.1:1", "--publish.sensor", "a", "--publish.batch", "100000", pcap}, "batches of 1 to 65536"},
	} {
		_, _, err := runCmd(t, context.Background(), c.args...)
		var errOut bytes.Buffer
		code := exitCode(err, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", c.args, code, errOut.String(), c.want)
		}
	}
}

// scanwatch run --publish, live: the sensor alerts on its own as before,
// and what it published gives the same sweep to the correlator, naming
// it. nats-server runs in the target namespace beside the sensor.
func TestPrivilegedRunPublishes(t *testing.T) {
	requireRoot(t)
	lab.Require(t, "nmap")
	bin := buildBinary(t)
	l := lab.New(t)
	srv := natstest.StartIn(t, l.NSTgt)
	d := startDaemon(t, l, bin, "--publish", srv.URL, "--publish.sensor", "live-a")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := l.Nmap(ctx, "-sS", "-n", "-Pn", "-p22", "--max-retries", "0", "203.0.113.1-30").CombinedOutput(); err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	last := d.interrupt(t)
	if last.Label != detector.LabelSweep || last.Status != detector.StatusFinal || last.UniqueDestHosts != 30 || last.Sensors != nil {
		t.Fatalf("local final alert %+v: want the sweep of 30 hosts (no sensors list: that is the correlator's)", last)
	}
	out, err := l.InTgt(ctx, bin, "correlate", "--drain", "--nats", srv.URL).Output()
	if err != nil {
		t.Fatalf("correlate --drain: %v", err)
	}
	got := decodeAlerts(t, string(out))
	if len(got) != 1 || got[0].Label != detector.LabelSweep || got[0].UniqueDestHosts != 30 || got[0].AlertID != last.AlertID ||
		!slices.Equal(got[0].Sensors, []string{"live-a"}) {
		t.Fatalf("correlator: %s; want the sensor's sweep (alert_id %s), 30 hosts, naming live-a", out, last.AlertID)
	}
}

// With no NATS server at all, replay --publish judges the capture as
// ever, then says how many probes were not delivered and exits 1.
func TestFleetReplayWithoutServer(t *testing.T) {
	pcap := filepath.Join(t.TempDir(), "sweep.pcap")
	writeSYNs(t, pcap, sweepHalf(1, 30, fleetT0))
	out, errOut, err := runCmd(t, context.Background(), "replay", "--publish", "nats://127.0.0.1:1", "--publish.sensor", "lonely",
		"--publish.flush-timeout", "300ms", pcap)
	got := decodeAlerts(t, out)
	if len(got) != 1 || got[0].UniqueDestHosts != 30 {
		t.Fatalf("local alerts %s: want the 30-host sweep", out)
	}
	var e bytes.Buffer
	if code := exitCode(err, &e); code != 1 || !strings.Contains(e.String(), "30 of 30 probe records were not delivered") {
		t.Fatalf("exit %d, %q; want 1 and the undelivered count\n%s", code, e.String(), errOut)
	}
}

// publishSplitSweep replays the two halves of a 40-host sweep (hosts
// 1-20 and 21-40, five seconds apart) into url as sensors edge-0 and
// edge-1, from captures written in dir.
func publishSplitSweep(t *testing.T, url, dir string) {
	t.Helper()
	for i, half := range [][2]int{{1, 20}, {21, 40}} {
		p := filepath.Join(dir, fmt.Sprint(i, ".pcap"))
		writeSYNs(t, p, sweepHalf(half[0], half[1], fleetT0.Add(time.Duration(i)*5*time.Second)))
		if _, errOut, err := runCmd(t, context.Background(), "replay", "--publish", url, "--publish.sensor", fmt.Sprint("edge-", i), p); err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
	}
}

// correlate --format ecs puts the sensors under scanwatch.sensors.
func TestFleetCorrelateECS(t *testing.T) {
	srv := natstest.Start(t)
	dir := t.TempDir()
	publishSplitSweep(t, srv.URL, dir)
	out, errOut, err := runCmd(t, context.Background(), "correlate", "--drain", "--nats", srv.URL, "--format", "ecs")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	var doc struct {
		Scanwatch struct {
			Sensors         []string `json:"sensors"`
			UniqueDestHosts int      `json:"unique_dest_hosts"`
		} `json:"scanwatch"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || !slices.Equal(doc.Scanwatch.Sensors, []string{"edge-0", "edge-1"}) || doc.Scanwatch.UniqueDestHosts != 40 {
		t.Fatalf("ECS %s (%v): want scanwatch.sensors [edge-0 edge-1] over 40 hosts", out, err)
	}
}
