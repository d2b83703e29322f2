package detector

import (
	"fmt"
	"net/netip"
	"strings"
)

// PrefixSet is a list of networks; a source inside any of them is skipped by
// the rules (ignore list) or raises no alert (allowlist).
type PrefixSet []netip.Prefix

// SeedIgnored is the starting rule's ignore list: RFC 1918 and loopback, and
// their IPv6 counterparts (loopback, link-local, unique local), so IPv6 events
// count the same way.
var SeedIgnored = MustParsePrefixes("10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,127.0.0.0/8,::1/128,fe80::/10,fc00::/7")

// ParsePrefixes reads a comma- or space-separated list of CIDRs or bare
// addresses. "none" (or an empty string) is the empty set.
func ParsePrefixes(s string) (PrefixSet, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "none") {
		return PrefixSet{}, nil
	}
	var set PrefixSet
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		p, err := parsePrefix(f)
		if err != nil {
			return nil, err
		}
		set = append(set, p)
	}
	return set, nil
}

func parsePrefix(f string) (netip.Prefix, error) {
	if strings.Contains(f, "/") {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like 198.51.100.0/24 or 2001:db8::/32: %w", f, err)
		}
		return netip.PrefixFrom(p.Addr().Unmap(), unmappedBits(p)).Masked(), nil
	}
	a, err := netip.ParseAddr(f)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR like 198.51.100.0/24: %w", f, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmappedBits keeps a ::ffff:a.b.c.d/120 prefix meaningful once unmapped.
func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(p.Bits()-96, 0)
	}
	return p.Bits()
}

// MustParsePrefixes is ParsePrefixes for constants.
func MustParsePrefixes(s string) PrefixSet {
	set, err := ParsePrefixes(s)
	if err != nil {
		panic(err)
	}
	return set
}

// Contains reports whether a lies in any prefix of the set.
func (s PrefixSet) Contains(a netip.Addr) bool {
	for _, p := range s {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s PrefixSet) String() string {
	if len(s) == 0 {
		return "none"
	}
	parts := make([]string, len(s))
	for i, p := range s {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}
