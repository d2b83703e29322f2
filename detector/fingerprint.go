package detector

// fingerprint tallies the header traits of a source's TCP probes that tell
// scanner tools apart (nmap's raw probes, masscan, zmap).
type fingerprint struct {
	syns       uint32 // TCP probes of any kind, despite the name
	nmapLike   uint32 // window 1024/2048/3072/4096, and exactly an MSS option on SYNs or none on FIN/NULL/XMAS/ACK probes
	masscan    uint32 // window 1024, no options
	zmap       uint32 // IP ID 54321, or window 65535 without options
	firstSport uint16
	sameSport  uint32 // probes from the first probe's source port
	// SYNs with the options an OS stack puts on connect()'s SYN (window
	// scale, SACK, timestamps: 12 bytes on Windows, 20 on Linux), not a
	// raw-packet tool's lone MSS or none.
	stack uint32
}

func (f *fingerprint) add(ev *Event, probe Probe) {
	if f.syns == 0 {
		f.firstSport = ev.SrcPort
	}
	f.syns++
	if ev.SrcPort == f.firstSport {
		f.sameSport++
	}
	noOpts := ev.OptLen == 0
	switch ev.Window {
	case 1024, 2048, 3072, 4096:
		if (probe == ProbeSYN && ev.MSSOnly) || (probe != ProbeSYN && noOpts) {
			f.nmapLike++
		}
	}
	if probe != ProbeSYN {
		return // masscan and zmap send SYNs only
	}
	if ev.OptLen >= 8 && !ev.MSSOnly {
		f.stack++
	}
	if ev.Window == 1024 && noOpts {
		f.masscan++
	}
	if ev.IPID == 54321 || (ev.Window == 65535 && noOpts) {
		f.zmap++
	}
}

// tool names the scanner when nine TCP probes in ten carry its mark (and,
// for nmap, most come from one source port); otherwise "".
func (f *fingerprint) tool() string {
	if f.syns < 5 {
		return ""
	}
	most := func(n uint32) bool { return n*10 >= f.syns*9 }
	switch {
	case most(f.nmapLike) && f.sameSport*2 >= f.syns:
		return "nmap"
	case most(f.masscan):
		return "masscan"
	case most(f.zmap):
		return "zmap"
	}
	return ""
}
