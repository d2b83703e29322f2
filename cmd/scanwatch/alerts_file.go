package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
)

// alertsFile is --alerts.file: JSON Lines appended to a regular file,
// reopened by path on SIGHUP so logrotate can rename it and signal us
// (no copytruncate, which loses the lines written between copy and
// truncate). Each record is one write(2) on an O_APPEND descriptor, so a
// reader tailing the file never sees half a line from us.
type alertsFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func openAlertsFile(path string) (*alertsFile, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &alertsFile{path: path, f: f}, nil
}

// openAppend opens path for appending, creating it (mode 0640: alerts name
// attackers and the hosts they found, not for every local user). A FIFO or
// device is refused: opening a FIFO without a reader would block the
// sensor, and a shipper reading a pipe should read stdout instead.
// O_NONBLOCK makes that open return at once whatever the path is; it means
// nothing for the regular file we keep.
func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o640)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("--alerts.file %s: its directory does not exist: create it (e.g. mkdir -p /var/log/scanwatch)", path)
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("--alerts.file %s: permission denied: the user scanwatch runs as must be able to write it", path)
		case errors.Is(err, syscall.EISDIR):
			return nil, fmt.Errorf("--alerts.file %s is a directory: name a file in it, e.g. %s/alerts.json", path, strings.TrimRight(path, "/"))
		case errors.Is(err, syscall.ENXIO):
			return nil, fmt.Errorf("--alerts.file %s is a FIFO with no reader: name a regular file, or pipe stdout to the reader", path)
		}
		return nil, fmt.Errorf("--alerts.file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("--alerts.file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("--alerts.file %s is not a regular file (%s): name a regular file, or pipe stdout to the reader", path, fi.Mode().Type())
	}
	return f, nil
}

// Write appends one record (a whole line).
func (a *alertsFile) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.f.Write(p)
}

// Reopen opens the path again and switches to it; on failure the old file
// stays in use, so no alert is lost to a bad rotation.
func (a *alertsFile) Reopen() error {
	f, err := openAppend(a.path)
	if err != nil {
		return err
	}
	a.mu.Lock()
	old := a.f
	a.f = f
	a.mu.Unlock()
	return old.Close()
}

func (a *alertsFile) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.f.Close()
}
