package sensor

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
)

// piece is one fragment to cut from a whole packet: n bytes of its
// fragmentable part from off, or data instead when set.
type piece struct {
	off, n int
	more   bool
	data   []byte
}

// inOrder cuts length bytes into fragments of size (the last shorter).
func inOrder(length, size int) []piece {
	var ps []piece
	for off := 0; off < length; off += size {
		n := min(size, length-off)
		ps = append(ps, piece{off: off, n: n, more: off+n < length})
	}
	return ps
}

func reversed(ps []piece) []piece {
	out := make([]piece, len(ps))
	for i, p := range ps {
		out[len(ps)-1-i] = p
	}
	return out
}

func (p piece) bytes(payload []byte) []byte {
	if p.data != nil {
		return p.data
	}
	return payload[min(p.off, len(payload)):min(p.off+p.n, len(payload))]
}

// frag4 cuts a whole IPv4 packet into fragments with valid header checksums.
func frag4(pkt []byte, ps ...piece) [][]byte {
	ihl := int(pkt[0]&0x0f) * 4
	var out [][]byte
	for _, p := range ps {
		f := append(append([]byte(nil), pkt[:ihl]...), p.bytes(pkt[ihl:])...)
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		ff := uint16(p.off / 8)
		if p.more {
			ff |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], ff)
		f[10], f[11] = 0, 0
		binary.BigEndian.PutUint16(f[10:], ^fold(sum16(f[:ihl], 0)))
		out = append(out, f)
	}
	return out
}

// frag6 cuts a whole IPv6 packet without extension headers into fragments.
func frag6(pkt []byte, id uint32, ps ...piece) [][]byte {
	var out [][]byte
	for _, p := range ps {
		f := append([]byte(nil), pkt[:40]...)
		f[6] = 44
		fo := uint16(p.off)
		if p.more {
			fo |= 1
		}
		f = append(f, pkt[6], 0, byte(fo>>8), byte(fo))
		f = binary.BigEndian.AppendUint32(f, id)
		f = append(f, p.bytes(pkt[40:])...)
		binary.BigEndian.PutUint16(f[4:], uint16(len(f)-40))
		out = append(out, f)
	}
	return out
}

// decodeSeq decodes raw IP frames in order, 1 ms apart unless at is given.
func decodeSeq(d *Decoder, frames [][]byte, at []time.Duration) []detector.Event {
	var evs []detector.Event
	var ev detector.Event
	for i, f := range frames {
		ts := tBase.Add(time.Duration(i) * time.Millisecond)
		if at != nil {
			ts = tBase.Add(at[i])
		}
		if d.Decode(LinkRaw, f, ts.UnixNano(), &ev) {
			evs = append(evs, ev)
			for d.More(&ev) {
				evs = append(evs, ev)
			}
		}
	}
	d.Finish()
	return evs
}

func concat(fs ...[][]byte) [][]byte {
	var out [][]byte
	for _, f := range fs {
		out = append(out, f...)
	}
	return out
}

// defragCase is one case of TestDefrag, shared with the XDP parity test.
type defragCase struct {
	name    string
	frames  [][]byte
	at      []time.Duration
	events  int
	evasion detector.Evasion
	want    DefragStats // the counters checked (zero fields included)
	chain   bool        // the event is a header-chain evasion: no port
}

func defragCases(t testing.TB) []defragCase {
	syn := pktOpts{flags: "S", dport: 443, window: 1024, ttl: 47, id: 777, tcpOpts: mssOpt} // 24 bytes of TCP, as nmap sends
	rst := syn
	rst.flags = "R"
	withData := syn
	withData.data = 16
	syn4, rst4, data4 := buildIP(t, syn), buildIP(t, rst), buildIP(t, withData)
	v6 := func(o pktOpts) pktOpts { o.v6 = true; return o }
	syn6, data6 := buildIP(t, v6(syn)), buildIP(t, v6(withData))
	// The overlapping fragment carries the RST's bytes 8..24: its flags
	// would turn the SYN into an RST on a stack that let the later
	// fragment win.
	rstTail := rst4[20+8 : 20+24]
	frag, tiny := detector.EvasionFragmented, detector.EvasionFragmented|detector.EvasionTinyFragment
	type stats = DefragStats
	return []defragCase{
		{name: "nmap -f: 8-byte fragments in order", frames: frag4(syn4, inOrder(24, 8)...), events: 1, evasion: tiny,
			want: stats{Fragments: 3, Reassembled: 1}},
		{name: "8-byte fragments last first", frames: frag4(syn4, reversed(inOrder(24, 8))...), events: 1, evasion: tiny,
			want: stats{Fragments: 3, Reassembled: 1}},
		{name: "--mtu 8", frames: frag4(syn4, piece{0, 8, true, nil}, piece{16, 8, false, nil}, piece{8, 8, true, nil}), events: 1, evasion: tiny,
			want: stats{Fragments: 3, Reassembled: 1}},
		{name: "--mtu 16: the first fragment holds the flags", frames: frag4(syn4, inOrder(24, 16)...), events: 1, evasion: frag,
			want: stats{Fragments: 2, Reassembled: 1}},
		{name: "--mtu 24 --data-length 16", frames: frag4(data4, inOrder(40, 24)...), events: 1, evasion: frag,
			want: stats{Fragments: 2, Reassembled: 1}},
		{name: "duplicate fragment ignored, queue kept", frames: frag4(syn4, piece{0, 8, true, nil}, piece{0, 8, true, nil}, piece{8, 16, false, nil}), events: 1, evasion: tiny,
			want: stats{Fragments: 3, Reassembled: 1, Duplicates: 1}},
		{name: "a duplicate with other bytes does not rewrite the SYN", frames: frag4(syn4, piece{0, 16, true, nil}, piece{8, 8, true, rstTail[:8]}, piece{16, 8, false, nil}), events: 1, evasion: frag,
			want: stats{Fragments: 3, Reassembled: 1, Duplicates: 1}},
		{name: "partial overlap (SYN rewritten to RST) kills the queue", frames: frag4(syn4, piece{0, 16, true, nil}, piece{8, 16, false, rstTail}, piece{16, 8, false, nil}),
			want: stats{Fragments: 3, Overlaps: 1, Pending: 1}},
		{name: "overlap spanning two runs kills the queue", frames: frag4(syn4, piece{0, 8, true, nil}, piece{16, 8, false, nil}, piece{0, 16, true, nil}),
			want: stats{Fragments: 3, Overlaps: 1}},
		{name: "zero-length fragment kills the queue", frames: frag4(syn4, piece{0, 8, true, nil}, piece{8, 0, true, nil}, piece{8, 16, false, nil}),
			want: stats{Fragments: 3, Invalid: 1, Pending: 1}},
		{name: "non-last fragment below 8 bytes rounds to zero", frames: frag4(syn4, piece{0, 8, true, nil}, piece{8, 4, true, nil}),
			want: stats{Fragments: 2, Invalid: 1}},
		{name: "inconsistent last fragment kills the queue", frames: frag4(syn4, piece{0, 8, true, nil}, piece{16, 8, false, nil}, piece{8, 8, false, nil}),
			want: stats{Fragments: 3, Invalid: 1}},
		{name: "last fragment ending before held data", frames: frag4(syn4, piece{16, 8, true, nil}, piece{8, 8, false, nil}),
			want: stats{Fragments: 2, Invalid: 1}},
		{name: "data beyond the last fragment", frames: frag4(syn4, piece{8, 8, false, nil}, piece{16, 8, true, nil}),
			want: stats{Fragments: 2, Invalid: 1}},
		{name: "completes within 30 s", frames: frag4(syn4, inOrder(24, 8)...), at: []time.Duration{0, time.Second, 29 * time.Second}, events: 1, evasion: tiny,
			want: stats{Fragments: 3, Reassembled: 1}},
		{name: "timeout after 30 s of packet time", frames: frag4(syn4, inOrder(24, 8)...), at: []time.Duration{0, time.Second, 31 * time.Second},
			want: stats{Fragments: 3, Timeouts: 1, Pending: 1}},
		{name: "IPv6 8-byte fragments: first without the TCP header dropped", frames: frag6(syn6, 9, inOrder(24, 8)...),
			want: stats{Fragments: 3, NoChain: 1, Pending: 1}},
		{name: "IPv6 first fragment holds the TCP header", frames: frag6(data6, 9, inOrder(40, 24)...), events: 1, evasion: frag,
			want: stats{Fragments: 2, Reassembled: 1}},
		{name: "IPv6 last first", frames: frag6(data6, 9, reversed(inOrder(40, 24))...), events: 1, evasion: frag,
			want: stats{Fragments: 2, Reassembled: 1}},
		{name: "lone IPv6 non-first fragment is never an event", frames: frag6(syn6, 9, piece{8, 16, false, syn6[40 : 40+16]}),
			want: stats{Fragments: 1, Pending: 1}},
		{name: "IPv6 atomic fragment is an ordinary packet", frames: frag6(syn6, 9, piece{0, 24, false, nil}), events: 1},
		{name: "IPv6 non-last fragment not a multiple of 8 dropped", frames: frag6(data6, 9, piece{0, 20, true, nil}, piece{20, 20, false, nil}),
			want: stats{Fragments: 2, Invalid: 1, Pending: 1}},
		{name: "IPv6 overlap kills the queue", frames: frag6(data6, 9, piece{0, 24, true, nil}, piece{16, 24, false, nil}),
			want: stats{Fragments: 2, Overlaps: 1}},
		{name: "same datagram twice: two events", frames: concat(frag4(syn4, inOrder(24, 8)...), frag4(syn4, inOrder(24, 8)...)), events: 2, evasion: tiny,
			want: stats{Fragments: 6, Reassembled: 2}},
		// Found in review: cases where the XDP program once differed.
		{name: "IPv6 destination options after the fragment header", frames: frag6(chain6(data6, 1), 9, inOrder(48, 32)...), events: 1, evasion: frag,
			want: stats{Fragments: 2, Reassembled: 1}},
		{name: "IPv6 later fragment with another next header: Linux keys by ID, not by it", frames: nextHeader(frag6(data6, 9, inOrder(40, 24)...), 1, 59), events: 1, evasion: frag,
			want: stats{Fragments: 2, Reassembled: 1}},
		{name: "a duplicate spanning two runs kills the queue", frames: frag4(data4, piece{16, 8, true, nil}, piece{0, 16, true, nil}, piece{0, 24, true, nil}, piece{24, 16, false, nil}),
			want: stats{Fragments: 4, Overlaps: 1, Pending: 1}},
		{name: "offloaded checksum on a fragmented datagram is forged", frames: frag4(offload(syn4, 0, false, 6), inOrder(24, 8)...),
			want: stats{Fragments: 3, Reassembled: 1}},
		{name: "IPv6 fragmented with the chain past 16 headers: header-chain evasion", frames: frag6(chain6(data6, detector.MaxIPv6ExtHeaders), 9, inOrder(40+8*detector.MaxIPv6ExtHeaders, 160)...),
			events: 1, evasion: frag | detector.EvasionHeaderChain, chain: true, want: stats{Fragments: 2, Reassembled: 1}},
	}
}

// chain6 puts n destination-options headers between an IPv6 packet's fixed
// header and its transport header.
func chain6(pkt []byte, n int) []byte { return extChain(pkt, n) }

// nextHeader rewrites the next-header byte of fragment i's fragment header.
func nextHeader(frames [][]byte, i int, next byte) [][]byte {
	f := append([]byte(nil), frames[i]...)
	f[40] = next
	frames[i] = f
	return frames
}

func TestDefrag(t *testing.T) {
	tests := defragCases(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder()
			evs := decodeSeq(d, tc.frames, tc.at)
			if len(evs) != tc.events {
				t.Fatalf("%d events, want %d (stats %+v, %+v)", len(evs), tc.events, d.Stats.Defrag, d.Stats)
			}
			for _, ev := range evs {
				if tc.chain {
					if ev.Evasion != tc.evasion || ev.DstPort != 0 || ev.Kind != detector.KindOther {
						t.Errorf("event %+v: want a header-chain evasion %v", ev, tc.evasion.Names())
					}
					continue
				}
				if ev.Evasion != tc.evasion || ev.DstPort != 443 || ev.Kind != detector.KindSYN {
					t.Errorf("event %+v: want a SYN to 443 with evasion %v", ev, tc.evasion.Names())
				}
				if !ev.Src.Is6() && (ev.TTL != 47 || ev.IPID != 777) {
					t.Errorf("TTL %d, IP ID %d: want the first fragment's 47, 777", ev.TTL, ev.IPID)
				}
			}
			if tc.events > 0 && d.Stats.BadChecksum+d.Stats.BadIPChecksum != 0 {
				t.Errorf("checksums of the reassembled datagram: %+v", d.Stats)
			}
			if d.Stats.Defrag != tc.want {
				t.Errorf("stats %+v,\n want %+v", d.Stats.Defrag, tc.want)
			}
		})
	}
}

func TestDefragBounds(t *testing.T) {
	udp := buildIP(t, pktOpts{udp: true, dport: 53, data: 1400})
	t.Run("queues", func(t *testing.T) {
		d := NewDecoder()
		for i := range 5000 {
			f := frag4(udp, piece{0, 16, true, nil})[0]
			binary.BigEndian.PutUint16(f[4:], uint16(i))
			f[10], f[11] = 0, 0
			binary.BigEndian.PutUint16(f[10:], ^fold(sum16(f[:20], 0)))
			decodeSeq(d, [][]byte{f}, []time.Duration{0})
		}
		if n := len(d.defrag.queues); n != maxFragQueues || d.Stats.Defrag.Evicted != 5000-maxFragQueues {
			t.Fatalf("%d queues held, %d evicted; want %d and %d", n, d.Stats.Defrag.Evicted, maxFragQueues, 5000-maxFragQueues)
		}
	})
	t.Run("memory", func(t *testing.T) {
		d := NewDecoder()
		for i := range 4000 {
			f := frag4(udp, piece{0, 1400, true, nil})[0]
			binary.BigEndian.PutUint16(f[4:], uint16(i))
			f[10], f[11] = 0, 0
			binary.BigEndian.PutUint16(f[10:], ^fold(sum16(f[:20], 0)))
			decodeSeq(d, [][]byte{f}, []time.Duration{0})
			if d.defrag.mem > maxFragMem {
				t.Fatalf("%d bytes held after %d fragments, more than %d", d.defrag.mem, i+1, maxFragMem)
			}
		}
		if d.Stats.Defrag.Evicted == 0 {
			t.Fatal("5.6 MB of fragments held without eviction")
		}
	})
	t.Run("reassembled datagram over 65535 bytes", func(t *testing.T) {
		big := append(append([]byte(nil), udp[:28]...), make([]byte, 65544-8)...)
		d := NewDecoder()
		if evs := decodeSeq(d, frag4(big, inOrder(65544, 1480)...), nil); len(evs) != 0 || d.Stats.Defrag.Oversize != 1 {
			t.Fatalf("%d events, stats %+v: want the datagram dropped as oversize", len(evs), d.Stats.Defrag)
		}
	})
}
