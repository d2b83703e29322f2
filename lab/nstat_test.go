package lab

import "testing"

func TestParseNstatDelta(t *testing.T) {
	before, err := parseNstat([]byte("#kernel\nIpReasmOKs                      3                  0.0\nTcpInCsumErrors                 0                  0.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseNstat([]byte("#kernel\nIpReasmOKs 63 0.0\nTcpInCsumErrors 5 0.0\nIp6InHdrErrors 2 0.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Delta(before, after)
	if d["IpReasmOKs"] != 60 || d["TcpInCsumErrors"] != 5 || d["Ip6InHdrErrors"] != 2 {
		t.Errorf("delta %v", d)
	}
	if got, want := d.String(), "Ip6InHdrErrors=2 IpReasmOKs=60 TcpInCsumErrors=5"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if _, err := parseNstat([]byte("#kernel\n")); err == nil {
		t.Error("no counters: want an error")
	}
	if _, err := parseNstat([]byte("IpReasmOKs x 0.0\n")); err == nil {
		t.Error("a non-number: want an error")
	}
}
