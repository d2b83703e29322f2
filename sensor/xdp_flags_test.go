package sensor

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/scanwatch/scanwatch/capture"
	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// flagString spells a TCP flags byte for packettest.
func flagString(f uint8) string {
	var s []byte
	for i, c := range "FSRPAUEC" { // bit order: FIN SYN RST PSH ACK URG ECE CWR
		if f&(1<<i) != 0 {
			s = append(s, byte(c))
		}
	}
	return string(s)
}

// All 256 TCP flag combinations through the real XDP program, the replay
// decoder and the detector's classification: they agree on which packets
// are SYNs (scanwatch_syn_packets_total, TotalConns) and which are stealth
// or ACK probes, and of which kind. A SYN is what Linux takes as a connection
// attempt: SYN without ACK, RST or FIN.
func TestPrivilegedXDPAgreesOnEveryTCPFlagCombination(t *testing.T) {
	h := newProgHarness(t, ProgramConfig{})
	var pcapBuf bytes.Buffer
	w := pcapgo.NewWriter(&pcapBuf)
	w.WriteFileHeader(1514, layers.LinkTypeEthernet)
	for f := 0; f < 256; f++ {
		flags := uint8(f)
		frame := packettest.BuildEth(t, packettest.PktOpts{Flags: flagString(flags), Sport: uint16(20000 + f), Dport: uint16(1000 + f), Window: 1024, TTL: 41, ID: 54321})
		before := h.counters().Values[CntSYN]
		h.run(frame)
		kernelSYN := h.counters().Values[CntSYN] - before
		var kernelProbe detector.Probe
		for _, r := range h.records() {
			kernelProbe = detector.Probe(r.Probe)
		}
		want := detector.TCPProbe(flags)
		// On no connection (each packet has ports of its own: a SYN-ACK
		// makes its reverse direction live), a bare ACK or FIN+ACK (no payload, no
		// options, as these are) is an ACK or Maimon probe (credit.h).
		switch flags & (detector.FlagFIN | detector.FlagSYN | detector.FlagRST | detector.FlagPSH | detector.FlagACK | detector.FlagURG) {
		case detector.FlagACK:
			want = detector.ProbeACK
		case detector.FlagACK | detector.FlagFIN:
			want = detector.ProbeMaimon
		}
		if (kernelSYN == 1) != (want == detector.ProbeSYN) || kernelProbe != want {
			t.Errorf("flags %#02x %q: kernel SYN counter +%d, kernel probe %q; detector says %q", flags, flagString(flags), kernelSYN, kernelProbe, want)
		}
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1764547200, int64(f)*1000), CaptureLength: len(frame), Length: len(frame)}, frame)
	}
	// Replay decodes the same packets to the same kinds.
	i := 0
	_, err := capture.Replay(context.Background(), &pcapBuf, func(ev *detector.Event) {
		if got, want := ev.Kind == detector.KindSYN, detector.TCPProbe(ev.Flags) == detector.ProbeSYN; got != want {
			t.Errorf("replay, flags %#02x: KindSYN %v, want %v", ev.Flags, got, want)
		}
		i++
	}, nil)
	if err != nil || i != 256 {
		t.Fatalf("replay: %d events, %v", i, err)
	}
}
