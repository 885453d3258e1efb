package omp

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// NLRI is one reachability entry. Which fields are meaningful depends on
// the family: routes use VPN and Prefix; TLOCs use SystemIP, Color and
// Encap; services use VPN, Service and Originator. PathID is always there.
// It is a plain value (no pointers besides netip's), so a []NLRI is one
// allocation however many routes it holds.
type NLRI struct {
	PathID     uint32
	VPN        uint32
	Prefix     netip.Prefix
	SystemIP   netip.Addr
	Color      sdwan.Color
	Encap      sdwan.Encap
	Service    sdwan.Service
	Originator netip.Addr
}

// TLOCKey is the identity of a TLOC: system-ip, color, encap.
type TLOCKey struct {
	SystemIP netip.Addr
	Color    sdwan.Color
	Encap    sdwan.Encap
}

func (k TLOCKey) String() string { return string(k.AppendTo(nil)) }

// AppendTo appends "system-ip/color/encap" (the system-ip as
// netip.Addr.String writes it, "invalid IP" when there is none).
func (k TLOCKey) AppendTo(b []byte) []byte {
	if k.SystemIP.IsValid() {
		b = k.SystemIP.AppendTo(b)
	} else {
		b = append(b, "invalid IP"...)
	}
	b = append(b, '/')
	b = append(b, k.Color.String()...)
	b = append(b, '/')
	return append(b, k.Encap.String()...)
}

// TLOC returns the TLOC key of a TLOC NLRI.
func (n *NLRI) TLOC() TLOCKey { return TLOCKey{n.SystemIP, n.Color, n.Encap} }

// nlriLen returns the encoded size of n in family f.
func nlriLen(f Family, n *NLRI) int {
	switch f {
	case FamilyRouteV4, FamilyRouteV6:
		return 4 + 4 + 1 + (n.Prefix.Bits()+7)/8
	case FamilyTLOCv4, FamilyTLOCv6:
		return 4 + 4 + 1 + 1
	case FamilyService:
		return 4 + 4 + 1 + 4
	}
	return 0
}

// decodeNLRI decodes one entry at data[0:], returning its length.
// base is the offset of data[0] in the OMP message, for errors.
func decodeNLRI(f Family, data []byte, base int, n *NLRI, what string, idx int) (int, error) {
	const layer = "omp update"
	field := func(s string) string { return what + " nlri " + strconv.Itoa(idx) + s }
	if len(data) < 4 {
		return 0, errf(layer, field(" path-id"), base, "%d bytes left, need 4", len(data))
	}
	n.PathID = binary.BigEndian.Uint32(data)
	switch f {
	case FamilyRouteV4, FamilyRouteV6:
		if len(data) < 9 {
			return 0, errf(layer, field(" vpn/prefix-length"), base+4, "%d bytes left, need 5", len(data)-4)
		}
		n.VPN = binary.BigEndian.Uint32(data[4:])
		bits := int(data[8])
		max := 32
		if f == FamilyRouteV6 {
			max = 128
		}
		if bits > max {
			return 0, errf(layer, field(" prefix-length"), base+8, "%d, want at most %d", bits, max)
		}
		nb := (bits + 7) / 8
		if len(data) < 9+nb {
			return 0, errf(layer, field(" prefix"), base+9, "%d bytes left, need %d for /%d", len(data)-9, nb, bits)
		}
		var a [16]byte
		copy(a[:], data[9:9+nb])
		if bits%8 != 0 && a[nb-1]&(0xff>>(bits%8)) != 0 {
			return 0, errf(layer, field(" prefix"), base+9+nb-1, "bits set past prefix length /%d", bits)
		}
		var addr netip.Addr
		if f == FamilyRouteV4 {
			addr = netip.AddrFrom4([4]byte(a[:4]))
		} else {
			addr = netip.AddrFrom16(a)
		}
		n.Prefix = netip.PrefixFrom(addr, bits)
		n.SystemIP, n.Originator = netip.Addr{}, netip.Addr{}
		n.Color, n.Encap, n.Service = 0, 0, 0
		return 9 + nb, nil
	case FamilyTLOCv4, FamilyTLOCv6:
		if len(data) < 10 {
			return 0, errf(layer, field(" tloc"), base+4, "%d bytes left, need 6", len(data)-4)
		}
		n.SystemIP = netip.AddrFrom4([4]byte(data[4:8]))
		n.Color = sdwan.Color(data[8])
		n.Encap = sdwan.Encap(data[9])
		n.VPN, n.Prefix, n.Originator, n.Service = 0, netip.Prefix{}, netip.Addr{}, 0
		return 10, nil
	case FamilyService:
		if len(data) < 13 {
			return 0, errf(layer, field(" service"), base+4, "%d bytes left, need 9", len(data)-4)
		}
		n.VPN = binary.BigEndian.Uint32(data[4:])
		n.Service = sdwan.Service(data[8])
		n.Originator = netip.AddrFrom4([4]byte(data[9:13]))
		n.Prefix, n.SystemIP, n.Color, n.Encap = netip.Prefix{}, netip.Addr{}, 0, 0
		return 13, nil
	}
	return 0, errf(layer, field(""), base, "family %s is not parsed", f)
}

// appendNLRI encodes n in family f.
func appendNLRI(b []byte, f Family, n *NLRI) ([]byte, error) {
	const layer = "omp update"
	b = binary.BigEndian.AppendUint32(b, n.PathID)
	switch f {
	case FamilyRouteV4, FamilyRouteV6:
		p := n.Prefix
		if !p.IsValid() {
			return b, &EncodeError{layer, "prefix", "invalid prefix"}
		}
		if (f == FamilyRouteV4) != p.Addr().Is4() {
			return b, &EncodeError{layer, "prefix", "prefix " + p.String() + " is not of family " + f.String()}
		}
		if p.Masked() != p {
			return b, &EncodeError{layer, "prefix", "prefix " + p.String() + " has host bits set"}
		}
		b = binary.BigEndian.AppendUint32(b, n.VPN)
		b = append(b, byte(p.Bits()))
		a := p.Addr().As16()
		raw := a[:]
		if p.Addr().Is4() {
			raw = a[12:]
		}
		return append(b, raw[:(p.Bits()+7)/8]...), nil
	case FamilyTLOCv4, FamilyTLOCv6:
		ip, err := addr4(layer, "tloc system-ip", n.SystemIP)
		if err != nil {
			return b, err
		}
		if n.Color > 0xff {
			return b, &EncodeError{layer, "tloc color", "color " + n.Color.String() + " does not fit in a byte"}
		}
		b = append(b, ip[:]...)
		return append(b, byte(n.Color), byte(n.Encap)), nil
	case FamilyService:
		ip, err := addr4(layer, "service originator", n.Originator)
		if err != nil {
			return b, err
		}
		b = binary.BigEndian.AppendUint32(b, n.VPN)
		b = append(b, byte(n.Service))
		return append(b, ip[:]...), nil
	}
	return b, &EncodeError{layer, "nlri", "family " + f.String() + " is not parsed"}
}

func addr4(layer, field string, a netip.Addr) ([4]byte, error) {
	if !a.Is4() {
		return [4]byte{}, &EncodeError{layer, field, "want an IPv4 address, have " + a.String()}
	}
	return a.As4(), nil
}
