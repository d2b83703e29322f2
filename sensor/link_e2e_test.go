package sensor

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scanwatch/scanwatch/detector"
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
	wait("egress program attached") // logged before the re-attach is
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

// syncBuffer is a log destination read while the sensor writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The veth is deleted and re-created while Run is stalled and the netlink
// socket is too small to hold what happened: Run must learn of it from
// ENOBUFS, ask the kernel, and end up on the new interface, in the
// namespace it attached in although Run's threads are in another.
func TestPrivilegedReattachAfterOverflow(t *testing.T) {
	requirePrivileged(t)
	lab.Require(t, "nmap")
	l := lab.New(t)
	logs := &syncBuffer{}
	var mu sync.Mutex
	var changes []bool
	var live *Live
	err := l.InTargetNS(func() error {
		var err error
		live, err = Attach(LiveConfig{Iface: l.VethTgt, Log: slog.New(slog.NewTextHandler(logs, nil)), OnLink: func(up bool) {
			mu.Lock()
			changes = append(changes, up)
			mu.Unlock()
		}})
		if err != nil {
			return err
		}
		return live.sup.w.rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 1024) })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	oldIndex := live.Ifindex

	// The first event blocks emit, which holds the lock the next sweep
	// needs: Run's loop stalls and reads no notifications.
	blocked, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- live.Run(ctx, func(*detector.Event) {
			once.Do(func() { close(blocked); <-gate })
		})
	}()
	nctx, ncancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ncancel()
	if err := l.Nmap(nctx, "-sS", "-p80", lab.TgtIP).Run(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("no event reached emit")
	}
	time.Sleep(1500 * time.Millisecond) // the sweep tick is now waiting on the lock
	// Fill the socket with news of lo first, so that every message about
	// the veth is dropped and only the lookup can tell what happened.
	for _, mtu := range []string{"1300", "1400", "1300", "1400", "65536"} {
		if out, err := exec.Command("ip", "-n", l.NSTgt, "link", "set", "lo", "mtu", mtu).CombinedOutput(); err != nil {
			t.Fatalf("ip link set lo mtu: %v\n%s", err, out)
		}
	}
	l.DeleteVeth(t)
	l.Relink(t)
	close(gate)

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "XDP program re-attached") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	out := logs.String()
	t.Log(out)
	for _, want := range []string{"link notifications lost", "watched interface lost", "replaced by a new interface of the same name", "XDP program re-attached"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) < 2 || changes[0] || !changes[len(changes)-1] {
		t.Errorf("OnLink calls %v, want false ... true", changes)
	}
	if live.Ifindex == oldIndex || !l.XDPAttached(t) {
		t.Errorf("ifindex %d (was %d), attached %v: not on the new veth", live.Ifindex, oldIndex, l.XDPAttached(t))
	}
}
