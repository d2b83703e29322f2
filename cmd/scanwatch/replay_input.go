package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/scanwatch/scanwatch/capture"
)

// stdinName is the name that reads standard input, as for tcpdump -r -.
const stdinName = "-"

// stdin is what 'scanwatch replay -' reads; tests put a pipe there.
var stdin = os.Stdin

// checkStdin refuses what cannot work before anything is read: standard
// input named twice (it can be read once; other files beside it are fine,
// read in the order given), or a terminal on it, which never carries a
// capture and would only wait for the keyboard.
func checkStdin(names []string) error {
	n := 0
	for _, name := range names {
		if name == stdinName {
			n++
		}
	}
	switch {
	case n == 0:
		return nil
	case n > 1:
		return fmt.Errorf("- (standard input) is named %d times: it can be read only once (a file called - is ./-)", n)
	case isTerminal(stdin):
		return errors.New("standard input is a terminal, not a capture: pipe one in, e.g. tcpdump -U -i eth0 -w - | scanwatch replay -")
	}
	return nil
}

// anyStream says whether an input is a stream (not a regular file), so
// the output can be chosen before the first input is read.
func anyStream(names []string) bool {
	for _, name := range names {
		var fi os.FileInfo
		var err error
		if name == stdinName {
			fi, err = stdin.Stat()
		} else {
			fi, err = os.Stat(name)
		}
		if err == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
			return true
		}
	}
	return false
}

// openReplayInput opens a file, or standard input for "-". Opening a FIFO
// and every later read end when ctx does (capture.Input says how).
func openReplayInput(ctx context.Context, name string) (*capture.Input, error) {
	if name == stdinName {
		in, err := capture.NewInput(ctx, stdin, name)
		if err != nil {
			return nil, inputError{fmt.Errorf("standard input: %w", err)}
		}
		return in, nil
	}
	in, err := capture.OpenInput(ctx, name)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, err // interrupted while a FIFO waited for its writer
	case err != nil:
		return nil, inputError{fmt.Errorf("%s: %w", name, explainOpen(err))}
	case in.Mode.IsDir():
		in.Close()
		return nil, inputError{fmt.Errorf("%s is a directory: name capture files, e.g. %s/*.pcap", name, name)}
	}
	return in, nil
}

// isTerminal asks the terminal driver, not the file mode: /dev/null is a
// character device too, and reads as an empty capture.
func isTerminal(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var terr error
	if err := rc.Control(func(fd uintptr) { _, terr = unix.IoctlGetTermios(int(fd), unix.TCGETS) }); err != nil {
		return false
	}
	return terr == nil
}
