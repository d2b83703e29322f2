// Command scanwatch detects inbound active scanning (MITRE ATT&CK T1595),
// live at the network card through XDP or by replaying capture files.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `scanwatch detects inbound active scanning (MITRE ATT&CK T1595).

Usage:
  scanwatch run --iface IFACE [flags] watch an interface live through XDP (root)
  scanwatch replay [flags] FILE...   judge capture files (pcap, pcapng, gzip); - is stdin
  scanwatch correlate --nats URL     judge the probes a fleet of sensors publishes (--publish)
  scanwatch version                  print the version

Run 'scanwatch COMMAND --help' for a command's flags.
`

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ error }

// inputError is an input that could not be read, in whole or in part: exit
// status 1, after the alerts for what could be read.
type inputError struct{ error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "scanwatch: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "scanwatch: %v\n", err)
		return 1
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{errors.New("no command given: try 'scanwatch replay FILE'")}
	}
	switch args[0] {
	case "replay":
		return runReplay(ctx, args[1:], stdout, stderr)
	case "run":
		return runLive(ctx, args[1:], stdout, stderr)
	case "correlate":
		return runCorrelate(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		printVersion(stdout)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}
