package sensor

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/httpwire"
	"github.com/scanwatch/scanwatch/lab"
)

// TestPrivilegedHTTPLive: curl in the scanner namespace against python's
// http.server in the target's, with the sensor on the target's veth.
// Every request reaches the rules as an event carrying its head, or is
// counted in the Skipped of a later one from the same client (a small
// budget makes it suppress), so the client's request total is exact.
// XDP sees only what arrives, so no response reaches it.
func TestPrivilegedHTTPLive(t *testing.T) {
	requirePrivileged(t)
	lab.Require(t, "curl", "python3")
	l := lab.New(t)
	const port = 8080
	var live *Live
	err := l.InTargetNS(func() error {
		var err error
		live, err = Attach(LiveConfig{Iface: l.VethTgt, Mode: ModeAuto, Program: ProgramConfig{
			HTTPPorts: httpwire.NewPorts(port), HTTPBudget: HTTPBudget{Rate: 10, Burst: 20}}})
		return err
	})
	if err != nil {
		t.Fatalf("attach: %+v", err)
	}
	t.Cleanup(func() { live.Close() })

	var mu sync.Mutex
	var heads []detector.Event
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- live.Run(ctx, func(ev *detector.Event) {
			if ev.HTTP != nil {
				mu.Lock()
				heads = append(heads, *ev) // ev is reused; its HTTP is not
				mu.Unlock()
			}
		})
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("live run: %v", err)
			}
		}
	}
	t.Cleanup(stop)

	startHTTPServer(t, l, port)
	tctx, tcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer tcancel()
	curl := func(args ...string) {
		t.Helper()
		cmd := l.InScan(tctx, append([]string{"curl", "-s", "-o", "/dev/null", "--max-time", "10"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	curl("http://" + lab.TgtIP + ":8080/index.html")
	curl("-g", "http://["+lab.TgtIP6+"]:8080/v6/missing?q=1")
	// 60 more on one command line: past the burst of 20.
	const flood = 60
	curl(fmt.Sprintf("http://%s:8080/f[1-%d]", lab.TgtIP, flood))
	// A token comes back every 100 ms: the next request's record carries
	// the count of those skipped before it.
	time.Sleep(250 * time.Millisecond)
	curl("http://" + lab.TgtIP + ":8080/after")
	time.Sleep(500 * time.Millisecond) // the flush timer releases the last records
	stop()

	mu.Lock()
	defer mu.Unlock()
	scan4, scan6 := netip.MustParseAddr(lab.ScanIP), netip.MustParseAddr(lab.ScanIP6)
	find := func(target string) *detector.Event {
		for i := range heads {
			if heads[i].HTTP.Target == target {
				return &heads[i]
			}
		}
		t.Fatalf("no event for %s among %d", target, len(heads))
		return nil
	}
	for _, w := range []struct {
		target   string
		src, dst netip.Addr
		host     string
	}{
		{"/index.html", scan4, netip.MustParseAddr(lab.TgtIP), lab.TgtIP + ":8080"},
		{"/v6/missing?q=1", scan6, netip.MustParseAddr(lab.TgtIP6), "[" + lab.TgtIP6 + "]:8080"},
	} {
		ev := find(w.target)
		h := ev.HTTP
		if h.Method != "GET" || !strings.HasPrefix(h.UserAgent, "curl/") || h.Host != w.host || h.Response || h.Skipped != 0 ||
			ev.Src != w.src || ev.Dst != w.dst || ev.DstPort != port || ev.Kind != detector.KindOther || ev.Flags&detector.FlagACK == 0 ||
			time.Since(ev.Time) > time.Minute || time.Since(ev.Time) < 0 {
			t.Errorf("%s: event %+v head %+v", w.target, ev, h)
		}
	}

	// Every request: an event, or counted as skipped by a later one or by
	// the sweep that read the client's entry after it went quiet (a
	// count-only event, no head).
	var got uint64
	for _, ev := range heads {
		if ev.HTTP.Response {
			t.Errorf("a response reached an inbound-only sensor: %+v", ev.HTTP)
		}
		if ev.Src == scan4 {
			got += uint64(ev.HTTP.Skipped)
			if ev.HTTP.Method != "" {
				got++
			}
		}
	}
	c, err := live.Objs.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	events, unparsed := live.HTTPEvents()
	t.Logf("%d heads to the rules, %d requests, %d records, %d suppressed", len(heads), c.Values[CntHTTPRequests],
		c.Values[CntHTTPRecords], c.Values[CntHTTPSuppressedSource])
	if got != 2+flood {
		t.Errorf("IPv4 client: %d requests accounted for (events and skipped), curl sent %d", got, 2+flood)
	}
	// The flood's skipped requests came with /after's record or with the
	// sweep's count-only event, whichever read the count first.
	find("/after")
	withHead := 0
	for _, ev := range heads {
		if ev.HTTP.Method != "" || ev.HTTP.Response {
			withHead++
		}
	}
	if c.Values[CntHTTPRequests] != 3+flood || c.Values[CntHTTPRecords] != events || events != uint64(withHead) || unparsed != 0 {
		t.Errorf("kernel: %d requests, %d records; sensor: %d events (%d seen), %d unparsed", c.Values[CntHTTPRequests], c.Values[CntHTTPRecords],
			events, withHead, unparsed)
	}
	if c.Values[CntHTTPSuppressedSource] == 0 {
		t.Error("the budget of 20 suppressed nothing of the flood")
	}
}

// startHTTPServer runs python's http.server on port in the target
// namespace, on every address (IPv4 and IPv6), serving an index.html,
// until the test ends; it returns once the port listens.
func startHTTPServer(t *testing.T, l *lab.Lab, port int) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<html>scanwatch</html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := l.InTgt(ctx, "python3", "-m", "http.server", "--bind", "::", "--directory", dir, fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel() // kills it, by its PID
		cmd.Wait()
	})
	for i := 0; i < 100; i++ {
		out, _ := exec.Command("ip", "netns", "exec", l.NSTgt, "ss", "-Hltn", fmt.Sprintf("sport = :%d", port)).Output()
		if len(strings.TrimSpace(string(out))) > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("http.server did not listen on port %d within 10 s", port)
}
