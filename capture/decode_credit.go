package capture

import (
	"net/netip"

	"github.com/scanwatch/scanwatch/detector"
)

// creditTCP applies the credit table (internal/credit) to a TCP segment
// just decoded into ev, as the XDP program does: a SYN arms its
// connection, a SYN-ACK marks the one its destination opened live, and a
// segment with ACK and without SYN or RST may earn its connection a
// credit (an event after ev's) and tells whether an ACK probe's shape is
// only a connection's ACK. Reassembled segments arm but earn nothing: the
// kernel judges only whole packets on that path, as they are all a real
// connection sends.
func (d *Decoder) creditTCP(ev *detector.Event, ip *ipCtx, ack uint32) {
	src, dst, ns := ev.Src.As16(), ev.Dst.As16(), ev.Time.UnixNano()
	if ev.Kind == detector.KindSYN {
		d.credit.SYN(&src, &dst, ev.DstPort, ns)
		return
	}
	if ev.Kind == detector.KindSYNACK {
		if !ip.reassembled {
			d.credit.Answer(&src, &dst, ev.SrcPort, ns)
		}
		return
	}
	if ev.Flags&(detector.FlagACK|detector.FlagSYN|detector.FlagRST) != detector.FlagACK || ip.reassembled {
		return
	}
	earned, est := d.credit.Segment(&src, &dst, ev.SrcPort, ev.DstPort, int(ev.Payload), ack, bareACK(ev), ns)
	ev.Established = est
	if earned {
		d.creditEvent(ev, ev.Src, ev.Dst, ev.DstPort, detector.KindCreditTCP)
	}
}

// bareACK: an ACK or FIN+ACK alone, without payload or options, the shape
// of nmap's ACK and Maimon probes (bpf/credit.h tests the same).
func bareACK(ev *detector.Event) bool {
	f := ev.Flags & (detector.FlagFIN | detector.FlagSYN | detector.FlagRST | detector.FlagPSH | detector.FlagACK | detector.FlagURG)
	return (f == detector.FlagACK || f == detector.FlagACK|detector.FlagFIN) && ev.Payload == 0 && ev.OptLen == 0
}

// creditUDP applies the table to a UDP datagram: a reply from a probed
// port earns the prober's flow a credit, and a probe (what the XDP
// program's probe_of counts) arms its flow.
func (d *Decoder) creditUDP(ev *detector.Event, ip *ipCtx) {
	src, dst, ns := ev.Src.As16(), ev.Dst.As16(), ev.Time.UnixNano()
	if !ip.reassembled && d.credit.Reply(&src, &dst, ev.SrcPort, ns) {
		d.creditEvent(ev, ev.Dst, ev.Src, ev.SrcPort, detector.KindCreditUDP)
	}
	if !(ev.SrcPort < 1024 && ev.DstPort >= 1024) {
		d.credit.Probe(&src, &dst, ev.DstPort, ns)
	}
}

// creditEvent adds a credit of client's flow to server:port after the
// packet's own event.
func (d *Decoder) creditEvent(pkt *detector.Event, client, server netip.Addr, port uint16, kind detector.Kind) {
	ev := d.event()
	if ev == nil {
		return
	}
	*ev = detector.Event{Time: pkt.Time, Src: client, Dst: server, DstPort: port, Kind: kind, TTL: pkt.TTL}
}
