package sensor

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/scanwatch/scanwatch/bpf"
	"github.com/scanwatch/scanwatch/capture"
	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// liveProbe is the probe (or credit) the XDP program would count of a
// replayed event, and false for what it does not report (answers,
// ACK-bearing packets of live connections, UDP replies from service
// ports): the program's own classification, restated so replay's events
// can be compared with the kernel's flows.
func liveProbe(ev *detector.Event) (uint8, bool) {
	bare := ev.Flags & (detector.FlagFIN | detector.FlagSYN | detector.FlagRST | detector.FlagPSH | detector.FlagACK | detector.FlagURG)
	switch {
	case ev.Evasion&detector.EvasionHeaderChain != 0:
		return probeChain, true
	case ev.Kind == detector.KindCreditTCP:
		return probeCreditTCP, true
	case ev.Kind == detector.KindCreditUDP:
		return probeCreditUDP, true
	case ev.Kind == detector.KindOther && ev.Payload == 0 && ev.OptLen == 0 && !ev.Established && bare == detector.FlagACK:
		return uint8(detector.ProbeACK), true
	case ev.Kind == detector.KindOther && ev.Payload == 0 && ev.OptLen == 0 && !ev.Established && bare == detector.FlagACK|detector.FlagFIN:
		return uint8(detector.ProbeMaimon), true
	case ev.Kind == detector.KindSYN:
		return uint8(detector.ProbeSYN), true
	case ev.Kind == detector.KindUDP:
		return uint8(detector.ProbeUDP), !(ev.SrcPort < 1024 && ev.DstPort >= 1024)
	case ev.Kind == detector.KindOther && ev.Flags&(detector.FlagACK|detector.FlagSYN|detector.FlagRST) == 0:
		switch ev.Flags & (detector.FlagFIN | detector.FlagPSH | detector.FlagURG) {
		case 0:
			return uint8(detector.ProbeNULL), true
		case detector.FlagFIN:
			return uint8(detector.ProbeFIN), true
		case detector.FlagFIN | detector.FlagPSH | detector.FlagURG:
			return uint8(detector.ProbeXMAS), true
		}
	}
	return 0, false
}

// probeTally counts probes by port, kind and evasion marks.
type probeTally map[string]uint64

func tallyKey(dport uint16, probe uint8, ev detector.Evasion) string {
	return fmt.Sprintf("port %d probe %d evasion %v", dport, probe, ev.Names())
}

// ethFrame puts a raw IP packet in an Ethernet frame, as it would reach
// the card.
func ethFrame(ip []byte) []byte {
	typ := []byte{0x08, 0x00}
	if len(ip) > 0 && ip[0]>>4 == 6 {
		typ = []byte{0x86, 0xdd}
	}
	f := append(append(append([]byte{}, packettest.MACTgt...), packettest.MACScan...), typ...)
	return append(f, ip...)
}

func (h *progHarness) tally() probeTally {
	out := probeTally{}
	h.eachFlow(func(k *bpf.ScanwatchFlowKey, v *bpf.ScanwatchFlowValue) {
		out[tallyKey(k.Dport, k.Probe, detector.Evasion(v.Evasion))] += v.Count
	})
	return out
}

func replayTally(evs []detector.Event) probeTally {
	out := probeTally{}
	for i := range evs {
		if p, ok := liveProbe(&evs[i]); ok {
			out[tallyKey(evs[i].DstPort, p, evs[i].Evasion)] += evs[i].Packets()
		}
	}
	return out
}

// TestPrivilegedXDPMatchesReplay sends every frame of the replay decoder's
// fragment and header-check tables through the real XDP program and
// checks that the kernel counts exactly the probes replay yields: same
// ports, kinds, counts and evasion marks. Live and replay are two
// implementations of one rule (the target's stack is the referee); this
// keeps them one.
func TestPrivilegedXDPMatchesReplay(t *testing.T) {
	requirePrivileged(t)
	compare := func(t *testing.T, cfg ProgramConfig, frames [][]byte, replay probeTally) {
		t.Helper()
		h := newProgHarness(t, cfg)
		for _, f := range frames {
			h.run(f)
		}
		if live := h.tally(); !maps.Equal(live, replay) {
			t.Errorf("kernel %v\nreplay %v", live, replay)
		}
	}
	for _, tc := range packettest.DefragCases(t) {
		if tc.At != nil {
			continue // packet-time timeouts: the kernel's clock is its own
		}
		t.Run("defrag/"+tc.Name, func(t *testing.T) {
			var frames [][]byte
			for _, f := range tc.Frames {
				frames = append(frames, ethFrame(f))
			}
			compare(t, ProgramConfig{}, frames, replayTally(replayFrames(t, layers.LinkTypeRaw, tc.Frames, false)))
		})
	}
	for _, tc := range packettest.CheckCases(t) {
		// Live offers no decapsulation, and frames off a wire are never
		// cut by a snap length.
		if tc.Decap != "" || strings.Contains(tc.Name, "snap length") {
			continue
		}
		t.Run("checks/"+tc.Name, func(t *testing.T) {
			evs := replayFrames(t, tc.Link, [][]byte{tc.Frame}, tc.Strict)
			frame := tc.Frame
			if tc.Link != layers.LinkTypeEthernet {
				frame = ethFrame(frame)
			}
			compare(t, ProgramConfig{StrictChecksums: tc.Strict}, [][]byte{frame}, replayTally(evs))
		})
	}
}

// replayFrames replays frames, written to a capture file of the given link
// type, with the default options (strict checksums when strict) and returns
// the events: what "scanwatch replay" makes of them.
func replayFrames(t *testing.T, link layers.LinkType, frames [][]byte, strict bool) []detector.Event {
	t.Helper()
	opts := capture.DefaultReplayOptions()
	if strict {
		opts.Decode.Checksums = capture.ChecksumStrict
	}
	var evs []detector.Event
	pcap := packettest.WritePcap(t, frames, true, link)
	if _, err := capture.ReplayWith(context.Background(), bytes.NewReader(pcap), opts, func(ev *detector.Event) { evs = append(evs, *ev) }, nil); err != nil {
		t.Fatal(err)
	}
	return evs
}
