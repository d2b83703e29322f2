package detector

// Probe is the kind of scan probe a packet is, as the alert's scan_type
// names it.
type Probe uint8

const (
	ProbeNone   Probe = iota
	ProbeSYN          // SYN without ACK (nmap -sS, -sT, masscan, zmap)
	ProbeFIN          // FIN alone (nmap -sF)
	ProbeNULL         // no flags (nmap -sN)
	ProbeXMAS         // FIN+PSH+URG (nmap -sX)
	ProbeMaimon       // FIN+ACK outside any connection (nmap -sM)
	ProbeACK          // ACK outside any connection (nmap -sA)
	ProbeUDP          // UDP datagram that answers nothing (nmap -sU)
	probeCount
)

var probeNames = [probeCount]string{"", "syn", "fin", "null", "xmas", "maimon", "ack", "udp"}

func (p Probe) String() string { return probeNames[p] }

// stealthProbe classifies TCP packets that are probes on their own,
// whatever came before: no real stack sends a lone FIN, no flags,
// FIN+PSH+URG without ACK, or SYN+FIN (which Linux drops at a listening
// socket and answers with a RST at a closed one, as it does a FIN). ECE
// and CWR do not matter. The XDP program's stealth_probe is the same test.
func stealthProbe(flags uint8) Probe {
	f := flags & (FlagFIN | FlagSYN | FlagRST | FlagPSH | FlagACK | FlagURG)
	switch {
	case f&(FlagRST|FlagACK) != 0:
		return ProbeNone
	case f&FlagSYN != 0:
		if f&FlagFIN != 0 {
			return ProbeFIN
		}
		return ProbeNone
	case f == 0:
		return ProbeNULL
	case f == FlagFIN:
		return ProbeFIN
	case f == FlagFIN|FlagPSH|FlagURG:
		return ProbeXMAS
	}
	return ProbeNone
}

// TCPProbe is what a TCP packet is on its flags alone, as both the XDP
// program and replay judge it: a SYN, a stealth probe, or nothing (ACK
// probes need the connection's history; see classify).
func TCPProbe(flags uint8) Probe {
	if ClassifyTCP(flags) == KindSYN {
		return ProbeSYN
	}
	return stealthProbe(flags)
}

// ackProbe is the probe an ACK-bearing packet would be if it belongs to no
// connection: a bare ACK (nmap -sA) or FIN+ACK (nmap -sM). Packets with
// data or PSH are never probes.
func ackProbe(flags uint8) Probe {
	switch flags & (FlagFIN | FlagSYN | FlagRST | FlagPSH | FlagACK | FlagURG) {
	case FlagACK:
		return ProbeACK
	case FlagFIN | FlagACK:
		return ProbeMaimon
	}
	return ProbeNone
}
