package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"syscall"

	"github.com/scanwatch/scanwatch/detector"
)

// alertSink hands each live alert to stdout and to --alerts.file. Neither
// output can stop detection: a write error is logged once per outage and
// counted per record, and the alert still reaches the other output and
// the metrics. A reader that goes away (scanwatch run | head -1, a log
// shipper restarting behind a pipe) closes stdout for good; the file and
// the metrics carry on.
type alertSink struct {
	stdout alertWriter
	file   *alertsFile // nil without --alerts.file
	log    *slog.Logger
	failed func(output string) // counts a record not written
	ecs    bool                // the file in ECS too (--format ecs); else scanwatch's JSON

	stdoutGone   bool // the pipe's reader closed it: never written again
	stdoutFailed bool // in an outage (logged once)
	fileFailed   bool
	buf          bytes.Buffer
}

func (s *alertSink) Write(a detector.Alert) {
	s.writeStdout(a)
	if s.file != nil {
		s.writeFile(a)
	}
}

func (s *alertSink) writeStdout(a detector.Alert) {
	if s.stdoutGone {
		s.failed("stdout")
		return
	}
	err := s.stdout.Write(a)
	switch {
	case err == nil:
		if s.stdoutFailed {
			s.stdoutFailed = false
			s.log.Info("writing alerts to stdout again")
		}
	case errors.Is(err, syscall.EPIPE):
		s.stdoutGone = true
		s.failed("stdout")
		s.log.Error("stdout's reader has gone (broken pipe): alerts are no longer printed; detection goes on, alerts are still counted in /metrics"+s.fileNote(),
			"err", err)
	default:
		s.failed("stdout")
		if !s.stdoutFailed {
			s.stdoutFailed = true
			s.log.Error("writing an alert to stdout failed; detection goes on"+s.fileNote(), "err", err)
		}
	}
}

func (s *alertSink) fileNote() string {
	if s.file != nil {
		return " and written to --alerts.file " + s.file.path
	}
	return "; --alerts.file keeps them in a file whatever happens to stdout"
}

// writeFile appends the alert as one JSON line in one write.
func (s *alertSink) writeFile(a detector.Alert) {
	s.buf.Reset()
	var rec any = a
	if s.ecs {
		rec = toECS(&a)
	}
	if err := json.NewEncoder(&s.buf).Encode(rec); err != nil {
		s.failed("file")
		s.log.Error("encoding an alert failed", "err", err)
		return
	}
	if _, err := s.file.Write(s.buf.Bytes()); err != nil {
		s.failed("file")
		if !s.fileFailed {
			s.fileFailed = true
			s.log.Error("writing an alert to --alerts.file failed (disk full? file removed?); detection goes on, alerts are still counted in /metrics; a SIGHUP reopens the file",
				"file", s.file.path, "err", err)
		}
		return
	}
	if s.fileFailed {
		s.fileFailed = false
		s.log.Info("writing alerts to --alerts.file again", "file", s.file.path)
	}
}

// Close ends stdout's output (a table's last line) and closes the file.
func (s *alertSink) Close() error {
	var errs []error
	if !s.stdoutGone {
		if err := s.stdout.Close(); err != nil && !errors.Is(err, syscall.EPIPE) {
			errs = append(errs, err)
		}
	}
	if s.file != nil {
		errs = append(errs, s.file.Close())
	}
	return errors.Join(errs...)
}
