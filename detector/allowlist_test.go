package detector

import (
	"net/netip"
	"strings"
	"testing"
)

func TestReadAllowlist(t *testing.T) {
	in := "# Censys\n198.51.100.0/24   # scanners\n\n  2001:db8::/32\n192.0.2.7\n"
	set, err := ReadAllowlist(strings.NewReader(in), "list.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"198.51.100.77", "2001:db8::1", "192.0.2.7"} {
		if !set.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s not allowlisted", a)
		}
	}
	if set.Contains(netip.MustParseAddr("192.0.2.8")) {
		t.Error("192.0.2.8 allowlisted")
	}
	_, err = ReadAllowlist(strings.NewReader("198.51.100.0/24\nnot-a-cidr\n"), "list.txt")
	if err == nil || !strings.Contains(err.Error(), "list.txt line 2") {
		t.Fatalf("error %v: want the file and line", err)
	}
}
