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

#define MAX_VLAN_TAGS 2   // 802.1ad outer + 802.1Q inner
#define MAX_IPV6_EXT 6    // more than any sane packet carries

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

enum parse_result {
	PARSE_ERROR = 0, // cut short or inconsistent
	PARSE_TCP,
	PARSE_UDP,
	PARSE_OTHER,     // not IP, another protocol, or a non-first fragment
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
	__be16 frag_off; // offset in the top 13 bits
	__be32 id;
};

static __always_inline void map_v4(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

static __always_inline int parse_l4(struct cursor *c, __u8 proto, struct pkt *p)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = c->pos;
		if ((void *)(th + 1) > c->end)
			return PARSE_ERROR;
		__u32 hlen = th->doff * 4;
		if (hlen < sizeof(*th) || c->pos + hlen > c->end)
			return PARSE_ERROR;
		p->sport = bpf_ntohs(th->source);
		p->dport = bpf_ntohs(th->dest);
		p->window = bpf_ntohs(th->window);
		p->flags = ((__u8 *)th)[13];
		p->mss_only = 0;
		p->opt_len = hlen - sizeof(*th);
		if (hlen == 24) {
			__u8 *opt = (void *)(th + 1);
			if ((void *)(opt + 2) <= c->end && opt[0] == 2 && opt[1] == 4)
				p->mss_only = 1;
		}
		return PARSE_TCP;
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *uh = c->pos;
		if ((void *)(uh + 1) > c->end)
			return PARSE_ERROR;
		p->sport = bpf_ntohs(uh->source);
		p->dport = bpf_ntohs(uh->dest);
		p->flags = 0;
		p->opt_len = 0;
		return PARSE_UDP;
	}
	return PARSE_OTHER;
}

static __always_inline int parse_ipv4(struct cursor *c, struct pkt *p)
{
	struct iphdr *ip = c->pos;
	if ((void *)(ip + 1) > c->end)
		return PARSE_ERROR;
	__u32 hlen = ip->ihl * 4;
	if (ip->version != 4 || hlen < sizeof(*ip) || c->pos + hlen > c->end)
		return PARSE_ERROR;
	// A later fragment has no transport header of its own.
	if (ip->frag_off & bpf_htons(0x1fff))
		return PARSE_OTHER;
	map_v4(p->saddr, ip->saddr);
	map_v4(p->daddr, ip->daddr);
	p->ttl = ip->ttl;
	p->ip_id = bpf_ntohs(ip->id);
	c->pos += hlen;
	return parse_l4(c, ip->protocol, p);
}

static __always_inline int parse_ipv6(struct cursor *c, struct pkt *p)
{
	struct ipv6hdr *ip6 = c->pos;
	if ((void *)(ip6 + 1) > c->end)
		return PARSE_ERROR;
	if (ip6->version != 6)
		return PARSE_ERROR;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	p->ttl = ip6->hop_limit;
	p->ip_id = 0;
	c->pos = ip6 + 1;
	__u8 next = ip6->nexthdr;

#pragma unroll
	for (int i = 0; i < MAX_IPV6_EXT; i++) {
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS: {
			struct ip6_ext *e = c->pos;
			if ((void *)(e + 1) > c->end)
				return PARSE_ERROR;
			next = e->next;
			c->pos += (e->len + 1) * 8;
			break;
		}
		case IPPROTO_AH: {
			struct ip6_ext *e = c->pos;
			if ((void *)(e + 1) > c->end)
				return PARSE_ERROR;
			next = e->next;
			c->pos += (e->len + 2) * 4;
			break;
		}
		case IPPROTO_FRAGMENT: {
			struct ip6_frag *f = c->pos;
			if ((void *)(f + 1) > c->end)
				return PARSE_ERROR;
			if (f->frag_off & bpf_htons(0xfff8))
				return PARSE_OTHER;
			next = f->next;
			c->pos = f + 1;
			break;
		}
		default:
			return parse_l4(c, next, p);
		}
	}
	return PARSE_OTHER; // more extension headers than we walk
}

static __always_inline int parse(struct xdp_md *ctx, struct pkt *p)
{
	struct cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	struct ethhdr *eth = c.pos;
	if ((void *)(eth + 1) > c.end)
		return PARSE_ERROR;
	__be16 proto = eth->h_proto;
	c.pos = eth + 1;

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vh = c.pos;
		if ((void *)(vh + 1) > c.end)
			return PARSE_ERROR;
		proto = vh->proto;
		c.pos = vh + 1;
	}

	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(&c, p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(&c, p);
	return PARSE_OTHER;
}
