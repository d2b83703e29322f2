package packettest

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Capture files in the tests are written with gopacket's pcapgo writers, an
// encoder independent of our readers.

// TBase is the time of a test capture's first packet.
var TBase = time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)

// WritePcap writes frames as a classic pcap of the given link type, in
// microseconds or nanoseconds, 1 ms apart from TBase.
func WritePcap(t testing.TB, frames [][]byte, nanos bool, link layers.LinkType) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w *pcapgo.Writer
	if nanos {
		w = pcapgo.NewWriterNanos(&buf)
	} else {
		w = pcapgo.NewWriter(&buf)
	}
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: TBase.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}
