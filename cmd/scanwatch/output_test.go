package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
)

func TestStreamTableColumnsLineUp(t *testing.T) {
	var buf bytes.Buffer
	w := newStreamWriter("table", &buf, true)
	for _, src := range []string{"198.51.100.10", "2001:db8:1::10"} {
		w.Write(detector.Alert{Timestamp: time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC), Source: netip.MustParseAddr(src),
			Label: detector.LabelPortScan, TotalConns: 20, UniqueDestPorts: 20, UniqueDestHosts: 1, ScanType: "syn",
			Status: detector.StatusNew, AlertID: "630f74380b339f67"})
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want a header and two rows:\n%s", len(lines), buf.String())
	}
	// Every column starts at the same offset on every line, IPv4 or IPv6.
	for _, col := range []string{"TechniqueLabel", "Status", "AlertID"} {
		at := strings.Index(lines[0], col)
		for _, l := range lines[1:] {
			if at < 0 || len(l) <= at || l[at-1] != ' ' || l[at] == ' ' {
				t.Fatalf("column %s (offset %d) does not line up:\n%s", col, at, buf.String())
			}
		}
	}
	if !strings.Contains(lines[2], "2001:db8:1::10") || !strings.HasSuffix(lines[2], "630f74380b339f67") || !strings.Contains(lines[1], " - ") {
		t.Fatalf("row content:\n%s", buf.String())
	}
}
