package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// Red-team review of web scanning in replay (issue 10): what reaches the
// server's application but not the rules, and what reaches the rules but
// never the application. Each test built a capture the server's stack
// would handle as its comment says, and failed on the code it was written
// against.

var (
	rtClient = net.IP{198, 51, 100, 10}
	rtServer = net.IP{203, 0, 113, 10}
)

// rtConn writes one TCP connection's segments: a handshake, then data in
// either direction with the sequence numbers a stack would use.
type rtConn struct {
	frames     *[][]byte
	t          testing.TB
	cli        net.IP
	sport      uint16
	cseq, sseq uint32
}

func rtOpen(t testing.TB, frames *[][]byte, cli net.IP, sport uint16) *rtConn {
	c := &rtConn{frames: frames, t: t, cli: cli, sport: sport, cseq: 1000, sseq: 5000}
	c.seg(true, "S", nil)
	c.seg(false, "SA", nil)
	c.seg(true, "A", nil)
	return c
}

// seg appends a segment from the client (up) or the server.
func (c *rtConn) seg(up bool, flags string, payload []byte) {
	c.t.Helper()
	src, dst, sp, dp, seq, ack := c.cli, rtServer, c.sport, uint16(80), &c.cseq, c.sseq
	if !up {
		src, dst, sp, dp, seq, ack = rtServer, c.cli, 80, c.sport, &c.sseq, c.cseq
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: *seq, Window: 64240}
	for _, f := range flags {
		switch f {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK, tcp.Ack = true, ack
		case 'R':
			tcp.RST = true
		case 'F':
			tcp.FIN = true
		}
	}
	if len(payload) > 0 {
		tcp.PSH = true
	}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		c.t.Fatal(err)
	}
	eth := &layers.Ethernet{SrcMAC: packettest.MACScan, DstMAC: packettest.MACTgt, EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		c.t.Fatal(err)
	}
	*c.frames = append(*c.frames, append([]byte(nil), buf.Bytes()...))
	*seq += uint32(len(payload))
	if tcp.SYN {
		*seq++
	}
}

func (c *rtConn) send(s string) { c.seg(true, "A", []byte(s)) }
func (c *rtConn) answer(code int) {
	c.seg(false, "A", []byte(fmt.Sprintf("HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", code)))
}
func rtReq(method, target, ua string) string {
	return method + " " + target + " HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: " + ua + "\r\nAccept: */*\r\n\r\n"
}

const (
	rtNikto   = "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)"
	rtBrowser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
)

// rtReplay writes frames to a capture and replays it with the default rules.
func rtReplay(t *testing.T, frames [][]byte) []detector.Alert {
	t.Helper()
	file := filepath.Join(t.TempDir(), "redteam.pcap")
	if err := os.WriteFile(file, packettest.WritePcap(t, frames, false, layers.LinkTypeEthernet), 0o644); err != nil {
		t.Fatal(err)
	}
	got, stderr, err := replayJSON(t, file)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var web []detector.Alert
	for _, a := range got {
		if a.HTTP != nil && a.Status == detector.StatusFinal {
			web = append(web, a)
		}
	}
	return web
}

func rtWant(t *testing.T, web []detector.Alert, label string) {
	t.Helper()
	if len(web) != 1 || web[0].Label != label {
		var got []string
		for _, a := range web {
			got = append(got, a.Source.String()+" "+a.Label)
		}
		t.Fatalf("web alerts %v, want one %q", got, label)
	}
}

var rtProbes = []string{"/.git/HEAD", "/.env", "/phpinfo.php", "/server-status", "/.htpasswd", "/wp-config.php.bak"}

// "GET  /x" (two spaces; nginx accepts any number before the target):
// the target read starts with a space and matches no probe path.
func TestRedTeamReplayDoubleSpaceTarget(t *testing.T) {
	var frames [][]byte
	c := rtOpen(t, &frames, rtClient, 40030)
	for _, p := range rtProbes {
		c.send(rtReq("GET ", p, rtBrowser))
		c.answer(404)
	}
	rtWant(t, rtReplay(t, frames), detector.LabelVulnScan)
}
