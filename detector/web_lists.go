package detector

import (
	"bufio"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The web rules' lists are data, not code: built-in files (weblists/) that
// a user extends with files of the same names in a directory
// (--http-lists), read at start and on SIGHUP.

//go:embed weblists/*.txt
var builtinWebLists embed.FS

// The list files, by name.
const (
	UserAgentList = "user-agents.txt"
	ProbePathList = "probe-paths.txt"
	InjectionList = "injections.txt"
)

// Technique names of the two web sub-techniques.
const (
	TechniqueVulnScan     = "T1595.002"
	TechniqueWordlistScan = "T1595.003"
)

// Limits on user lists: bigger is a wrong path, not a list, and the rules
// test every request against every entry.
const (
	MaxWebListBytes   = 1 << 20
	maxWebListEntries = 4096
	maxPatternBytes   = 1024
)

// WebLists are the lists the web rules match requests against. A WebLists
// is never modified once built, so a reload swaps it whole.
type WebLists struct {
	agents     []agentEntry
	exact      map[string]string // probe path -> category
	prefixes   []pathPattern
	suffixes   []pathPattern
	injections []injection
	// Entries counts what was read, for the reload log line.
	Entries int
}

type agentEntry struct {
	technique, tool, text string // text lowercased
}

type pathPattern struct {
	category, text string
}

type injection struct {
	class string
	re    *regexp.Regexp
	need  prefilter // what a match must contain (web_prefilter.go)
}

// DefaultWebLists returns the built-in lists.
func DefaultWebLists() *WebLists {
	l, err := readWebLists(builtinWebLists, "weblists", "built-in")
	if err != nil {
		panic(err) // the embedded files are tested: this is a build error
	}
	return l
}

// LoadWebLists returns the built-in lists extended by the files of dir
// (any of user-agents.txt, probe-paths.txt, injections.txt; a missing file
// adds nothing). dir "" gives the built-in lists. Like LoadAllowlist it
// never blocks: files are opened non-blocking and must be regular.
func LoadWebLists(dir string) (*WebLists, error) {
	l := DefaultWebLists()
	if dir == "" {
		return l, nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--http-lists: %w: name a directory holding any of %s, %s, %s", err, UserAgentList, ProbePathList, InjectionList)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("--http-lists %s is not a directory: name the directory that holds %s, %s or %s", dir, UserAgentList, ProbePathList, InjectionList)
	}
	// A misspelt list would be skipped without a word: refuse it.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--http-lists: %w", err)
	}
	found := 0
	for _, e := range entries {
		switch name := e.Name(); name {
		case UserAgentList, ProbePathList, InjectionList:
			found++
		default:
			if strings.HasSuffix(name, ".txt") {
				return nil, fmt.Errorf("--http-lists %s holds %s, which is not a list scanwatch reads: name it %s, %s or %s", dir, name, UserAgentList, ProbePathList, InjectionList)
			}
		}
	}
	if found == 0 {
		return nil, fmt.Errorf("--http-lists %s holds none of %s, %s, %s: nothing to add to the built-in lists", dir, UserAgentList, ProbePathList, InjectionList)
	}
	for _, name := range []string{UserAgentList, ProbePathList, InjectionList} {
		path := filepath.Join(dir, name)
		f, err := openRegular(path, "--http-lists", MaxWebListBytes)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		err = l.read(name, io.LimitReader(f, MaxWebListBytes), path)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

func readWebLists(fsys fs.FS, dir, what string) (*WebLists, error) {
	l := &WebLists{exact: map[string]string{}}
	for _, name := range []string{UserAgentList, ProbePathList, InjectionList} {
		f, err := fsys.Open(dir + "/" + name)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, name, err)
		}
		err = l.read(name, f, what+" "+name)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

// read adds the entries of one list file.
func (l *WebLists) read(name string, r io.Reader, where string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxPatternBytes+256)
	added := 0
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if added++; added > maxWebListEntries {
			return fmt.Errorf("%s: more than %d entries: keep the entries that matter (each request is tested against every one)", where, maxWebListEntries)
		}
		if err := l.add(name, line); err != nil {
			return fmt.Errorf("%s line %d: %w", where, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s: a line is longer than %d bytes", where, maxPatternBytes)
		}
		return fmt.Errorf("reading %s: %w", where, err)
	}
	l.Entries += added
	return nil
}

func (l *WebLists) add(name, line string) error {
	if name != InjectionList {
		// A trailing comment; a regular expression may hold '#' itself.
		if i := strings.Index(line, " #"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
	}
	switch name {
	case UserAgentList:
		tech, rest := field(line)
		tool, text := field(rest)
		if tech != TechniqueVulnScan && tech != TechniqueWordlistScan {
			return fmt.Errorf("technique %q: write %s or %s, then the tool's name, then the User-Agent text", tech, TechniqueVulnScan, TechniqueWordlistScan)
		}
		if tool == "" || text == "" {
			return fmt.Errorf("want \"<technique> <tool> <User-Agent text>\"")
		}
		low := strings.ToLower(text)
		for _, b := range browserAgents {
			if strings.Contains(strings.ToLower(b), low) {
				return fmt.Errorf("%q is in ordinary browsers' User-Agents (%s): every visitor would be a scanner; give text only the tool sends", text, b)
			}
		}
		l.agents = append(l.agents, agentEntry{tech, strings.ToLower(tool), low})
	case ProbePathList:
		cat, path := field(line)
		if path == "" || strings.ContainsAny(path, " \t") {
			return fmt.Errorf("want \"<category> <path>\" with no space in the path")
		}
		path = strings.ToLower(path)
		switch {
		case strings.HasPrefix(path, "*"):
			l.suffixes = append(l.suffixes, pathPattern{cat, path[1:]})
		case path[0] != '/':
			return fmt.Errorf("path %q: begin it with '/' (or '*' for a suffix)", path)
		case strings.HasSuffix(path, "*"):
			l.prefixes = append(l.prefixes, pathPattern{cat, path[:len(path)-1]})
		default:
			l.exact[path] = cat
		}
	case InjectionList:
		class, expr := field(line)
		if expr == "" {
			return fmt.Errorf("want \"<class> <regular expression>\"")
		}
		re, err := regexp.Compile("(?i)" + expr)
		if err != nil {
			return fmt.Errorf("class %s: %q is not a Go regular expression (RE2 syntax): %v", class, expr, strings.Replace(err.Error(), "(?i)", "", 1))
		}
		l.injections = append(l.injections, injection{class, re, newPrefilter(expr)})
	}
	return nil
}

// browserAgents are User-Agents of ordinary clients that no scanner entry
// may match: an entry such as "Mozilla" or "Gecko" would accuse every
// visitor.
var browserAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36 Edg/128.0.0.0",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
}

// field splits off the first space-separated word.
func field(s string) (string, string) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i+1:])
}

// agent names the tool whose User-Agent ua is, if any.
func (l *WebLists) agent(ua string) (agentEntry, bool) {
	if ua == "" {
		return agentEntry{}, false
	}
	low := strings.ToLower(ua)
	for _, a := range l.agents {
		if strings.Contains(low, a.text) {
			return a, true
		}
	}
	return agentEntry{}, false
}

// probePath returns the category of a lowercased, decoded path on the
// probe list, or "".
func (l *WebLists) probePath(p string) string {
	if c, ok := l.exact[p]; ok {
		return c
	}
	for _, x := range l.prefixes {
		if strings.HasPrefix(p, x.text) {
			return x.category
		}
	}
	for _, x := range l.suffixes {
		if strings.HasSuffix(p, x.text) {
			return x.category
		}
	}
	return ""
}

// headerClasses are the injection classes looked for in header lines,
// and each on its own is evidence enough (strongClass): these payloads
// ride in headers by design, and nothing else puts "() {" or "${jndi:"
// there. Other classes are looked for in the target only.
var headerClasses = []string{"shellshock", "log4shell"}

func strongClass(c string) bool { return contains(headerClasses, c) }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// injectionClasses appends the classes of the patterns found in s; with
// headers, only headerClasses.
func (l *WebLists) injectionClasses(s string, out []string, headers bool) []string {
	lower := strings.ToLower(s)
	// (?i) folds some non-ASCII letters to ASCII ones (ſ to s, K to k) that
	// ToLower leaves: the prefilter only vouches for ASCII text.
	ascii := isASCII(s)
	for _, in := range l.injections {
		if contains(out, in.class) || headers && !strongClass(in.class) || ascii && !in.need.admits(lower) {
			continue
		}
		if in.re.MatchString(s) {
			out = append(out, in.class)
		}
	}
	return out
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
