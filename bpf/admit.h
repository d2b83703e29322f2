// Admission in front of the flow map: a source's first probe is reported
// but not inserted. A spoofed one-packet source (a SYN flood from random
// addresses, a bare-ACK flood) then costs one keyed hash, one 4-byte
// write and its ring record instead of an LRU insert, and cannot push
// real scanners' flows out of the map before the sweep reads them.
//
// Counts stay exact without the map: the first probe's record says it is
// one probe of a flow the map does not hold (FIRST_SIGHT), so user space
// hands it on once and keeps nothing of it (sensor/flows.go). Any later
// probe of the source, to the same flow or another, goes to the map as a
// new flow instance whose count starts at 1. A source is a scanner
// because it sends more than one probe, so every flow that a rule can
// count past 1 is in the map from its source's second probe on.
//
// The table holds one 32-bit tag per slot, indexed by a keyed hash of the
// source alone. A slot another source overwrites makes the next probe a
// first sight again: one more record, still exact. A tag that matches by
// chance (2^-16 once the table is full) admits a source at its first
// probe: one insert, as before admission.
//
// The main path asks source_seen before it looks the flow up: a spoofed
// source's flow cannot be in the map, and the map's bucket is a cache
// miss (syn_new 275 -> 205 ns). A flow that is in the map while its
// source's slot was overwritten gets a first sight instead of a count in
// the map: the same total.

#define ADMIT_BITS 16 // 4 MiB: a slot is overwritten after ~2^20 other new sources

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << ADMIT_BITS);
	__type(key, __u32);
	__type(value, __u32);
} admitted SEC(".maps");

// source_hash is a keyed hash of the 16-byte (v4-mapped) source, with
// the credit table's keys; all four words, so that the benchmark's
// perturbed keys (flow_key_of) count as new sources.
static __always_inline __u32 source_hash(const __u8 *src)
{
	__u32 x = load32(src) * cfg.credit_keys[0] + load32(src + 4) * cfg.credit_keys[1] +
		  load32(src + 8) * cfg.credit_keys[2] + load32(src + 12) * cfg.credit_keys[3];
	x ^= x >> 16;
	x *= cfg.credit_keys[9];
	return x ^ (x >> 13);
}

// admit_slot is the slot of key's source; *tag is what it holds once the
// source is seen (never 0, an empty slot).
static __always_inline __u32 *admit_slot(const struct flow_key *key, __u32 *tag)
{
	__u32 h = source_hash(key->saddr);
	__u32 i = h >> (32 - ADMIT_BITS);
	*tag = h | 1;
	return bpf_map_lookup_elem(&admitted, &i);
}

// source_seen says whether key's source has sent a probe before.
static __always_inline int source_seen(const struct flow_key *key)
{
	__u32 tag;
	__u32 *slot = admit_slot(key, &tag);
	return !slot || *slot == tag; // no slot (never): as before admission
}

// first_sight records key's source as seen and says whether it was new.
static __always_inline int first_sight(const struct flow_key *key)
{
	__u32 tag;
	__u32 *slot = admit_slot(key, &tag);
	if (!slot || *slot == tag)
		return 0;
	*slot = tag;
	return 1;
}
