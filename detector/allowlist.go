package detector

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// ReadAllowlist reads one CIDR (or address) per line; '#' starts a comment
// and blank lines are skipped: the format of the OpenFilters
// internet-scanners cidr/*.txt lists, so those files load as they are.
func ReadAllowlist(r io.Reader, name string) (PrefixSet, error) {
	var set PrefixSet
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		p, err := parsePrefix(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, n, err)
		}
		set = append(set, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return set, nil
}

// MaxAllowlistBytes bounds an allowlist file: the largest public scanner
// lists are a few MB; a bigger file is a mistake (a wrong path), not a list.
const MaxAllowlistBytes = 64 << 20

// LoadAllowlist reads an allowlist file. It is read at start and on every
// SIGHUP, so it must never block: the open is non-blocking (a FIFO without
// a writer would otherwise hang it forever, and every later reload with
// it), and anything but a regular file is refused.
func LoadAllowlist(path string) (PrefixSet, error) {
	f, err := openRegular(path, "--allowlist", MaxAllowlistBytes)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file may grow while we read it: never read past the limit.
	return ReadAllowlist(io.LimitReader(f, MaxAllowlistBytes), path)
}

// openRegular opens a file the rules read at start and on SIGHUP without
// ever blocking (a FIFO without a writer would hang the open, and every
// later reload with it), refusing anything but a regular file of at most
// limit bytes. flag names the option in errors.
func openRegular(path, flag string, limit int64) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	switch {
	case !fi.Mode().IsRegular():
		f.Close()
		return nil, fmt.Errorf("%s %s is not a regular file (%s): scanwatch reads it at start and on SIGHUP, so write it to a file and name that", flag, path, describeMode(fi.Mode()))
	case fi.Size() > limit:
		f.Close()
		return nil, fmt.Errorf("%s %s is %d MB, over the %d MB limit: is it the right file?", flag, path, fi.Size()>>20, limit>>20)
	}
	return f, nil
}

func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeDir != 0:
		return "a directory"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}
