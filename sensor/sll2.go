package sensor

import (
	"encoding/binary"
	"errors"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// layerTypeSLL2 is registered here because gopacket v1.1.19 predates Linux
// cooked capture v2, which tcpdump -i any writes since 4.99.
var layerTypeSLL2 = gopacket.RegisterLayerType(1276, gopacket.LayerTypeMetadata{Name: "LinuxSLL2"})

// linuxSLL2 is the 20-byte LINKTYPE_LINUX_SLL2 header; only the protocol
// field matters for decoding.
type linuxSLL2 struct {
	layers.BaseLayer
	Protocol layers.EthernetType
}

func (l *linuxSLL2) LayerType() gopacket.LayerType     { return layerTypeSLL2 }
func (l *linuxSLL2) CanDecode() gopacket.LayerClass    { return layerTypeSLL2 }
func (l *linuxSLL2) NextLayerType() gopacket.LayerType { return l.Protocol.LayerType() }

func (l *linuxSLL2) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 20 {
		df.SetTruncated()
		return errors.New("Linux cooked v2 header shorter than 20 bytes")
	}
	l.Protocol = layers.EthernetType(binary.BigEndian.Uint16(data))
	l.BaseLayer = layers.BaseLayer{Contents: data[:20], Payload: data[20:]}
	return nil
}
