package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/scanwatch/scanwatch/detector"
)

// parseFlags parses flags that may stand before, between or after the
// positional arguments (scanwatch replay a.pcap --format table), which Go's
// flag package alone stops at.
func parseFlags(fs *cmdFlags, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseQuietHelp(fs.FlagSet, args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.help()
				return nil, err
			}
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// commonFlags are shared by replay and run.
type commonFlags struct {
	rules      string
	format     string
	ignore     string
	allowlist  string
	httpLists  string
	window     time.Duration
	longWindow time.Duration
	maxSources int
	probation  int
	logLevel   string
	logFormat  string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.rules, "rules", "default", "rule set: default, or seed (the starting LogScale rule, exactly)")
	fs.StringVar(&c.format, "format", "json", "alert output: json (JSON Lines), ecs (JSON Lines in the Elastic Common Schema) or table")
	fs.StringVar(&c.ignore, "ignore-sources", detector.SeedIgnored.String(), "CIDRs whose sources are never counted; 'none' watches every source")
	fs.StringVar(&c.allowlist, "allowlist", "", "file of CIDRs (one per line, # comments) of authorised scanners: counted, never alerted (default rules)")
	fs.StringVar(&c.httpLists, "http-lists", "", "directory whose "+detector.UserAgentList+", "+detector.ProbePathList+" and "+detector.InjectionList+" add to the web rules' built-in lists (formats: README, Web scanning); run rereads them on SIGHUP. Default rules only")
	fs.DurationVar(&c.window, "window", detector.DefaultWindow, "sliding window the rules are judged over (replay with --rules seed: the whole file)")
	fs.DurationVar(&c.longWindow, "long-window", detector.DefaultLongWindow, "second, longer window for low-and-slow scans (default rules)")
	fs.IntVar(&c.maxSources, "max-sources", detector.DefaultMaxSources, "sources held at most; the least recently active are evicted (default rules)")
	fs.IntVar(&c.probation, "max-probation", detector.DefaultMaxProbation, "one-probe sources held in probation at most, per address family; spoofed floods cycle through it and never reach --max-sources")
	fs.StringVar(&c.logLevel, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log.format", "logfmt", "log format on stderr: logfmt or json")
}

func (c *commonFlags) validate() (detector.Config, error) {
	var cfg detector.Config
	if c.format != "json" && c.format != "table" && c.format != "ecs" {
		return cfg, usageError{fmt.Errorf("--format %q: use json, ecs or table", c.format)}
	}
	if !slices.Contains(detector.RuleSets, c.rules) {
		return cfg, usageError{fmt.Errorf("--rules %q: choose one of %s", c.rules, strings.Join(detector.RuleSets, ", "))}
	}
	ign, err := detector.ParsePrefixes(c.ignore)
	if err != nil {
		return cfg, usageError{fmt.Errorf("--ignore-sources: %w", err)}
	}
	cfg.Ignore = ign
	if c.window < time.Second {
		return cfg, usageError{fmt.Errorf("--window %v: use at least 1s", c.window)}
	}
	if c.longWindow < c.window {
		return cfg, usageError{fmt.Errorf("--long-window %v is shorter than --window %v", c.longWindow, c.window)}
	}
	if c.maxSources < 1 {
		return cfg, usageError{fmt.Errorf("--max-sources %d: use at least 1", c.maxSources)}
	}
	if c.probation < 1 {
		return cfg, usageError{fmt.Errorf("--max-probation %d: use at least 1", c.probation)}
	}
	cfg.LongWindow, cfg.MaxSources, cfg.MaxProbation = c.longWindow, c.maxSources, c.probation
	if c.rules == "default" {
		cfg.Window = c.window
	}
	if c.allowlist != "" {
		if cfg.Allow, err = detector.LoadAllowlist(c.allowlist); err != nil {
			return cfg, usageError{err}
		}
	}
	if c.httpLists != "" {
		if cfg.WebLists, err = detector.LoadWebLists(c.httpLists); err != nil {
			return cfg, usageError{err}
		}
	}
	return cfg, nil
}

func (c *commonFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log.level %q: use debug, info, warn or error", c.logLevel)}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.logFormat {
	case "logfmt":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log.format %q: use logfmt or json", c.logFormat)}
}

// newFlagSet makes a command's flags. Help asked for (--help) goes to
// stdout, as in every Prometheus tool, so it pipes into less or grep; help
// after a mistake goes to stderr. Flags are shown with two dashes, the
// form the README uses (Go's flag package accepts one or two).
//
// We keep the standard flag package rather than kingpin: the commands
// need flags between positional arguments (replay a.pcap --format table),
// which parseFlags gives in a few lines, and moving every flag to kingpin
// would buy completion and --help-man at the price of a second flag
// syntax in the tests and a dependency. The help output is what kingpin's
// would be.
func newFlagSet(name, synopsis string, stdout, stderr io.Writer) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printUsage(stderr, fs, synopsis) }
	return &cmdFlags{FlagSet: fs, help: func() { printUsage(stdout, fs, synopsis) }}
}

// cmdFlags is a command's flag set and its --help, which prints on stdout.
type cmdFlags struct {
	*flag.FlagSet
	help func()
}

func printUsage(w io.Writer, fs *flag.FlagSet, synopsis string) {
	fmt.Fprintf(w, "Usage: scanwatch %s\n\nFlags:\n", synopsis)
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// parse parses args into c and the command's own flags, and returns the
// positional arguments, the rules' config and the logger. --help returns
// flag.ErrHelp, which callers turn into a clean exit.
func (c *commonFlags) parse(fs *cmdFlags, args []string, stderr io.Writer) ([]string, detector.Config, *slog.Logger, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, detector.Config{}, nil, err
	}
	cfg, err := c.validate()
	if err != nil {
		return nil, cfg, nil, err
	}
	log, err := c.logger(stderr)
	if err == nil {
		for _, p := range cfg.Ignore {
			if p.Bits() == 0 {
				log.Warn("--ignore-sources covers every address of a family: no source of it is ever counted", "prefix", p.String())
			}
		}
	}
	return pos, cfg, log, err
}

// listFlag is a repeatable string flag. Its default stands until the flag
// is first given, which replaces it: --web.listen-address :9595 means
// only :9595, not the loopback default as well.
type listFlag struct {
	vals []string
	set  bool
}

func newListFlag(def ...string) listFlag { return listFlag{vals: def} }

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.vals, ",")
}

func (l *listFlag) Set(v string) error {
	if !l.set {
		l.vals, l.set = nil, true
	}
	l.vals = append(l.vals, v)
	return nil
}

// nonEmpty drops empty values: --web.listen-address "" disables /metrics.
func (l *listFlag) nonEmpty() []string {
	var out []string
	for _, v := range l.vals {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// parseQuietHelp parses like fs.Parse, but a -h/--help prints nothing
// there: parseFlags prints the help on stdout instead.
func parseQuietHelp(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	var asked bool
	fs.Usage = func() {
		for _, a := range args {
			if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
				asked = true
			}
		}
		if !asked {
			usage()
		}
	}
	err := fs.Parse(args)
	fs.Usage = usage
	return err
}
