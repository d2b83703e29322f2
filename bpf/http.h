// HTTP heads for the XDP program (issue 10), included by scanwatch.c after
// the ring and the counters: a TCP data segment to one of the configured
// ports that begins with a method word, or from one of them that begins
// "HTTP", has a bounded prefix copied into the ring, within a per-client
// and a per-CPU budget. User space parses it with internal/httpwire, the
// parser replay uses. Whole segments only: a fragmented one, or one on a
// SYN (TCP Fast Open), is not read.
#pragma once

// HTTP_MAX_PORTS and HTTP_PREFIX are in parse.h, with the other limits
// the Go side must share. A response is read for its status line only ("HTTP/1.1 404 ").
#define HTTP_STATUS_PREFIX 16

#define HTTP_DIR_REQUEST 1  // the destination port is an HTTP port
#define HTTP_DIR_RESPONSE 2 // the source port is

// One record per HTTP head copied, in the same ring as struct event and
// told apart by its size: HTTP_PREFIX bytes of data for a request,
// HTTP_STATUS_PREFIX for a response, both other than struct event's (a
// test checks), so the flow records keep their layout and the reader
// needs no type field.
struct http_event {
	__u8 saddr[16]; // the packet's source (the server, for a response)
	__u8 daddr[16];
	__u64 ts_ns;    // bpf_ktime_get_ns
	// Requests from this client not copied (over budget, or lost to a
	// full ring) since its budget entry was made: cumulative, so user
	// space, which also reads the entries when the client goes quiet,
	// takes differences and never counts one twice. 0 on a response.
	__u32 skipped;
	__u16 sport;
	__u16 dport;
	__u16 wire_len; // payload bytes of the segment
	__u16 copied;   // bytes of data that follow (0: the copy failed)
	__u8 flags;     // TCP flags
	__u8 ttl;
	__u8 is_response;
	__u8 pad;
	__u8 data[HTTP_PREFIX];
};

// Forces struct http_event into BTF for bpf2go's -type.
const struct http_event *unused_http_event __attribute__((unused));

#define HTTP_RECORD_HEAD (sizeof(struct http_event) - HTTP_PREFIX)

// The budget per client (the request's source, the response's
// destination), as a GCRA token bucket: tat is the theoretical arrival
// time of the next record; skipped counts the client's requests not
// copied, cumulatively. Entries idle for a burst's length are equivalent
// to new ones, so LRU eviction costs only the skipped requests user space
// has not read yet (kept in CNT_HTTP_SUPPRESSED_* all the same).
struct http_key {
	__u8 addr[16];
};

struct http_client {
	__u64 tat;
	__u32 skipped;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 16);
	__type(key, struct http_key);
	__type(value, struct http_client);
} http_clients SEC(".maps");

// The budget per CPU, whatever the clients: spoofed sources each get a
// burst of their own, and must not fill the ring all the same.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} http_cpu SEC(".maps");

#define HTTP_WORD(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)

// http_method: the first four payload bytes, loaded little-endian, are
// one of internal/httpwire's method words (a test compares the lists).
static __always_inline int http_method(__u32 w)
{
	switch (w) {
	case HTTP_WORD('G', 'E', 'T', ' '):
	case HTTP_WORD('P', 'O', 'S', 'T'):
	case HTTP_WORD('H', 'E', 'A', 'D'):
	case HTTP_WORD('P', 'U', 'T', ' '):
	case HTTP_WORD('D', 'E', 'L', 'E'):
	case HTTP_WORD('O', 'P', 'T', 'I'):
	case HTTP_WORD('P', 'A', 'T', 'C'):
	case HTTP_WORD('T', 'R', 'A', 'C'):
	case HTTP_WORD('C', 'O', 'N', 'N'):
	case HTTP_WORD('P', 'R', 'O', 'P'):
		return 1;
	}
	return 0;
}

static __always_inline int http_port(__u16 port)
{
	// A prefilter (bit port%1024 of some configured port) turns nearly
	// every other port away at one test; then the list itself.
	if (!((cfg.http_port_bits[(port >> 6) & 15] >> (port & 63)) & 1))
		return 0;
	for (int i = 0; i < HTTP_MAX_PORTS; i++) {
		if (i >= cfg.http_nports)
			break;
		if (port == cfg.http_ports[i])
			return 1;
	}
	return 0;
}

// http_dir says which way a TCP data segment may carry an HTTP head;
// 0 (the common case) when neither port is an HTTP port.
static __always_inline __u32 http_dir(const struct pkt *p)
{
	__u32 dir = 0;
	if (http_port(p->dport))
		dir |= HTTP_DIR_REQUEST;
	if (http_port(p->sport))
		dir |= HTTP_DIR_RESPONSE;
	return dir;
}

// gcra admits one record when the bucket at *tat has room, and moves it.
static __always_inline int gcra(__u64 *tat, __u64 now, __u64 interval, __u64 limit)
{
	__u64 t = *tat > now ? *tat : now;
	if (t + interval > now + limit)
		return 0;
	*tat = t + interval;
	return 1;
}

// http_admit applies both budgets to one head of client (key). It returns
// the client's entry when the head may be copied (NULL for a client
// whose entry could not be made: copied all the same), or sets *denied.
static __always_inline struct http_client *http_admit(const struct http_key *key, __u64 now, int resp, int *denied)
{
	struct http_client *c = bpf_map_lookup_elem(&http_clients, key);
	struct http_client nc = {};
	__u64 tat = c ? c->tat : now;
	*denied = 0;
	if (!gcra(&tat, now, cfg.http_interval_ns, cfg.http_limit_ns)) {
		count(CNT_HTTP_SUPPRESSED_SOURCE);
		*denied = 1;
	} else {
		__u32 zero = 0;
		__u64 *g = bpf_map_lookup_elem(&http_cpu, &zero);
		if (g && !gcra(g, now, cfg.http_cpu_interval_ns, cfg.http_cpu_limit_ns)) {
			count(CNT_HTTP_SUPPRESSED_CPU);
			*denied = 1;
		}
	}
	if (c) {
		if (!*denied)
			c->tat = tat;
		else if (!resp)
			__sync_fetch_and_add(&c->skipped, 1);
		return c;
	}
	// A new client. Another CPU may insert it meanwhile: BPF_NOEXIST
	// keeps its entry, at worst one head too many.
	nc.tat = *denied ? now : tat;
	nc.skipped = *denied && !resp;
	bpf_map_update_elem(&http_clients, key, &nc, BPF_NOEXIST);
	return *denied ? NULL : bpf_map_lookup_elem(&http_clients, key);
}

// http_copy copies the first bytes of the payload at off, at most room
// (a constant), into dst; 0 if that fails (a multi-buffer frame cut
// short). The barrier keeps clang from folding the bound into an earlier
// test, where the verifier would no longer see it on the helper's
// length register. 64 bits wide, so that the bound covers the whole
// register: a 32-bit compare left its upper half unknown once clang
// spilled it (seen when the counters became one struct).
static __always_inline __u32 http_copy(struct xdp_md *ctx, __u32 off, __u8 *dst, __u32 plen, const __u32 room)
{
	__u64 n = plen;
	asm volatile("" : "+r"(n));
	if (n > room)
		n = room;
	if (n == 0 || bpf_xdp_load_bytes(ctx, off, dst, n) != 0)
		return 0; // submitted all the same: the reader counts it unparsed
	return n;
}

// http_segment reads a TCP data segment to or from an HTTP port (dir) and
// copies its head into the ring. A global function, verified once, and
// called only for data segments on the ports: everything else pays the
// port test alone.
__noinline int http_segment(struct xdp_md *ctx, struct pkt *p, __u32 dir)
{
	if (!p)
		return 0;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 off = p->l4_off + 20 + p->opt_len; // the payload
	if (off > MAX_PARSE_OFF)
		return 0;
	__u8 *b = data + off;
	if ((void *)(b + 4) > end)
		return 0;
	__u32 w = *(__u32 *)b;
	int resp;
	if ((dir & HTTP_DIR_REQUEST) && http_method(w))
		resp = 0;
	else if ((dir & HTTP_DIR_RESPONSE) && w == HTTP_WORD('H', 'T', 'T', 'P'))
		resp = 1;
	else
		return 0; // a later segment of a body, or not HTTP
	count(resp ? CNT_HTTP_RESPONSES : CNT_HTTP_REQUESTS);

	// By the IP length, which parse checked against the frame; a total
	// length of 0 (offload) leaves only the frame's.
	__u32 plen = p->l4_len - 20 - p->opt_len;
	if (!p->len_known)
		plen = end - (void *)b;
	struct http_key key;
	__builtin_memcpy(key.addr, resp ? p->daddr : p->saddr, 16);
	int denied;
	struct http_client *c = http_admit(&key, bpf_ktime_get_coarse_ns(), resp, &denied);
	if (denied)
		return 0;

	struct http_event *e = resp ? bpf_ringbuf_reserve(&events, HTTP_RECORD_HEAD + HTTP_STATUS_PREFIX, 0)
				    : bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u32 copied;
	if (!e) {
		// The client's next record says what was lost, as for the budget.
		count(CNT_RINGBUF_DROPS);
		if (!resp && c)
			__sync_fetch_and_add(&c->skipped, 1);
		return 0;
	}
	__builtin_memcpy(e->saddr, p->saddr, 16);
	__builtin_memcpy(e->daddr, p->daddr, 16);
	e->ts_ns = bpf_ktime_get_ns();
	e->skipped = !resp && c ? c->skipped : 0;
	e->sport = p->sport;
	e->dport = p->dport;
	e->wire_len = plen;
	e->flags = p->flags;
	e->ttl = p->ttl;
	e->is_response = resp;
	e->pad = 0;
	copied = resp ? http_copy(ctx, off, e->data, plen, HTTP_STATUS_PREFIX) : http_copy(ctx, off, e->data, plen, HTTP_PREFIX);
	e->copied = copied;
	__u64 flags = BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg.wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	count(CNT_RINGBUF_EVENTS);
	count(CNT_HTTP_RECORDS);
	return 0;
}
