package sensor

import (
	"encoding/binary"
	"errors"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// tcpHeader is a DecodingLayer for TCP that reads only what scan detection
// needs. gopacket's layers.TCP also parses every option into a slice, which
// was a tenth of the replay's time and is never used here.
type tcpHeader struct {
	layers.BaseLayer
	SrcPort, DstPort, Window uint16
	Flags                    uint8
	MSSOnly                  bool // options are exactly one 4-byte MSS
}

var (
	errTCPShort  = errors.New("TCP header shorter than 20 bytes")
	errTCPOffset = errors.New("TCP data offset below 5 words")
	errTCPCut    = errors.New("TCP header longer than the packet")
)

func (t *tcpHeader) LayerType() gopacket.LayerType  { return layers.LayerTypeTCP }
func (t *tcpHeader) CanDecode() gopacket.LayerClass { return layers.LayerTypeTCP }

// NextLayerType ends the walk: the payload is not scanwatch's business.
func (t *tcpHeader) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

func (t *tcpHeader) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 20 {
		df.SetTruncated()
		return errTCPShort
	}
	off := int(data[12]>>4) * 4
	switch {
	case off < 20:
		return errTCPOffset
	case off > len(data):
		df.SetTruncated()
		return errTCPCut
	}
	t.SrcPort = binary.BigEndian.Uint16(data[0:])
	t.DstPort = binary.BigEndian.Uint16(data[2:])
	t.Flags = data[13]
	t.Window = binary.BigEndian.Uint16(data[14:])
	// The XDP program applies the same test, so live and replay agree.
	t.MSSOnly = off == 24 && data[20] == byte(layers.TCPOptionKindMSS) && data[21] == 4
	t.BaseLayer = layers.BaseLayer{Contents: data[:off], Payload: data[off:]}
	return nil
}
