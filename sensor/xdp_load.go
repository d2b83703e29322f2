package sensor

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/rlimit"

	"github.com/scanwatch/scanwatch/bpf"
	"github.com/scanwatch/scanwatch/internal/credit"
	"github.com/scanwatch/scanwatch/internal/httpwire"
)

// ProgramConfig is the XDP program's volatile const config.
type ProgramConfig struct {
	// ReportEvery: a known flow sends its cumulative SYN count every
	// ReportEvery SYNs. A power of two; 0 means the default, 128.
	ReportEvery uint32
	// WakeupBytes: the kernel wakes the ring reader each time the data
	// waiting grows past another multiple of it (and on every record
	// once the ring is half full); below it, the reader's FlushInterval
	// timer collects records. A power of two; 0 means the default, 1 MiB;
	// at most half the ring (a larger step is lowered to that).
	WakeupBytes uint32
	// NoUDPProbes keeps UDP on the counters-only path: UDP scans go
	// unseen live, and UDP costs what a TCP ACK costs.
	NoUDPProbes bool
	// BenchFreshKeys makes every packet a new flow. Benchmarks only.
	BenchFreshKeys BenchKeys
	// NoAdmission inserts a source's first probe into the flow map as
	// every later one (bpf/admit.h). Benchmarks and tests compare with it.
	NoAdmission bool
	// StrictChecksums rejects probes whose checksum field holds only the
	// pseudo-header sum. Checksum offload leaves exactly that in packets
	// that never crossed a wire (veth, tap, virtio from the same host),
	// which the receiving stack trusts; off a physical wire it is a
	// forgery the host drops. See ChecksumsFor.
	StrictChecksums bool
	// FlowEntries and RingBytes shrink the flow map and the ring buffer
	// (0: the program's own sizes). Tests only: a small map makes the LRU
	// evict under a modest flood, a small ring makes records drop.
	FlowEntries, RingBytes uint32
	// HTTPPorts are the TCP ports whose HTTP heads the program copies
	// into the ring: requests to them, and the status lines of responses
	// from them (seen only on a span/mirror port, XDP being inbound
	// only). nil or empty turns HTTP inspection off, at no cost to any
	// packet.
	HTTPPorts *httpwire.Ports
	// HTTPBudget bounds those copies per client and per CPU.
	HTTPBudget HTTPBudget
	// CreditKeys are the credit table's hash keys (internal/credit); zero
	// draws random ones, as every real load should. Tests set them to
	// compare the kernel's table with replay's slot for slot.
	CreditKeys credit.Keys
}

// BenchKeys say how the benchmark perturbs flow keys (bpf/scanwatch.c).
type BenchKeys uint32

const (
	BenchSameKey   BenchKeys = iota // one flow, repeated
	BenchNewSource                  // every packet from a new source: a spoofed flood
	BenchNewTarget                  // one source to ever new hosts: a sweep
)

// DefaultWakeupBytes is about 14,500 flow records, a quarter of the ring:
// a flood wakes the reader once per MiB it writes (each wakeup is a
// self-IPI, ~8 us on a VM), and anything slower waits for the reader's
// FlushInterval timer as before. Against 64 KiB it took syn_new from 231
// to 191 ns and an unbudgeted HTTP copy from 381 to 247 (BenchmarkXDP).
const DefaultWakeupBytes = 1 << 20

// DefaultReportEvery keeps a single-port flood under 0.01 ring records per
// SYN (1/128) while repeated SYNs of a scan still reach user space quickly;
// the periodic map sweep makes counts exact in between.
const DefaultReportEvery = 128

// Objects are the loaded program and maps.
type Objects struct {
	bpf.ScanwatchObjects
}

// LoadProgram loads the XDP program with cfg, without attaching it.
// A missing capability is named before anything is loaded; a verifier
// rejection with every capability held comes back in full (%+v prints
// the verifier log).
func LoadProgram(cfg ProgramConfig) (*Objects, error) {
	if cfg.ReportEvery == 0 {
		cfg.ReportEvery = DefaultReportEvery
	}
	if cfg.WakeupBytes == 0 {
		cfg.WakeupBytes = DefaultWakeupBytes
	}
	if cfg.ReportEvery&(cfg.ReportEvery-1) != 0 {
		return nil, fmt.Errorf("report interval %d is not a power of two", cfg.ReportEvery)
	}
	if cfg.WakeupBytes&(cfg.WakeupBytes-1) != 0 {
		return nil, fmt.Errorf("ring wakeup size %d is not a power of two", cfg.WakeupBytes)
	}
	if cfg.CreditKeys == (credit.Keys{}) {
		cfg.CreditKeys = credit.RandomKeys()
	}
	vars := bpf.ScanwatchConfig{ReportEvery: cfg.ReportEvery, WakeupBytes: cfg.WakeupBytes, UdpProbes: b2u(!cfg.NoUDPProbes), BenchFreshKeys: uint32(cfg.BenchFreshKeys), Admission: b2u(!cfg.NoAdmission), AcceptOffload: b2u(!cfg.StrictChecksums),
		CreditKeys: cfg.CreditKeys, CreditV4Base: credit.V4Base(&cfg.CreditKeys)}
	if err := setHTTP(&vars, cfg.HTTPPorts, cfg.HTTPBudget); err != nil {
		return nil, err
	}
	if err := checkCapabilities(false); err != nil {
		return nil, err
	}
	if err := checkKernel(); err != nil {
		return nil, err
	}
	// Needed on kernels before 5.11, harmless after.
	_ = rlimit.RemoveMemlock()
	spec, err := bpf.LoadScanwatch()
	if err != nil {
		return nil, err
	}
	// The program wakes the reader on every record once half the ring
	// waits, but tests that only after less than WakeupBytes waits: a
	// step past half the ring would skip that rule, and a ring the step
	// does not fit would never be woken (a small RingBytes, as tests use).
	ring := spec.Maps["events"].MaxEntries
	if cfg.RingBytes > 0 {
		ring = cfg.RingBytes
	}
	vars.WakeupBytes = min(vars.WakeupBytes, max(ring/2, 1))
	if err := spec.Variables[bpf.ScanwatchVarCfg].Set(vars); err != nil {
		return nil, fmt.Errorf("setting the program's config: %w", err)
	}
	var objs Objects
	if cfg.FlowEntries > 0 {
		spec.Maps["flows"].MaxEntries = cfg.FlowEntries
	}
	if cfg.RingBytes > 0 {
		spec.Maps["events"].MaxEntries = cfg.RingBytes
	}
	if err := spec.LoadAndAssign(&objs.ScanwatchObjects, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("the kernel's verifier rejected the XDP program (please report this with the log below): %+v", ve)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, errRefused("loading the XDP program", err)
		}
		return nil, fmt.Errorf("loading the XDP program: %w", err)
	}
	return &objs, nil
}

// checkKernel names what is missing in terms a user can act on.
func checkKernel() error {
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) {
			return errors.New("this kernel has no BPF ring buffers: scanwatch run needs Linux 5.8 or later (replay works on any kernel)")
		}
		if errors.Is(err, os.ErrPermission) {
			return errRefused("creating a BPF ring buffer", err)
		}
		return fmt.Errorf("probing the kernel for BPF ring buffers: %w", err)
	}
	return nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
