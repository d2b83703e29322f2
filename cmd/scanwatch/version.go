package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/scanwatch/scanwatch/metrics"
)

// Set at build time by make build and the Dockerfile:
// -ldflags "-X main.version=... -X main.revision=... -X main.branch=...".
var (
	version  = "dev"
	revision = ""
	branch   = ""
)

// buildInfo is what the binary knows of its own build. A plain 'go build'
// in a git checkout leaves the revision in the binary's VCS stamp, which
// fills in what ldflags did not.
func buildInfo() metrics.Build {
	b := metrics.Build{Version: version, Revision: revision, Branch: branch}
	if b.Revision != "" {
		return b
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && b.Revision != "" {
			b.Revision += "-dirty"
		}
	}
	return b
}

// printVersion prints what --version prints in every Prometheus tool.
func printVersion(w io.Writer) {
	b := buildInfo()
	fmt.Fprintf(w, "scanwatch, version %s (branch: %s, revision: %s)\n  go version:       %s\n  platform:         %s/%s\n",
		b.Version, orUnknown(b.Branch), orUnknown(b.Revision), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
