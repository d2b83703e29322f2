package detector

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A client cycling through maxWebKeys paths, each once a second, adds a
// bucket per key per second to its sets' queues: the key count is capped
// (and counted in maxWebEntries) but the queue holds window x keys - about
// 600,000 buckets (10 MB) per set per client over five minutes, unbounded
// by any limit. 60 seconds are enough to show it.
func TestRedTeamSlidingQueueGrowsPastKeyCap(t *testing.T) {
	d := NewDefault(Config{})
	ev := Event{Src: netip.MustParseAddr(webClientAddr), Dst: netip.MustParseAddr(webServerAddr), DstPort: 80,
		SrcPort: 40000, Kind: KindOther, Flags: FlagACK | FlagPSH}
	targets := make([]string, maxWebKeys)
	for i := range targets {
		targets[i] = fmt.Sprintf("/cgi-bin/w%d", i)
	}
	for sec := 0; sec < 60; sec++ {
		ev.Time = t0.Add(time.Duration(sec) * time.Second)
		for _, p := range targets {
			ev.HTTP = &HTTP{Method: "GET", Target: p, Head: "GET " + p + " HTTP/1.1\r\n\r\n"}
			d.Observe(&ev)
		}
	}
	c := d.web.clients[ev.Src]
	for name, s := range map[string]*slidingSet[uint64]{"paths": &c.paths, "probes": &c.probes} {
		if n := len(s.q); n > 4*maxWebKeys {
			t.Errorf("%s: %d keys, %d queued buckets (bound 4 x %d)", name, s.len(), n, maxWebKeys)
		}
	}
}

// An operator's injection list that the prefilter cannot narrow (every
// pattern starts with a class or a repetition): each request runs all of
// them. Loading says nothing about the cost.
func BenchmarkRedTeamWebInspectWideUserList(b *testing.B) {
	dir := b.TempDir()
	var sb strings.Builder
	for i := 0; i < maxWebListEntries; i++ {
		fmt.Fprintf(&sb, "custom \\w{2,}[=:]\\s*\\d{%d}x\n", i%50+1)
	}
	if err := os.WriteFile(filepath.Join(dir, InjectionList), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	l, err := LoadWebLists(dir)
	if err != nil {
		b.Fatal(err)
	}
	head := "GET /products/shoes?color=red&size=42 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: " + firefoxUA + "\r\nAccept: text/html\r\n\r\n"
	h := &HTTP{Method: "GET", Target: "/products/shoes?color=red&size=42", UserAgent: firefoxUA, Head: head}
	var scratch []string
	var memo headerMemo
	for b.Loop() {
		l.inspect(h, scratch, &memo)
	}
}

// The worst built-in input: a head whose every line passes the literal
// prefilter of every pattern, so each one runs its expression.
func BenchmarkRedTeamWebInspectPrefilterDefeat(b *testing.B) {
	l := DefaultWebLists()
	junk := strings.Repeat("union select or and sleep( <script on ../ /etc/ ${ {{ <! ;id '-- char( ", 5)
	head := "GET /?q=" + junk[:300] + " HTTP/1.1\r\nX-A: " + junk[:150] + "\r\n\r\n"
	h := &HTTP{Method: "GET", Target: "/?q=" + junk[:300], Head: head}
	var scratch []string
	for i := 0; b.Loop(); i++ {
		var memo headerMemo // a fresh header block every request
		l.inspect(h, scratch, &memo)
	}
}

// compact must not change what the set counts at any later expiry.
func TestRedTeamSlidingCompactExact(t *testing.T) {
	var a, b slidingSet[uint64]
	for sec := int64(0); sec < 40; sec++ {
		for k := uint64(0); k < 8; k++ {
			if (uint64(sec)+k)%3 != 0 {
				a.add(sec, k)
				b.add(sec, k)
			}
		}
		if sec%7 == 0 {
			b.compact()
		}
	}
	for cut := int64(0); cut < 45; cut++ {
		a.expire(cut)
		b.expire(cut)
		if a.len() != b.len() {
			t.Fatalf("cutoff %d: %d keys uncompacted, %d compacted", cut, a.len(), b.len())
		}
	}
}

// An operator's User-Agent entry that every browser matches ("Mozilla")
// loads without a word, and then every visitor is a VulnerabilityScan.
func TestRedTeamGenericUserAgentEntryRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, UserAgentList), []byte("T1595.002 oops Mozilla\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWebLists(dir); err == nil {
		t.Fatal(`user-agents.txt entry "Mozilla" (matches every browser) loaded without an error`)
	}
}
