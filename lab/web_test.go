package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// WebTools is lab/web.sh's WEB_TOOLS, which pcaps/capture.sh records: the
// Go list and the shell list must not drift apart.
func TestWebToolsMatchWebSh(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	out, err := exec.Command("bash", "-c", `source "$1"; echo "${WEB_TOOLS[@]}"`, "-",
		filepath.Join(filepath.Dir(file), "web.sh")).Output()
	if err != nil {
		t.Fatalf("sourcing web.sh: %v", err)
	}
	if got := strings.Fields(string(out)); !slices.Equal(got, WebTools) {
		t.Errorf("web.sh WEB_TOOLS = %v, WebTools = %v", got, WebTools)
	}
	for _, tool := range WebTools {
		if webBinary[tool] == "" {
			t.Errorf("%s has no entry in webBinary", tool)
		}
	}
}

func requireNetnsCaps(t *testing.T) {
	t.Helper()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) == nil && data[0].Effective&(1<<unix.CAP_SYS_ADMIN) != 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs CAP_SYS_ADMIN (network namespaces); CI runs as root")
	}
	t.Skip("needs CAP_SYS_ADMIN to build network namespaces: run as root")
}

// Every tool really runs against the lab site and sends what the shipped
// capture of it shows, counted by the server itself.
func TestPrivilegedWebTools(t *testing.T) {
	requireNetnsCaps(t)
	l := New(t)
	l.WireSegments(t)
	srv := l.StartWeb(t)
	// Lower bounds on the requests the server answers, and on its 404s:
	// the wordlist holds 959 words; the exact counts of one run are in
	// pcaps/README.md.
	want := map[string]struct{ min, min404, max int }{
		"nmap-http-enum":      {1000, 1000, 5000},
		"dirb":                {950, 950, 1000},
		"gobuster":            {950, 950, 1000},
		"ffuf":                {950, 950, 1000},
		"ffuf-ipv6":           {950, 950, 1000},
		"wfuzz":               {950, 950, 1000},
		"wapiti":              {200, 10, 5000},
		"sqlmap":              {50, 0, 500},
		"sqlmap-random-agent": {50, 0, 500},
		"whatweb":             {1, 0, 10},
		"browse-assets":       {63, 2, 63},
		"browse-firefox":      {3, 0, 3},
	}
	for _, tool := range WebTools {
		t.Run(tool, func(t *testing.T) {
			before := len(srv.Requests(t))
			out, err := l.RunWeb(context.Background(), t, tool)
			if err != nil {
				t.Fatalf("%v\n%s", err, tail(out, 2000))
			}
			reqs := srv.Requests(t)[before:]
			n404 := 0
			for _, r := range reqs {
				if strings.HasSuffix(r, " 404") {
					n404++
				}
			}
			t.Logf("%s: the server answered %d requests, %d with 404", tool, len(reqs), n404)
			w := want[tool]
			if len(reqs) < w.min || len(reqs) > w.max || n404 < w.min404 {
				t.Errorf("%s: %d requests (%d × 404), want %d–%d with at least %d × 404", tool, len(reqs), n404, w.min, w.max, w.min404)
			}
		})
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
