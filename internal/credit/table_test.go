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
// bare handshake ACK none, an ACK of server data one, and nothing without
// a SYN seen or after the slot has gone stale.
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
	if c, _ := tb.Segment(&client, &server, 40000, 443, 0, 1001+1448, false, t0); !c {
		t.Fatal("an ACK of server data earned no credit")
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
