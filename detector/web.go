package detector

import (
	"hash/maphash"
	"net/netip"
	"strings"
	"time"
)

// Web scanning (T1595.002, T1595.003), judged from HTTP request heads and,
// where the sensor sees them (replay, a span port), response status lines.
// Per client address, over the rule set's short window:
//   - a User-Agent on the scanner list names the tool and its technique;
//   - injection payloads (SQL, XSS, traversal, command, ShellShock,
//     Log4Shell...) in distinct requests: vulnerability scanning;
//   - distinct paths on the probe list (VCS folders, dot-files, backups,
//     admin consoles, CMS and CVE endpoints): vulnerability scanning;
//   - distinct non-static paths answered 4xx, or so many distinct
//     non-static paths that no visitor asks for them: wordlist scanning.
// README.md, "Web scanning", has the thresholds and where each comes from.

// Labels of the web rules.
const (
	LabelVulnScan     = "T1595.002 - VulnerabilityScan"
	LabelWordlistScan = "T1595.003 - WordlistScan"
)

// WebThresholds are the web rules' thresholds; zero takes the default.
type WebThresholds struct {
	UserAgent   int // requests with a scanner's User-Agent (1)
	Injections  int // distinct requests carrying an injection payload (3)
	ProbePaths  int // distinct paths on the probe list (5)
	FailedPaths int // distinct non-static paths answered 4xx (10: CrowdSec http-probing)
	Paths       int // distinct non-static paths, from requests alone (100)
	// The same over the long window (--long-window, 1 h), for slow
	// wordlists: 50 failed paths, 250 paths (four new pages a minute for
	// an hour, which no person reads).
	LongFailedPaths int
	LongPaths       int
}

// DefaultWebThresholds: see README.md, "Web scanning".
var DefaultWebThresholds = WebThresholds{UserAgent: 1, Injections: 3, ProbePaths: 5, FailedPaths: 10, Paths: 100,
	LongFailedPaths: 50, LongPaths: 250}

func (t *WebThresholds) fill() {
	d := DefaultWebThresholds
	orDefault(&t.UserAgent, d.UserAgent)
	orDefault(&t.Injections, d.Injections)
	orDefault(&t.ProbePaths, d.ProbePaths)
	orDefault(&t.FailedPaths, d.FailedPaths)
	orDefault(&t.Paths, d.Paths)
	orDefault(&t.LongFailedPaths, d.LongFailedPaths)
	orDefault(&t.LongPaths, d.LongPaths)
}

// Bounds on web state: per client, and over all clients. A client past
// maxWebKeys distinct keys in a set is a scanner whichever threshold it
// crossed; its counts are then marked estimated.
const (
	maxWebKeys    = 2048
	maxWebConns   = 64
	maxWebClients = 32_768
	maxWebSamples = 10
	maxWebAgents  = 4
	maxWebHosts   = 4
	maxWebStatus  = 16
	// maxWebEntries bounds the keys held over all clients (about 60 bytes
	// each): least recently active clients go first.
	maxWebEntries = 1 << 20
)

type webRules struct {
	th      WebThresholds
	lists   *WebLists
	clients map[netip.Addr]*webClient
	head    *webClient // most recently active
	tail    *webClient
	entries int
	scratch []string

	// Counters for Stats.
	requests, responses, evicted uint64
}

type webClient struct {
	addr        netip.Addr
	prev, next  *webClient
	first, last int64

	requests  slidingCount       // requests (with those the live sensor skipped)
	paths     slidingSet[uint64] // distinct non-static path shapes
	failed    slidingSet[uint64] // ... answered 4xx
	pathsLong slidingSet[uint64] // the same two over the long window
	failLong  slidingSet[uint64]
	probes    slidingSet[uint64]    // distinct paths on the probe list
	injected  slidingSet[uint64]    // distinct targets with injection payloads
	over      bool                  // a set hit maxWebKeys
	strongSec int64                 // second of its latest ShellShock or Log4Shell payload (strongClass); 0 none
	total     uint64                // requests since the client's state began
	agent     agentEntry            // the scanner its User-Agent names, if any
	agentN    uint64                // requests with that User-Agent, window-free
	conns     map[webConn]*webQueue // requests awaiting their status line
	memo      headerMemo
	lastUA    string     // the User-Agent of its last request, and
	lastAgent agentEntry // the scanner it names: looked up once per change
	uaLists   *WebLists  // ... of the User-Agent or of the lists (SIGHUP)

	// What its alert shows.
	status     map[uint16]uint64
	agents     []string
	hosts      []string
	samples    []string
	classes    []string // injection classes seen
	categories []string // probe-list categories seen
	dsts       map[netip.AddrPort]struct{}

	ep *webEpisode
}

// webConn is one TCP connection, from the client's side.
type webConn struct {
	server     netip.Addr
	port, peer uint16 // server port, client port
}

// webQueue holds the requests of a connection awaiting responses, oldest
// first: HTTP/1.1 answers in order, pipelined or not.
type webQueue struct {
	keys [4]webPending
	n    int
	used uint32 // the client's request count when it last carried one
}

type webPending struct {
	shape  uint64
	static bool
}

func newWebRules(th WebThresholds) *webRules {
	th.fill()
	return &webRules{th: th, lists: DefaultWebLists(), clients: map[netip.Addr]*webClient{}}
}

var webKeySeed = maphash.MakeSeed()

// observe accounts one HTTP event; t is its time.
func (d *Default) observeWeb(ev *Event, t int64) {
	w := d.web
	h := ev.HTTP
	client := ev.Src
	if h.Response {
		client = ev.Dst
	}
	if martian(client) || d.cfg.Ignore.Contains(client) {
		return
	}
	if h.Response {
		w.responses++
		if c := w.clients[client]; c != nil {
			d.webResponse(c, ev, t)
		}
		return
	}
	c := w.clients[client]
	if h.Method == "" && c == nil {
		return // skipped requests of a client whose heads were never seen
	}
	if h.Method != "" {
		w.requests++
	}
	if c == nil {
		// Room first, then the newcomer: it must not be its own victim.
		for len(w.clients) > 0 && (w.entries > maxWebEntries || len(w.clients) >= maxWebClients) {
			d.evictWeb()
		}
		c = w.newClient(client, t)
	}
	w.touch(c)
	c.last = max(c.last, t)
	sec := t / 1e9
	if h.Method == "" {
		// A count-only record: requests the live sensor's budget skipped
		// after the client's last copied head, flushed when it went quiet.
		c.requests.add(sec, uint64(h.Skipped))
		c.total += uint64(h.Skipped)
		return
	}
	n := uint64(h.Skipped) + 1
	c.requests.add(sec, n)
	c.total += n
	r := w.lists.inspect(h, w.scratch, &c.memo)
	if h.UserAgent != c.lastUA || c.uaLists != w.lists {
		c.lastUA, c.uaLists = strings.Clone(h.UserAgent), w.lists
		c.lastAgent, _ = w.lists.agent(h.UserAgent)
	}
	if c.lastAgent.tool != "" {
		c.agent = c.lastAgent
		c.agentN += n
	}
	if !r.static {
		w.add(c, &c.paths, sec, r.shape)
		w.add(c, &c.pathsLong, sec, r.shape)
	}
	if r.probe != "" {
		w.add(c, &c.probes, sec, r.shape)
		c.categories = addString(c.categories, r.probe, 8)
	}
	if len(r.injected) > 0 {
		w.add(c, &c.injected, sec, maphash.String(webKeySeed, h.Target))
		for _, cl := range r.injected {
			c.classes = addString(c.classes, cl, 16)
			if strongClass(cl) {
				c.strongSec = sec
			}
		}
	}
	c.agents = addString(c.agents, clip(h.UserAgent, maxWebString), maxWebAgents)
	if h.Host != "" {
		c.hosts = addString(c.hosts, clip(h.Host, maxWebString), maxWebHosts)
	}
	if len(c.dsts) < 64 {
		c.dsts[netip.AddrPortFrom(ev.Dst, ev.DstPort)] = struct{}{}
	}
	if len(c.samples) < maxWebSamples && (r.probe != "" || len(r.injected) > 0 || !r.static) {
		c.samples = addString(c.samples, h.Method+" "+clip(h.Target, maxWebString), maxWebSamples)
	}
	// Queue it for its response (a span port or a capture shows both ways).
	k := webConn{ev.Dst, ev.DstPort, ev.SrcPort}
	q := c.conns[k]
	if q == nil {
		if len(c.conns) >= maxWebConns {
			// The least recently used goes: a choice by map order would
			// make the same capture give different counts run to run.
			var old webConn
			oldest := ^uint32(0)
			for ck, cq := range c.conns {
				if cq.used < oldest || cq.used == oldest && ck.peer < old.peer {
					old, oldest = ck, cq.used
				}
			}
			delete(c.conns, old)
		}
		q = &webQueue{}
		c.conns[k] = q
	}
	q.used = uint32(c.total)
	// Full (pipelined past what the queue holds): the newest waits
	// unqueued, so the oldest keep their answers; dropping the oldest
	// instead would pair four probes' 404s with four decoys after them.
	if q.n < len(q.keys) {
		q.keys[q.n] = webPending{r.shape, r.static}
		q.n++
	}
	d.judgeWeb(c, t)
}

// webResponse pairs a status line with the oldest request waiting on its
// connection.
func (d *Default) webResponse(c *webClient, ev *Event, t int64) {
	code := ev.HTTP.Status
	if _, ok := c.status[code]; ok || len(c.status) < maxWebStatus {
		c.status[code]++
	}
	if code < 200 {
		return // an interim response (100 Continue): the final one follows
	}
	q := c.conns[webConn{ev.Src, ev.SrcPort, ev.DstPort}]
	if q == nil || q.n == 0 {
		return
	}
	p := q.keys[0]
	copy(q.keys[:], q.keys[1:q.n])
	q.n--
	if code >= 400 && code < 500 && !p.static {
		d.web.add(c, &c.failed, t/1e9, p.shape)
		d.web.add(c, &c.failLong, t/1e9, p.shape)
		d.judgeWeb(c, t)
	}
}

// add puts a key in one of c's sets, within the bounds.
func (w *webRules) add(c *webClient, s *slidingSet[uint64], sec int64, k uint64) {
	if _, ok := s.last[k]; !ok {
		if s.len() >= maxWebKeys {
			c.over = true
			return
		}
		w.entries++
	}
	s.add(sec, k)
	// A key seen again in a later second leaves its older bucket behind:
	// a client cycling through maxWebKeys paths would queue that many
	// buckets a second. Past twice the keys, drop the stale ones (exact:
	// expire ignores a bucket that is not its key's last).
	if len(s.q) > 2*s.len()+64 {
		s.compact()
	}
}

// judgeWeb labels c's evidence and reports it.
func (d *Default) judgeWeb(c *webClient, t int64) {
	label, size := d.webLabel(c)
	if label == "" {
		return
	}
	d.reportWeb(c, label, size, t)
}

// webStrong: c sent a ShellShock or Log4Shell payload within the short
// window, evidence enough on its own.
func (d *Default) webStrong(c *webClient) bool {
	return c.strongSec != 0 && c.strongSec > d.now/1e9-d.windowSec()
}

// webSlow: c crossed a wordlist threshold over the long window only.
func (d *Default) webSlow(c *webClient) bool {
	th := &d.web.th
	return c.failLong.len() >= th.LongFailedPaths || c.pathsLong.len() >= th.LongPaths
}

// webLabel is c's label and the size of its evidence (requests), or "".
// A User-Agent that names its tool settles the technique; without one,
// injection payloads say vulnerability scanning, and many paths wordlist
// scanning unless most of them are on the probe list (Nikto's checks are
// known-vulnerable paths, a wordlist's mostly words).
func (d *Default) webLabel(c *webClient) (string, int) {
	th := &d.web.th
	size := int(min(c.requests.total, 1<<31))
	if c.agent.tool != "" && c.agentN >= uint64(th.UserAgent) {
		if c.agent.technique == TechniqueWordlistScan && c.injected.len() < th.Injections && !d.webStrong(c) {
			return LabelWordlistScan, size
		}
		return LabelVulnScan, size
	}
	if c.injected.len() >= th.Injections || d.webStrong(c) {
		return LabelVulnScan, size
	}
	probes, paths := c.probes.len(), c.paths.len()
	if c.failed.len() >= th.FailedPaths || paths >= th.Paths || d.webSlow(c) {
		paths = max(paths, c.pathsLong.len())
		if probes*2 > paths {
			return LabelVulnScan, size
		}
		return LabelWordlistScan, size
	}
	if probes >= th.ProbePaths {
		return LabelVulnScan, size
	}
	return "", 0
}

func (w *webRules) newClient(a netip.Addr, t int64) *webClient {
	c := &webClient{addr: a, first: t, last: t, conns: map[webConn]*webQueue{},
		status: map[uint16]uint64{}, dsts: map[netip.AddrPort]struct{}{}}
	w.clients[a] = c
	c.next = w.head
	if w.head != nil {
		w.head.prev = c
	}
	w.head = c
	if w.tail == nil {
		w.tail = c
	}
	return c
}

func (w *webRules) touch(c *webClient) {
	if w.head == c {
		return
	}
	w.unlink(c)
	c.next = w.head
	w.head.prev = c
	w.head = c
}

func (w *webRules) unlink(c *webClient) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		w.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		w.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

func (w *webRules) remove(c *webClient) {
	w.unlink(c)
	delete(w.clients, c.addr)
	w.entries -= c.keys()
}

func (c *webClient) keys() int {
	return c.paths.len() + c.failed.len() + c.pathsLong.len() + c.failLong.len() + c.probes.len() + c.injected.len()
}

// evictWeb drops a client to make room: of the 16 least recently active,
// the one with the least evidence (no open episode, fewest keys), so a
// flood of one-request clients (spoofed segments, which the live sensor
// cannot tell from real ones) cycles through itself instead of pushing
// out a scanner still below its thresholds. Its episode, if any, closes.
func (d *Default) evictWeb() {
	w := d.web
	victim := w.tail
	best := -1
	for c, n := w.tail, 0; c != nil && n < 16; c, n = c.prev, n+1 {
		score := c.keys()
		if c.ep != nil {
			score += 1 << 30
		}
		if best < 0 || score < best {
			victim, best = c, score
		}
	}
	if victim == nil {
		return
	}
	d.closeWeb(victim, true)
	w.remove(victim)
	// Routine on a busy server (clients without evidence go first), so
	// counted apart from the scan sources' evictions, which page someone.
	w.evicted++
}

// pruneWeb expires what left the window, closes quiet episodes and forgets
// clients idle for a whole window.
func (d *Default) pruneWeb(t int64) {
	w := d.web
	cut := t/1e9 - d.windowSec()
	longCut := t/1e9 - max(int64(d.long/time.Second), 1)
	for c := w.tail; c != nil; {
		prev := c.prev
		d.closeWeb(c, false)
		// A client quiet for a short window is forgotten unless its paths
		// are still in the long window's sets (a slow wordlist).
		idle := c.last <= t-int64(d.window) && c.ep == nil
		if idle && (c.pathsLong.len()+c.failLong.len() == 0 || c.last <= t-int64(d.long)) {
			w.remove(c)
		} else {
			before := c.keys()
			c.requests.expire(cut)
			c.paths.expire(cut)
			c.failed.expire(cut)
			c.pathsLong.expire(longCut)
			c.failLong.expire(longCut)
			c.probes.expire(cut)
			c.injected.expire(cut)
			w.entries -= before - c.keys()
		}
		c = prev
	}
}

// addString adds a copy of v to s, at most max entries: the fields of an
// HTTP head share its 512-byte string, which a kept substring would hold
// alive (up to 18 of them a client, 32,768 clients).
func addString(s []string, v string, max int) []string {
	if len(s) >= max || contains(s, v) {
		return s
	}
	v = strings.Clone(v)
	return append(s, v)
}

// maxWebString bounds a User-Agent, Host or sample path an alert keeps.
const maxWebString = 128

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
