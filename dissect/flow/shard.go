package flow

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"

	"github.com/ompscope/ompscope/dissect/internal/part"
)

// ShardKey returns a hash of the two IP addresses of a frame, the same in
// both directions, or 0 for a frame without an IP header it can read. All
// the packets of a flow, its two directions and every fragment of its
// datagrams have the same key (ports are not used: a fragment after the
// first has none), so a parallel run can give each worker whole flows.
// It reads the same link types as Decoder, and allocates nothing.
func ShardKey(data []byte, lt layers.LinkType) uint64 {
	off := -1
	switch lt {
	case layers.LinkTypeEthernet:
		if len(data) >= 14 {
			off = etherOff(data, binary.BigEndian.Uint16(data[12:14]), 14)
		}
	case layers.LinkTypeLinuxSLL:
		if len(data) >= 16 {
			off = etherOff(data, binary.BigEndian.Uint16(data[14:16]), 16)
		}
	case layers.LinkTypeLinuxSLL2:
		if len(data) >= 20 {
			off = etherOff(data, binary.BigEndian.Uint16(data[0:2]), 20)
		}
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(data) >= 4 {
			off = 4
		}
	case layers.LinkTypeRaw, 12, 14, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		off = 0
	}
	if off < 0 || len(data) <= off {
		return 0
	}
	b := data[off:]
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return 0
		}
		return part.Hash4([4]byte(b[12:16]), [4]byte(b[16:20])) // never 0: 0 says "no IP header"
	case 6:
		if len(b) < 40 {
			return 0
		}
		return part.Hash16([16]byte(b[8:24]), [16]byte(b[24:40]))
	}
	return 0
}

// etherOff unwraps VLAN tags after a link header and returns the offset of
// an IPv4 or IPv6 header, or -1.
func etherOff(data []byte, et uint16, off int) int {
	for tags := 0; et == 0x8100 || et == 0x88a8 || et == 0x9100; tags++ {
		if tags == maxVLANTags || len(data)-off < 4 {
			return -1
		}
		et = binary.BigEndian.Uint16(data[off+2:])
		off += 4
	}
	if et != 0x0800 && et != 0x86dd {
		return -1
	}
	return off
}
