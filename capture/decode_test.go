package capture

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/scanwatch/scanwatch/detector"
	"github.com/scanwatch/scanwatch/internal/httpwire"
	"github.com/scanwatch/scanwatch/internal/packettest"
)

func TestDecode(t *testing.T) {
	syn := packettest.PktOpts{Flags: "S", Dport: 22, Window: 1024, TTL: 41, ID: 54321, TCPOpts: packettest.MSSOpt}
	with := func(f func(*packettest.PktOpts)) packettest.PktOpts { o := syn; f(&o); return o }
	v6 := with(func(o *packettest.PktOpts) { o.V6 = true })
	tests := []struct {
		name  string
		link  uint32
		frame []byte
		ok    bool
		kind  detector.Kind
		v6    bool
		check func(t *testing.T, ev *detector.Event)
	}{
		{name: "ethernet SYN v4", link: LinkEthernet, frame: packettest.BuildEth(t, syn), ok: true, kind: detector.KindSYN,
			check: func(t *testing.T, ev *detector.Event) {
				if ev.TTL != 41 || ev.IPID != 54321 || ev.Window != 1024 || !ev.MSSOnly || ev.DstPort != 22 || ev.SrcPort != 40000 {
					t.Errorf("fields: %+v", *ev)
				}
			}},
		{name: "SYN with a real stack's options is not MSS-only", link: LinkEthernet, ok: true, kind: detector.KindSYN,
			frame: packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.TCPOpts = packettest.LinuxOpts })),
			check: func(t *testing.T, ev *detector.Event) {
				if ev.MSSOnly {
					t.Error("MSSOnly set for MSS+SACK+WS options")
				}
			}},
		{name: "ethernet SYN v6", link: LinkEthernet, frame: packettest.BuildEth(t, v6), ok: true, kind: detector.KindSYN, v6: true},
		{name: "SYN-ACK", link: LinkEthernet, frame: packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Flags = "SA" })), ok: true, kind: detector.KindSYNACK},
		{name: "ACK", link: LinkEthernet, frame: packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Flags = "A" })), ok: true, kind: detector.KindOther},
		{name: "RST", link: LinkEthernet, frame: packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Flags = "RA" })), ok: true, kind: detector.KindRST},
		{name: "XMAS", link: LinkEthernet, frame: packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Flags = "FPU" })), ok: true, kind: detector.KindOther,
			check: func(t *testing.T, ev *detector.Event) {
				if ev.Flags != detector.FlagFIN|detector.FlagPSH|detector.FlagURG {
					t.Errorf("flags %#x", ev.Flags)
				}
			}},
		{name: "UDP", link: LinkEthernet, frame: packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.UDP = true; o.Dport = 53 })), ok: true, kind: detector.KindUDP},
		{name: "802.1Q", link: LinkEthernet, frame: packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.VLANs = []uint16{943} })), ok: true, kind: detector.KindSYN},
		{name: "802.1ad QinQ", link: LinkEthernet, frame: packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.VLANs = []uint16{100, 200} })), ok: true, kind: detector.KindSYN},
		{name: "QinQ v6", link: LinkEthernet, frame: packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.V6 = true; o.VLANs = []uint16{100, 200} })), ok: true, kind: detector.KindSYN, v6: true},
		{name: "IPv4 options", link: LinkEthernet, frame: packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.IPOpts = true })), ok: true, kind: detector.KindSYN},
		{name: "IPv6 extension headers", link: LinkEthernet, frame: packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.V6 = true; o.Ext6 = true })), ok: true, kind: detector.KindSYN, v6: true},
		{name: "Linux cooked v1", link: LinkSLL, frame: packettest.WithSLL(packettest.BuildIP(t, syn), false), ok: true, kind: detector.KindSYN},
		{name: "Linux cooked v2", link: LinkSLL2, frame: packettest.WithSLL2(packettest.BuildIP(t, v6), true), ok: true, kind: detector.KindSYN, v6: true},
		{name: "raw IPv4", link: LinkRaw, frame: packettest.BuildIP(t, syn), ok: true, kind: detector.KindSYN},
		{name: "raw IPv6", link: LinkRaw, frame: packettest.BuildIP(t, v6), ok: true, kind: detector.KindSYN, v6: true},
		{name: "LINKTYPE_IPV4", link: LinkIPv4, frame: packettest.BuildIP(t, syn), ok: true, kind: detector.KindSYN},
		{name: "LINKTYPE_IPV6", link: LinkIPv6, frame: packettest.BuildIP(t, v6), ok: true, kind: detector.KindSYN, v6: true},
		{name: "BSD null", link: LinkNull, frame: packettest.WithNull(packettest.BuildIP(t, syn), false), ok: true, kind: detector.KindSYN},
		{name: "BSD null v6", link: LinkNull, frame: packettest.WithNull(packettest.BuildIP(t, v6), true), ok: true, kind: detector.KindSYN, v6: true},
		{name: "runt frame", link: LinkEthernet, frame: packettest.BuildEth(t, syn)[:10]},
		{name: "truncated IPv4 header", link: LinkEthernet, frame: packettest.BuildEth(t, syn)[:14+12]},
		{name: "truncated TCP header", link: LinkEthernet, frame: packettest.BuildEth(t, syn)[:14+20+10]},
		{name: "truncated IPv6 header", link: LinkEthernet, frame: packettest.BuildEth(t, v6)[:14+30]},
		{name: "IPv4 fragment without TCP header", link: LinkEthernet, frame: packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Fragment = true }))},
		{name: "unsupported link type", link: 147, frame: packettest.BuildEth(t, syn)},
		{name: "IPv4 total length 0 on data (segmentation offload)", link: LinkEthernet, ok: true, kind: detector.KindOther,
			frame: func() []byte {
				f := packettest.BuildEth(t, with(func(o *packettest.PktOpts) { o.Flags = "PA" }))
				f[14+2], f[14+3] = 0, 0
				return f
			}()},
		// The receiver drops an IP length of 0 (ip_rcv: shorter than the
		// header): only the sending host's capture has them, on data.
		{name: "IPv4 total length 0 on a SYN", link: LinkEthernet,
			frame: func() []byte { f := packettest.BuildEth(t, syn); f[14+2], f[14+3] = 0, 0; return f }()},
		{name: "IPv4 header claiming another version", link: LinkEthernet,
			frame: func() []byte { f := packettest.BuildEth(t, syn); f[14] = 0x55; return f }()},
		{name: "IPv4 total length shorter than its header", link: LinkEthernet,
			frame: func() []byte { f := packettest.BuildEth(t, syn); f[14+2], f[14+3] = 0, 10; return f }()},
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
	frame := packettest.BuildEth(t, packettest.PktOpts{Flags: "S", Dport: 80, TCPOpts: packettest.MSSOpt, VLANs: []uint16{7}})
	var ev detector.Event
	allocs := testing.AllocsPerRun(1000, func() { d.Decode(LinkEthernet, frame, 1, &ev) })
	if allocs != 0 {
		t.Fatalf("Decode allocates %.1f times per packet; the replay hot path must not", allocs)
	}
}

// With HTTP inspection on, a packet that carries no HTTP head still costs
// nothing; one that does costs the parser's two allocations.
func TestDecodeHTTPDoesNotAllocate(t *testing.T) {
	d := NewDecoderWith(DecodeOptions{HTTPPorts: httpwire.NewPorts(httpwire.DefaultPorts...)})
	data := packettest.PktOpts{Flags: "PA", Dport: 80}
	to443 := data
	to443.Dport = 443
	var ev detector.Event
	for name, frame := range map[string][]byte{
		"SYN to 80":            packettest.BuildEth(t, packettest.PktOpts{Flags: "S", Dport: 80, TCPOpts: packettest.MSSOpt}),
		"ACK to 80":            packettest.BuildEth(t, packettest.PktOpts{Flags: "A", Dport: 80}),
		"TLS on 80":            packettest.TCPPayloadEth(t, data, []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")),
		"GET to 443":           packettest.TCPPayloadEth(t, to443, []byte("GET / HTTP/1.1\r\n\r\n")),
		"body segment on 80":   packettest.TCPPayloadEth(t, data, []byte("user=admin&password=admin")),
		"bad status from 8080": packettest.TCPPayloadEth(t, packettest.PktOpts{Flags: "PA", Sport: 8080, Dport: 40000}, []byte("HTTP/1.1 abc\r\n")),
	} {
		if !d.Decode(LinkEthernet, frame, 1, &ev) || ev.HTTP != nil {
			t.Fatalf("%s: no event, or HTTP %+v", name, ev.HTTP)
		}
		if allocs := testing.AllocsPerRun(1000, func() { d.Decode(LinkEthernet, frame, 1, &ev) }); allocs != 0 {
			t.Errorf("%s: Decode allocates %.1f times per packet; only HTTP heads may", name, allocs)
		}
	}
	get := packettest.TCPPayloadEth(t, data, []byte("GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: x\r\n\r\n"))
	if allocs := testing.AllocsPerRun(1000, func() { d.Decode(LinkEthernet, get, 1, &ev) }); allocs != 2 {
		t.Errorf("an HTTP request costs %.1f allocations, want 2 (the HTTP and its head)", allocs)
	}
}

func FuzzDecode(f *testing.F) {
	o := packettest.PktOpts{Flags: "S", Dport: 22, TCPOpts: packettest.MSSOpt}
	f.Add(uint32(LinkEthernet), packettest.BuildEth(f, o))
	o.VLANs = []uint16{1, 2}
	f.Add(uint32(LinkEthernet), packettest.BuildEth(f, o))
	o.V6, o.Ext6 = true, true
	f.Add(uint32(LinkEthernet), packettest.BuildEth(f, o))
	f.Add(uint32(LinkSLL2), packettest.WithSLL2(packettest.BuildIP(f, o), true))
	o = packettest.PktOpts{Flags: "S", IPOpts: true, UDP: true}
	f.Add(uint32(LinkRaw), packettest.BuildIP(f, o))
	f.Add(uint32(LinkNull), packettest.WithNull(packettest.BuildIP(f, o), false))
	f.Add(uint32(LinkSLL), packettest.WithSLL(packettest.BuildIP(f, o), false))
	// The evasion paths: fragments, long header chains, VLAN stacks,
	// tunnels (the fuzzed decoder decapsulates all of them).
	syn := packettest.PktOpts{Flags: "S", Dport: 22, TCPOpts: packettest.MSSOpt, Data: 16}
	for _, fr := range packettest.Frag4(packettest.BuildIP(f, syn), packettest.InOrder(40, 8)...)[:2] {
		f.Add(uint32(LinkRaw), fr)
	}
	syn.V6 = true
	f.Add(uint32(LinkRaw), packettest.Frag6(packettest.BuildIP(f, syn), 7, packettest.Piece{N: 24, More: true})[0])
	f.Add(uint32(LinkRaw), packettest.Frag6(packettest.BuildIP(f, syn), 7, packettest.Piece{N: 40})[0])
	f.Add(uint32(LinkIPv6), packettest.ExtChain(packettest.BuildIP(f, syn), 17))
	syn = packettest.PktOpts{Flags: "S", Dport: 22, VLANs: []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9}}
	f.Add(uint32(LinkEthernet), packettest.BuildEth(f, syn))
	syn.VLANs = nil
	f.Add(uint32(LinkRaw), packettest.Tunnel4(f, layers.IPProtocolIPv4, nil, packettest.BuildIP(f, syn)))
	f.Add(uint32(LinkRaw), packettest.Tunnel4(f, layers.IPProtocolGRE, []byte{0xb0, 0, 0x65, 0x58, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2}, packettest.BuildEth(f, syn)))
	f.Add(uint32(LinkRaw), packettest.VXLAN(f, packettest.BuildEth(f, syn)))
	// HTTP heads, plain and in a tunnel.
	get := packettest.TCPPayloadEth(f, packettest.PktOpts{Flags: "PA", Dport: 80, VLANs: []uint16{5}}, []byte("GET /x HTTP/1.1\r\nHost: h\r\nUser-Agent: u\r\n\r\n"))
	f.Add(uint32(LinkEthernet), get)
	f.Add(uint32(LinkRaw), packettest.VXLAN(f, get))
	f.Add(uint32(LinkRaw), packettest.TCPPayloadIP(f, packettest.PktOpts{Flags: "A", Sport: 8080, V6: true}, []byte("HTTP/1.1 404 Not Found\r\n\r\n")))
	ports := httpwire.NewPorts(httpwire.DefaultPorts...)
	f.Fuzz(func(t *testing.T, link uint32, frame []byte) {
		d := NewDecoderWith(DecodeOptions{Decapsulate: TunnelIPIP | TunnelGRE | TunnelVXLAN, HTTPPorts: ports})
		var ev detector.Event
		for ok := d.Decode(link, frame, 0, &ev); ok; ok = d.More(&ev) {
			if !ev.Src.IsValid() || !ev.Dst.IsValid() {
				t.Fatalf("decoded an event without addresses: %+v", ev)
			}
			if h := ev.HTTP; h != nil && (len(h.Head) > httpwire.PrefixBytes || len(h.Head) > len(frame) || ev.Evasion&detector.EvasionFragmented != 0) {
				t.Fatalf("HTTP head of %d bytes from a %d-byte frame (evasion %v)", len(h.Head), len(frame), ev.Evasion)
			}
		}
		// The same frame as every fragment of a datagram must not break
		// reassembly either.
		d.Decode(link, frame, 0, &ev)
		d.Finish()
	})
}

// BenchmarkDecodeHTTP times the decoder on a scanner's request to port 80,
// checksum verified and head parsed.
func BenchmarkDecodeHTTP(b *testing.B) {
	d := NewDecoderWith(DecodeOptions{HTTPPorts: httpwire.NewPorts(httpwire.DefaultPorts...)})
	frame := packettest.TCPPayloadEth(b, packettest.PktOpts{Flags: "PA", Dport: 80, Window: 502, TTL: 64},
		[]byte("GET /admin/config.php?x=1 HTTP/1.1\r\nHost: 203.0.113.10\r\nUser-Agent: Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)\r\nAccept: */*\r\nConnection: Keep-Alive\r\n\r\n"))
	var ev detector.Event
	b.ReportAllocs()
	for b.Loop() {
		if !d.Decode(LinkEthernet, frame, 1, &ev) || ev.HTTP == nil {
			b.Fatal("no HTTP event")
		}
	}
}

// BenchmarkDecodeData is a 1400-byte data segment that is not an HTTP
// head (a download, a request body), with inspection off, on for another
// port, and on for its port: what inspection adds to bulk traffic.
func BenchmarkDecodeData(b *testing.B) {
	frame := packettest.TCPPayloadEth(b, packettest.PktOpts{Flags: "A", Sport: 80, Dport: 40000}, make([]byte, 1400))
	for _, bc := range []struct {
		name  string
		ports *httpwire.Ports
	}{{"http-off", nil}, {"http-on-other-port", httpwire.NewPorts(8080)}, {"http-on", httpwire.NewPorts(httpwire.DefaultPorts...)}} {
		b.Run(bc.name, func(b *testing.B) {
			d := NewDecoderWith(DecodeOptions{HTTPPorts: bc.ports})
			var ev detector.Event
			b.ReportAllocs()
			for b.Loop() {
				if !d.Decode(LinkEthernet, frame, 1, &ev) || ev.HTTP != nil {
					b.Fatal("no event, or HTTP")
				}
			}
		})
	}
}

// BenchmarkDecodeSYN times the decoder alone on an nmap-like SYN, the
// replay's common case (checksums verified).
func BenchmarkDecodeSYN(b *testing.B) {
	d := NewDecoder()
	frame := packettest.BuildEth(b, packettest.PktOpts{Flags: "S", Dport: 80, Window: 1024, TTL: 50, TCPOpts: packettest.MSSOpt})
	var ev detector.Event
	for b.Loop() {
		if !d.Decode(LinkEthernet, frame, 1, &ev) {
			b.Fatal("no event")
		}
	}
}
