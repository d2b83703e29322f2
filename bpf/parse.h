// Bounds-checked packet parsing for XDP, after xdp-tools'
// headers/xdp/parsing_helpers.h: a cursor walks the frame and every header
// is checked against data_end before it is read.
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20

// How deep the parser walks. Packets past either limit are reported as
// evasion evidence, never silently taken for "other". Replay applies the
// same limits (capture.MaxVLANTags, detector.MaxIPv6ExtHeaders; a test
// checks they agree), so live and replay judge such packets alike.
#define MAX_VLAN_TAGS 8
#define MAX_IPV6_EXT 16
// HTTP inspection (http.h): ports held, and the prefix of a request
// copied, as internal/httpwire's MaxPorts and PrefixBytes (tested too).
#define HTTP_MAX_PORTS 16
#define HTTP_PREFIX 512

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

enum parse_result {
	PARSE_ERROR = 0,  // cut short or inconsistent: the host drops it too
	PARSE_TCP,
	PARSE_UDP,
	PARSE_OTHER,      // not IP, or another protocol (tunnels included)
	PARSE_FRAGMENT,   // an IP fragment: p->frag says which part
	PARSE_CHAIN,      // IPv6 with more extension headers than we walk
	PARSE_VLAN_DEPTH, // more VLAN tags than we walk
	PARSE_FRAG_DROP,  // a fragment the host discards on sight
};

// A fragment's place in its datagram. Offsets are from the packet start
// (ctx->data), so they can cross into the global functions that the
// verifier checks once instead of at every call site.
struct frag {
	__u32 id;        // IPv4 ID or IPv6 fragment identification
	__u16 off;       // byte offset of this fragment's data in the datagram
	__u16 len;       // bytes of data it carries
	__u16 data;      // packet offset of that data
	__u16 l4off;     // first fragment: bytes before the transport header (IPv6 headers after the fragment header)
	__u8 more;       // more fragments follow
	__u8 proto;      // transport protocol (IPv6: from the first fragment only)
	__u8 chain;      // first fragment whose header chain goes past MAX_IPV6_EXT
};

// What the program needs of a packet, in host byte order.
struct pkt {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u16 window;
	__u16 ip_id;
	__u8 ttl;
	__u8 flags;
	__u8 mss_only; // TCP options are exactly one 4-byte MSS option
	__u8 opt_len;  // bytes of TCP options
	__u8 v6;
	__u8 proto;    // IPPROTO_TCP or IPPROTO_UDP
	__u16 ip_off;  // packet offset of the IPv4 header (its checksum)
	__u16 ihl;     // IPv4 header bytes
	__u16 l4_off;  // packet offset of the transport header
	__u16 l4_len;  // transport header and payload, by the IP length fields
	__u8 len_known; // 0: an IPv4 total length of 0 (offload), l4_len unknown
	struct frag frag;
};

struct cursor {
	void *pos;
	void *end;
};

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct ip6_ext {
	__u8 next;
	__u8 len; // in 8-byte units, not counting the first 8 (fragment: reserved)
};

struct ip6_frag {
	__u8 next;
	__u8 reserved;
	__be16 frag_off; // offset in the top 13 bits, M in the lowest
	__be32 id;
};

static __always_inline void map_v4(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

// tcp_fields reads the fields scan detection uses from a whole TCP header
// of hlen bytes at th. Shared by whole packets and reassembled headers.
static __always_inline void tcp_fields(const __u8 *th, __u32 hlen, struct pkt *p)
{
	p->sport = ((__u16)th[0] << 8) | th[1];
	p->dport = ((__u16)th[2] << 8) | th[3];
	p->flags = th[13];
	p->window = ((__u16)th[14] << 8) | th[15];
	p->opt_len = hlen - 20;
	p->mss_only = hlen == 24 && th[20] == 2 && th[21] == 4;
}

static __always_inline int parse_l4(struct cursor *c, void *data, __u8 proto, struct pkt *p)
{
	p->proto = proto;
	p->l4_off = c->pos - data;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = c->pos;
		if ((void *)(th + 1) > c->end)
			return PARSE_ERROR;
		__u32 hlen = th->doff * 4;
		if (hlen < sizeof(*th) || c->pos + hlen > c->end || hlen > p->l4_len)
			return PARSE_ERROR;
		__u8 *b = c->pos;
		p->sport = bpf_ntohs(th->source);
		p->dport = bpf_ntohs(th->dest);
		p->window = bpf_ntohs(th->window);
		p->flags = b[13];
		p->mss_only = 0;
		p->opt_len = hlen - sizeof(*th);
		if (hlen == 24 && (void *)(b + 22) <= c->end && b[20] == 2 && b[21] == 4)
			p->mss_only = 1;
		return PARSE_TCP;
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *uh = c->pos;
		if ((void *)(uh + 1) > c->end || p->l4_len < sizeof(*uh))
			return PARSE_ERROR;
		p->sport = bpf_ntohs(uh->source);
		p->dport = bpf_ntohs(uh->dest);
		p->window = 0;
		p->flags = 0;
		p->mss_only = 0;
		p->opt_len = 0;
		return PARSE_UDP;
	}
	return PARSE_OTHER;
}

static __always_inline int parse_ipv4(struct cursor *c, void *data, struct pkt *p)
{
	struct iphdr *ip = c->pos;
	if ((void *)(ip + 1) > c->end)
		return PARSE_ERROR;
	__u32 hlen = ip->ihl * 4;
	if (ip->version != 4 || hlen < sizeof(*ip) || c->pos + hlen > c->end)
		return PARSE_ERROR;
	// The host reads the datagram by its total length: one longer than
	// the frame is dropped. 0 is what segmentation offload leaves in
	// packets of the host's own (replay accepts it too).
	__u32 total = bpf_ntohs(ip->tot_len);
	p->len_known = total != 0;
	if (total == 0)
		total = 0xffff; // checked against the frame below, header by header
	else if (total < hlen || c->pos + total > c->end)
		return PARSE_ERROR;
	map_v4(p->saddr, ip->saddr);
	map_v4(p->daddr, ip->daddr);
	p->v6 = 0;
	p->ttl = ip->ttl;
	p->ip_id = bpf_ntohs(ip->id);
	p->ip_off = c->pos - data;
	p->ihl = hlen;
	p->l4_len = total - hlen;
	__u16 fo = bpf_ntohs(ip->frag_off);
	c->pos += hlen;
	if (fo & 0x3fff) {
		if (!p->len_known)
			return PARSE_ERROR;
		// A fragment (an offset, or more to come): its datagram counts
		// only once it is whole, as the host's reassembly sees it.
		if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
			return PARSE_OTHER;
		p->proto = ip->protocol;
		p->frag.id = bpf_ntohs(ip->id);
		p->frag.off = (fo & 0x1fff) * 8;
		p->frag.more = (fo & 0x2000) != 0;
		p->frag.len = total - hlen;
		p->frag.data = c->pos - data;
		p->frag.l4off = 0;
		p->frag.proto = ip->protocol;
		p->frag.chain = 0;
		return PARSE_FRAGMENT;
	}
	return parse_l4(c, data, ip->protocol, p);
}

// The verifier explores every path through a loop separately unless the
// states at its head look alike: walking headers by a numeric offset masked
// to MAX_PARSE_OFF, instead of by pointer, makes every path at one
// iteration look the same (an offset in [0, MAX_PARSE_OFF]), whatever mix
// of header kinds and lengths led there. Without it, 16 extension headers
// times 8 VLAN depths is far past the verifier's budget.
#define MAX_PARSE_OFF 0x1fff

static __always_inline int parse_ipv6(struct cursor *c, void *data, struct pkt *p)
{
	struct ipv6hdr *ip6 = c->pos;
	if ((void *)(ip6 + 1) > c->end)
		return PARSE_ERROR;
	if (ip6->version != 6)
		return PARSE_ERROR;
	__u32 plen = bpf_ntohs(ip6->payload_len);
	if ((void *)(ip6 + 1) + plen > c->end)
		return PARSE_ERROR; // longer than the frame: the host drops it
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	// A v4-mapped source on the wire is a forgery Linux drops (RFC 4291
	// s2.5.5.2; tcp_v6_conn_request), and it would alias an IPv4 source
	// in our v4-mapped keys.
	const __u32 *w = (const __u32 *)p->saddr;
	if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff))
		return PARSE_OTHER;
	p->v6 = 1;
	p->len_known = 1;
	p->ttl = ip6->hop_limit;
	p->ip_id = 0;
	__u8 next = ip6->nexthdr;
	__u32 off = ((void *)(ip6 + 1) - data) & MAX_PARSE_OFF;
	__u32 pend = off + plen; // the packet's end by its own length
	__u32 fdata = 0;         // a first fragment: where its data starts
	int frag = 0;            // ... and walk on to its transport header

	// MAX_IPV6_EXT headers, then one more step to reach the transport.
	for (int i = 0; i <= MAX_IPV6_EXT; i++) {
		off &= MAX_PARSE_OFF;
		// Hop-by-hop options belong right after the IPv6 header; Linux
		// drops them anywhere else.
		if (next == IPPROTO_HOPOPTS && i > 0)
			return frag ? PARSE_FRAG_DROP : PARSE_ERROR;
		if (i == MAX_IPV6_EXT && (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
					  next == IPPROTO_AH || next == IPPROTO_FRAGMENT))
			break; // one header too many
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH: {
			struct ip6_ext *e = data + off;
			if ((void *)(e + 1) > c->end)
				return frag ? PARSE_FRAG_DROP : PARSE_ERROR;
			off += next == IPPROTO_AH ? (e->len + 2) * 4 : (e->len + 1) * 8;
			next = e->next;
			break;
		}
		case IPPROTO_FRAGMENT: {
			struct ip6_frag *f = data + off;
			if ((void *)(f + 1) > c->end)
				return PARSE_ERROR;
			if (frag)
				return PARSE_FRAG_DROP; // two fragment headers
			__u16 fo = bpf_ntohs(f->frag_off);
			next = f->next;
			off += sizeof(*f);
			if (!(fo & 0xfff9))
				break; // an atomic fragment (RFC 6946): an ordinary packet
			if (pend < off)
				return PARSE_ERROR;
			p->frag.id = bpf_ntohl(f->id);
			p->frag.off = fo & 0xfff8;
			p->frag.more = fo & 1;
			p->frag.len = pend - off;
			p->frag.data = off;
			p->frag.l4off = 0;
			// Linux keys IPv6 queues by addresses and ID and takes the
			// next header from the offset-0 fragment only.
			p->frag.proto = 0;
			p->frag.chain = 0;
			if (p->frag.off)
				return PARSE_FRAGMENT; // data only: no headers of its own
			if (next != IPPROTO_TCP && next != IPPROTO_UDP && next != IPPROTO_HOPOPTS &&
			    next != IPPROTO_DSTOPTS && next != IPPROTO_ROUTING && next != IPPROTO_AH)
				return PARSE_OTHER;
			frag = 1;
			fdata = off;
			break;
		}
		default:
			if (pend < off)
				return frag ? PARSE_FRAG_DROP : PARSE_ERROR;
			p->l4_len = pend - off;
			if (!frag) {
				c->pos = data + (off & MAX_PARSE_OFF);
				return parse_l4(c, data, next, p);
			}
			// RFC 8200 s4.5 / RFC 7112: a first fragment must carry the
			// whole header chain through the transport header; Linux
			// drops one that does not, so it can never complete.
			if (next != IPPROTO_TCP && next != IPPROTO_UDP)
				return PARSE_OTHER;
			__u32 need = next == IPPROTO_TCP ? 20 : 8;
			__u8 *l4 = data + (off & MAX_PARSE_OFF);
			if ((void *)(l4 + 20) > c->end && next == IPPROTO_TCP)
				return PARSE_FRAG_DROP;
			if ((void *)(l4 + 8) > c->end || off + need > pend)
				return PARSE_FRAG_DROP;
			p->frag.proto = next;
			p->frag.l4off = off - fdata;
			p->proto = next;
			return PARSE_FRAGMENT;
		}
	}
	// More extension headers than we walk. Linux walks on, so this may
	// well be a probe the host answers: evasion evidence, once whole if
	// it is a first fragment.
	if (frag) {
		p->frag.chain = 1;
		return PARSE_FRAGMENT;
	}
	return PARSE_CHAIN;
}

// parse_frame parses the Ethernet frame from data to end: the XDP
// program's frames, and the egress program's (scanwatch_egress).
static __always_inline int parse_frame(void *data, void *end, struct pkt *p)
{
	struct cursor c = {
		.pos = data,
		.end = end,
	};
	struct ethhdr *eth = c.pos;
	if ((void *)(eth + 1) > c.end)
		return PARSE_ERROR;
	__be16 proto = eth->h_proto;
	c.pos = eth + 1;
	// Untagged IPv4, the common case, gets its own copy of the IPv4
	// parser: at a constant offset clang addresses the headers directly
	// and keeps fewer registers live than at the masked offset below.
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(&c, data, p);

	int i;
	for (i = 0; i < MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vh = c.pos;
		if ((void *)(vh + 1) > c.end)
			return PARSE_ERROR;
		proto = vh->proto;
		c.pos = vh + 1;
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return PARSE_VLAN_DEPTH;

	// From here on the network header's offset is a number in a fixed
	// range, so the paths of every VLAN depth merge for the verifier.
	c.pos = data + ((c.pos - data) & MAX_PARSE_OFF);
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(&c, data, p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(&c, data, p);
	return PARSE_OTHER;
}

static __always_inline int parse(struct xdp_md *ctx, struct pkt *p)
{
	return parse_frame((void *)(long)ctx->data, (void *)(long)ctx->data_end, p);
}
