package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/scanwatch/scanwatch/detector"
)

// alertWriter prints alerts as they come (JSON Lines) or as one aligned
// table at the end (a table cannot be aligned before its widest row).
type alertWriter interface {
	Write(detector.Alert) error
	Close() error
}

// withInput adds an Input column to the table, for replays of several
// files; wide adds the default rules' columns.
func newAlertWriter(format string, w io.Writer, withInput, wide bool) alertWriter {
	if format == "table" {
		return &tableWriter{w: w, withInput: withInput, wide: wide}
	}
	return &jsonWriter{enc: json.NewEncoder(w)}
}

type jsonWriter struct{ enc *json.Encoder }

func (j *jsonWriter) Write(a detector.Alert) error { return j.enc.Encode(a) }
func (j *jsonWriter) Close() error                 { return nil }

type tableWriter struct {
	w         io.Writer
	rows      []detector.Alert
	withInput bool
	wide      bool
}

func (t *tableWriter) Write(a detector.Alert) error {
	t.rows = append(t.rows, a)
	return nil
}

// Close prints the starting rule's own columns, so the table reads like the
// LogScale result it replaces; Input, when present, comes last.
func (t *tableWriter) Close() error {
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	head := "@timestamp\tRemoteAddressIP4\tTotalConns\tUniqueDestPorts\tTechniqueLabel"
	if t.wide {
		head += "\tUniqueDestHosts\tScanType\tTool"
	}
	if t.withInput {
		head += "\tInput"
	}
	fmt.Fprintln(tw, head)
	for _, a := range t.rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s", a.Timestamp.UTC().Format("2006-01-02T15:04:05.000000Z"), a.Source, a.TotalConns, a.UniqueDestPorts, a.Label)
		if t.wide {
			fmt.Fprintf(tw, "\t%d\t%s\t%s", a.UniqueDestHosts, a.ScanType, orDash(a.Tool))
		}
		if t.withInput {
			fmt.Fprintf(tw, "\t%s", a.Input)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// newStreamWriter is for live output: a table cannot wait for its widest
// row, so its columns have fixed widths wide enough for IPv6 sources.
func newStreamWriter(format string, w io.Writer, wide bool) alertWriter {
	if format == "table" {
		return &streamTable{w: w, wide: wide}
	}
	return &jsonWriter{enc: json.NewEncoder(w)}
}

type streamTable struct {
	w      io.Writer
	header bool
	wide   bool // the default rules' extra columns
}

const (
	streamRow     = "%-27s  %-39s  %10v  %15v  %-23s  %s\n"
	streamRowWide = "%-27s  %-39s  %10v  %15v  %15v  %-23s  %-9s  %-7s  %-9s  %s\n"
)

func (s *streamTable) Write(a detector.Alert) error {
	ts := a.Timestamp.UTC().Format("2006-01-02T15:04:05.000000Z")
	if s.wide {
		if !s.header {
			s.header = true
			if _, err := fmt.Fprintf(s.w, streamRowWide, "@timestamp", "RemoteAddressIP4", "TotalConns", "UniqueDestPorts", "UniqueDestHosts", "TechniqueLabel", "ScanType", "Tool", "Status", "AlertID"); err != nil {
				return err
			}
		}
		_, err := fmt.Fprintf(s.w, streamRowWide, ts, a.Source, a.TotalConns, a.UniqueDestPorts, a.UniqueDestHosts, a.Label, a.ScanType, a.Tool, a.Status, a.AlertID)
		return err
	}
	if !s.header {
		s.header = true
		if _, err := fmt.Fprintf(s.w, streamRow, "@timestamp", "RemoteAddressIP4", "TotalConns", "UniqueDestPorts", "TechniqueLabel", "Status"); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(s.w, streamRow, ts, a.Source, a.TotalConns, a.UniqueDestPorts, a.Label, a.Status)
	return err
}

func (s *streamTable) Close() error { return nil }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
