//go:build ignore

// scanwatch XDP program: counts inbound SYNs per (source, destination,
// destination port) in the kernel and tells user space only what is new.
// It never drops: every path returns XDP_PASS (fail-open).

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "parse.h"

char __license[] SEC("license") = "Dual MIT/GPL";

// Tunables, set from Go through spec.Variables before load. The verifier
// sees constants, so a disabled branch costs nothing.
struct config {
	// A flow already known reports its cumulative count every report_every
	// SYNs (a power of two): a flood costs one record per report_every SYNs.
	__u32 report_every;
	// Wake the reader only once this many bytes wait in the ring; user
	// space also polls on a short timer. A wakeup per record costs more
	// than everything else on the new-flow path together.
	__u32 wakeup_bytes;
	// Count UDP datagrams as probes (nmap -sU). Costs UDP the same flow
	// lookup as a SYN; 0 keeps UDP on the counters-only fast path.
	__u32 udp_probes;
	// Benchmark only: perturb the flow key per packet so repeated test runs
	// of one packet take the new-flow path (LRU insert + ring record).
	__u32 bench_fresh_keys;
	// Accept a checksum field holding only the pseudo-header sum, which
	// checksum offload leaves in packets that never crossed a wire (veth,
	// tap, virtio from the same host). On a physical NIC it is a forgery.
	__u32 accept_offload;
};

volatile const struct config cfg = {
	.report_every = 128,
	.wakeup_bytes = 65536,
	.udp_probes = 1,
	.bench_fresh_keys = 0,
	.accept_offload = 1,
};

// Counter indexes; keep in step with sensor/counters.go.
enum counter {
	CNT_PACKETS = 0,   // every frame seen
	CNT_SYN,           // TCP SYN without ACK
	CNT_OTHER_TCP,     // any other TCP
	CNT_UDP,           // UDP
	CNT_NON_TCP,       // non-IP, or IP carrying neither TCP nor UDP, or later fragments
	CNT_PARSE_ERROR,   // headers cut short or inconsistent
	CNT_FLOWS_NEW,     // probe flows first seen (LRU inserts)
	CNT_RINGBUF_EVENTS,// records submitted
	CNT_RINGBUF_DROPS, // records lost because the ring was full
	CNT_PROBES,        // FIN, NULL, XMAS and UDP probes (SYNs counted apart)
	CNT_CSUM_BAD,      // first probes of a flow with a bad checksum: the host drops them
	CNT_CSUM_OFFLOAD,  // ... with an offloaded (pseudo-header only) checksum
	CNT_CSUM_UNVERIFIED, // ... too long to verify, or of unknown length
	CNT_FRAGMENTS,     // IP fragments of TCP or UDP datagrams
	CNT_FRAG_DATAGRAMS,// datagrams whose fragments all arrived
	CNT_FRAG_OVERLAP,  // fragment queues dropped, as Linux drops them, for overlaps or inconsistent lengths
	CNT_FRAG_DROPPED,  // fragments the host discards on sight (IPv6 first fragment without its header chain, bad lengths, no room)
	CNT_TINY_FRAGMENT, // datagrams whose first fragment was too short to hold the TCP flags
	CNT_HEADER_CHAIN,  // IPv6 packets with more extension headers than we walk
	CNT_VLAN_DEPTH,    // frames with more VLAN tags than we walk
	CNT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

// Per XDP action, as xdp-tools' xdp_stats does (XDP_ABORTED..XDP_REDIRECT).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, __u64);
} xdp_actions SEC(".maps");

// Probe kinds, numbered as detector.Probe in Go.
enum probe {
	PROBE_SYN = 1,
	PROBE_FIN = 2,
	PROBE_NULL = 3,
	PROBE_XMAS = 4,
	PROBE_UDP = 7,
	PROBE_CHAIN = 8, // IPv6 header chain past MAX_IPV6_EXT: no transport header read
};

// Evasion marks, numbered as detector.Evasion.
enum evasion {
	EVASION_FRAGMENTED = 1,
	EVASION_TINY_FRAGMENT = 2,
	EVASION_HEADER_CHAIN = 4,
};

// IPv4 addresses are stored v4-mapped (::ffff:a.b.c.d) so one key serves both.
struct flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 dport;
	__u8 probe;
	__u8 pad;
};

struct flow_value {
	__u64 count;    // SYNs, updated atomically
	__u64 first_ns; // bpf_ktime_get_ns of the first SYN
	__u64 last_ns;
	__u16 sport;    // of the first SYN: what tells tools apart
	__u16 window;
	__u16 ip_id;
	__u8 ttl;
	__u8 flags;
	__u8 mss_only;
	__u8 opt_len;
	__u8 evasion;   // enum evasion marks of any of its probes
	__u8 pad[5];
};

// Sized with headroom: an LRU hash evicts early under pressure. 1<<18 flows
// cost about 24 MiB of kernel memory.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 18);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} flows SEC(".maps");

// One record per new flow, and one per report_every SYNs of a known flow.
struct event {
	__u8 saddr[16];
	__u8 daddr[16];
	__u64 ts_ns;   // bpf_ktime_get_ns
	__u64 count;   // cumulative SYNs of this flow, this one included
	__u16 sport;
	__u16 dport;
	__u16 window;
	__u16 ip_id;
	__u8 ttl;
	__u8 flags;
	__u8 mss_only;
	__u8 is_new;   // first SYN of the flow (or first since LRU eviction)
	__u8 opt_len;  // bytes of TCP options
	__u8 probe;    // enum probe
	__u8 evasion;  // enum evasion marks of the flow so far
	__u8 pad[1];
};

// Forces struct event into BTF for bpf2go's -type.
const struct event *unused_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1; // per-CPU: no atomics needed
}

static __always_inline int pass(void)
{
	__u32 act = XDP_PASS;
	__u64 *v = bpf_map_lookup_elem(&xdp_actions, &act);
	if (v)
		*v += 1;
	return XDP_PASS;
}

static __always_inline void report(const struct flow_key *key, const struct pkt *p, __u64 now, __u64 cnt, __u8 is_new, __u8 evasion)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		// A full ring must not blind the detector silently: count it. The
		// flow is in the map, so user space's sweep still finds it.
		count(CNT_RINGBUF_DROPS);
		return;
	}
	__builtin_memcpy(e->saddr, key->saddr, 16);
	__builtin_memcpy(e->daddr, key->daddr, 16);
	e->ts_ns = now;
	e->count = cnt;
	e->sport = p->sport;
	e->dport = key->dport;
	e->window = p->window;
	e->ip_id = p->ip_id;
	e->ttl = p->ttl;
	e->flags = p->flags;
	e->mss_only = p->mss_only;
	e->is_new = is_new;
	e->opt_len = p->opt_len;
	e->probe = key->probe;
	e->evasion = evasion;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	__u64 flags = BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg.wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	count(CNT_RINGBUF_EVENTS);
}

// ---- Checksums -----------------------------------------------------------
// The host drops a segment whose checksum is wrong, so such a "probe" is no
// evidence: an attacker could otherwise make scanwatch accuse any address
// it spoofs. Only a flow's first probe pays for the check (repeats are
// folded into the flow), and fragments, which are rare.

#define MAX_CSUM_LEN 2048 // longer segments are accepted unverified, and counted
// Packet offsets handed around as numbers are capped well below the
// verifier's MAX_PACKET_OFF (0xffff), which an offset plus a read must not
// pass; an XDP frame without fragments is at most a page anyway.
#define MAX_OFF 0x3fff

// sum16 is the ones' complement sum of len bytes at packet offset off,
// folded to 16 bits, or -1 when they are not all in the packet or len is
// over MAX_CSUM_LEN. Words are read in host order: the ones' complement
// sum is the same in either byte order once folded (RFC 1071), so the
// pseudo-header is added in host order too. A global function: the
// verifier checks its loop once, not once per call site and path.
__noinline int sum16(struct xdp_md *ctx, __u32 off, __u32 len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (off > MAX_OFF || len > MAX_CSUM_LEN)
		return -1;
	__u8 *b = data + off;
	__u32 sum = 0;
	for (int i = 0; i < MAX_CSUM_LEN / 2; i++) {
		if (len < 2)
			break;
		// Keep clang from hoisting "end - 2" out of the loop: the
		// verifier forbids arithmetic on the packet end pointer.
		asm volatile("" : "+r"(end));
		if ((void *)(b + 2) > end)
			return -1;
		sum += *(__u16 *)b;
		b += 2;
		len -= 2;
	}
	if (len == 1) {
		if ((void *)(b + 1) > end)
			return -1;
		sum += *b; // the odd byte, padded with a zero after it
	}
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static __always_inline __u32 fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	return (sum & 0xffff) + (sum >> 16);
}

// pseudo_sum is the TCP/UDP pseudo-header's sum for len bytes of proto.
static __always_inline __u32 pseudo_sum(const struct pkt *p, __u32 len)
{
	const __u16 *s = (const __u16 *)p->saddr, *d = (const __u16 *)p->daddr;
	__u32 sum = 0;
	int from = p->v6 ? 0 : 6; // IPv4 addresses are the last 4 bytes, v4-mapped
#pragma unroll
	for (int i = 0; i < 8; i++) {
		if (i >= from)
			sum += s[i] + d[i];
	}
	sum += bpf_htons(p->proto) + bpf_htons(len & 0xffff) + bpf_htons(len >> 16);
	return fold(sum);
}

enum csum_verdict { CSUM_OK, CSUM_BAD, CSUM_OFFLOAD, CSUM_UNVERIFIED };

// csum_judge weighs a segment's data sum (the checksum field included) and
// its checksum field against the pseudo-header.
static __always_inline int csum_judge(const struct pkt *p, __u32 len, __u32 data_sum, __u16 field)
{
	if (p->proto == IPPROTO_UDP && field == 0)
		// UDP over IPv4 may send no checksum; over IPv6 it must.
		return p->v6 ? CSUM_BAD : CSUM_OK;
	__u32 ph = pseudo_sum(p, len);
	if (fold(ph + data_sum) == 0xffff)
		return CSUM_OK;
	// CHECKSUM_PARTIAL leaves ~csum_fold(pseudo) = the folded pseudo sum.
	if (field == ph)
		return cfg.accept_offload ? CSUM_OFFLOAD : CSUM_BAD;
	return CSUM_BAD;
}

// verify checks a whole (unfragmented) packet's IPv4 header and transport
// checksums. 1 when the host would accept it.
static __always_inline int verify(struct xdp_md *ctx, const struct pkt *p)
{
	if (!p->v6) {
		int h = sum16(ctx, p->ip_off, p->ihl);
		if (h != 0xffff) {
			count(CNT_CSUM_BAD);
			return 0;
		}
	}
	if (!p->len_known) {
		count(CNT_CSUM_UNVERIFIED);
		return 1;
	}
	int s = sum16(ctx, p->l4_off, p->l4_len);
	if (s < 0) {
		count(CNT_CSUM_UNVERIFIED);
		return 1;
	}
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 at = p->l4_off + (p->proto == IPPROTO_TCP ? 16 : 6);
	if (at > MAX_OFF)
		return 0;
	__u16 *f = data + at;
	if ((void *)(f + 1) > end)
		return 0;
	// volatile: keep the load next to its bounds check, where the
	// verifier can see it (clang otherwise sinks it past the sums).
	__u16 field = *(volatile __u16 *)f;
	switch (csum_judge(p, p->l4_len, s, field)) {
	case CSUM_OK:
		return 1;
	case CSUM_OFFLOAD:
		count(CNT_CSUM_OFFLOAD);
		return 1;
	}
	count(CNT_CSUM_BAD);
	return 0;
}

// ---- Probes and flows -----------------------------------------------------

static __always_inline void flow_key_of(const struct pkt *p, __u8 probe, struct flow_key *key)
{
	__builtin_memset(key, 0, sizeof(*key));
	__builtin_memcpy(key->saddr, p->saddr, 16);
	__builtin_memcpy(key->daddr, p->daddr, 16);
	key->dport = p->dport;
	key->probe = probe;
	if (cfg.bench_fresh_keys) {
		// The v4-mapped prefix's first word: 2^32 distinct keys.
		static __u32 seq;
		__u32 n = __sync_fetch_and_add(&seq, 1);
		__builtin_memcpy(key->saddr, &n, 4);
	}
}

// on_known counts a probe of a flow already in the map; 0 when the flow is
// new. The fast path for repeats: no checksum (the flow's first probe was
// verified), no clock but the coarse one.
static __always_inline int on_known(const struct pkt *p, const struct flow_key *key, __u8 evasion)
{
	struct flow_value *v = bpf_map_lookup_elem(&flows, key);
	if (!v)
		return 0;
	// A repeat only needs last_ns to the window's one-second
	// granularity: the coarse clock is a third of this path's cost
	// cheaper than bpf_ktime_get_ns on a virtual machine.
	__u64 c = __sync_fetch_and_add(&v->count, 1) + 1;
	__u64 now = bpf_ktime_get_coarse_ns();
	v->last_ns = now;
	if (evasion)
		v->evasion |= evasion; // benign race: marks only accumulate
	if ((c & (cfg.report_every - 1)) == 0)
		report(key, p, now, c, 0, v->evasion);
	return 1;
}

// A new flow's key and value are built off the stack, in a per-CPU slot:
// the main program, handle and the fragment tracker together must fit the
// verifier's 512 bytes. XDP never runs twice at once on one CPU.
struct probe_scratch {
	struct flow_key key;
	struct flow_value nv;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_scratch);
} probe_scratch SEC(".maps");

// on_probe counts one probe of a flow. A flow's first probe is verified
// first (check: 1), unless it is a reassembled datagram verified whole.
// A global function, verified once: inlined at each of its callers it
// took most of handle's stack.
__noinline int probe_flow(struct xdp_md *ctx, struct pkt *p, __u32 args)
{
	if (!p)
		return 0;
	__u8 probe = args & 0xff, evasion = (args >> 8) & 0xff;
	int check = (args >> 16) & 1;
	__u32 zero = 0;
	struct probe_scratch *sc = bpf_map_lookup_elem(&probe_scratch, &zero);
	if (!sc)
		return 0;
	flow_key_of(p, probe, &sc->key);
	// check is set only for whole packets from the main program, which has
	// just looked the flow up and missed: do not look twice. (A flow
	// another CPU inserts meanwhile is caught by BPF_NOEXIST below.)
	if (!check && on_known(p, &sc->key, evasion))
		return 0;
	if (check && !verify(ctx, p))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct flow_value *nv = &sc->nv;
	__builtin_memset(nv, 0, sizeof(*nv));
	nv->count = 1;
	nv->first_ns = now;
	nv->last_ns = now;
	nv->sport = p->sport;
	nv->window = p->window;
	nv->ip_id = p->ip_id;
	nv->ttl = p->ttl;
	nv->flags = p->flags;
	nv->mss_only = p->mss_only;
	nv->opt_len = p->opt_len;
	nv->evasion = evasion;
	// BPF_NOEXIST: if another CPU inserted the flow meanwhile, count on it.
	if (bpf_map_update_elem(&flows, &sc->key, nv, BPF_NOEXIST) != 0) {
		struct flow_value *v = bpf_map_lookup_elem(&flows, &sc->key);
		if (v)
			__sync_fetch_and_add(&v->count, 1);
		return 0;
	}
	count(CNT_FLOWS_NEW);
	report(&sc->key, p, now, 1, 1, evasion);
	return 0;
}

static __always_inline void on_probe(struct xdp_md *ctx, struct pkt *p, __u8 probe, __u8 evasion, int check)
{
	probe_flow(ctx, p, probe | (__u32)evasion << 8 | (__u32)(check != 0) << 16);
}

// stealth_probe names TCP packets that are probes by their flags alone: no
// real stack sends a lone FIN, no flags at all, or FIN+PSH+URG without ACK.
// Anything with ACK, SYN or RST returns 0 at the first test, so ordinary
// traffic pays one comparison.
static __always_inline __u8 stealth_probe(__u8 flags)
{
	if (flags & (TH_SYN | TH_RST | TH_ACK))
		return 0;
	flags &= TH_FIN | TH_PSH | TH_URG;
	if (flags == 0)
		return PROBE_NULL;
	if (flags == TH_FIN)
		return PROBE_FIN;
	if (flags == (TH_FIN | TH_PSH | TH_URG))
		return PROBE_XMAS;
	return 0;
}

// probe_of is the probe a parsed TCP or UDP packet is, or 0.
static __always_inline __u8 probe_of(const struct pkt *p)
{
	if (p->proto == IPPROTO_TCP) {
		// SYN+RST is no probe: Linux discards it, port open or closed.
		if ((p->flags & (TH_SYN | TH_ACK | TH_RST)) == TH_SYN)
			return PROBE_SYN;
		return stealth_probe(p->flags);
	}
	// A datagram from a service port to an ephemeral one answers
	// something this host sent (DNS, NTP): XDP sees only inbound, so this
	// is the one cheap test it has for replies.
	if (cfg.udp_probes && !(p->sport < 1024 && p->dport >= 1024))
		return PROBE_UDP;
	return 0;
}

// count_class counts a TCP or UDP packet by class.
static __always_inline void count_class(const struct pkt *p, __u8 probe)
{
	if (p->proto == IPPROTO_TCP)
		count(probe == PROBE_SYN ? CNT_SYN : CNT_OTHER_TCP);
	else
		count(CNT_UDP);
	if (probe && probe != PROBE_SYN)
		count(CNT_PROBES);
}

// judge counts a parsed TCP or UDP packet (whole, or reassembled) and
// hands probes on.
static __always_inline void judge(struct xdp_md *ctx, struct pkt *p, __u8 evasion, int check)
{
	__u8 probe = probe_of(p);
	count_class(p, probe);
	if (probe)
		on_probe(ctx, p, probe, evasion, check);
}

// ---- Fragments ------------------------------------------------------------
// XDP cannot reassemble, but it can follow a datagram's fragments the way
// Linux's inet_frag_queue_insert does (duplicates ignored, any partial
// overlap kills the queue, inconsistent lengths kill it, 30 s to complete)
// and keep the transport header's first 24 bytes and the data's checksum
// sum. When the datagram is whole it is judged like any packet, marked
// fragmented: a probe counts exactly when the host's reassembly yields it.

#define FRAG_WORDS 4          // coverage bitmap: 4 x 64 units of 8 bytes = 2048 bytes
#define FRAG_HDR 24           // transport header bytes kept
#define FRAG_TIMEOUT_NS 30000000000ULL // net.ipv4.ipfrag_time
#define FRAG_FIRST_IN 1
#define FRAG_LAST_IN 2
#define FRAG_NO_CSUM 4        // a fragment too long to sum: accept unverified
#define FRAG_CHAIN 8          // the first fragment's header chain goes past MAX_IPV6_EXT

struct frag_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 id;
	__u8 proto;
	__u8 v6;
	__u8 pad[2];
};

struct frag_value {
	__u64 first_ns;
	__u64 units[FRAG_WORDS];
	// Where Linux's runs start: a fragment appended right after the
	// highest one held extends its run, any other starts one, and a
	// duplicate must lie inside a single run (inet_frag_queue_insert).
	__u64 runs[FRAG_WORDS];
	__u32 meat;   // data bytes held, duplicates not counted
	__u32 maxend; // the datagram's length so far (exact once the last is in)
	__u32 sum;    // ones' complement sum of the transport data held
	__u32 have;   // bit i: header byte i is in hdr
	__u16 l4off;  // data bytes before the transport header (IPv6)
	__u16 ip_id;
	__u8 flags;
	__u8 first_len; // transport bytes in the first fragment, up to 255
	__u8 ttl;
	__u8 proto;   // transport protocol, from the first fragment (IPv6)
	__u8 hdr[FRAG_HDR];
};

// Linux holds at most 4 MiB of fragments (ipfrag_high_thresh); 8192
// queues of headers cost under 1 MiB, and the oldest go first.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct frag_key);
	__type(value, struct frag_value);
} frags SEC(".maps");

enum frag_result { FRAG_HELD = 0, FRAG_DONE, FRAG_KILLED, FRAG_DROPPED };

// frag_io carries a fragment in and, when its datagram completes, the
// datagram's transport header and checksum sum out.
struct frag_io {
	struct frag_key key;
	struct frag f;
	__u16 ip_id;
	__u8 ttl;
	__u8 first_len;
	__u32 sum;
	__u32 have;
	__u32 l4_len;
	__u8 no_csum;
	__u8 proto;
	__u8 chain;
	__u8 pad;
	__u8 hdr[FRAG_HDR];
	struct frag_value nv; // a new queue's first value, off the stack
};

// One frag_io per CPU, off the stack: the main program, handle and
// frag_track together must fit the verifier's 512-byte stack.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct frag_io);
} frag_scratch SEC(".maps");

// frag_mask is word w's bits for units [lo, hi).
static __always_inline __u64 frag_mask(__u32 w, __u32 lo, __u32 hi)
{
	__u32 a = w * 64, b = a + 64;
	if (lo > a)
		a = lo;
	if (hi < b)
		b = hi;
	if (a >= b)
		return 0;
	__u32 n = b - a;
	__u64 m = n >= 64 ? ~0ULL : ((1ULL << n) - 1);
	return m << (a - w * 64);
}

// frag_track files one fragment. A global function, verified once.
__noinline int frag_track(struct xdp_md *ctx, struct frag_io *io)
{
	if (!io)
		return FRAG_DROPPED;
	void *data = (void *)(long)ctx->data;
	void *dend = (void *)(long)ctx->data_end;
	__u32 off = io->f.off, len = io->f.len, end = off + len;
	if (io->f.more) {
		if (io->key.v6 && (len & 7))
			return FRAG_DROPPED; // RFC 8200: Linux sends a parameter problem
		end &= ~7U;             // IPv4: Linux trims to a multiple of 8
		len = end > off ? end - off : 0;
	}
	if (end > 65535)
		return FRAG_DROPPED;
	// Past the bitmap, duplicates and holes could not be told apart: a
	// datagram that long is no probe scanwatch follows (a limit the
	// README states); its queue is dropped, never completed.
	int beyond = (end + 7) / 8 > FRAG_WORDS * 64;
	__u64 now = bpf_ktime_get_ns();
	struct frag_value *v = bpf_map_lookup_elem(&frags, &io->key);
	if (v && now - v->first_ns > FRAG_TIMEOUT_NS) {
		bpf_map_delete_elem(&frags, &io->key); // Linux would have expired it
		v = 0;
	}
	if (end == off) {
		// Linux kills the queue on a zero-length fragment.
		if (v) {
			bpf_map_delete_elem(&frags, &io->key);
			return FRAG_KILLED;
		}
		return FRAG_DROPPED;
	}
	if (beyond) {
		if (v)
			bpf_map_delete_elem(&frags, &io->key);
		return FRAG_DROPPED;
	}
	if (!v) {
		__builtin_memset(&io->nv, 0, sizeof(io->nv));
		io->nv.first_ns = now;
		if (bpf_map_update_elem(&frags, &io->key, &io->nv, BPF_NOEXIST) && bpf_map_update_elem(&frags, &io->key, &io->nv, BPF_ANY))
			return FRAG_DROPPED;
		v = bpf_map_lookup_elem(&frags, &io->key);
		if (!v)
			return FRAG_DROPPED;
	}
	__u32 tail_end = v->maxend; // the highest fragment held ends here
	if (!io->f.more) {
		if (end < v->maxend || ((v->flags & FRAG_LAST_IN) && end != v->maxend))
			goto kill;
		v->flags |= FRAG_LAST_IN;
		v->maxend = end;
	} else if (end > v->maxend) {
		if (v->flags & FRAG_LAST_IN)
			goto kill;
		v->maxend = end;
	}
	// Overlap test on 8-byte units: all held within one run is a
	// duplicate, anything else held an overlap (datagrams past the bitmap
	// were dropped above).
	__u32 lo = off / 8, hi = (end + 7) / 8;
	int any = 0, all = 1, split = 0;
#pragma unroll
	for (int w = 0; w < FRAG_WORDS; w++) {
		__u64 m = frag_mask(w, lo, hi);
		__u64 held = v->units[w] & m;
		if (held)
			any = 1;
		if (held != m)
			all = 0;
		// A run starting after the fragment's first unit: it spans runs.
		if (v->runs[w] & frag_mask(w, lo + 1, hi))
			split = 1;
	}
	if (any && all && !split)
		return FRAG_HELD; // a duplicate: dropped, the queue kept
	if (any)
		goto kill;
	__u64 start = (v->meat && off == tail_end) ? 0 : 1; // appended to the highest run, or a run of its own
#pragma unroll
	for (int w = 0; w < FRAG_WORDS; w++) {
		v->units[w] |= frag_mask(w, lo, hi);
		if (start)
			v->runs[w] |= frag_mask(w, lo, lo + 1);
	}

	// The transport data's sum (the first fragment's IPv6 headers after
	// the fragment header are not transport data) and its header bytes.
	__u32 skip = off == 0 ? io->f.l4off : 0;
	if (skip > len)
		goto kill;
	int s = sum16(ctx, io->f.data + skip, len - skip);
	if (s < 0)
		v->flags |= FRAG_NO_CSUM;
	else
		v->sum = fold(v->sum + s);
	v->meat += len;
	if (off == 0) {
		v->flags |= FRAG_FIRST_IN | (io->f.chain ? FRAG_CHAIN : 0);
		v->proto = io->f.proto;
		v->l4off = io->f.l4off;
		v->first_len = len - skip > 255 ? 255 : len - skip;
		v->ttl = io->ttl;
		v->ip_id = io->ip_id;
	}
	// Header byte i sits at datagram offset l4off + i. IPv6's first
	// fragment holds the whole header (checked by the parser); IPv4's
	// may hold any part of it.
	if ((off == 0 && !io->f.chain) || !io->key.v6) {
		__u32 base = off == 0 ? io->f.l4off : 0;
		for (int i = 0; i < FRAG_HDR; i++) {
			__u32 pos = base + i;
			if (pos < off || pos >= off + len)
				continue;
			__u32 at = io->f.data + pos - off;
			if (at > MAX_OFF)
				break;
			__u8 *b = data + at;
			if ((void *)(b + 1) > dend)
				break;
			v->hdr[i] = *b;
			v->have |= 1U << i;
		}
	}
	if ((v->flags & (FRAG_FIRST_IN | FRAG_LAST_IN)) != (FRAG_FIRST_IN | FRAG_LAST_IN) || v->meat != v->maxend)
		return FRAG_HELD;
	// Whole: hand the datagram's transport header out, forget the queue.
	__builtin_memcpy(io->hdr, v->hdr, FRAG_HDR);
	io->have = v->have;
	io->sum = v->sum;
	io->l4_len = v->maxend - v->l4off;
	io->first_len = v->first_len;
	io->no_csum = (v->flags & FRAG_NO_CSUM) != 0;
	io->ttl = v->ttl;
	io->ip_id = v->ip_id;
	io->proto = v->proto;
	io->chain = (v->flags & FRAG_CHAIN) != 0;
	bpf_map_delete_elem(&frags, &io->key);
	return FRAG_DONE;
kill:
	bpf_map_delete_elem(&frags, &io->key);
	return FRAG_KILLED;
}

// on_fragment follows one fragment and judges its datagram once whole.
static __always_inline void on_fragment(struct xdp_md *ctx, struct pkt *p)
{
	__u32 zero = 0;
	struct frag_io *io = bpf_map_lookup_elem(&frag_scratch, &zero);
	if (!io)
		return;
	__builtin_memset(io, 0, sizeof(*io));
	__builtin_memcpy(io->key.saddr, p->saddr, 16);
	__builtin_memcpy(io->key.daddr, p->daddr, 16);
	io->key.id = p->frag.id;
	io->key.proto = p->v6 ? 0 : p->frag.proto; // as Linux keys queues
	io->key.v6 = p->v6;
	io->f = p->frag;
	io->ttl = p->ttl;
	io->ip_id = p->ip_id;
	count(CNT_FRAGMENTS);
	switch (frag_track(ctx, io)) {
	case FRAG_DONE:
		break;
	case FRAG_KILLED:
		count(CNT_FRAG_OVERLAP);
		return;
	case FRAG_DROPPED:
		count(CNT_FRAG_DROPPED);
		return;
	default:
		return;
	}
	count(CNT_FRAG_DATAGRAMS);
	__u8 evasion = EVASION_FRAGMENTED;
	p->proto = io->proto;
	p->ttl = io->ttl;
	p->ip_id = io->ip_id;
	if (io->chain) {
		// Whole, with a header chain past what we walk: evasion evidence
		// with no port, as for an unfragmented packet.
		count(CNT_HEADER_CHAIN);
		p->sport = p->dport = p->window = 0;
		p->flags = p->mss_only = p->opt_len = 0;
		on_probe(ctx, p, PROBE_CHAIN, EVASION_FRAGMENTED | EVASION_HEADER_CHAIN, 0);
		return;
	}
	__u16 field;
	if (p->proto == IPPROTO_TCP) {
		__u32 hlen = (io->hdr[12] >> 4) * 4;
		// The whole datagram must hold a whole TCP header, as for the host.
		if ((io->have & 0xfffff) != 0xfffff || hlen < 20 || hlen > io->l4_len) {
			count(CNT_PARSE_ERROR);
			return;
		}
		if (hlen >= 24 && (io->have & 0xffffff) != 0xffffff)
			hlen = 20; // options past what we keep: their shape is unknown
		tcp_fields(io->hdr, hlen, p);
		field = (__u16)io->hdr[16] | ((__u16)io->hdr[17] << 8);
		if (io->first_len < 14) {
			evasion |= EVASION_TINY_FRAGMENT;
			count(CNT_TINY_FRAGMENT);
		}
	} else {
		if ((io->have & 0xff) != 0xff || io->l4_len < 8) {
			count(CNT_PARSE_ERROR);
			return;
		}
		p->sport = ((__u16)io->hdr[0] << 8) | io->hdr[1];
		p->dport = ((__u16)io->hdr[2] << 8) | io->hdr[3];
		p->flags = 0;
		p->opt_len = 0;
		p->mss_only = 0;
		field = (__u16)io->hdr[6] | ((__u16)io->hdr[7] << 8);
	}
	if (io->no_csum) {
		count(CNT_CSUM_UNVERIFIED);
	} else {
		// Offload never reaches a fragmented datagram (the sender
		// completes the checksum before fragmenting): only a valid sum
		// counts.
		switch (csum_judge(p, io->l4_len, io->sum, field)) {
		case CSUM_OK:
			break;
		default:
			count(CNT_CSUM_BAD);
			return;
		}
	}
	judge(ctx, p, evasion, 0);
}

// handle judges a parsed packet. A global function: the verifier checks it
// once, however many paths through the parser (VLAN depths, extension
// header chains) lead to it, instead of once per path.
__noinline int handle(struct xdp_md *ctx, struct pkt *p, int res)
{
	if (!p)
		return 0;
	switch (res) {
	case PARSE_TCP:
	case PARSE_UDP:
		judge(ctx, p, 0, 1);
		break;
	case PARSE_FRAGMENT:
		on_fragment(ctx, p);
		break;
	case PARSE_CHAIN:
		// Past the extension headers we walk, the host still finds the
		// transport header: one flow per (source, destination), no port.
		count(CNT_HEADER_CHAIN);
		p->sport = p->dport = p->window = 0;
		p->flags = p->mss_only = p->opt_len = 0;
		on_probe(ctx, p, PROBE_CHAIN, EVASION_HEADER_CHAIN, 0);
		break;
	case PARSE_VLAN_DEPTH:
		count(CNT_VLAN_DEPTH);
		break;
	case PARSE_FRAG_DROP:
		count(CNT_FRAGMENTS);
		count(CNT_FRAG_DROPPED);
		break;
	case PARSE_OTHER:
		count(CNT_NON_TCP);
		break;
	default:
		count(CNT_PARSE_ERROR);
	}
	return 0;
}

SEC("xdp")
int scanwatch_xdp(struct xdp_md *ctx)
{
	// Not zeroed: every path reads only what the parser wrote for it (the
	// verifier allows uninitialised stack to loaders with CAP_PERFMON,
	// which scanwatch needs anyway), and zeroing it cost the fast paths.
	struct pkt p;
	count(CNT_PACKETS);
	int res = parse(ctx, &p);
	// The fast paths stay inline: TCP and UDP that are no probe are only
	// counted, and repeats of a known flow only add to it; the rest goes
	// through handle.
	switch (res) {
	case PARSE_TCP:
	case PARSE_UDP: {
		__u8 probe = probe_of(&p);
		if (!probe) {
			count_class(&p, 0);
			return pass();
		}
		struct flow_key key;
		flow_key_of(&p, probe, &key);
		if (on_known(&p, &key, 0)) {
			count_class(&p, probe);
			return pass();
		}
		break;
	}
	case PARSE_OTHER:
		count(CNT_NON_TCP);
		return pass();
	}
	handle(ctx, &p, res);
	return pass();
}

// The benchmark floor: what any XDP program costs on this kernel.
SEC("xdp")
int xdp_pass_floor(struct xdp_md *ctx)
{
	return XDP_PASS;
}
