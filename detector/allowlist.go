package detector

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
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

// LoadAllowlist reads an allowlist file.
func LoadAllowlist(path string) (PrefixSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--allowlist: %w", err)
	}
	defer f.Close()
	return ReadAllowlist(f, path)
}
