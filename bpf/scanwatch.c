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
};

volatile const struct config cfg = {
	.report_every = 128,
	.wakeup_bytes = 65536,
	.udp_probes = 1,
	.bench_fresh_keys = 0,
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
	__u8 pad[6];
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
	__u8 pad[2];
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

static __always_inline void report(const struct flow_key *key, const struct pkt *p, __u64 now, __u64 cnt, __u8 is_new)
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
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	__u64 flags = BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg.wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	count(CNT_RINGBUF_EVENTS);
}

static __always_inline void on_probe(struct pkt *p, __u8 probe)
{
	struct flow_key key = {};
	__builtin_memcpy(key.saddr, p->saddr, 16);
	__builtin_memcpy(key.daddr, p->daddr, 16);
	key.dport = p->dport;
	key.probe = probe;
	if (cfg.bench_fresh_keys) {
		// The v4-mapped prefix's first word: 2^32 distinct keys.
		static __u32 seq;
		__u32 n = __sync_fetch_and_add(&seq, 1);
		__builtin_memcpy(key.saddr, &n, 4);
	}

	struct flow_value *v = bpf_map_lookup_elem(&flows, &key);
	if (v) {
		// A repeat only needs last_ns to the window's one-second
		// granularity: the coarse clock is a third of this path's cost
		// cheaper than bpf_ktime_get_ns on a virtual machine.
		__u64 c = __sync_fetch_and_add(&v->count, 1) + 1;
		__u64 now = bpf_ktime_get_coarse_ns();
		v->last_ns = now;
		if ((c & (cfg.report_every - 1)) == 0)
			report(&key, p, now, c, 0);
		return;
	}
	__u64 now = bpf_ktime_get_ns();
	struct flow_value nv = {
		.count = 1,
		.first_ns = now,
		.last_ns = now,
		.sport = p->sport,
		.window = p->window,
		.ip_id = p->ip_id,
		.ttl = p->ttl,
		.flags = p->flags,
		.mss_only = p->mss_only,
		.opt_len = p->opt_len,
	};
	// BPF_NOEXIST: if another CPU inserted the flow meanwhile, count on it.
	if (bpf_map_update_elem(&flows, &key, &nv, BPF_NOEXIST) != 0) {
		v = bpf_map_lookup_elem(&flows, &key);
		if (v)
			__sync_fetch_and_add(&v->count, 1);
		return;
	}
	count(CNT_FLOWS_NEW);
	report(&key, p, now, 1, 1);
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

SEC("xdp")
int scanwatch_xdp(struct xdp_md *ctx)
{
	struct pkt p;
	__u8 probe;
	count(CNT_PACKETS);
	switch (parse(ctx, &p)) {
	case PARSE_TCP:
		if ((p.flags & (TH_SYN | TH_ACK)) == TH_SYN) {
			count(CNT_SYN);
			on_probe(&p, PROBE_SYN);
		} else if ((probe = stealth_probe(p.flags))) {
			count(CNT_OTHER_TCP);
			count(CNT_PROBES);
			on_probe(&p, probe);
		} else {
			count(CNT_OTHER_TCP);
		}
		break;
	case PARSE_UDP:
		count(CNT_UDP);
		// A datagram from a service port to an ephemeral one answers
		// something this host sent (DNS, NTP): XDP sees only inbound, so
		// this is the one cheap test it has for replies.
		if (cfg.udp_probes && !(p.sport < 1024 && p.dport >= 1024)) {
			count(CNT_PROBES);
			on_probe(&p, PROBE_UDP);
		}
		break;
	case PARSE_OTHER:
		count(CNT_NON_TCP);
		break;
	default:
		count(CNT_PARSE_ERROR);
	}
	return pass();
}

// The benchmark floor: what any XDP program costs on this kernel.
SEC("xdp")
int xdp_pass_floor(struct xdp_md *ctx)
{
	return XDP_PASS;
}
