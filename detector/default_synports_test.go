package detector

import (
	"net/netip"
	"testing"
)

// A target's SYN ports share its TCP ports while every TCP probe has been
// a SYN, and part from them at the first that is not; either way they
// answer as a set of their own, and the key budget is charged for both.
func TestTargetSynPortsPartOnFirstOtherProbe(t *testing.T) {
	const scanner, target = "198.51.100.7", "203.0.113.9"
	d := NewDefault(Config{})
	feed := func(tr *traffic) {
		for i := range tr.evs {
			d.Observe(&tr.evs[i])
		}
	}
	feed(newTraffic().vertical(scanner, target, 30, KindSYN, FlagSYN))
	s := d.lru.get(netip.MustParseAddr(scanner))
	tg := s.targets.get(netip.MustParseAddr(target).As16())
	if tg == nil || tg.syn != nil {
		t.Fatalf("after SYNs only: target %v, SYN ports apart: %v", tg != nil, tg != nil && tg.syn != nil)
	}
	// 30 ports in the TCP set, 30 in the SYN set, 30 services' hosts.
	if s.budget.keys != 90 {
		t.Fatalf("after 30 SYNs the budget holds %d keys, want 90", s.budget.keys)
	}

	fins := newTraffic().after(2e9)
	for p := uint16(31); p <= 40; p++ {
		fins.pkt(scanner, target, 40000, p, KindOther, FlagFIN)
	}
	feed(fins)
	tg = s.targets.get(netip.MustParseAddr(target).As16())
	if tg.syn == nil {
		t.Fatal("a FIN probe left the SYN ports shared with the TCP ports")
	}
	if !tg.synPorts().has(5) || tg.synPorts().has(35) || !tg.tcp.has(35) {
		t.Fatalf("SYN ports has(5)=%v has(35)=%v, TCP ports has(35)=%v", tg.synPorts().has(5), tg.synPorts().has(35), tg.tcp.has(35))
	}
	if s.budget.keys != 110 {
		t.Fatalf("after 10 FINs the budget holds %d keys, want 110", s.budget.keys)
	}
	s.recount(0)
	if s.budget.keys != 110 {
		t.Fatalf("recount finds %d keys, want 110", s.budget.keys)
	}

	// An ACK to a port it sent a SYN to is its own connection's; one to a
	// port it only sent a FIN to is an ACK probe.
	ack := func(port uint16) *Event {
		return &Event{Src: netip.MustParseAddr(scanner), Dst: netip.MustParseAddr(target), SrcPort: 40000, DstPort: port, Kind: KindOther, Flags: FlagACK}
	}
	if p, _ := d.classify(ack(5)); p != ProbeNone {
		t.Fatalf("ACK to a SYN-probed port classified as %v", p)
	}
	if p, _ := d.classify(ack(35)); p == ProbeNone {
		t.Fatal("ACK to a port probed only by FIN classified as no probe")
	}
}
