package packettest

import (
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
)

// DefragCase is one case of capture's TestDefrag, shared with sensor's XDP
// parity test: raw IP fragments and what reassembling them must yield.
type DefragCase struct {
	Name    string
	Frames  [][]byte        // raw IP packets, no link header
	At      []time.Duration // packet times from TBase; 1 ms apart when nil
	Events  int
	Evasion detector.Evasion
	Want    map[string]uint64 // capture.DefragStats by field name; every field not named must be 0
	Chain   bool              // the event is a header-chain evasion: no port
}

// DefragCases builds the fragment table.
func DefragCases(t testing.TB) []DefragCase {
	syn := PktOpts{Flags: "S", Dport: 443, Window: 1024, TTL: 47, ID: 777, TCPOpts: MSSOpt} // 24 bytes of TCP, as nmap sends
	rst := syn
	rst.Flags = "R"
	withData := syn
	withData.Data = 16
	syn4, rst4, data4 := BuildIP(t, syn), BuildIP(t, rst), BuildIP(t, withData)
	v6 := func(o PktOpts) PktOpts { o.V6 = true; return o }
	syn6, data6 := BuildIP(t, v6(syn)), BuildIP(t, v6(withData))
	// The overlapping fragment carries the RST's bytes 8..24: its flags
	// would turn the SYN into an RST on a stack that let the later
	// fragment win.
	rstTail := rst4[20+8 : 20+24]
	frag, tiny := detector.EvasionFragmented, detector.EvasionFragmented|detector.EvasionTinyFragment
	type stats = map[string]uint64
	return []DefragCase{
		{Name: "nmap -f: 8-byte fragments in order", Frames: Frag4(syn4, InOrder(24, 8)...), Events: 1, Evasion: tiny,
			Want: stats{"Fragments": 3, "Reassembled": 1}},
		{Name: "8-byte fragments last first", Frames: Frag4(syn4, Reversed(InOrder(24, 8))...), Events: 1, Evasion: tiny,
			Want: stats{"Fragments": 3, "Reassembled": 1}},
		{Name: "--mtu 8", Frames: Frag4(syn4, Piece{0, 8, true, nil}, Piece{16, 8, false, nil}, Piece{8, 8, true, nil}), Events: 1, Evasion: tiny,
			Want: stats{"Fragments": 3, "Reassembled": 1}},
		{Name: "--mtu 16: the first fragment holds the flags", Frames: Frag4(syn4, InOrder(24, 16)...), Events: 1, Evasion: frag,
			Want: stats{"Fragments": 2, "Reassembled": 1}},
		{Name: "--mtu 24 --data-length 16", Frames: Frag4(data4, InOrder(40, 24)...), Events: 1, Evasion: frag,
			Want: stats{"Fragments": 2, "Reassembled": 1}},
		{Name: "duplicate fragment ignored, queue kept", Frames: Frag4(syn4, Piece{0, 8, true, nil}, Piece{0, 8, true, nil}, Piece{8, 16, false, nil}), Events: 1, Evasion: tiny,
			Want: stats{"Fragments": 3, "Reassembled": 1, "Duplicates": 1}},
		{Name: "a duplicate with other bytes does not rewrite the SYN", Frames: Frag4(syn4, Piece{0, 16, true, nil}, Piece{8, 8, true, rstTail[:8]}, Piece{16, 8, false, nil}), Events: 1, Evasion: frag,
			Want: stats{"Fragments": 3, "Reassembled": 1, "Duplicates": 1}},
		{Name: "partial overlap (SYN rewritten to RST) kills the queue", Frames: Frag4(syn4, Piece{0, 16, true, nil}, Piece{8, 16, false, rstTail}, Piece{16, 8, false, nil}),
			Want: stats{"Fragments": 3, "Overlaps": 1, "Pending": 1}},
		{Name: "overlap spanning two runs kills the queue", Frames: Frag4(syn4, Piece{0, 8, true, nil}, Piece{16, 8, false, nil}, Piece{0, 16, true, nil}),
			Want: stats{"Fragments": 3, "Overlaps": 1}},
		{Name: "zero-length fragment kills the queue", Frames: Frag4(syn4, Piece{0, 8, true, nil}, Piece{8, 0, true, nil}, Piece{8, 16, false, nil}),
			Want: stats{"Fragments": 3, "Invalid": 1, "Pending": 1}},
		{Name: "non-last fragment below 8 bytes rounds to zero", Frames: Frag4(syn4, Piece{0, 8, true, nil}, Piece{8, 4, true, nil}),
			Want: stats{"Fragments": 2, "Invalid": 1}},
		{Name: "inconsistent last fragment kills the queue", Frames: Frag4(syn4, Piece{0, 8, true, nil}, Piece{16, 8, false, nil}, Piece{8, 8, false, nil}),
			Want: stats{"Fragments": 3, "Invalid": 1}},
		{Name: "last fragment ending before held data", Frames: Frag4(syn4, Piece{16, 8, true, nil}, Piece{8, 8, false, nil}),
			Want: stats{"Fragments": 2, "Invalid": 1}},
		{Name: "data beyond the last fragment", Frames: Frag4(syn4, Piece{8, 8, false, nil}, Piece{16, 8, true, nil}),
			Want: stats{"Fragments": 2, "Invalid": 1}},
		{Name: "completes within 30 s", Frames: Frag4(syn4, InOrder(24, 8)...), At: []time.Duration{0, time.Second, 29 * time.Second}, Events: 1, Evasion: tiny,
			Want: stats{"Fragments": 3, "Reassembled": 1}},
		{Name: "timeout after 30 s of packet time", Frames: Frag4(syn4, InOrder(24, 8)...), At: []time.Duration{0, time.Second, 31 * time.Second},
			Want: stats{"Fragments": 3, "Timeouts": 1, "Pending": 1}},
		{Name: "IPv6 8-byte fragments: first without the TCP header dropped", Frames: Frag6(syn6, 9, InOrder(24, 8)...),
			Want: stats{"Fragments": 3, "NoChain": 1, "Pending": 1}},
		{Name: "IPv6 first fragment holds the TCP header", Frames: Frag6(data6, 9, InOrder(40, 24)...), Events: 1, Evasion: frag,
			Want: stats{"Fragments": 2, "Reassembled": 1}},
		{Name: "IPv6 last first", Frames: Frag6(data6, 9, Reversed(InOrder(40, 24))...), Events: 1, Evasion: frag,
			Want: stats{"Fragments": 2, "Reassembled": 1}},
		{Name: "lone IPv6 non-first fragment is never an event", Frames: Frag6(syn6, 9, Piece{8, 16, false, syn6[40 : 40+16]}),
			Want: stats{"Fragments": 1, "Pending": 1}},
		{Name: "IPv6 atomic fragment is an ordinary packet", Frames: Frag6(syn6, 9, Piece{0, 24, false, nil}), Events: 1},
		{Name: "IPv6 non-last fragment not a multiple of 8 dropped", Frames: Frag6(data6, 9, Piece{0, 20, true, nil}, Piece{20, 20, false, nil}),
			Want: stats{"Fragments": 2, "Invalid": 1, "Pending": 1}},
		{Name: "IPv6 overlap kills the queue", Frames: Frag6(data6, 9, Piece{0, 24, true, nil}, Piece{16, 24, false, nil}),
			Want: stats{"Fragments": 2, "Overlaps": 1}},
		{Name: "same datagram twice: two events", Frames: Concat(Frag4(syn4, InOrder(24, 8)...), Frag4(syn4, InOrder(24, 8)...)), Events: 2, Evasion: tiny,
			Want: stats{"Fragments": 6, "Reassembled": 2}},
		// Found in review: cases where the XDP program once differed.
		{Name: "IPv6 destination options after the fragment header", Frames: Frag6(ExtChain(data6, 1), 9, InOrder(48, 32)...), Events: 1, Evasion: frag,
			Want: stats{"Fragments": 2, "Reassembled": 1}},
		{Name: "IPv6 later fragment with another next header: Linux keys by ID, not by it", Frames: NextHeader(Frag6(data6, 9, InOrder(40, 24)...), 1, 59), Events: 1, Evasion: frag,
			Want: stats{"Fragments": 2, "Reassembled": 1}},
		{Name: "a duplicate spanning two runs kills the queue", Frames: Frag4(data4, Piece{16, 8, true, nil}, Piece{0, 16, true, nil}, Piece{0, 24, true, nil}, Piece{24, 16, false, nil}),
			Want: stats{"Fragments": 4, "Overlaps": 1, "Pending": 1}},
		{Name: "offloaded checksum on a fragmented datagram is forged", Frames: Frag4(Offload(syn4, 0, false, 6), InOrder(24, 8)...),
			Want: stats{"Fragments": 3, "Reassembled": 1}},
		{Name: "IPv6 fragmented with the chain past 16 headers: header-chain evasion", Frames: Frag6(ExtChain(data6, detector.MaxIPv6ExtHeaders), 9, InOrder(40+8*detector.MaxIPv6ExtHeaders, 160)...),
			Events: 1, Evasion: frag | detector.EvasionHeaderChain, Chain: true, Want: stats{"Fragments": 2, "Reassembled": 1}},
	}
}
