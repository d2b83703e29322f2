package lab

import (
	"os/exec"
	"testing"
)

// Span gives the target namespace a span port of its own veth: a second
// veth pair (ID+"m" to ID+"n") and tc mirred rules that copy every frame
// the target's veth receives and every frame it sends onto it, as a
// switch's mirror port copies a link. It returns the interface to watch
// (ID+"n", with IPv6 off so it adds no frames of its own): XDP there sees
// both directions of the lab's traffic, which XDP on the target's own
// veth cannot (it sees only what arrives). Removed with the namespace.
func (l *Lab) Span(t testing.TB) string {
	t.Helper()
	Require(t, "tc")
	in, out := l.ID+"m", l.ID+"n"
	for _, args := range [][]string{
		{"ip", "link", "add", in, "type", "veth", "peer", "name", out},
		{"sysctl", "-qw", "net.ipv6.conf." + in + ".disable_ipv6=1", "net.ipv6.conf." + out + ".disable_ipv6=1"},
		{"ip", "link", "set", in, "up"},
		{"ip", "link", "set", out, "up"},
		{"tc", "qdisc", "add", "dev", l.VethTgt, "clsact"},
		{"tc", "filter", "add", "dev", l.VethTgt, "ingress", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", in},
		{"tc", "filter", "add", "dev", l.VethTgt, "egress", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", in},
	} {
		if b, err := exec.Command("ip", append([]string{"netns", "exec", l.NSTgt}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("span port: %v: %v\n%s", args, err, b)
		}
	}
	return out
}
