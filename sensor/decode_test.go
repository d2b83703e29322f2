package sensor

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/scanwatch/scanwatch/detector"
)

func TestDecode(t *testing.T) {
	syn := pktOpts{flags: "S", dport: 22, window: 1024, ttl: 41, id: 54321, tcpOpts: mssOpt}
	with := func(f func(*pktOpts)) pktOpts { o := syn; f(&o); return o }
	v6 := with(func(o *pktOpts) { o.v6 = true })
	tests := []struct {
		name  string
		link  uint32
		frame []byte
		ok    bool
		kind  detector.Kind
		v6    bool
		check func(t *testing.T, ev *detector.Event)
	}{
		{name: "ethernet SYN v4", link: LinkEthernet, frame: buildEth(t, syn), ok: true, kind: detector.KindSYN,
			check: func(t *testing.T, ev *detector.Event) {
				if ev.TTL != 41 || ev.IPID != 54321 || ev.Window != 1024 || !ev.MSSOnly || ev.DstPort != 22 || ev.SrcPort != 40000 {
					t.Errorf("fields: %+v", *ev)
				}
			}},
		{name: "SYN with a real stack's options is not MSS-only", link: LinkEthernet, ok: true, kind: detector.KindSYN,
			frame: buildEth(t, with(func(o *pktOpts) { o.tcpOpts = linuxOpts })),
			check: func(t *testing.T, ev *detector.Event) {
				if ev.MSSOnly {
					t.Error("MSSOnly set for MSS+SACK+WS options")
				}
			}},
		{name: "ethernet SYN v6", link: LinkEthernet, frame: buildEth(t, v6), ok: true, kind: detector.KindSYN, v6: true},
		{name: "SYN-ACK", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.flags = "SA" })), ok: true, kind: detector.KindSYNACK},
		{name: "ACK", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.flags = "A" })), ok: true, kind: detector.KindOther},
		{name: "RST", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.flags = "RA" })), ok: true, kind: detector.KindRST},
		{name: "XMAS", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.flags = "FPU" })), ok: true, kind: detector.KindOther,
			check: func(t *testing.T, ev *detector.Event) {
				if ev.Flags != detector.FlagFIN|detector.FlagPSH|detector.FlagURG {
					t.Errorf("flags %#x", ev.Flags)
				}
			}},
		{name: "UDP", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.udp = true; o.dport = 53 })), ok: true, kind: detector.KindUDP},
		{name: "802.1Q", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.vlans = []uint16{943} })), ok: true, kind: detector.KindSYN},
		{name: "802.1ad QinQ", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.vlans = []uint16{100, 200} })), ok: true, kind: detector.KindSYN},
		{name: "QinQ v6", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.v6 = true; o.vlans = []uint16{100, 200} })), ok: true, kind: detector.KindSYN, v6: true},
		{name: "IPv4 options", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.ipOpts = true })), ok: true, kind: detector.KindSYN},
		{name: "IPv6 extension headers", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.v6 = true; o.ext6 = true })), ok: true, kind: detector.KindSYN, v6: true},
		{name: "Linux cooked v1", link: LinkSLL, frame: withSLL(buildIP(t, syn), false), ok: true, kind: detector.KindSYN},
		{name: "Linux cooked v2", link: LinkSLL2, frame: withSLL2(buildIP(t, v6), true), ok: true, kind: detector.KindSYN, v6: true},
		{name: "raw IPv4", link: LinkRaw, frame: buildIP(t, syn), ok: true, kind: detector.KindSYN},
		{name: "raw IPv6", link: LinkRaw, frame: buildIP(t, v6), ok: true, kind: detector.KindSYN, v6: true},
		{name: "LINKTYPE_IPV4", link: LinkIPv4, frame: buildIP(t, syn), ok: true, kind: detector.KindSYN},
		{name: "LINKTYPE_IPV6", link: LinkIPv6, frame: buildIP(t, v6), ok: true, kind: detector.KindSYN, v6: true},
		{name: "BSD null", link: LinkNull, frame: withNull(buildIP(t, syn), false), ok: true, kind: detector.KindSYN},
		{name: "BSD null v6", link: LinkNull, frame: withNull(buildIP(t, v6), true), ok: true, kind: detector.KindSYN, v6: true},
		{name: "runt frame", link: LinkEthernet, frame: buildEth(t, syn)[:10]},
		{name: "truncated IPv4 header", link: LinkEthernet, frame: buildEth(t, syn)[:14+12]},
		{name: "truncated TCP header", link: LinkEthernet, frame: buildEth(t, syn)[:14+20+10]},
		{name: "truncated IPv6 header", link: LinkEthernet, frame: buildEth(t, v6)[:14+30]},
		{name: "IPv4 fragment without TCP header", link: LinkEthernet, frame: buildEth(t, with(func(o *pktOpts) { o.fragment = true }))},
		{name: "unsupported link type", link: 147, frame: buildEth(t, syn)},
		{name: "IPv4 total length 0 on data (segmentation offload)", link: LinkEthernet, ok: true, kind: detector.KindOther,
			frame: func() []byte {
				f := buildEth(t, with(func(o *pktOpts) { o.flags = "PA" }))
				f[14+2], f[14+3] = 0, 0
				return f
			}()},
		// The receiver drops an IP length of 0 (ip_rcv: shorter than the
		// header): only the sending host's capture has them, on data.
		{name: "IPv4 total length 0 on a SYN", link: LinkEthernet,
			frame: func() []byte { f := buildEth(t, syn); f[14+2], f[14+3] = 0, 0; return f }()},
		{name: "IPv4 header claiming another version", link: LinkEthernet,
			frame: func() []byte { f := buildEth(t, syn); f[14] = 0x55; return f }()},
		{name: "IPv4 total length shorter than its header", link: LinkEthernet,
			frame: func() []byte { f := buildEth(t, syn); f[14+2], f[14+3] = 0, 10; return f }()},
		{name: "empty frame", link: LinkEthernet, frame: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder()
			var ev detector.Event
			ok := d.Decode(tc.link, tc.frame, 1_700_000_000_123_456_789, &ev)
			if ok != tc.ok {
				t.Fatalf("Decode = %v, want %v (stats %+v)", ok, tc.ok, d.Stats)
			}
			if !ok {
				// A fragment waits in its queue, counted there.
				if d.Stats.Malformed+d.Stats.NotIP+d.Stats.Unsupported+d.Stats.Defrag.Fragments != 1 {
					t.Fatalf("a skipped frame must be counted once: %+v", d.Stats)
				}
				return
			}
			if ev.Kind != tc.kind {
				t.Errorf("kind %v, want %v", ev.Kind, tc.kind)
			}
			wantSrc, wantDst := netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("203.0.113.10")
			if tc.v6 {
				wantSrc, wantDst = netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:2::10")
			}
			if ev.Src != wantSrc || ev.Dst != wantDst {
				t.Errorf("addresses %v -> %v, want %v -> %v", ev.Src, ev.Dst, wantSrc, wantDst)
			}
			if ev.Time.UnixNano() != 1_700_000_000_123_456_789 {
				t.Errorf("time %v lost precision", ev.Time)
			}
			if tc.check != nil {
				tc.check(t, &ev)
			}
		})
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	d := NewDecoder()
	frame := buildEth(t, pktOpts{flags: "S", dport: 80, tcpOpts: mssOpt, vlans: []uint16{7}})
	var ev detector.Event
	allocs := testing.AllocsPerRun(1000, func() { d.Decode(LinkEthernet, frame, 1, &ev) })
	if allocs != 0 {
		t.Fatalf("Decode allocates %.1f times per packet; the replay hot path must not", allocs)
	}
}

func FuzzDecode(f *testing.F) {
	o := pktOpts{flags: "S", dport: 22, tcpOpts: mssOpt}
	f.Add(uint32(LinkEthernet), buildEth(f, o))
	o.vlans = []uint16{1, 2}
	f.Add(uint32(LinkEthernet), buildEth(f, o))
	o.v6, o.ext6 = true, true
	f.Add(uint32(LinkEthernet), buildEth(f, o))
	f.Add(uint32(LinkSLL2), withSLL2(buildIP(f, o), true))
	o = pktOpts{flags: "S", ipOpts: true, udp: true}
	f.Add(uint32(LinkRaw), buildIP(f, o))
	f.Add(uint32(LinkNull), withNull(buildIP(f, o), false))
	f.Add(uint32(LinkSLL), withSLL(buildIP(f, o), false))
	// The evasion paths: fragments, long header chains, VLAN stacks,
	// tunnels (the fuzzed decoder decapsulates all of them).
	syn := pktOpts{flags: "S", dport: 22, tcpOpts: mssOpt, data: 16}
	for _, fr := range frag4(buildIP(f, syn), inOrder(40, 8)...)[:2] {
		f.Add(uint32(LinkRaw), fr)
	}
	syn.v6 = true
	f.Add(uint32(LinkRaw), frag6(buildIP(f, syn), 7, piece{0, 24, true, nil})[0])
	f.Add(uint32(LinkRaw), frag6(buildIP(f, syn), 7, piece{0, 40, false, nil})[0])
	f.Add(uint32(LinkIPv6), extChain(buildIP(f, syn), 17))
	syn = pktOpts{flags: "S", dport: 22, vlans: []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9}}
	f.Add(uint32(LinkEthernet), buildEth(f, syn))
	syn.vlans = nil
	f.Add(uint32(LinkRaw), tunnel4(f, layers.IPProtocolIPv4, nil, buildIP(f, syn)))
	f.Add(uint32(LinkRaw), tunnel4(f, layers.IPProtocolGRE, []byte{0xb0, 0, 0x65, 0x58, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2}, buildEth(f, syn)))
	f.Add(uint32(LinkRaw), vxlan(f, buildEth(f, syn)))
	f.Fuzz(func(t *testing.T, link uint32, frame []byte) {
		d := NewDecoderWith(DecodeOptions{Decapsulate: TunnelIPIP | TunnelGRE | TunnelVXLAN})
		var ev detector.Event
		for ok := d.Decode(link, frame, 0, &ev); ok; ok = d.More(&ev) {
			if !ev.Src.IsValid() || !ev.Dst.IsValid() {
				t.Fatalf("decoded an event without addresses: %+v", ev)
			}
		}
		// The same frame as every fragment of a datagram must not break
		// reassembly either.
		d.Decode(link, frame, 0, &ev)
		d.Finish()
	})
}

// BenchmarkDecodeSYN times the decoder alone on an nmap-like SYN, the
// replay's common case (checksums verified).
func BenchmarkDecodeSYN(b *testing.B) {
	d := NewDecoder()
	frame := buildEth(b, pktOpts{flags: "S", dport: 80, window: 1024, ttl: 50, tcpOpts: mssOpt})
	var ev detector.Event
	for b.Loop() {
		if !d.Decode(LinkEthernet, frame, 1, &ev) {
			b.Fatal("no event")
		}
	}
}
