package sensor

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scanwatch/scanwatch/capture"
	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/httpwire"
)

// TestGeneratedBPFUpToDate rebuilds the BPF object and Go bindings from
// bpf/*.c with the exact //go:generate line of bpf/gen.go into a temporary
// folder and fails if they differ from the committed files: the committed
// object is what ships, so it must be what the C says.
func TestGeneratedBPFUpToDate(t *testing.T) {
	if _, err := exec.LookPath("clang"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("clang is not installed; .ci/run installs it (apt-get install clang llvm libbpf-dev)")
		}
		t.Skip("clang not installed: apt-get install clang llvm libbpf-dev")
	}
	src, err := os.ReadFile("../bpf/gen.go")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, line := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//go:generate "); ok {
			args = splitQuoted(t, rest)
		}
	}
	if len(args) < 3 || args[0] != "go" || args[1] != "tool" {
		t.Fatalf("bpf/gen.go has no 'go tool bpf2go' generate line")
	}
	out := t.TempDir()
	// Insert -output-dir before the positional arguments.
	tool := append([]string{}, args[1:3]...)
	tool = append(tool, "-output-dir", out)
	tool = append(tool, args[3:]...)
	cmd := exec.Command("go", tool...)
	cmd.Dir = "../bpf"
	cmd.Env = append(os.Environ(), "GOPACKAGE=bpf")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bpf2go: %v\n%s", err, msg)
	}
	for _, name := range []string{"scanwatch_bpfel.go", "scanwatch_bpfel.o"} {
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("../bpf", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("bpf/%s is stale: run 'make generate' and commit the result", name)
		}
	}
}

// splitQuoted splits a generate line the way go generate does: on spaces,
// with double-quoted arguments kept whole.
func splitQuoted(t *testing.T, s string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
		case r == ' ' && !inQuote:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if inQuote {
		t.Fatalf("unbalanced quotes in %q", s)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// TestBPFLimitsMatchReplay: the XDP program and the replay decoder walk the
// same number of VLAN tags and IPv6 extension headers, or live and replay
// would judge a packet at the limit differently; and the program holds as
// many HTTP ports, and copies as long a prefix, as httpwire says.
func TestBPFLimitsMatchReplay(t *testing.T) {
	src, err := os.ReadFile("../bpf/parse.h")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"MAX_VLAN_TAGS": capture.MaxVLANTags, "MAX_IPV6_EXT": detector.MaxIPv6ExtHeaders,
		"HTTP_MAX_PORTS": httpwire.MaxPorts, "HTTP_PREFIX": httpwire.PrefixBytes} {
		var got int
		for _, line := range strings.Split(string(src), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "#define" && f[1] == name {
				got, _ = strconv.Atoi(f[2])
			}
		}
		if got != want {
			t.Errorf("bpf/parse.h %s is %d, the Go side walks %d", name, got, want)
		}
	}
}
