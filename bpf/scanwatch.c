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
#include <linux/pkt_cls.h>
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
	// Wake the reader each time another this many bytes wait in the ring
	// (ring_flags); user space also polls on a short timer. A wakeup per
	// record costs more than everything else on the new-flow path together.
	__u32 wakeup_bytes;
	// Count UDP datagrams as probes (nmap -sU). Costs UDP the same flow
	// lookup as a SYN; 0 keeps UDP on the counters-only fast path.
	__u32 udp_probes;
	// Benchmark only: perturb the flow key per packet so repeated test runs
	// of one packet take the new-flow path. BENCH_NEW_SOURCE: every packet
	// from a new source (a spoofed flood: first sight, admit.h);
	// BENCH_NEW_TARGET: from one source to ever new hosts (a sweep: an LRU
	// insert and a ring record each).
	__u32 bench_fresh_keys;
	// Admission in front of the flow map (admit.h); 0 inserts every new
	// flow, as before it (benchmarks and tests compare the two).
	__u32 admission;
	// Accept a checksum field holding only the pseudo-header sum, which
	// checksum offload leaves in packets that never crossed a wire (veth,
	// tap, virtio from the same host). On a physical NIC it is a forgery.
	__u32 accept_offload;
	// HTTP heads (http.h): the ports, and a prefilter bit per port%1024.
	// No ports: off, and the verifier prunes the branch.
	__u32 http_nports;
	__u16 http_ports[HTTP_MAX_PORTS];
	__u64 http_port_bits[16];
	// Budgets as GCRA buckets: one record per interval, limit/interval
	// at once; per client, and per CPU.
	__u64 http_interval_ns, http_limit_ns;
	__u64 http_cpu_interval_ns, http_cpu_limit_ns;
	// The credit table's hash keys (credit.h), random per load so that
	// nobody can aim a packet at another connection's slot.
	__u32 credit_keys[10];
	__u32 credit_v4_base; // credit.V4Base(keys)
};

#define BENCH_NEW_SOURCE 1
#define BENCH_NEW_TARGET 2

volatile const struct config cfg = {
	.report_every = 128,
	.wakeup_bytes = 1 << 20,
	.udp_probes = 1,
	.bench_fresh_keys = 0,
	.admission = 1,
	.accept_offload = 1,
};

// Counter indexes; keep in step with sensor/counters.go (its build fails
// when the number differs).
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
	CNT_HTTP_REQUESTS, // TCP segments to an HTTP port beginning with a method
	CNT_HTTP_RESPONSES,// ... from an HTTP port beginning "HTTP"
	CNT_HTTP_RECORDS,  // their heads copied into the ring
	CNT_HTTP_SUPPRESSED_SOURCE, // not copied: the client's budget was spent
	CNT_HTTP_SUPPRESSED_CPU,    // not copied: the CPU's budget was spent
	CNT_ACK_PROBES,    // bare ACKs and FIN+ACKs on no live connection (also in CNT_PROBES)
	CNT_CREDITS,       // connections and UDP flows that earned a credit (credit.h)
	CNT_FIRST_SIGHT,   // new flows of unseen sources, reported without an LRU insert (admit.h)
	CNT_EGRESS_CREDITS,// UDP flows credited by a reply this host sent (scanwatch_egress; also in CNT_CREDITS)
	CNT_MAX,
};

// Every counter of a CPU in one per-CPU value: the fast paths look it up
// once per packet instead of once per counter they bump.
struct counter_set {
	__u64 cnt[CNT_MAX];
	// Per XDP action, as xdp-tools' xdp_stats does (XDP_ABORTED..XDP_REDIRECT).
	__u64 actions[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counter_set);
} counters SEC(".maps");

// Probe kinds, numbered as detector.Probe in Go.
enum probe {
	PROBE_SYN = 1,
	PROBE_FIN = 2,
	PROBE_NULL = 3,
	PROBE_XMAS = 4,
	PROBE_MAIMON = 5, // FIN+ACK on no live connection
	PROBE_ACK = 6,    // bare ACK on no live connection
	PROBE_UDP = 7,
	PROBE_CHAIN = 8, // IPv6 header chain past MAX_IPV6_EXT: no transport header read
	// Not probes but credits (credit.h), counted in flows as probes are so
	// that user space gets exact deltas the same way: the client's TCP
	// connections to daddr:dport that showed use, its UDP flows answered.
	PROBE_CREDIT_TCP = 9,
	PROBE_CREDIT_UDP = 10,
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
	__u64 ts_ns;   // a new entry: bpf_ktime_get_ns (its first_ns); else the coarse clock
	__u64 count;   // cumulative SYNs of this flow, this one included
	__u16 sport;
	__u16 dport;
	__u16 window;
	__u16 ip_id;
	__u8 ttl;
	__u8 flags;
	__u8 mss_only;
	__u8 is_new;   // enum record_new
	__u8 opt_len;  // bytes of TCP options
	__u8 probe;    // enum probe
	__u8 evasion;  // enum evasion marks of the flow so far
	__u8 pad[1];
};

// An IPv4 flow's record: struct event with only the addresses' last four
// bytes (the rest of a v4-mapped address is constant), 40 bytes instead
// of 64. A spoofed IPv4 flood writes one per SYN, and a smaller record
// costs less to write and less to hand to the reader's CPU (syn_new
// 214 -> 196 ns in BenchmarkXDP; 126 -> 112 with no reader). User space
// tells the two apart by their size (sensor/record.go).
struct event4 {
	__u8 saddr[4];
	__u8 daddr[4];
	__u64 ts_ns;
	__u64 count;
	__u16 sport;
	__u16 dport;
	__u16 window;
	__u16 ip_id;
	__u8 ttl;
	__u8 flags;
	__u8 mss_only;
	__u8 is_new;
	__u8 opt_len;
	__u8 probe;
	__u8 evasion;
	__u8 pad[1];
};

// What a record says of its flow's instance in the map.
enum record_new {
	RECORD_KNOWN = 0,       // a repeat: count is the instance's so far
	RECORD_NEW = 1,         // the first probe of a new instance (first since an LRU eviction, too)
	RECORD_FIRST_SIGHT = 2, // one probe of a flow not in the map (admit.h)
};

// Forces struct event and event4 into BTF for bpf2go's -type.
const struct event *unused_event __attribute__((unused));
const struct event4 *unused_event4 __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

static __always_inline struct counter_set *counter_set(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&counters, &zero);
}

// bump counts on a counter set the caller has looked up.
static __always_inline void bump(struct counter_set *c, __u32 idx)
{
	if (c && idx < CNT_MAX)
		c->cnt[idx] += 1; // per-CPU: no atomics needed
}

// count looks the set up itself: for the paths that are not per packet.
static __always_inline void count(__u32 idx)
{
	bump(counter_set(), idx);
}

static __always_inline int pass(struct counter_set *c)
{
	if (c)
		c->actions[XDP_PASS] += 1;
	return XDP_PASS;
}

// ring_flags is how to submit a flow record of size bytes. The reader is
// woken each time the data waiting crosses a multiple of wakeup_bytes (a
// power of two), and by every record once the ring is half full; between
// crossings it finds the records when it wakes, or on its FlushInterval
// timer. A wakeup queues an irq_work by a self-IPI, about 8 us on this VM:
// waking on every record once 64 KiB waited, as before, cost syn_new
// 200-340 ns instead of 150-200 whenever the reader lagged that far
// behind. Past half full the wakeups stay, as before: their cost paces a
// flood the reader cannot keep up with, so that its records are not
// dropped (a dropped first sight costs an LRU insert, admit.h). HTTP
// heads (http.h) keep the old rule: they are budgeted, and with only
// this pacing past half the ring their benchmark dropped records.
static __always_inline __u64 ring_flags(__u64 size)
{
	__u64 bytes = 8 + ((size + 7) & ~7ULL); // what it takes of the ring
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	// wakeup_bytes is at most half the ring (LoadProgram), so the
	// half-full rule below is never skipped here. avail includes records
	// other CPUs reserved meanwhile, so two records at once can both miss
	// a crossing; the next one, half full, or the reader's flush timer
	// collects them.
	if (avail < cfg.wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	if ((avail ^ (avail - bytes)) >= cfg.wakeup_bytes ||
	    avail >= bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 2)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

// fill_record writes what both record layouts hold past the addresses.
#define fill_record(e)                                      \
	do {                                                \
		(e)->ts_ns = now;                           \
		(e)->count = cnt;                           \
		(e)->sport = p->sport;                      \
		(e)->dport = key->dport;                    \
		(e)->window = p->window;                    \
		(e)->ip_id = p->ip_id;                      \
		(e)->ttl = p->ttl;                          \
		(e)->flags = p->flags;                      \
		(e)->mss_only = p->mss_only;                \
		(e)->is_new = is_new;                       \
		(e)->opt_len = p->opt_len;                  \
		(e)->probe = key->probe;                    \
		(e)->evasion = evasion;                     \
		(e)->pad[0] = 0;                            \
	} while (0)

// report puts a flow record in the ring; 0 when the ring is full.
static __always_inline int report(const struct flow_key *key, const struct pkt *p, __u64 now, __u64 cnt, __u8 is_new, __u8 evasion)
{
	void *rec;
	__u32 size;
	// A flow key holds its packet's addresses (flow_key_of), so the
	// packet's family is the key's.
	if (p->v6) {
		struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e)
			goto full;
		__builtin_memcpy(e->saddr, key->saddr, 16);
		__builtin_memcpy(e->daddr, key->daddr, 16);
		fill_record(e);
		rec = e;
		size = sizeof(*e);
	} else {
		struct event4 *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e)
			goto full;
		__builtin_memcpy(e->saddr, key->saddr + 12, 4);
		__builtin_memcpy(e->daddr, key->daddr + 12, 4);
		fill_record(e);
		rec = e;
		size = sizeof(*e);
	}
	bpf_ringbuf_submit(rec, ring_flags(size));
	count(CNT_RINGBUF_EVENTS);
	return 1;
full:
	// A full ring must not blind the detector silently: count it. The
	// flow is in the map (a first sight goes there when its record
	// fails), so user space's sweep still finds it.
	count(CNT_RINGBUF_DROPS);
	return 0;
}

#include "csum.h"
#include "http.h"
#include "credit.h"
#include "admit.h"

// ---- Probes and flows -----------------------------------------------------

static __always_inline void flow_key_of(const struct pkt *p, __u8 probe, struct flow_key *key)
{
	__builtin_memset(key, 0, sizeof(*key));
	if (probe == PROBE_CREDIT_UDP) {
		// The reply's destination is the client whose flow it credits.
		__builtin_memcpy(key->saddr, p->daddr, 16);
		__builtin_memcpy(key->daddr, p->saddr, 16);
		key->dport = p->sport;
	} else {
		__builtin_memcpy(key->saddr, p->saddr, 16);
		__builtin_memcpy(key->daddr, p->daddr, 16);
		key->dport = p->dport;
	}
	key->probe = probe;
	if (cfg.bench_fresh_keys) {
		// The address's last word, its IPv4 part: 2^32 distinct keys
		// that stay v4-mapped, so a 40-byte IPv4 record carries them.
		static __u32 seq;
		__u32 n = __sync_fetch_and_add(&seq, 1);
		__builtin_memcpy((cfg.bench_fresh_keys == BENCH_NEW_SOURCE ? key->saddr : key->daddr) + 12, &n, 4);
	}
}

// on_known counts a probe of a flow already in the map; 0 when the flow is
// new. The fast path for repeats: no checksum (the flow's first probe was
// verified), no clock but the coarse one.
//
// Its limit, measured (BenchmarkXDP/syn_repeat, floor 6.0 ns, scratch
// variants): 46-48 ns here; the same packet parsed, keyed and counted with
// no flow work at all 14 (2.4x the floor); a per-CPU direct-mapped cache
// of hot flows in front of the map (slot by the credit hash, full-key
// compare, plain increment) 23-24 ns on a hit (3.9x), 22-23 with the
// credit slot's hash reused, 21-23 without the coarse clock, 19-20 without
// clock and credit arm (3.25x); an IPv4-only map with a 12-byte key 46.
// So no design that still arms the credit and stamps last_ns reaches 3x,
// and a cache would need user space to read per-CPU slots that the
// program rewrites meanwhile (and an LRU eviction of a flow hot in the
// cache would count its cached SYNs twice) to keep counts exact: not
// built.
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
	credit_armed(p, key->probe, now);
	if ((c & (cfg.report_every - 1)) == 0)
		report(key, p, now, c, RECORD_KNOWN, v->evasion);
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

// flow_new counts the first probe of a flow key's flow not in the map
// (its checksum judged already): a first sight (admit.h), or an insert.
static __always_inline void flow_new(struct probe_scratch *sc, const struct pkt *p, __u8 probe, __u8 evasion)
{
	if (cfg.admission && first_sight(&sc->key)) {
		// A first sight's time only stamps its event, as a repeat's
		// does: the coarse clock, which on this VM is 25 ns cheaper
		// than bpf_ktime_get_ns (syn_new 126 -> 100 ns without a
		// reader). An entry's first_ns below tells its instances
		// apart (sensor/flows.go), so it keeps the fine clock.
		__u64 now = bpf_ktime_get_coarse_ns();
		if (report(&sc->key, p, now, 1, RECORD_FIRST_SIGHT, evasion)) {
			count(CNT_FIRST_SIGHT);
			credit_armed(p, probe, now);
			return;
		}
	}
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
		credit_armed(p, probe, now);
		return;
	}
	credit_armed(p, probe, now);
	count(CNT_FLOWS_NEW);
	report(&sc->key, p, now, 1, RECORD_NEW, evasion);
}

// probe_flow's args: the probe in the low byte, evasion marks in the next.
#define PF_VERIFY (1u << 16) // verify a new flow's first packet
#define PF_LOOKUP (1u << 17) // look the flow up even so (PF_VERIFY alone: the caller just missed)

// probe_flow counts one probe of a flow. A flow's first probe is verified
// first (PF_VERIFY), unless it is a reassembled datagram verified whole.
// A global function, verified once: inlined at each of its callers it
// took most of handle's stack.
__noinline int probe_flow(struct xdp_md *ctx, struct pkt *p, __u32 args)
{
	if (!p)
		return 0;
	__u8 probe = args & 0xff, evasion = (args >> 8) & 0xff;
	int check = (args & PF_VERIFY) != 0, lookup = !check || (args & PF_LOOKUP);
	__u32 zero = 0;
	struct probe_scratch *sc = bpf_map_lookup_elem(&probe_scratch, &zero);
	if (!sc)
		return 0;
	flow_key_of(p, probe, &sc->key);
	// PF_VERIFY alone comes with whole packets from the main program, which
	// has just looked the flow up and missed, or not looked because the
	// source is unseen (first_sight below): do not look twice. (A flow
	// another CPU inserts meanwhile is caught by BPF_NOEXIST below.) ACK
	// probes come from the credit path, which has not looked (PF_LOOKUP).
	if (lookup && on_known(p, &sc->key, evasion))
		return 0;
	if (check && !verify(ctx, p))
		return 0;
	flow_new(sc, p, probe, evasion);
	return 0;
}

static __always_inline void on_probe(struct xdp_md *ctx, struct pkt *p, __u8 probe, __u8 evasion, int check)
{
	probe_flow(ctx, p, probe | (__u32)evasion << 8 | (check ? PF_VERIFY : 0));
}

// stealth_probe names TCP packets that are probes by their flags alone: no
// real stack sends a lone FIN, no flags at all, FIN+PSH+URG without ACK, or
// SYN+FIN (Linux drops SYN+FIN at a listening socket and answers it with a
// RST at a closed port: a FIN probe, never a connection attempt). Anything
// with ACK or RST returns 0 at the first test, so ordinary traffic pays one
// comparison; a SYN alone never gets here (probe_of).
static __always_inline __u8 stealth_probe(__u8 flags)
{
	if (flags & (TH_RST | TH_ACK))
		return 0;
	if (flags & TH_SYN)
		return (flags & TH_FIN) ? PROBE_FIN : 0;
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
		// A SYN is what Linux takes as a connection attempt: SYN without
		// ACK, RST or FIN. It discards SYN+RST, port open or closed, and
		// SYN+FIN at a listening socket (stealth_probe). ECE, CWR, PSH and
		// URG do not matter. detector.ClassifyTCP says the same.
		if ((p->flags & (TH_SYN | TH_ACK | TH_RST | TH_FIN)) == TH_SYN)
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
static __always_inline void count_class_on(struct counter_set *c, const struct pkt *p, __u8 probe)
{
	if (p->proto == IPPROTO_TCP)
		bump(c, probe == PROBE_SYN ? CNT_SYN : CNT_OTHER_TCP);
	else
		bump(c, CNT_UDP);
	if (probe && probe != PROBE_SYN)
		bump(c, CNT_PROBES);
}

static __always_inline void count_class(const struct pkt *p, __u8 probe)
{
	count_class_on(counter_set(), p, probe);
}

// judge counts a parsed TCP or UDP packet (whole, or reassembled) and
// hands probes on. A reassembled bare ACK is an ACK probe whatever the
// credit table says: no connection's stack fragments an empty segment,
// and replay skips the table for reassembled segments too.
static __always_inline void judge(struct xdp_md *ctx, struct pkt *p, __u8 evasion, int check)
{
	__u8 probe = probe_of(p);
	if (!probe && !check && p->proto == IPPROTO_TCP) {
		probe = bare_ack(p, payload_len(ctx, p));
		if (probe)
			count(CNT_ACK_PROBES);
	}
	count_class(p, probe);
	if (probe)
		on_probe(ctx, p, probe, evasion, check);
}

// tcp_segment follows a whole TCP segment with ACK and without RST, not a
// probe by its flags: a SYN-ACK marks its connection live; anything else
// may earn its connection a credit or be an ACK probe (credit.h). Inline:
// a call cost the ACK fast path 2 ns of its 17 when measured (BenchmarkXDP/ack).
static __always_inline int tcp_segment(struct xdp_md *ctx, struct pkt *p)
{
	if (p->flags & TH_SYN) {
		credit_answer(p);
		return 0;
	}
	int out = credit_segment(ctx, p);
	// Nearly every segment: nothing to count.
	if (__builtin_expect(out == SEG_NONE, 1))
		return 0;
	if (out & SEG_CREDIT) {
		count(CNT_CREDITS);
		probe_flow(ctx, p, PROBE_CREDIT_TCP);
	}
	if (out & SEG_PROBE) {
		count(CNT_ACK_PROBES);
		count(CNT_PROBES);
		probe_flow(ctx, p, bare_ack(p, 0) | PF_VERIFY | PF_LOOKUP);
	}
	return 0;
}

// udp_reply credits the flow a whole UDP datagram answers, if it is armed
// (credit_reply). Inline, as tcp_segment.
static __always_inline int udp_reply(struct xdp_md *ctx, struct pkt *p)
{
	if (!credit_reply(ctx, p))
		return 0;
	count(CNT_CREDITS);
	probe_flow(ctx, p, PROBE_CREDIT_UDP);
	return 0;
}

#include "frag.h"

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
	// The datagram's length, for judge's payload test (bare_ack).
	p->l4_len = io->l4_len;
	p->len_known = 1;
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
	struct counter_set *c = counter_set();
	bump(c, CNT_PACKETS);
	int res = parse(ctx, &p);
	// The fast paths stay inline: TCP and UDP that are no probe are only
	// counted, and repeats of a known flow only add to it; the rest goes
	// through handle.
	switch (res) {
	case PARSE_TCP:
	case PARSE_UDP: {
		__u8 probe = probe_of(&p);
		// With UDP probes off nothing arms a UDP flow, so no reply can
		// earn credit: the verifier prunes the lookup.
		if (cfg.udp_probes && p.proto == IPPROTO_UDP)
			udp_reply(ctx, &p);
		// The hints lay the ordinary segment's path out as clang's
		// fall-through; the JIT keeps that order, so it takes fewer jumps.
		if (__builtin_expect(!probe, 1)) {
			count_class_on(c, &p, 0);
			if (p.proto == IPPROTO_TCP) {
				// A pure ACK pays the length test alone.
				if (cfg.http_nports && __builtin_expect(p.l4_len >= 24 + p.opt_len, 0)) {
					__u32 dir = http_dir(&p);
					// Only data the server's stack hands to an application:
					// ACK set, no SYN, no RST (replay's decoder tests the same).
					if (dir && (p.flags & (TH_ACK | TH_SYN | TH_RST)) == TH_ACK)
						http_segment(ctx, &p, dir);
				}
				if ((p.flags & (TH_ACK | TH_RST)) == TH_ACK)
					tcp_segment(ctx, &p);
			}
			return pass(c);
		}
		struct flow_key key;
		flow_key_of(&p, probe, &key);
		// An unseen source's flow is not in the map (admit.h): skip the
		// lookup, whose bucket read is a cache miss in a spoofed flood.
		if ((!cfg.admission || source_seen(&key)) && on_known(&p, &key, 0)) {
			count_class_on(c, &p, probe);
			return pass(c);
		}
		break;
	}
	case PARSE_OTHER:
		bump(c, CNT_NON_TCP);
		return pass(c);
	}
	handle(ctx, &p, res);
	return pass(c);
}

// scanwatch_egress sees what this host sends, on the watched interface
// (TCX egress): a UDP datagram it sends answers a flow a client opened to
// it, which earns that flow its credit, as replay credits the replies a
// capture holds. XDP sees only what arrives, so without it a perimeter
// host (whose replies leave by this path) gives no UDP credit. It only
// reads: TC_ACT_UNSPEC is TCX_NEXT, the next program or the stack's
// default, for every packet.
SEC("tc")
int scanwatch_egress(struct __sk_buff *skb)
{
	struct pkt p;
	if (!cfg.udp_probes)
		return TC_ACT_UNSPEC;
	if (parse_frame((void *)(long)skb->data, (void *)(long)skb->data_end, &p) != PARSE_UDP)
		return TC_ACT_UNSPEC;
	if (!credit_sent(&p))
		return TC_ACT_UNSPEC;
	count(CNT_CREDITS);
	count(CNT_EGRESS_CREDITS);
	// The XDP program's per-CPU scratch: the two never run at once on a
	// CPU (egress runs with bottom halves off, and XDP is a bottom half).
	__u32 zero = 0;
	struct probe_scratch *sc = bpf_map_lookup_elem(&probe_scratch, &zero);
	if (!sc)
		return TC_ACT_UNSPEC;
	flow_key_of(&p, PROBE_CREDIT_UDP, &sc->key);
	if (!on_known(&p, &sc->key, 0))
		flow_new(sc, &p, PROBE_CREDIT_UDP, 0);
	return TC_ACT_UNSPEC;
}

// The benchmark floor: what any XDP program costs on this kernel.
SEC("xdp")
int xdp_pass_floor(struct xdp_md *ctx)
{
	return XDP_PASS;
}

// The egress benchmark's floor: what any TC program costs on this kernel.
SEC("tc")
int tc_pass_floor(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}
