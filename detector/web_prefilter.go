package detector

import (
	"regexp/syntax"
	"strings"
	"unicode"
)

// A prefilter for the injection patterns, after RE2's FilteredRE2: from a
// pattern's syntax tree, the literal strings a match must contain (a list
// of sets: one string of every set). An ASCII request holding none of a
// set cannot match (text with other bytes skips the prefilter: (?i) folds
// ſ to s and K to k, which ToLower does not), and strings.Contains on its lowercased text is a hundred
// times cheaper than running the expression: with it, an ordinary
// request costs the web rules a few microseconds instead of 180.
type prefilter [][]string

// maxClassRunes: a character class of at most this many characters
// (['"]) is a set of one-byte literals; a wider one (\d, \w) says nothing.
const maxClassRunes = 4

func newPrefilter(expr string) prefilter {
	re, err := syntax.Parse(expr, syntax.Perl|syntax.FoldCase)
	if err != nil {
		return nil
	}
	return required(re.Simplify())
}

// required lists what every match of re contains.
func required(re *syntax.Regexp) prefilter {
	switch re.Op {
	case syntax.OpLiteral:
		return prefilter{{strings.ToLower(string(re.Rune))}}
	case syntax.OpCharClass:
		var set []string
		n := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			n += int(hi-lo) + 1
			if n > 2*maxClassRunes { // folded classes hold both cases
				return nil
			}
			for r := lo; r <= hi; r++ {
				s := string(unicode.ToLower(r))
				if !contains(set, s) {
					set = append(set, s)
				}
			}
		}
		if len(set) == 0 || len(set) > maxClassRunes {
			return nil
		}
		return prefilter{set}
	case syntax.OpCapture:
		return required(re.Sub[0])
	case syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		var all prefilter
		for _, sub := range re.Sub {
			all = append(all, required(sub)...)
		}
		return all
	case syntax.OpAlternate:
		// One of the branches matches: the union of one set from each.
		var union []string
		for _, sub := range re.Sub {
			p := required(sub)
			if len(p) == 0 {
				return nil
			}
			for _, s := range p.best() {
				if !contains(union, s) {
					union = append(union, s)
				}
			}
		}
		return prefilter{union}
	}
	return nil
}

// best is the set whose shortest string is longest: the most selective.
func (p prefilter) best() []string {
	var best []string
	score := -1
	for _, set := range p {
		short := len(set[0])
		for _, s := range set {
			short = min(short, len(s))
		}
		if short > score {
			best, score = set, short
		}
	}
	return best
}

// admits reports whether lower (lowercased text) could match.
func (p prefilter) admits(lower string) bool {
	for _, set := range p {
		hit := false
		for _, s := range set {
			if strings.Contains(lower, s) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}
