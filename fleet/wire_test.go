package fleet

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
)

func sampleBatch() *Batch {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 123, time.UTC)
	return &Batch{Sensor: "edge-1", Seq: 42, Clock: t0.Add(time.Second), Events: []detector.Event{
		{Time: t0, Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddr("203.0.113.9"), SrcPort: 40000, DstPort: 22,
			Kind: detector.KindSYN, Flags: detector.FlagSYN, TTL: 52, IPID: 54321, Window: 1024, MSSOnly: true, OptLen: 4, Count: 3},
		{Time: t0.Add(-time.Millisecond), Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8:1::2"), DstPort: 53,
			Kind: detector.KindUDP, TTL: 64, Payload: 40, Evasion: detector.EvasionFragmented, Count: 1},
		{Time: t0.Add(time.Hour), Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("203.0.113.80"), SrcPort: 5555, DstPort: 80,
			Kind: detector.KindOther, Flags: detector.FlagACK | detector.FlagPSH, Established: true, Payload: 120, Count: 1,
			HTTP: &detector.HTTP{Method: "GET", Target: "/admin", Host: "x", UserAgent: "sqlmap/1.7", Referer: true, Head: "GET /admin HTTP/1.1\r\n", Truncated: true, Skipped: 2}},
		{Time: t0, Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddr("203.0.113.9"), DstPort: 22, Kind: detector.KindCreditTCP, Count: 7},
	}}
}

func TestWireRoundTrip(t *testing.T) {
	for _, b := range []*Batch{sampleBatch(), {Sensor: "quiet", Seq: 1}, {Sensor: "clockless", Seq: 2, Events: sampleBatch().Events[:1]}} {
		p := AppendBatch(nil, b)
		var got Batch
		if err := DecodeBatch(p, &got); err != nil {
			t.Fatalf("%s: %v", b.Sensor, err)
		}
		if got.Sensor != b.Sensor || got.Seq != b.Seq || !got.Clock.Equal(b.Clock) || len(got.Events) != len(b.Events) {
			t.Fatalf("%s: header %+v, want %+v", b.Sensor, got, b)
		}
		for i := range b.Events {
			w, g := b.Events[i], got.Events[i]
			if !w.Time.Equal(g.Time) {
				t.Errorf("%s record %d: time %v, want %v", b.Sensor, i, g.Time, w.Time)
			}
			w.Time, g.Time = time.Time{}, time.Time{}
			if !reflect.DeepEqual(w, g) {
				t.Errorf("%s record %d:\n got %+v\nwant %+v", b.Sensor, i, g, w)
			}
		}
	}
}

// Every cut of a valid batch, and every single-byte change of its header
// fields, is an error (or a valid batch), never a panic.
func TestWireDamage(t *testing.T) {
	p := AppendBatch(nil, sampleBatch())
	var b Batch
	for n := range len(p) {
		if err := DecodeBatch(p[:n], &b); !errors.Is(err, ErrWire) {
			t.Fatalf("cut at %d of %d: err %v, want ErrWire", n, len(p), err)
		}
	}
	for i := range p {
		q := append([]byte(nil), p...)
		q[i] ^= 0xff
		_ = DecodeBatch(q, &b)
	}
	for name, q := range map[string][]byte{
		"json":      []byte(`{"sensor":"x"}`),
		"version 9": append([]byte("SWB\x09"), p[4:]...),
		"huge n":    append(append([]byte("SWB\x01\x01x\x01\x00\x00"), 0xff, 0xff, 0x03), make([]byte, 30)...),
		"trailing":  append(append([]byte(nil), p...), 0),
	} {
		if err := DecodeBatch(q, &b); !errors.Is(err, ErrWire) {
			t.Errorf("%s: err %v, want ErrWire", name, err)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(AppendBatch(nil, sampleBatch()))
	f.Add([]byte("SWB\x01"))
	f.Fuzz(func(t *testing.T, p []byte) {
		var b Batch
		if err := DecodeBatch(p, &b); err != nil {
			return
		}
		// What decodes encodes back to something that decodes the same.
		var again Batch
		if err := DecodeBatch(AppendBatch(nil, &b), &again); err != nil || len(again.Events) != len(b.Events) {
			t.Fatalf("re-encoding a decoded batch: %v", err)
		}
	})
}

// sweepBatch is 1000 SYN summaries of a sweep, the common case.
func sweepBatch() *Batch {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	b := &Batch{Sensor: "edge-1", Seq: 1, Clock: t0}
	for i := range 1000 {
		b.Events = append(b.Events, detector.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Src: netip.MustParseAddr("198.51.100.7"),
			Dst: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), SrcPort: uint16(40000 + i), DstPort: 22, Kind: detector.KindSYN,
			Flags: detector.FlagSYN, TTL: 52, IPID: uint16(i * 7), Window: 1024, MSSOnly: true, OptLen: 4, Count: 1})
	}
	return b
}

func BenchmarkWireEncode(b *testing.B) {
	batch := sweepBatch()
	var p []byte
	for b.Loop() {
		p = AppendBatch(p[:0], batch)
	}
	b.ReportMetric(float64(len(p))/1000, "bytes/record")
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkWireDecode(b *testing.B) {
	p := AppendBatch(nil, sweepBatch())
	var out Batch
	for b.Loop() {
		if err := DecodeBatch(p, &out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(p))/1000, "bytes/record")
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkWireJSON is the alternative the binary format was chosen over:
// the same batch as JSON, encoded and decoded.
func BenchmarkWireJSON(b *testing.B) {
	batch := sweepBatch()
	var n int
	for b.Loop() {
		p, err := json.Marshal(batch)
		if err != nil {
			b.Fatal(err)
		}
		n = len(p)
		var out Batch
		if err := json.Unmarshal(p, &out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/1000, "bytes/record")
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
}
