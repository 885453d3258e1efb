package dissect

import (
	"encoding/binary"
	"net/netip"
)

// The decrypted export: each decrypted record as a packet of link type
// WIRESHARK_UPPER_PDU (252, "exported PDU"), as Wireshark's own "Export
// PDUs to File" writes them: tags naming the dissector, the addresses, the
// ports and the original frame, then the record's plaintext. Wireshark
// opens it with no key and hands the plaintext to the dissector the tags
// name (ompscope's Lua dissector registers as "ompscope"). Tag numbers:
// Wireshark's epan/exported_pdu.h.

// LinkTypeExportedPDU is LINKTYPE_WIRESHARK_UPPER_PDU.
const LinkTypeExportedPDU = 252

// ExportDissector is the dissector name the export's tags give.
const ExportDissector = "ompscope"

const (
	expTagEnd      = 0
	expTagProto    = 12
	expTagIPv4Src  = 20
	expTagIPv4Dst  = 21
	expTagIPv6Src  = 22
	expTagIPv6Dst  = 23
	expTagPortType = 24
	expTagSrcPort  = 25
	expTagDstPort  = 26
	expTagOrigFNo  = 30
	expPortTCP     = 2
	expPortUDP     = 3
)

// AppendExportedPDU appends e as an exported PDU: the tags, then the
// plaintext.
func AppendExportedPDU(b []byte, e *Event) []byte {
	tag := func(t uint16, v []byte) {
		b = binary.BigEndian.AppendUint16(b, t)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	name := []byte(ExportDissector)
	for len(name)%4 != 0 {
		name = append(name, 0) // the name is padded to 4 bytes, NULs not counted by Wireshark
	}
	tag(expTagProto, name)
	src, dst := e.Src.Addr().Unmap(), e.Dst.Addr().Unmap()
	if src.Is4() && dst.Is4() {
		s4, d4 := src.As4(), dst.As4()
		tag(expTagIPv4Src, s4[:])
		tag(expTagIPv4Dst, d4[:])
	} else if src.IsValid() && dst.IsValid() {
		s16, d16 := src.As16(), dst.As16()
		tag(expTagIPv6Src, s16[:])
		tag(expTagIPv6Dst, d16[:])
	}
	pt := uint32(expPortUDP)
	if e.Transport == "tls" || e.Transport == "tcp" {
		pt = expPortTCP
	}
	tag(expTagPortType, binary.BigEndian.AppendUint32(nil, pt))
	tag(expTagSrcPort, binary.BigEndian.AppendUint32(nil, uint32(e.Src.Port())))
	tag(expTagDstPort, binary.BigEndian.AppendUint32(nil, uint32(e.Dst.Port())))
	tag(expTagOrigFNo, binary.BigEndian.AppendUint32(nil, uint32(min(e.Frame, 0xffffffff))))
	tag(expTagEnd, nil)
	return append(b, e.Plaintext...)
}

// ParseExportedPDU splits an exported PDU into its original frame,
// endpoints and payload (ok false when the tags do not parse).
func ParseExportedPDU(b []byte) (frame uint64, src, dst netip.AddrPort, payload []byte, ok bool) {
	var s, d netip.Addr
	var sp, dp uint16
	for len(b) >= 4 {
		t, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if l > len(b)-4 {
			return 0, src, dst, nil, false
		}
		v := b[4 : 4+l]
		b = b[4+l:]
		switch {
		case t == expTagEnd:
			return frame, netip.AddrPortFrom(s, sp), netip.AddrPortFrom(d, dp), b, true
		case t == expTagIPv4Src && l == 4:
			s = netip.AddrFrom4([4]byte(v))
		case t == expTagIPv4Dst && l == 4:
			d = netip.AddrFrom4([4]byte(v))
		case t == expTagIPv6Src && l == 16:
			s = netip.AddrFrom16([16]byte(v))
		case t == expTagIPv6Dst && l == 16:
			d = netip.AddrFrom16([16]byte(v))
		case t == expTagSrcPort && l == 4:
			sp = uint16(binary.BigEndian.Uint32(v))
		case t == expTagDstPort && l == 4:
			dp = uint16(binary.BigEndian.Uint32(v))
		case t == expTagOrigFNo && l == 4:
			frame = uint64(binary.BigEndian.Uint32(v))
		}
	}
	return 0, src, dst, nil, false
}
