package capture

import "fmt"

// Link types scanwatch decodes (LINKTYPE_* numbers from tcpdump.org).
const (
	LinkNull     = 0   // BSD loopback, host-byte-order family
	LinkEthernet = 1   // Ethernet, with any number of 802.1Q/802.1ad tags
	LinkRaw      = 101 // raw IPv4 or IPv6, told apart by the version nibble
	LinkLoop     = 108 // OpenBSD loopback, network-byte-order family
	LinkSLL      = 113 // Linux cooked v1 ("any" interface)
	LinkIPv4     = 228
	LinkIPv6     = 229
	LinkSLL2     = 276 // Linux cooked v2 (tcpdump -i any since 4.99)
)

var linkNames = map[uint32]string{
	LinkNull: "BSD null", LinkEthernet: "Ethernet", LinkRaw: "raw IP", LinkLoop: "OpenBSD loop",
	LinkSLL: "Linux cooked v1", LinkIPv4: "raw IPv4", LinkIPv6: "raw IPv6", LinkSLL2: "Linux cooked v2",
}

func checkLinkType(lt uint32) error {
	if _, ok := linkNames[lt]; ok {
		return nil
	}
	return fmt.Errorf("link type %d is not supported: scanwatch decodes Ethernet (1), Linux cooked v1/v2 (113/276), raw IP (101/228/229) and BSD loopback (0/108); capture on an Ethernet interface or with tcpdump -i any", lt)
}
