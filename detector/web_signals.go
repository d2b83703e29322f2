package detector

import (
	"hash/maphash"
	"strings"
)

// What one request tells the web rules, computed once per request.
type webRequest struct {
	path     string   // path without query, percent-decoding undone, lowercased: for the lists
	shape    uint64   // hash of the path with id-like segments folded: for distinct counting
	static   bool     // a static asset (stylesheet, script, image, font): what a page load fetches
	probe    string   // category on the probe list, or ""
	injected []string // injection classes found
}

var webSeed = maphash.MakeSeed()

// staticExt are the extensions of what a browser fetches to render a page.
// A page with sixty assets is sixty distinct paths; none of them is a
// wordlist entry. CrowdSec's http-probing leaves static files out too.
var staticExt = map[string]bool{
	"css": true, "js": true, "mjs": true, "map": true, "png": true, "jpg": true, "jpeg": true, "gif": true,
	"ico": true, "svg": true, "webp": true, "avif": true, "bmp": true, "woff": true, "woff2": true,
	"ttf": true, "otf": true, "eot": true, "mp4": true, "webm": true, "mp3": true, "ogg": true,
}

// headerMemo remembers the injection classes of a client's last header
// block: a scanner sends the same headers with every request, and a
// browser nearly so, so the patterns run once per change, not per request.
type headerMemo struct {
	hash    uint64
	lists   *WebLists
	classes []string
}

// inspect reads a request against the lists; memo may be nil.
func (l *WebLists) inspect(h *HTTP, scratch []string, memo *headerMemo) webRequest {
	// Spaces around the target: nginx takes any number after the method,
	// so "GET  /.env" asks for /.env.
	target := strings.Trim(h.Target, " \t")
	// An absolute-form target (a proxy request): keep the path. An
	// origin-form target begins with '/', and a "://" in it is in its
	// query ("/?a=b://&id=..." must keep its query).
	if i := strings.Index(target, "://"); i >= 0 && i < 8 && target[0] != '/' {
		rest := target[i+3:]
		switch j := strings.IndexAny(rest, "/?"); {
		case j < 0:
			target = "/"
		case rest[j] == '?': // "http://host?id=...": the query is kept
			target = "/" + rest[j:]
		default:
			target = rest[j:]
		}
	}
	rawPath, query, _ := strings.Cut(target, "?")
	path := strings.ToLower(unescape(rawPath, false))
	r := webRequest{path: path, shape: pathShape(rawPath)}
	if dot := strings.LastIndexByte(path, '.'); dot >= 0 && dot > strings.LastIndexByte(path, '/') {
		// A query does not make an asset a page: WordPress versions
		// every stylesheet and script ("style.css?ver=6.4.2").
		r.static = staticExt[path[dot+1:]]
	}
	// Nor is an asset a probe: every WordPress page loads its plugins'
	// styles and scripts from /wp-content/plugins/, a probe prefix. What
	// scanners fetch there to fingerprint a plugin is readme.txt or a .php.
	if !r.static {
		r.probe = l.probeResolved(path)
	}
	// Payloads hide in the decoded target (twice-encoded ones too) and in
	// headers (ShellShock and Log4Shell ride in User-Agent, Referer, X-Api-Version...).
	out := scratch[:0]
	out = l.injectionClasses(path, out, false)
	if strings.IndexByte(path, '%') >= 0 {
		out = l.injectionClasses(unescape(path, false), out, false) // twice encoded
	}
	if query != "" {
		q := unescape(query, true)
		out = l.injectionClasses(q, out, false)
		if strings.IndexByte(q, '%') >= 0 {
			out = l.injectionClasses(unescape(q, true), out, false)
		}
	}
	if _, headers, ok := strings.Cut(h.Head, "\n"); ok && headers != "" {
		if memo == nil {
			out = l.injectionClasses(headers, out, true)
		} else {
			if sum := maphash.String(webSeed, headers); sum != memo.hash || memo.lists != l {
				memo.hash, memo.lists = sum, l
				memo.classes = l.injectionClasses(headers, memo.classes[:0], true)
			}
			for _, c := range memo.classes {
				if !contains(out, c) {
					out = append(out, c)
				}
			}
		}
	}
	if len(out) > 0 {
		r.injected = append([]string(nil), out...)
	}
	return r
}

// pathShape hashes a path with its id-like segments (numbers, hex, UUIDs)
// folded to one, so an API client fetching /item/1 ... /item/500 is one
// path, not five hundred: wordlists are words.
func pathShape(p string) uint64 {
	var h maphash.Hash
	h.SetSeed(webSeed)
	for seg := range strings.SplitSeq(p, "/") {
		if idLike(seg) {
			h.WriteString("\x00#")
		} else {
			h.WriteString(seg)
		}
		h.WriteByte('/')
	}
	return h.Sum64()
}

func idLike(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			digits++
		case 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			hex++
		case c == '-':
		default:
			return false
		}
	}
	return digits == len(s) || digits > 0 && len(s) >= 8
}

// unescape undoes percent-encoding (and '+' for a query) without failing:
// a malformed escape stays as it is, as a lenient server treats it.
func unescape(s string, query bool) string {
	if strings.IndexByte(s, '%') < 0 && (!query || strings.IndexByte(s, '+') < 0) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		case c == '+' && query:
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// probeResolved looks a decoded, lowercased path up on the probe list as
// the server resolves it: "//", "/./", "/a/../" and path parameters
// (";x", Tomcat's "..;/") undone, a trailing '/' dropped, and a file
// followed by PATH_INFO ("/phpinfo.php/x" runs phpinfo.php) taken as the
// file.
func (l *WebLists) probeResolved(p string) string {
	if c := l.probePath(p); c != "" {
		return c
	}
	p = resolvePath(p)
	if c := l.probePath(p); c != "" {
		return c
	}
	if n := len(p); n > 1 && p[n-1] == '/' {
		if c := l.probePath(p[:n-1]); c != "" {
			return c
		}
	}
	for i := strings.IndexByte(p[min(1, len(p)):], '/') + 1; i > 0 && i < len(p); {
		if seg := p[strings.LastIndexByte(p[:i], '/')+1 : i]; strings.IndexByte(seg, '.') > 0 {
			if c, ok := l.exact[p[:i]]; ok {
				return c
			}
		}
		j := strings.IndexByte(p[i+1:], '/')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return ""
}

// resolvePath removes dot segments (RFC 3986 s5.2.4), empty segments and
// path parameters; a path that needs none of it is returned as it is.
func resolvePath(p string) string {
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") && strings.IndexByte(p, ';') < 0 {
		return p
	}
	var out []string
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		seg, _, _ = strings.Cut(seg, ";")
		switch {
		case seg == "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case seg == "." || seg == "" && i < len(segs)-1:
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/")
}
