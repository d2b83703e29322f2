package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
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
	switch format {
	case "table":
		return &tableWriter{w: w, cols: tableColumns(wide, false, withInput)}
	case "ecs":
		return newECSWriter(w)
	}
	return &jsonWriter{enc: json.NewEncoder(w)}
}

type jsonWriter struct{ enc *json.Encoder }

func (j *jsonWriter) Write(a detector.Alert) error { return j.enc.Encode(a) }
func (j *jsonWriter) Close() error                 { return nil }

// column is one column of the alert table. The starting rule's own columns
// come first, so the table reads like the LogScale result it replaces.
type column struct {
	head  string
	width int // for live output: fixed width, negative to left-align, 0 for the last
	value func(a *detector.Alert) string
}

// tableColumns lists the columns: the default rules' extras when wide, the
// episode status and id when live, the input file for multi-file replays.
func tableColumns(wide, live, withInput bool) []column {
	cols := []column{
		{"@timestamp", -27, func(a *detector.Alert) string { return a.Timestamp.UTC().Format("2006-01-02T15:04:05.000000Z") }},
		{"RemoteAddressIP4", -39, func(a *detector.Alert) string { return a.Source.String() }},
		{"TotalConns", 10, func(a *detector.Alert) string { return fmt.Sprint(a.TotalConns) }},
		{"UniqueDestPorts", 15, func(a *detector.Alert) string { return fmt.Sprint(a.UniqueDestPorts) }},
		{"TechniqueLabel", -23, func(a *detector.Alert) string { return a.Label }},
	}
	if wide {
		cols = append(cols,
			column{"UniqueDestHosts", 15, func(a *detector.Alert) string { return fmt.Sprint(a.UniqueDestHosts) }},
			column{"ScanType", -9, func(a *detector.Alert) string { return a.ScanType }},
			column{"Tool", -7, func(a *detector.Alert) string { return orDash(a.Tool) }})
	}
	if live {
		cols = append(cols, column{"Status", -9, func(a *detector.Alert) string { return a.Status }})
		if wide {
			cols = append(cols, column{"AlertID", -16, func(a *detector.Alert) string { return a.AlertID }})
		}
	}
	if withInput {
		cols = append(cols, column{"Input", 0, func(a *detector.Alert) string { return a.Input }})
	}
	return cols
}

type tableWriter struct {
	w    io.Writer
	rows []detector.Alert
	cols []column
}

func (t *tableWriter) Write(a detector.Alert) error {
	t.rows = append(t.rows, a)
	return nil
}

// Close aligns and prints the table.
func (t *tableWriter) Close() error {
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	cells := make([]string, len(t.cols))
	for i, c := range t.cols {
		cells[i] = c.head
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
	for i := range t.rows {
		for j, c := range t.cols {
			cells[j] = c.value(&t.rows[i])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// newStreamWriter is for live output: a table cannot wait for its widest
// row, so its columns have fixed widths wide enough for IPv6 sources.
func newStreamWriter(format string, w io.Writer, wide bool) alertWriter {
	switch format {
	case "table":
		return &streamTable{w: w, cols: tableColumns(wide, true, false)}
	case "ecs":
		return newECSWriter(w)
	}
	return &jsonWriter{enc: json.NewEncoder(w)}
}

type streamTable struct {
	w      io.Writer
	cols   []column
	header bool
}

func (s *streamTable) Write(a detector.Alert) error {
	if !s.header {
		s.header = true
		if err := s.row(func(c column) string { return c.head }); err != nil {
			return err
		}
	}
	return s.row(func(c column) string { return c.value(&a) })
}

func (s *streamTable) row(cell func(column) string) error {
	var b strings.Builder
	for i, c := range s.cols {
		if i > 0 {
			b.WriteString("  ")
		}
		if i == len(s.cols)-1 {
			b.WriteString(cell(c)) // no padding after the last column
		} else {
			fmt.Fprintf(&b, "%*s", c.width, cell(c))
		}
	}
	b.WriteByte('\n')
	_, err := io.WriteString(s.w, b.String())
	return err
}

func (s *streamTable) Close() error { return nil }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
