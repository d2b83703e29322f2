// Credit and established connections: the kernel's copy of the table in
// internal/credit (read its package comment first). Every function here
// does what its Go namesake does, field for field, so live and replay
// judge each packet alike; a test (sensor/xdp_credit_test.go) runs crafted
// sequences through both and compares.
//
// The table is a plain array indexed by a keyed hash: an array lookup the
// verifier inlines, no hash-map walk and no insert, so an ACK of an
// established connection costs one hash and one 8-byte read. That is what
// lets the program look at every ACK-bearing segment at all.

#define CREDIT_BITS 19 // internal/credit.Bits
#define CREDIT_EPOCH_SHIFT 35
#define CREDIT_REARM_EVERY 128

struct conn_slot {
	__u32 ack_base; // TCP: ack number of the first bare ACK since the last credit
	__u16 aux;      // TCP: that ACK's source port; UDP: datagrams counted
	__u8 epoch;     // 0x80 | epoch&0x7f of the last arm or use; 0: empty
	__u8 armed;     // TCP: SYNs not yet credited; UDP: 1 while a reply would earn credit
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << CREDIT_BITS);
	__type(key, __u32);
	__type(value, struct conn_slot);
} conns SEC(".maps");

static __always_inline __u32 load32(const __u8 *b)
{
	__u32 v;
	__builtin_memcpy(&v, b, 4); // little-endian, as Go's binary.LittleEndian reads it
	return v;
}

// conn_index is credit.Index: independent multiplies the CPU runs side by
// side, then one mixing round. Keys come from cfg, drawn at load. An
// IPv4 address is v4-mapped: its first three words are constants whose
// products Go sums once into credit_v4_base, so IPv4 pays three
// multiplies where IPv6 pays nine, for the same index.
static __always_inline __u32 conn_index(const __u8 *src, const __u8 *dst, __u16 port, __u8 proto, int v6)
{
	__u32 x = load32(src + 12) * cfg.credit_keys[3] + load32(dst + 12) * cfg.credit_keys[7] +
		  ((__u32)port | (__u32)proto << 16) * cfg.credit_keys[8];
	if (v6)
		x += load32(src) * cfg.credit_keys[0] + load32(src + 4) * cfg.credit_keys[1] +
		     load32(src + 8) * cfg.credit_keys[2] + load32(dst) * cfg.credit_keys[4] +
		     load32(dst + 4) * cfg.credit_keys[5] + load32(dst + 8) * cfg.credit_keys[6];
	else
		x += cfg.credit_v4_base;
	x ^= x >> 16;
	x *= cfg.credit_keys[9];
	return x >> (32 - CREDIT_BITS);
}

static __always_inline struct conn_slot *conn_slot(const __u8 *src, const __u8 *dst, __u16 port, __u8 proto, int v6)
{
	__u32 i = conn_index(src, dst, port, proto, v6);
	return bpf_map_lookup_elem(&conns, &i);
}

static __always_inline __u8 credit_mark(__u64 now)
{
	return 0x80 | ((now >> CREDIT_EPOCH_SHIFT) & 0x7f);
}

// The mark of the coarse clock, cached with the jiffy it was read in:
// jiffies << 8 | mark. The coarse clock only moves at a
// tick, as jiffies do, so within one jiffy every read gives the same
// mark; bpf_jiffies64 is one load the verifier inlines, where the coarse
// clock is a helper call (3 ns of an established ACK's 13, measured).
// The tick bumps jiffies just before the coarse clock, so a mark read in
// that gap is a tick late: an epoch (34 s) may start one tick later than
// by a direct read. One 64-bit word, so no CPU reads a torn pair; a
// race between CPUs only writes the same pair twice. Its initial 0
// never matches (jiffies start at 2^32 - 300 HZ), and the shifted
// jiffies lose nothing for millions of years (2^56 ticks), so the test
// needs no mask constant.
static __u64 credit_clock __attribute__((aligned(64))); // a line of its own: the benchmark's key counter sat beside it

static __always_inline __u8 credit_mark_now(void)
{
	__u64 j = bpf_jiffies64();
	__u64 c = *(volatile __u64 *)&credit_clock;
	if (c >> 8 == j)
		return c;
	__u8 m = credit_mark(bpf_ktime_get_coarse_ns());
	*(volatile __u64 *)&credit_clock = j << 8 | m;
	return m;
}

static __always_inline int slot_live(const struct conn_slot *s, __u8 mark)
{
	return (s->epoch & 0x80) && ((__u8)(mark - s->epoch) & 0x7f) <= 1;
}

// conn_touch is the slot of (src, dst, port, proto) in use at mark m:
// one last used before the previous epoch starts over empty
// (credit.Table.touch).
static __always_inline struct conn_slot *conn_touch(const __u8 *src, const __u8 *dst, __u16 port, __u8 proto, int v6, __u8 m)
{
	struct conn_slot *s = conn_slot(src, dst, port, proto, v6);
	if (!s)
		return 0;
	if (!slot_live(s, m))
		__builtin_memset(s, 0, sizeof(*s));
	s->epoch = m;
	return s;
}

// credit_syn arms the connection a counted SYN opens (credit.Table.SYN).
static __always_inline void credit_syn(const struct pkt *p, __u64 now)
{
	struct conn_slot *s = conn_touch(p->saddr, p->daddr, p->dport, IPPROTO_TCP, p->v6, credit_mark(now));
	if (s && s->armed < 255)
		s->armed++;
}

// credit_answer notes a SYN-ACK: the connection its destination opened to
// its source port is live (credit.Table.Answer). A perimeter host sees no
// SYN of its own, only the answer, and without this every ACK a
// timestamp-less server sends on the host's connections would look like
// an ACK probe.
static __always_inline void credit_answer(const struct pkt *p)
{
	conn_touch(p->daddr, p->saddr, p->sport, IPPROTO_TCP, p->v6, credit_mark_now());
}

// credit_udp_probe counts a counted UDP probe: its first, and every
// CREDIT_REARM_EVERY-th after, arms the flow for a reply
// (credit.Table.Probe).
static __always_inline void credit_udp_probe(const struct pkt *p, __u64 now)
{
	struct conn_slot *s = conn_touch(p->saddr, p->daddr, p->dport, IPPROTO_UDP, p->v6, credit_mark(now));
	if (!s)
		return;
	s->aux++;
	if (s->aux == 1 || (s->aux & (CREDIT_REARM_EVERY - 1)) == 0)
		s->armed = 1;
}

// credit_armed counts what a counted probe arms; SYNs and UDP only.
static __always_inline void credit_armed(const struct pkt *p, __u8 probe, __u64 now)
{
	if (probe == PROBE_SYN)
		credit_syn(p, now);
	else if (probe == PROBE_UDP)
		credit_udp_probe(p, now);
}

// payload_len is the TCP payload by the IP length fields, or, when the
// IPv4 length is 0 (offload), by the frame: what replay's decoder counts.
static __always_inline __u32 payload_len(const struct xdp_md *ctx, const struct pkt *p)
{
	__u32 hdr = 20 + p->opt_len;
	if (p->len_known)
		return p->l4_len > hdr ? p->l4_len - hdr : 0;
	__u32 frame = ctx->data_end - ctx->data;
	__u32 at = p->l4_off + hdr;
	return frame > at ? frame - at : 0;
}

// bare_ack is the probe an ACK or FIN+ACK alone, without payload or
// options, would be (nmap -sA, -sM); 0 for any other shape. Replay's
// bareACK and the detector's ackProbe test the same.
static __always_inline __u8 bare_ack(const struct pkt *p, __u32 payload)
{
	if (payload || p->opt_len)
		return 0;
	switch (p->flags & (TH_FIN | TH_SYN | TH_RST | TH_PSH | TH_ACK | TH_URG)) {
	case TH_ACK:
		return PROBE_ACK;
	case TH_ACK | TH_FIN:
		return PROBE_MAIMON;
	}
	return 0;
}

// A (client, server) pair's slot, port 0 and protocol 0, is live while
// the client has sent the server payload on some connection lately
// (credit.Table.Segment): only then does its ACK of server data earn
// credit. A banner grab sends nothing and its kernel ACKs every greeting.
#define PAIR_PROTO 0

static __always_inline void pair_talked(const struct pkt *p, __u8 mark)
{
	struct conn_slot *r = conn_slot(p->saddr, p->daddr, 0, PAIR_PROTO, p->v6);
	if (!r)
		return;
	if (!slot_live(r, mark))
		__builtin_memset(r, 0, sizeof(*r));
	r->epoch = mark;
}

static __always_inline int pair_talks(const struct pkt *p, __u8 mark)
{
	struct conn_slot *r = conn_slot(p->saddr, p->daddr, 0, PAIR_PROTO, p->v6);
	return r && slot_live(r, mark);
}

// Outcomes of credit_segment.
enum {
	SEG_NONE = 0,
	SEG_CREDIT = 1,  // the connection earned a credit
	SEG_PROBE = 2,   // a bare ACK on no live connection: an ACK probe
};

// credit_segment judges a whole TCP segment with ACK and without SYN or
// RST (credit.Table.Segment). Replay verifies the checksum of every such
// segment without payload, PSH or URG before it looks; the kernel does
// only where the outcome depends on it (a credit, a new ACK base, a
// probe), so an established connection's ACKs are never summed. The
// clock is read only once a slot is found in use: most slots are empty,
// and an empty slot is no live connection at any time. The commonest
// segments leave first, having done all they can: an established
// connection's ACK with nothing to credit refreshes its slot, and a
// segment on no live connection that is not a bare ACK (data, options)
// can be no probe, so its payload is not even measured.
static __always_inline int credit_segment(struct xdp_md *ctx, const struct pkt *p)
{
	int out = SEG_NONE, est = 0;
	__u8 m = 0;
	struct conn_slot *s = conn_slot(p->saddr, p->daddr, p->dport, IPPROTO_TCP, p->v6);
	if (!s)
		return SEG_NONE;
	// The commonest segment of all, tested before the clock is read: an
	// ACK of a connection with nothing armed, without payload (an IP
	// length that leaves only the TCP header; never so when the length
	// is unknown), only refreshes its live slot.
	if (__builtin_expect(s->epoch && !s->armed && p->l4_len == 20 + p->opt_len, 1)) {
		m = credit_mark_now();
		if (slot_live(s, m)) {
			s->epoch = m;
			return SEG_NONE;
		}
	} else if (s->epoch) {
		m = credit_mark_now();
		est = slot_live(s, m);
	}
	if (!est) {
		if (p->opt_len || !bare_ack(p, payload_len(ctx, p)))
			return SEG_NONE;
		struct conn_slot *r = conn_slot(p->daddr, p->saddr, p->sport, IPPROTO_TCP, p->v6);
		if (!r)
			return SEG_NONE;
		if (r->epoch && !m)
			m = credit_mark_now();
		if (!r->epoch || !slot_live(r, m))
			return SEG_PROBE;
		return SEG_NONE;
	}
	__u32 payload = payload_len(ctx, p);
	if (payload)
		pair_talked(p, m);
	if (s->armed) {
		if (payload) {
			out = SEG_CREDIT;
		} else {
			// Replay checks the sum of every segment of this shape.
			if (!(p->flags & (TH_PSH | TH_URG)) && !verify(ctx, p))
				return SEG_NONE; // the host drops it, and so does replay
			__be32 ack_be;
			if (bpf_xdp_load_bytes(ctx, p->l4_off + 8, &ack_be, 4))
				return SEG_NONE;
			__u32 ack = bpf_ntohl(ack_be);
			if (s->ack_base == 0 || s->aux != p->sport) {
				s->ack_base = ack;
				s->aux = p->sport;
			} else if ((__s32)(ack - s->ack_base) >= 2 && pair_talks(p, m)) {
				// Past the handshake's ack and a FIN's: the server sent
				// data, to a client that talks to it.
				out = SEG_CREDIT;
			}
		}
		if (out == SEG_CREDIT) {
			s->armed--;
			s->ack_base = 0;
		}
	}
	s->epoch = m;
	return out;
}

// reply_slot is the armed, live slot of the flow a UDP datagram from
// src:sport to dst answers, or 0.
static __always_inline struct conn_slot *reply_slot(const struct pkt *p)
{
	struct conn_slot *r = conn_slot(p->daddr, p->saddr, p->sport, IPPROTO_UDP, p->v6);
	if (!r || !r->armed || !slot_live(r, credit_mark_now()))
		return 0;
	return r;
}

// credit_reply judges a whole UDP datagram from src:sport to dst: true
// when it answers an armed flow of dst's to src:sport, which earns that
// flow a credit (credit.Table.Reply). Replay checks every datagram's sum;
// the kernel only the rare one that earns, and reads the clock only then.
static __always_inline int credit_reply(struct xdp_md *ctx, const struct pkt *p)
{
	struct conn_slot *r = reply_slot(p);
	if (!r || !verify(ctx, p))
		return 0;
	r->armed = 0;
	return 1;
}

// credit_sent is credit_reply for a datagram this host sends (the egress
// program): its own stack built it, so there is no checksum to judge
// (and offload may have left it partial).
static __always_inline int credit_sent(const struct pkt *p)
{
	struct conn_slot *r = reply_slot(p);
	if (!r)
		return 0;
	r->armed = 0;
	return 1;
}
