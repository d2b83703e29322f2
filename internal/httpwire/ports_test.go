package httpwire

import (
	"strings"
	"testing"
)

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in, want string
		err      string
	}{
		{"80,8000,8080,8888", "80,8000,8080,8888", ""},
		{" 8080 , 80 ,80", "80,8080", ""},
		{"none", "", ""},
		{"NONE", "", ""},
		{"", "", ""},
		{"0", "", `"0" is not a TCP port`},
		{"65536", "", `"65536" is not a TCP port`},
		{"80,,8080", "", `"" is not a TCP port`},
		{"http", "", `"http" is not a TCP port`},
		{"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "", "17 ports given, at most 16"},
	}
	for _, tc := range tests {
		p, err := ParsePorts(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--http-ports") {
				t.Errorf("ParsePorts(%q) error %v, want one naming --http-ports and %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || p.String() != tc.want {
			t.Errorf("ParsePorts(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
		}
	}
}

func TestPorts(t *testing.T) {
	p := NewPorts(DefaultPorts...)
	for _, n := range DefaultPorts {
		if !p.Has(n) {
			t.Errorf("default set lacks %d", n)
		}
	}
	for _, n := range []uint16{0, 443, 65535, 81} {
		if p.Has(n) {
			t.Errorf("default set has %d", n)
		}
	}
	var none *Ports
	if none.Has(80) || none.List() != nil || none.String() != "" {
		t.Error("a nil set must hold nothing")
	}
	if NewPorts(65535).Has(65535) != true {
		t.Error("65535 lost")
	}
	if len(DefaultPorts) > MaxPorts {
		t.Errorf("%d default ports, more than MaxPorts", len(DefaultPorts))
	}
}
