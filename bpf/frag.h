// Fragment following for the XDP program, included by scanwatch.c after
// csum.h: the datagram's queue, as Linux keeps it, and its transport header.
#pragma once
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
