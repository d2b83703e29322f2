package credit

import (
	"net/netip"
	"testing"
	"time"
)

func a16(s string) [16]byte { return netip.MustParseAddr(s).As16() }

var (
	client = a16("198.51.100.20")
	server = a16("203.0.113.10")
	t0     = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC).UnixNano()
)

// TestTCPCredit walks the rule's cases: payload earns a credit per SYN, a
// bare handshake ACK none, an ACK of server data one only from a client
// that sent the server payload lately, and nothing without a SYN seen or
// after the slot has gone stale.
func TestTCPCredit(t *testing.T) {
	tb := New(RandomKeys())
	if c, est := tb.Segment(&client, &server, 40000, 443, 100, 1, false, t0); c || est {
		t.Fatal("credit or established without a SYN")
	}
	tb.SYN(&client, &server, 443, t0)
	if c, est := tb.Segment(&client, &server, 40000, 443, 0, 1001, false, t0); c || !est {
		t.Fatalf("handshake ACK: credit %v established %v, want none and true", c, est)
	}
	if c, _ := tb.Segment(&client, &server, 40000, 443, 0, 1002, false, t0); c {
		t.Fatal("an ACK of the server's FIN (ack +1) earned credit")
	}
	if c, _ := tb.Segment(&client, &server, 40000, 443, 0, 1001+40, false, t0); c {
		t.Fatal("an ACK of server data earned credit from a client that never sent any (a banner grab)")
	}
	// Payload on another connection to the server: now its data ACKed is use.
	tb.SYN(&client, &server, 21, t0)
	if c, _ := tb.Segment(&client, &server, 40100, 21, 14, 1, false, t0); !c {
		t.Fatal("payload earned no credit")
	}
	if c, _ := tb.Segment(&client, &server, 40000, 443, 0, 1001+1448, false, t0); !c {
		t.Fatal("an ACK of server data, from a client that talks to the server, earned no credit")
	}
	if c, _ := tb.Segment(&client, &server, 40000, 443, 0, 1001+3000, false, t0+2<<EpochShift); c {
		t.Fatal("a client's talk two epochs old still vouches for its ACKs")
	}
	if c, _ := tb.Segment(&client, &server, 40000, 443, 200, 5000, false, t0); c {
		t.Fatal("two credits for one SYN")
	}
	for i := 0; i < 3; i++ {
		tb.SYN(&client, &server, 443, t0)
	}
	n := 0
	for i := 0; i < 10; i++ {
		if c, _ := tb.Segment(&client, &server, uint16(40001+i), 443, 50, 7, false, t0); c {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d credits for 3 SYNs", n)
	}
	// The server's bare ACKs: the reverse direction is known.
	if _, est := tb.Segment(&server, &client, 443, 40000, 0, 9, true, t0); !est {
		t.Fatal("a server's bare ACK on a connection seen open is not established")
	}
	if _, est := tb.Segment(&server, &client, 443, 40000, 0, 9, false, t0); est {
		t.Fatal("the reverse direction looked up for a segment that is no probe shape")
	}
	tb.SYN(&client, &server, 80, t0)
	late := t0 + 3<<EpochShift
	if c, est := tb.Segment(&client, &server, 40000, 80, 100, 1, true, late); c || est {
		t.Fatal("a slot three epochs old still live")
	}
}

func TestUDPCredit(t *testing.T) {
	tb := New(RandomKeys())
	if tb.Reply(&server, &client, 443, t0) {
		t.Fatal("a reply to nothing earned credit")
	}
	tb.Probe(&client, &server, 443, t0)
	if !tb.Reply(&server, &client, 443, t0) {
		t.Fatal("a reply from the probed port earned nothing")
	}
	credits := 0
	for i := 0; i < 1000; i++ {
		tb.Probe(&client, &server, 443, t0)
		if tb.Reply(&server, &client, 443, t0) {
			credits++
		}
	}
	if want := 1000 / ReArmEvery; credits != want {
		t.Fatalf("%d credits for 1000 answered datagrams, want %d (one per %d)", credits, want, ReArmEvery)
	}
	tb.Probe(&client, &server, 53, t0)
	if tb.Reply(&server, &client, 54, t0) {
		t.Fatal("a reply from another port earned credit")
	}
}

// TestIndexSpreads: the reverse of a key is another slot, and a /16 of
// sources to one port spreads over the table.
func TestIndexSpreads(t *testing.T) {
	k := RandomKeys()
	if Index(&k, &client, &server, 443, 6) == Index(&k, &server, &client, 443, 6) {
		t.Fatal("a key and its reverse share a slot")
	}
	seen := map[uint32]bool{}
	for i := 0; i < 1<<16; i++ {
		src := a16(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}).String())
		seen[Index(&k, &src, &server, 443, 6)] = true
	}
	// 2^16 keys into 2^19 slots: about 6% collide if uniform.
	if len(seen) < 1<<16*9/10 {
		t.Fatalf("2^16 sources took only %d slots", len(seen))
	}
}

// TestAnswer: a SYN-ACK seen without its SYN (a perimeter host's own
// connection) makes the server's bare ACKs established, and earns nothing.
func TestAnswer(t *testing.T) {
	tb := New(RandomKeys())
	if _, est := tb.Segment(&server, &client, 443, 40000, 0, 9, true, t0); est {
		t.Fatal("a bare ACK established before any SYN-ACK")
	}
	tb.Answer(&server, &client, 443, t0) // server:443 answers client's SYN
	if c, est := tb.Segment(&server, &client, 443, 40000, 0, 9, true, t0); c || !est {
		t.Fatalf("after the SYN-ACK: credit %v established %v, want none and true", c, est)
	}
	if c, _ := tb.Segment(&client, &server, 40000, 443, 100, 9, false, t0); c {
		t.Fatal("an answer armed the connection: credit without a SYN")
	}
	if _, est := tb.Segment(&server, &client, 443, 40000, 0, 9, true, t0+3<<EpochShift); est {
		t.Fatal("an answer three epochs old still live")
	}
}

// TestV4Base: an IPv4 index computed the kernel's way (three products and
// V4Base) is Index's.
func TestV4Base(t *testing.T) {
	k := RandomKeys()
	le := func(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24 }
	for i := 0; i < 1000; i++ {
		src, dst := a16("198.51.100.20"), a16("203.0.113.10")
		src[15], dst[14] = byte(i), byte(i>>3)
		port := uint16(i * 7)
		x := le(src[12:])*k[3] + le(dst[12:])*k[7] + (uint32(port)|6<<16)*k[8] + V4Base(&k)
		x ^= x >> 16
		x *= k[9]
		if got, want := x>>(32-Bits), Index(&k, &src, &dst, port, 6); got != want {
			t.Fatalf("%v %v %d: kernel's way %d, Index %d", src, dst, port, got, want)
		}
	}
}

// Queued writes are applied in order before any read, across batch
// boundaries: 300 SYNs of one flow (more than four batches, the arm count
// saturating at 255) interleaved with other flows' SYNs and UDP probes
// earn exactly 255 credits, and a UDP probe queued last is armed when its
// reply arrives.
func TestQueuedWritesApplyBeforeReads(t *testing.T) {
	tb := New(RandomKeys())
	other := a16("198.51.100.21")
	for i := 0; i < 300; i++ {
		tb.SYN(&client, &server, 443, t0)
		tb.SYN(&other, &server, uint16(1000+i), t0)
		tb.Probe(&other, &server, uint16(2000+i), t0)
	}
	tb.Probe(&client, &server, 53, t0)
	if !tb.Reply(&server, &client, 53, t0) {
		t.Fatal("the reply to a queued UDP probe found the flow unarmed")
	}
	credits := 0
	for i := 0; i < 300; i++ {
		if c, _ := tb.Segment(&client, &server, 40000, 443, 10, 1, false, t0); c {
			credits++
		}
	}
	if credits != 255 {
		t.Fatalf("%d credits after 300 queued SYNs, want 255 (the arm count's cap)", credits)
	}
}
