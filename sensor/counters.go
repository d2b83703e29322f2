package sensor

import (
	"fmt"

	"github.com/cilium/ebpf"
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

// ReadCounters sums the per-CPU counters; cheap enough for every scrape.
func (o *Objects) ReadCounters() (Counters, error) {
	var c Counters
	if err := sumPerCPU(o.Counters, c.Values[:]); err != nil {
		return c, fmt.Errorf("reading counters: %w", err)
	}
	if err := sumPerCPU(o.XdpActions, c.Actions[:]); err != nil {
		return c, fmt.Errorf("reading XDP action counters: %w", err)
	}
	return c, nil
}

func sumPerCPU(m *ebpf.Map, out []uint64) error {
	var per []uint64
	for i := range out {
		if err := m.Lookup(uint32(i), &per); err != nil {
			return err
		}
		var s uint64
		for _, v := range per {
			s += v
		}
		out[i] = s
	}
	return nil
}
