package sensor

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/scanwatch/scanwatch/bpf"
)

// Both flow record layouts decode to the same event, field for field, as
// the generated structs lay them out; an IPv4 record's addresses come
// back v4-mapped, as the flow map and the IPv6 layout hold them.
func TestDecodeRecordLayouts(t *testing.T) {
	src, dst := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("203.0.113.9")
	want := bpf.ScanwatchEvent{Saddr: src.As16(), Daddr: dst.As16(), TsNs: 1e9 + 7, Count: 1<<40 + 3, Sport: 40001, Dport: 443,
		Window: 1024, IpId: 54321, Ttl: 49, Flags: 0x02, MssOnly: 1, IsNew: recordFirstSight, OptLen: 4, Probe: 1, Evasion: 5}
	v4 := bpf.ScanwatchEvent4{Saddr: src.As4(), Daddr: dst.As4(), TsNs: want.TsNs, Count: want.Count, Sport: want.Sport, Dport: want.Dport,
		Window: want.Window, IpId: want.IpId, Ttl: want.Ttl, Flags: want.Flags, MssOnly: want.MssOnly, IsNew: want.IsNew, OptLen: want.OptLen,
		Probe: want.Probe, Evasion: want.Evasion}
	for name, rec := range map[string]any{"16-byte addresses": want, "IPv4": v4} {
		var buf bytes.Buffer
		if err := binary.Write(&buf, binary.LittleEndian, rec); err != nil {
			t.Fatal(err)
		}
		got, ok := decodeRecord(buf.Bytes())
		if !ok || got != want {
			t.Errorf("%s (%d bytes): decoded %v %+v, want %+v", name, buf.Len(), ok, got, want)
		}
	}
	for _, n := range []int{0, record4Size - 1, record4Size + 1, recordSize - 1, recordSize + 1} {
		if _, ok := decodeRecord(make([]byte, n)); ok {
			t.Errorf("a %d-byte sample decoded as a flow record", n)
		}
	}
}
