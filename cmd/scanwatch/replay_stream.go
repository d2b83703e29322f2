package main

import "io"

// newReplayWriter picks replay's output. For files it is newAlertWriter's:
// JSON Lines, or one aligned table after the last file. When an input is a
// stream (tcpdump -w - | scanwatch replay -), alerts are written as their
// episodes close, and a table cannot wait for its widest row from a stream
// that may run for days: it gets the live output's fixed-width columns
// (without the live Status and AlertID: replay prints final alerts only),
// its header first, so a terminal shows at once what the rows will be.
func newReplayWriter(format string, w io.Writer, withInput, wide, streaming bool) (alertWriter, error) {
	if !streaming || format != "table" {
		return newAlertWriter(format, w, withInput, wide), nil
	}
	t := &streamTable{w: w, cols: tableColumns(wide, false, withInput), header: true}
	return t, t.row(func(c column) string { return c.head })
}
