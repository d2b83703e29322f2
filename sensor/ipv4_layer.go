package sensor

import (
	"encoding/binary"
	"errors"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// ipv4Header is a DecodingLayer for IPv4 that reads only what scan
// detection needs. gopacket's layers.IPv4 also parses every option into a
// slice and hands out addresses as net.IP slices to convert again; this
// one keeps the addresses as arrays. It also accepts a total length of 0,
// which segmentation offload leaves in locally captured packets.
type ipv4Header struct {
	layers.BaseLayer
	Src, Dst [4]byte
	TTL      uint8
	ID       uint16
	Protocol layers.IPProtocol
	fragment bool // not the first fragment, or not the whole datagram
}

var (
	errIPv4Short   = errors.New("IPv4 header shorter than 20 bytes")
	errIPv4Version = errors.New("IPv4 header with another version")
	errIPv4IHL     = errors.New("IPv4 header length below 5 words")
	errIPv4Length  = errors.New("IPv4 total length shorter than its header")
	errIPv4Cut     = errors.New("IPv4 header longer than the packet")
)

func (ip *ipv4Header) LayerType() gopacket.LayerType  { return layers.LayerTypeIPv4 }
func (ip *ipv4Header) CanDecode() gopacket.LayerClass { return layers.LayerTypeIPv4 }

// NextLayerType stops at fragments: a later fragment has no transport
// header, and a first one may have only part of it.
func (ip *ipv4Header) NextLayerType() gopacket.LayerType {
	if ip.fragment {
		return gopacket.LayerTypeFragment
	}
	return ip.Protocol.LayerType()
}

func (ip *ipv4Header) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 20 {
		df.SetTruncated()
		return errIPv4Short
	}
	if data[0]>>4 != 4 {
		return errIPv4Version
	}
	ihl := int(data[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(data[2:]))
	switch {
	case ihl < 20:
		return errIPv4IHL
	case total == 0:
		total = len(data) // segmentation offload: the length was never filled in
	case total < ihl:
		return errIPv4Length
	}
	if ihl > len(data) {
		df.SetTruncated()
		return errIPv4Cut
	}
	end := total
	if end > len(data) {
		df.SetTruncated() // snap length: the header is whole, the payload is not
		end = len(data)
	}
	ip.ID = binary.BigEndian.Uint16(data[4:])
	flagsFrag := binary.BigEndian.Uint16(data[6:])
	ip.fragment = flagsFrag&0x3fff != 0 // more-fragments bit or an offset
	ip.TTL = data[8]
	ip.Protocol = layers.IPProtocol(data[9])
	copy(ip.Src[:], data[12:16])
	copy(ip.Dst[:], data[16:20])
	// Ethernet padding after a short datagram is not payload.
	ip.BaseLayer = layers.BaseLayer{Contents: data[:ihl], Payload: data[ihl:end]}
	return nil
}
