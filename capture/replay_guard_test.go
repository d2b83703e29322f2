package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

// pcapAt writes SYNs to ports 1.. stamped at the given offsets from tBase.
func pcapAt(t testing.TB, at []time.Duration) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, d := range at {
		f := packettest.BuildEth(t, packettest.PktOpts{Flags: "S", Dport: uint16(i + 1), TCPOpts: packettest.MSSOpt})
		ci := gopacket.CaptureInfo{Timestamp: packettest.TBase.Add(d), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// steps returns n offsets 1 ms apart from start.
func steps(start time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = start + time.Duration(i)*time.Millisecond
	}
	return out
}

func cat(ds ...[]time.Duration) []time.Duration {
	var out []time.Duration
	for _, d := range ds {
		out = append(out, d...)
	}
	return out
}

func TestReplayClockGuard(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name    string
		at      []time.Duration
		events  int
		skipped uint64
		jumps   uint64
	}{
		{name: "steady", at: steps(0, 100), events: 100},
		{name: "one far-future packet ignored", at: cat(steps(0, 50), []time.Duration{400 * day}, steps(time.Second, 49)), events: 99, skipped: 1},
		{name: "one packet far in the past ignored", at: cat(steps(2*time.Hour, 50), []time.Duration{0}, steps(2*time.Hour+time.Second, 49)), events: 99, skipped: 1},
		{name: "a little out of order is fine", at: cat(steps(time.Hour, 50), steps(time.Hour-10*time.Minute, 50)), events: 100},
		{name: "a real jump ahead is accepted, nothing lost", at: cat(steps(0, 10), steps(7*day, 100)), events: 110, jumps: 1},
		{name: "a real jump back is accepted", at: cat(steps(3*day, 10), steps(0, 100)), events: 110, jumps: 1},
		{name: "a short run of future packets is skipped", at: cat(steps(0, 10), steps(7*day, 20), steps(time.Second, 10)), events: 20, skipped: 20},
		{name: "a run cut short at the end is skipped", at: cat(steps(0, 10), steps(7*day, 20)), events: 10, skipped: 20},
		// A forged run long enough to pass for a jump: the capture's own
		// packets after it, back at the old time, are still judged.
		{name: "a forged run of 64 future packets loses none of the rest", at: cat(steps(0, 30), steps(10*day, 64), steps(time.Minute, 30)), events: 124, jumps: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, st, err := replayAll(t, pcapAt(t, tc.at))
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != tc.events || st.TimeSkipped != tc.skipped || st.ClockJumps != tc.jumps {
				t.Fatalf("%d events, %d skipped, %d jumps; want %d, %d, %d", len(evs), st.TimeSkipped, st.ClockJumps, tc.events, tc.skipped, tc.jumps)
			}
			for i := 1; i < len(evs); i++ {
				if evs[i].DstPort <= evs[i-1].DstPort {
					t.Fatalf("events out of capture order at %d: port %d after %d", i, evs[i].DstPort, evs[i-1].DstPort)
				}
			}
			warned := false
			for _, w := range append(st.Warnings(), st.Notes()...) {
				warned = warned || strings.Contains(w, "capture clock")
			}
			if warned != (tc.skipped+tc.jumps > 0) {
				t.Errorf("warnings %q, notes %q", st.Warnings(), st.Notes())
			}
		})
	}
	t.Run("bounds off", func(t *testing.T) {
		var n int
		st, err := ReplayWith(context.Background(), bytes.NewReader(pcapAt(t, cat(steps(0, 5), []time.Duration{400 * day}, steps(0, 5)))), ReplayOptions{}, func(*detector.Event) { n++ }, nil)
		if err != nil || n != 11 || st.TimeSkipped != 0 {
			t.Fatalf("err %v, %d events, %d skipped", err, n, st.TimeSkipped)
		}
	})
}

// idbBomb is a pcapng section with n interface description blocks.
func idbBomb(n int) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	shb := make([]byte, 28)
	le.PutUint32(shb, ngSectionHeader)
	le.PutUint32(shb[4:], 28)
	le.PutUint32(shb[8:], ngByteOrderMagic)
	le.PutUint16(shb[12:], 1)
	le.PutUint64(shb[16:], ^uint64(0))
	le.PutUint32(shb[24:], 28)
	b.Write(shb)
	idb := make([]byte, 20)
	le.PutUint32(idb, ngInterface)
	le.PutUint32(idb[4:], 20)
	le.PutUint16(idb[8:], LinkEthernet)
	le.PutUint32(idb[12:], 65535)
	le.PutUint32(idb[16:], 20)
	for range n {
		b.Write(idb)
	}
	return b.Bytes()
}

func TestReplayPcapngInterfaceBomb(t *testing.T) {
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	w.Write(idbBomb(200_000)) // 4 MB of interface blocks, a few KB gzipped
	w.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := replayAll(t, z.Bytes())
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "at most 4096 interfaces per section") || !strings.Contains(err.Error(), "at byte 81948") {
		t.Fatalf("error %v: want one naming the limit and the 4097th block's offset", err)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 16<<20 {
		t.Errorf("reading the bomb allocated %d MB", grown>>20)
	}
	t.Run("4096 interfaces are fine", func(t *testing.T) {
		if _, _, err := replayAll(t, idbBomb(ngMaxInterfaces)); err != nil {
			t.Fatal(err)
		}
	})
}
