package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

func synFrames(t testing.TB, n int) [][]byte {
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = packettest.BuildEth(t, packettest.PktOpts{Flags: "S", Dport: uint16(i + 1), TCPOpts: packettest.MSSOpt})
	}
	return frames
}

// bigEndianPcap rewrites a little-endian classic pcap in big-endian order,
// as a SPARC or PowerPC host writes it (pcapgo only writes little-endian).
func bigEndianPcap(le []byte) []byte {
	be := append([]byte(nil), le...)
	swap32 := func(b []byte) { binary.BigEndian.PutUint32(b, binary.LittleEndian.Uint32(b)) }
	swap16 := func(b []byte) { binary.BigEndian.PutUint16(b, binary.LittleEndian.Uint16(b)) }
	swap32(be[0:])
	swap16(be[4:])
	swap16(be[6:])
	for _, off := range []int{8, 12, 16, 20} {
		swap32(be[off:])
	}
	for off := 24; off < len(be); {
		caplen := binary.LittleEndian.Uint32(le[off+8:])
		for i := 0; i < 16; i += 4 {
			swap32(be[off+i:])
		}
		off += 16 + int(caplen)
	}
	return be
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// replayAll returns the events of a capture (copied) and the replay error.
func replayAll(t testing.TB, data []byte) ([]detector.Event, ReplayStats, error) {
	t.Helper()
	var evs []detector.Event
	st, err := Replay(context.Background(), bytes.NewReader(data), func(ev *detector.Event) { evs = append(evs, *ev) }, nil)
	return evs, st, err
}

func TestReplayFormats(t *testing.T) {
	frames := synFrames(t, 50)
	usec := packettest.WritePcap(t, frames, false, layers.LinkTypeEthernet)
	nsec := packettest.WritePcap(t, frames, true, layers.LinkTypeEthernet)
	ng := writeNg(t, frames)
	tests := []struct {
		name      string
		data      []byte
		precision time.Duration
	}{
		{"pcap µs little-endian", usec, time.Microsecond},
		{"pcap ns little-endian", nsec, time.Nanosecond},
		{"pcap µs big-endian", bigEndianPcap(usec), time.Microsecond},
		{"pcap ns big-endian", bigEndianPcap(nsec), time.Nanosecond},
		{"pcap gzip", gz(usec), time.Microsecond},
		{"pcapng", ng, time.Nanosecond}, // pcapgo's writer stores nanoseconds
		{"pcapng gzip", gz(ng), time.Nanosecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, _, err := replayAll(t, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != len(frames) {
				t.Fatalf("%d events, want %d", len(evs), len(frames))
			}
			for i, ev := range evs {
				want := packettest.TBase.Add(time.Duration(i) * time.Millisecond).Truncate(tc.precision)
				if !ev.Time.Equal(want) {
					t.Fatalf("event %d at %v, want %v", i, ev.Time, want)
				}
				if ev.DstPort != uint16(i+1) || ev.Kind != detector.KindSYN {
					t.Fatalf("event %d: %+v", i, ev)
				}
			}
		})
	}
}

func writeNg(t testing.TB, frames [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: packettest.TBase.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	return buf.Bytes()
}

func TestReplayPcapngMixedInterfaces(t *testing.T) {
	// Three interfaces: Ethernet, raw IP and Linux cooked v2 (whose 276
	// does not fit gopacket's uint8 link type, so it is patched in after
	// writing), plus a fourth of a type we do not decode.
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 65535, TimestampResolution: 9}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeRaw, SnapLength: 65535, TimestampResolution: 6})
	sll2, _ := w.AddInterface(pcapgo.NgInterface{LinkType: 99, SnapLength: 65535, TimestampResolution: 6}) // patched below
	other, _ := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeIEEE802_11, SnapLength: 65535, TimestampResolution: 6})
	o := packettest.PktOpts{Flags: "S", Dport: 1, TCPOpts: packettest.MSSOpt}
	o6 := o
	o6.V6 = true
	pkts := []struct {
		iface int
		data  []byte
	}{{0, packettest.BuildEth(t, o)}, {raw, packettest.BuildIP(t, o6)}, {sll2, packettest.WithSLL2(packettest.BuildIP(t, o), false)}, {other, []byte{1, 2, 3}}, {0, packettest.BuildEth(t, o6)}}
	for i, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: packettest.TBase.Add(time.Duration(i) * time.Second), CaptureLength: len(p.data), Length: len(p.data), InterfaceIndex: p.iface}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	data := patchIDBLinkType(t, buf.Bytes(), 99, LinkSLL2)
	evs, st, err := replayAll(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 || st.SkippedLink != 1 || st.UnsupportedLink != uint32(layers.LinkTypeIEEE802_11) {
		t.Fatalf("%d events, skipped %d of link %d; want 4 events and 1 skipped 802.11 packet", len(evs), st.SkippedLink, st.UnsupportedLink)
	}
	if !evs[0].Time.Equal(packettest.TBase) {
		t.Errorf("nanosecond interface: %v, want %v", evs[0].Time, packettest.TBase)
	}
	if !evs[1].Src.Is6() || !evs[3].Src.Is6() || !evs[2].Src.Is4() {
		t.Errorf("address families wrong: %v %v %v", evs[1].Src, evs[2].Src, evs[3].Src)
	}
	if len(st.Warnings()) != 1 || !strings.Contains(st.Warnings()[0], "link type 105") {
		t.Errorf("warnings %q: want one naming link type 105", st.Warnings())
	}
}

// patchIDBLinkType rewrites the link type of the interface blocks that
// carry from.
func patchIDBLinkType(t testing.TB, b []byte, from, to uint16) []byte {
	b = append([]byte(nil), b...)
	n := 0
	for off := 0; off+12 <= len(b); {
		typ, size := binary.LittleEndian.Uint32(b[off:]), binary.LittleEndian.Uint32(b[off+4:])
		if typ == ngInterface && binary.LittleEndian.Uint16(b[off+8:]) == from {
			binary.LittleEndian.PutUint16(b[off+8:], to)
			n++
		}
		off += int(size)
	}
	if n == 0 {
		t.Fatal("no interface block to patch")
	}
	return b
}

func TestReplayBadInput(t *testing.T) {
	good := packettest.WritePcap(t, synFrames(t, 10), false, layers.LinkTypeEthernet)
	ng := writeNg(t, synFrames(t, 10))
	absurd := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(absurd[24+16+len(synFrames(t, 1)[0])+8:], 0xfffffff0) // second record's caplen
	overSnap := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(overSnap[16:], 40) // snap length shorter than every frame
	badLink := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(badLink[20:], 147)
	badVersion := append([]byte(nil), good...)
	binary.LittleEndian.PutUint16(badVersion[4:], 9)
	badBlock := append([]byte(nil), ng...)
	binary.LittleEndian.PutUint32(badBlock[lastBlock(ng)+4:], 13) // the last packet block's length: not a multiple of 4
	tests := []struct {
		name     string
		data     []byte
		events   int    // events delivered before the error
		errIs    error  // nil: any error
		contains string // in the message
	}{
		{"empty", nil, 0, nil, "empty"},
		{"not a capture", []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"), 0, nil, "not a capture"},
		{"too short", []byte{0xd4, 0xc3}, 0, nil, "too short"},
		{"header cut", good[:20], 0, nil, "file header is cut short"},
		{"empty gzip", gz(nil), 0, nil, "gzip stream is empty"},
		{"bad version", badVersion, 0, nil, "version 9"},
		{"unknown link type", badLink, 0, nil, "link type 147 is not supported"},
		{"truncated mid-record", good[:len(good)-30], 9, ErrTruncated, "ends inside record 10"},
		{"truncated mid-header", good[:len(good)-len(synFrames(t, 1)[0])-8], 9, ErrTruncated, "ends inside record header 10"},
		{"truncated gzip", gz(good)[:len(gz(good))/2], -1, ErrTruncated, ""},
		{"absurd record length", absurd, 1, ErrCorrupt, "claims 4294967280 captured bytes"},
		{"truncated pcapng", ng[:len(ng)-20], 9, ErrTruncated, "pcapng"},
		{"pcapng bad block length", badBlock, -1, ErrCorrupt, "multiple of 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, _, err := replayAll(t, tc.data)
			if err == nil {
				t.Fatalf("no error; %d events", len(evs))
			}
			if tc.errIs != nil && !errors.Is(err, tc.errIs) {
				t.Errorf("error %q is not %v", err, tc.errIs)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not say %q", err, tc.contains)
			}
			if tc.events >= 0 && len(evs) != tc.events {
				t.Errorf("%d events before the error, want %d", len(evs), tc.events)
			}
			if tc.events < 0 && len(evs) == 0 && tc.errIs == ErrTruncated {
				t.Errorf("no events from the readable part")
			}
		})
	}
	t.Run("records longer than the snap length are read", func(t *testing.T) {
		evs, st, err := replayAll(t, overSnap)
		if err != nil || len(evs) != 10 || st.OverSnaplen != 10 || len(st.Warnings()) != 1 {
			t.Fatalf("err %v, %d events, %d over snaplen, warnings %q", err, len(evs), st.OverSnaplen, st.Warnings())
		}
	})
}

// lastBlock returns the offset of the last block of a little-endian pcapng.
func lastBlock(b []byte) int {
	last := 0
	for off := 0; off+12 <= len(b); off += int(binary.LittleEndian.Uint32(b[off+4:])) {
		last = off
	}
	return last
}

func FuzzCaptureReader(f *testing.F) {
	frames := synFrames(f, 3)
	f.Add(packettest.WritePcap(f, frames, false, layers.LinkTypeEthernet))
	f.Add(packettest.WritePcap(f, frames, true, layers.LinkTypeEthernet))
	f.Add(writeNg(f, frames))
	f.Add(gz(writeNg(f, frames)))
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Whatever the bytes, Replay returns (events, an error or not):
		// never a panic, never an endless loop.
		st, _ := Replay(context.Background(), bytes.NewReader(data), func(*detector.Event) {}, nil)
		if st.Events > st.Decode.Packets {
			t.Fatalf("%d events from %d packets", st.Events, st.Decode.Packets)
		}
	})
}
