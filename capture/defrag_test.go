package capture

import (
	"encoding/binary"
	"reflect"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// decodeSeq decodes raw IP frames in order, 1 ms apart unless at is given.
func decodeSeq(d *Decoder, frames [][]byte, at []time.Duration) []detector.Event {
	var evs []detector.Event
	var ev detector.Event
	for i, f := range frames {
		ts := packettest.TBase.Add(time.Duration(i) * time.Millisecond)
		if at != nil {
			ts = packettest.TBase.Add(at[i])
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

// defragStats reads a case's Want, DefragStats counters by field name.
func defragStats(t *testing.T, want map[string]uint64) DefragStats {
	var s DefragStats
	v := reflect.ValueOf(&s).Elem()
	for name, n := range want {
		f := v.FieldByName(name)
		if !f.IsValid() {
			t.Fatalf("DefragStats has no counter %q", name)
		}
		f.SetUint(n)
	}
	return s
}

func TestDefrag(t *testing.T) {
	tests := packettest.DefragCases(t)
	for _, tc := range tests {
		t.Run(tc.Name, func(t *testing.T) {
			d := NewDecoder()
			evs := decodeSeq(d, tc.Frames, tc.At)
			if len(evs) != tc.Events {
				t.Fatalf("%d events, want %d (stats %+v, %+v)", len(evs), tc.Events, d.Stats.Defrag, d.Stats)
			}
			for _, ev := range evs {
				if tc.Chain {
					if ev.Evasion != tc.Evasion || ev.DstPort != 0 || ev.Kind != detector.KindOther {
						t.Errorf("event %+v: want a header-chain evasion %v", ev, tc.Evasion.Names())
					}
					continue
				}
				if ev.Evasion != tc.Evasion || ev.DstPort != 443 || ev.Kind != detector.KindSYN {
					t.Errorf("event %+v: want a SYN to 443 with evasion %v", ev, tc.Evasion.Names())
				}
				if !ev.Src.Is6() && (ev.TTL != 47 || ev.IPID != 777) {
					t.Errorf("TTL %d, IP ID %d: want the first fragment's 47, 777", ev.TTL, ev.IPID)
				}
			}
			if tc.Events > 0 && d.Stats.BadChecksum+d.Stats.BadIPChecksum != 0 {
				t.Errorf("checksums of the reassembled datagram: %+v", d.Stats)
			}
			if want := defragStats(t, tc.Want); d.Stats.Defrag != want {
				t.Errorf("stats %+v,\n want %+v", d.Stats.Defrag, want)
			}
		})
	}
}

func TestDefragBounds(t *testing.T) {
	udp := packettest.BuildIP(t, packettest.PktOpts{UDP: true, Dport: 53, Data: 1400})
	t.Run("queues", func(t *testing.T) {
		d := NewDecoder()
		for i := range 5000 {
			f := packettest.Frag4(udp, packettest.Piece{N: 16, More: true})[0]
			binary.BigEndian.PutUint16(f[4:], uint16(i))
			packettest.FixIPv4Checksum(f)
			decodeSeq(d, [][]byte{f}, []time.Duration{0})
		}
		if n := len(d.defrag.queues); n != maxFragQueues || d.Stats.Defrag.Evicted != 5000-maxFragQueues {
			t.Fatalf("%d queues held, %d evicted; want %d and %d", n, d.Stats.Defrag.Evicted, maxFragQueues, 5000-maxFragQueues)
		}
	})
	t.Run("memory", func(t *testing.T) {
		d := NewDecoder()
		for i := range 4000 {
			f := packettest.Frag4(udp, packettest.Piece{N: 1400, More: true})[0]
			binary.BigEndian.PutUint16(f[4:], uint16(i))
			packettest.FixIPv4Checksum(f)
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
		if evs := decodeSeq(d, packettest.Frag4(big, packettest.InOrder(65544, 1480)...), nil); len(evs) != 0 || d.Stats.Defrag.Oversize != 1 {
			t.Fatalf("%d events, stats %+v: want the datagram dropped as oversize", len(evs), d.Stats.Defrag)
		}
	})
}
