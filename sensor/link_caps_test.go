package sensor

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/lab"
)

// After attaching, scanwatch will drop to CAP_NET_ADMIN and CAP_BPF. A
// re-attach after the veth is deleted and re-created must then still
// work: no program load, no new AF_PACKET socket (CAP_NET_RAW), only a
// bpf_link and a membership on the socket opened at start.
func TestPrivilegedReattachWithoutCapabilities(t *testing.T) {
	requirePrivileged(t)
	bin := filepath.Join(t.TempDir(), "capdrop")
	build := exec.Command("go", "build", "-o", bin, "./testdata/capdrop")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the helper: %v\n%s", err, out)
	}
	l := lab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := l.InTgt(ctx, bin, l.VethTgt)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	wait := func(want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("helper exited before %q", want)
				}
				t.Log(line)
				if strings.Contains(line, "re-attaching the XDP program failed") {
					t.Fatalf("re-attach failed: %s", line)
				}
				if strings.Contains(line, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q within 20 s", want)
			}
		}
	}
	wait("capabilities dropped")
	l.DeleteVeth(t)
	wait("watched interface lost")
	l.Relink(t)
	wait("XDP program re-attached")
	if !l.XDPAttached(t) {
		t.Error("no XDP program on the re-created veth")
	}
	if p := l.Promiscuity(t); p != 1 {
		t.Errorf("promiscuity %d on the re-created veth, want 1", p)
	}
	cmd.Process.Signal(os.Interrupt)
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("helper: %v", err)
	}
}
