// Checksums for the XDP program, included by scanwatch.c after its
// counters and config: the host drops a segment whose checksum is wrong, so
// such a "probe" is no evidence.
#pragma once
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
