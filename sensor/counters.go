package sensor

import (
	"fmt"

	"github.com/scanwatch/scanwatch/bpf"
)

// Kernel counter indexes; keep in step with enum counter in bpf/scanwatch.c.
const (
	CntPackets = iota
	CntSYN
	CntOtherTCP
	CntUDP
	CntNonTCP
	CntParseError
	CntFlowsNew
	CntRingbufEvents
	CntRingbufDrops
	CntProbes
	CntCsumBad
	CntCsumOffload
	CntCsumUnverified
	CntFragments
	CntFragDatagrams
	CntFragOverlap
	CntFragDropped
	CntTinyFragment
	CntHeaderChain
	CntVLANDepth
	CntHTTPRequests
	CntHTTPResponses
	CntHTTPRecords
	CntHTTPSuppressedSource
	CntHTTPSuppressedCPU
	CntACKProbes
	CntCredits
	CntFirstSight
	CntEgressCredits
	cntMax
)

// CounterNames are the counters' names in metrics and logs.
var CounterNames = [cntMax]string{"packets", "syn", "other_tcp", "udp", "non_tcp", "parse_error", "flows_new", "ringbuf_events", "ringbuf_drops", "probes",
	"csum_bad", "csum_offload", "csum_unverified", "fragments", "frag_datagrams", "frag_overlap", "frag_dropped", "tiny_fragment", "header_chain", "vlan_depth",
	"http_requests", "http_responses", "http_records", "http_suppressed_source", "http_suppressed_cpu", "ack_probes", "credits",
	"first_sight", "egress_credits"}

// Counters is a snapshot of the program's per-CPU counters, summed.
type Counters struct {
	Values  [cntMax]uint64
	Actions [5]uint64 // per XDP action: aborted, drop, pass, tx, redirect
}

// ReadCounters sums the per-CPU counters; cheap enough for every scrape:
// one lookup returns every CPU's whole set.
func (o *Objects) ReadCounters() (Counters, error) {
	var c Counters
	var per []bpf.ScanwatchCounterSet
	if err := o.Counters.Lookup(uint32(0), &per); err != nil {
		return c, fmt.Errorf("reading counters: %w", err)
	}
	for i := range per {
		for j, v := range per[i].Cnt {
			c.Values[j] += v
		}
		for j, v := range per[i].Actions {
			c.Actions[j] += v
		}
	}
	return c, nil
}

// The kernel's set holds exactly the counters named here: the build
// fails when enum counter and the constants above differ in number.
var _ [cntMax]uint64 = bpf.ScanwatchCounterSet{}.Cnt
