package omp

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// AttrType is a path attribute type code.
type AttrType uint8

// Path attribute types (OMP encoding v1).
const (
	AttrOriginator    AttrType = 1
	AttrTLOC          AttrType = 2
	AttrOrigin        AttrType = 3
	AttrPreference    AttrType = 4
	AttrSiteID        AttrType = 5
	AttrTag           AttrType = 6
	AttrDomainID      AttrType = 7
	AttrOverlayID     AttrType = 8
	AttrLabel         AttrType = 9
	AttrUltimateTLOC  AttrType = 10
	AttrAffinityGroup AttrType = 11
	AttrRegionID      AttrType = 12
	AttrASPath        AttrType = 13
	AttrCommunity     AttrType = 14
	// Multi-Region Fabric (routes): the sub-region, the regions a route
	// crossed, a border router's preference.
	AttrSubregionID  AttrType = 15
	AttrRegionPath   AttrType = 16
	AttrBRPreference AttrType = 17
	AttrPrivateIPv4  AttrType = 32
	AttrPublicIPv4   AttrType = 33
	AttrPrivateIPv6  AttrType = 34
	AttrPublicIPv6   AttrType = 35
	AttrWeight       AttrType = 36
	AttrCarrier      AttrType = 37
	AttrRestrict     AttrType = 38
	AttrGroups       AttrType = 39
	AttrEncapParams  AttrType = 40
	AttrGenID        AttrType = 41
	AttrBandwidth    AttrType = 42
	// TLOCs: BFD status (sdwan.BFDStatus), TLOC version, GRE parameters
	// (key, encapsulation protocol), Multi-Region Fabric (role, secondary
	// region, transport gateway).
	AttrBFDStatus        AttrType = 43
	AttrTLOCVersion      AttrType = 44
	AttrGREKey           AttrType = 45
	AttrEncapProto       AttrType = 46
	AttrRole             AttrType = 47
	AttrSecondaryRegion  AttrType = 48
	AttrTransportGateway AttrType = 49
)

// Attribute flag bits.
const (
	FlagOptional   uint8 = 0x80
	FlagTransitive uint8 = 0x40
)

// attrInfo is what this package says of each attribute type, in one
// place: its name (Cisco's spelling, as in the YANG and MIB models) and the
// member name the analysis JSON gives its value. A new attribute is a
// constant, a line here, and its type's methods.
var attrInfo = map[AttrType]struct{ name, key string }{
	AttrOriginator: {"ORIGINATOR", "originator"}, AttrTLOC: {"TLOC", "tloc"}, AttrOrigin: {"ORIGIN", "origin"},
	AttrPreference: {"PREFERENCE", "preference"}, AttrSiteID: {"SITE_ID", "site_id"}, AttrTag: {"TAG", "tag"},
	AttrDomainID: {"DOMAIN_ID", "domain_id"}, AttrOverlayID: {"OVERLAY_ID", "overlay_id"}, AttrLabel: {"LABEL", "label"},
	AttrUltimateTLOC: {"ULTIMATE_TLOC", "ultimate_tloc"}, AttrAffinityGroup: {"AFFINITY_GROUP", "affinity_group"},
	AttrRegionID: {"REGION_ID", "region_id"}, AttrASPath: {"AS_PATH", "as_path"}, AttrCommunity: {"COMMUNITY", "community"},
	AttrPrivateIPv4: {"PRIVATE_IPV4", "private_ipv4"}, AttrPublicIPv4: {"PUBLIC_IPV4", "public_ipv4"},
	AttrPrivateIPv6: {"PRIVATE_IPV6", "private_ipv6"}, AttrPublicIPv6: {"PUBLIC_IPV6", "public_ipv6"},
	AttrWeight: {"WEIGHT", "weight"}, AttrCarrier: {"CARRIER", "carrier"}, AttrRestrict: {"RESTRICT", "restrict"},
	AttrGroups: {"GROUPS", "groups"}, AttrEncapParams: {"ENCAP_PARAMS", "encap_params"}, AttrGenID: {"GEN_ID", "gen_id"},
	AttrBandwidth:   {"BANDWIDTH", "bandwidth"},
	AttrSubregionID: {"SUBREGION_ID", "subregion_id"}, AttrRegionPath: {"REGION_PATH", "region_path"},
	AttrBRPreference: {"BR_PREFERENCE", "br_preference"}, AttrBFDStatus: {"BFD_STATUS", "bfd_status"},
	AttrTLOCVersion: {"TLOC_VERSION", "version"}, AttrGREKey: {"GRE_KEY", "gre_key"},
	AttrEncapProto: {"ENCAP_PROTO", "encap_proto"}, AttrRole: {"ROLE", "role"},
	AttrSecondaryRegion:  {"SECONDARY_REGION_ID", "secondary_region_id"},
	AttrTransportGateway: {"TRANSPORT_GATEWAY", "transport_gateway"},
}

// Key is the JSON member name of the attribute's value in the analysis
// output ("preference", "site_id", ...; "attr_N" for a type this package
// does not know).
func (t AttrType) Key() string { return attrTab()[t].key }

func (t AttrType) String() string { return attrTab()[t].name }

// Known reports whether this package decodes the attribute's value.
func (t AttrType) Known() bool { return attrTab()[t].known }

// attrTable is attrInfo by type, with the names of the types it does not
// know ("ATTR-n", "attr_n") made once: String, Key and Known are on the
// JSON writer's path, once per attribute, where a map lookup cost 14 % of
// `dissect -T json` on OMP-heavy records. It is made when first used, not
// at start-up (500 strings, a tenth of a millisecond of every command).
var attrTable [256]struct {
	name, key string
	known     bool
}

var attrOnce sync.Once

func attrTab() *[256]struct {
	name, key string
	known     bool
} {
	attrOnce.Do(func() {
		for i := range attrTable {
			t := AttrType(i)
			if info, ok := attrInfo[t]; ok {
				attrTable[i].name, attrTable[i].key, attrTable[i].known = info.name, info.key, true
				continue
			}
			attrTable[i].name, attrTable[i].key = "ATTR-"+strconv.Itoa(i), "attr_"+strconv.Itoa(i)
		}
	})
	return &attrTable
}

// MarshalText gives the name.
func (t AttrType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// DefaultFlags is the flags byte this project's encoder and simulator use
// for an attribute: transitive for 1-9, optional transitive for the rest.
func DefaultFlags(t AttrType) uint8 {
	if t >= 1 && t <= 9 {
		return FlagTransitive
	}
	return FlagOptional | FlagTransitive
}

// Attribute is one path attribute. The concrete types are *Originator,
// *TLOCAttr, *OriginAttr, *Uint32Attr, *UltimateTLOC, *Uint32ListAttr,
// *AddrAttr, *Uint8Attr, *EncapParams and *UnknownAttr.
type Attribute interface {
	Code() AttrType
	Flags() uint8
	// AppendValue appends the attribute's value (no header).
	AppendValue(b []byte) ([]byte, error)
	// Clone returns a copy that shares no memory with the attribute (a
	// caller that keeps attributes decoded into reused buffers clones
	// them).
	Clone() Attribute
}

// Originator is ORIGINATOR: the system-ip of the device that originated
// the path.
type Originator struct {
	Flag uint8
	Addr netip.Addr
}

// TLOCAttr is TLOC: the TLOC a route or service resolves through.
type TLOCAttr struct {
	Flag uint8
	TLOCKey
}

// OriginAttr is ORIGIN: the protocol the route came from on the edge, and
// its metric there.
type OriginAttr struct {
	Flag     uint8
	Protocol sdwan.Origin
	Metric   uint32
}

// Uint32Attr is any attribute whose value is one u32: PREFERENCE, SITE_ID,
// TAG, DOMAIN_ID, OVERLAY_ID, LABEL (low 20 bits), AFFINITY_GROUP,
// REGION_ID, WEIGHT (1-255), GEN_ID, BANDWIDTH (kbps).
type Uint32Attr struct {
	Type  AttrType
	Flag  uint8
	Value uint32
}

// UltimateTLOC is ULTIMATE_TLOC: the TLOC behind a transport gateway and
// how to use it.
type UltimateTLOC struct {
	Flag uint8
	TLOCKey
	Action UltimateAction
}

// UltimateAction is the action of an ULTIMATE_TLOC.
type UltimateAction uint8

var actionNames = [...]string{1: "strict", 2: "primary", 3: "ecmp", 4: "backup"}

func (a UltimateAction) String() string {
	if a >= 1 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "action-" + strconv.Itoa(int(a))
}

// MarshalText gives the name.
func (a UltimateAction) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Uint32ListAttr is a sequence of u32: AS_PATH, COMMUNITY, GROUPS.
type Uint32ListAttr struct {
	Type   AttrType
	Flag   uint8
	Values []uint32
}

// AddrAttr is an address and port: PRIVATE_IPV4, PUBLIC_IPV4,
// PRIVATE_IPV6, PUBLIC_IPV6.
type AddrAttr struct {
	Type AttrType
	Flag uint8
	Addr netip.AddrPort
}

// Uint8Attr is a one-byte value: CARRIER (1-9), RESTRICT (0/1),
// BFD_STATUS (sdwan.BFDStatus), ENCAP_PROTO, ROLE (sdwan.MRFRole),
// TRANSPORT_GATEWAY (0/1).
type Uint8Attr struct {
	Type  AttrType
	Flag  uint8
	Value uint8
}

// EncapParams is ENCAP_PARAMS: IPsec SPI and key sizes.
type EncapParams struct {
	Flag           uint8
	SPI            uint32
	AuthBits       uint16
	EncryptionBits uint16
}

// UnknownAttr is an attribute whose type this package does not know; its
// value is kept as it came.
type UnknownAttr struct {
	Type  AttrType
	Flag  uint8
	Value []byte
}

func (a *Originator) Code() AttrType     { return AttrOriginator }
func (a *TLOCAttr) Code() AttrType       { return AttrTLOC }
func (a *OriginAttr) Code() AttrType     { return AttrOrigin }
func (a *Uint32Attr) Code() AttrType     { return a.Type }
func (a *UltimateTLOC) Code() AttrType   { return AttrUltimateTLOC }
func (a *Uint32ListAttr) Code() AttrType { return a.Type }
func (a *AddrAttr) Code() AttrType       { return a.Type }
func (a *Uint8Attr) Code() AttrType      { return a.Type }
func (a *EncapParams) Code() AttrType    { return AttrEncapParams }
func (a *UnknownAttr) Code() AttrType    { return a.Type }

func (a *Originator) Clone() Attribute   { c := *a; return &c }
func (a *TLOCAttr) Clone() Attribute     { c := *a; return &c }
func (a *OriginAttr) Clone() Attribute   { c := *a; return &c }
func (a *Uint32Attr) Clone() Attribute   { c := *a; return &c }
func (a *UltimateTLOC) Clone() Attribute { c := *a; return &c }
func (a *AddrAttr) Clone() Attribute     { c := *a; return &c }
func (a *Uint8Attr) Clone() Attribute    { c := *a; return &c }
func (a *EncapParams) Clone() Attribute  { c := *a; return &c }
func (a *Uint32ListAttr) Clone() Attribute {
	c := *a
	c.Values = append([]uint32(nil), a.Values...)
	return &c
}
func (a *UnknownAttr) Clone() Attribute {
	c := *a
	c.Value = append([]byte(nil), a.Value...)
	return &c
}

func (a *Originator) Flags() uint8     { return a.Flag }
func (a *TLOCAttr) Flags() uint8       { return a.Flag }
func (a *OriginAttr) Flags() uint8     { return a.Flag }
func (a *Uint32Attr) Flags() uint8     { return a.Flag }
func (a *UltimateTLOC) Flags() uint8   { return a.Flag }
func (a *Uint32ListAttr) Flags() uint8 { return a.Flag }
func (a *AddrAttr) Flags() uint8       { return a.Flag }
func (a *Uint8Attr) Flags() uint8      { return a.Flag }
func (a *EncapParams) Flags() uint8    { return a.Flag }
func (a *UnknownAttr) Flags() uint8    { return a.Flag }

const attrLayer = "omp update"

func attrField(t AttrType) string {
	return "attribute " + strconv.Itoa(int(t)) + " (" + t.String() + ")"
}

func encErr(t AttrType, reason string) error {
	return &EncodeError{attrLayer, attrField(t), reason}
}

// AppendValue implements Attribute.
func (a *Originator) AppendValue(b []byte) ([]byte, error) {
	ip, err := addr4(attrLayer, attrField(AttrOriginator), a.Addr)
	return append(b, ip[:]...), err
}

func appendTLOCKey(b []byte, t AttrType, k TLOCKey) ([]byte, error) {
	ip, err := addr4(attrLayer, attrField(t), k.SystemIP)
	if err != nil {
		return b, err
	}
	if k.Color > 0xff {
		return b, encErr(t, "color "+k.Color.String()+" does not fit in a byte")
	}
	return append(append(b, ip[:]...), byte(k.Color), byte(k.Encap)), nil
}

// AppendValue implements Attribute.
func (a *TLOCAttr) AppendValue(b []byte) ([]byte, error) {
	return appendTLOCKey(b, AttrTLOC, a.TLOCKey)
}

// AppendValue implements Attribute.
func (a *OriginAttr) AppendValue(b []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint32(append(b, byte(a.Protocol)), a.Metric), nil
}

// AppendValue implements Attribute.
func (a *Uint32Attr) AppendValue(b []byte) ([]byte, error) {
	if err := checkU32(a.Type, a.Value); err != "" {
		return b, encErr(a.Type, err)
	}
	if !isU32Attr(a.Type) {
		return b, encErr(a.Type, "not a u32 attribute")
	}
	return binary.BigEndian.AppendUint32(b, a.Value), nil
}

// AppendValue implements Attribute.
func (a *UltimateTLOC) AppendValue(b []byte) ([]byte, error) {
	if a.Action < 1 || a.Action > 4 {
		return b, encErr(AttrUltimateTLOC, "action "+strconv.Itoa(int(a.Action))+", want 1-4")
	}
	b, err := appendTLOCKey(b, AttrUltimateTLOC, a.TLOCKey)
	return append(b, byte(a.Action)), err
}

// AppendValue implements Attribute.
func (a *Uint32ListAttr) AppendValue(b []byte) ([]byte, error) {
	if !isListAttr(a.Type) {
		return b, encErr(a.Type, "not a u32-sequence attribute")
	}
	if len(a.Values) > 0xffff/4 {
		return b, encErr(a.Type, strconv.Itoa(len(a.Values))+" values do not fit in a u16 length")
	}
	for _, v := range a.Values {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b, nil
}

// AppendValue implements Attribute.
func (a *AddrAttr) AppendValue(b []byte) ([]byte, error) {
	want6 := a.Type == AttrPrivateIPv6 || a.Type == AttrPublicIPv6
	if !isAddrAttr(a.Type) {
		return b, encErr(a.Type, "not an address attribute")
	}
	ad := a.Addr.Addr()
	if want6 && !ad.Is6() || !want6 && !ad.Is4() {
		return b, encErr(a.Type, "address "+ad.String()+" is of the wrong family")
	}
	b = append(b, ad.AsSlice()...)
	return binary.BigEndian.AppendUint16(b, a.Addr.Port()), nil
}

// AppendValue implements Attribute.
func (a *Uint8Attr) AppendValue(b []byte) ([]byte, error) {
	if !isU8Attr(a.Type) {
		return b, encErr(a.Type, "not a one-byte attribute")
	}
	if err := checkU8(a.Type, a.Value); err != "" {
		return b, encErr(a.Type, err)
	}
	return append(b, a.Value), nil
}

// AppendValue implements Attribute.
func (a *EncapParams) AppendValue(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, a.SPI)
	b = binary.BigEndian.AppendUint16(b, a.AuthBits)
	return binary.BigEndian.AppendUint16(b, a.EncryptionBits), nil
}

// AppendValue implements Attribute.
func (a *UnknownAttr) AppendValue(b []byte) ([]byte, error) { return append(b, a.Value...), nil }

func isU32Attr(t AttrType) bool {
	switch t {
	case AttrPreference, AttrSiteID, AttrTag, AttrDomainID, AttrOverlayID, AttrLabel,
		AttrAffinityGroup, AttrRegionID, AttrWeight, AttrGenID, AttrBandwidth,
		AttrSubregionID, AttrBRPreference, AttrTLOCVersion, AttrGREKey, AttrSecondaryRegion:
		return true
	}
	return false
}

func isListAttr(t AttrType) bool {
	return t == AttrASPath || t == AttrCommunity || t == AttrGroups || t == AttrRegionPath
}

func isAddrAttr(t AttrType) bool { return t >= AttrPrivateIPv4 && t <= AttrPublicIPv6 }

func isU8Attr(t AttrType) bool {
	switch t {
	case AttrCarrier, AttrRestrict, AttrBFDStatus, AttrEncapProto, AttrRole, AttrTransportGateway:
		return true
	}
	return false
}

func checkU32(t AttrType, v uint32) string {
	switch t {
	case AttrLabel:
		if v > 0xfffff {
			return "label " + strconv.FormatUint(uint64(v), 10) + " has bits above the low 20"
		}
	case AttrWeight:
		if v < 1 || v > 255 {
			return "weight " + strconv.FormatUint(uint64(v), 10) + ", want 1-255"
		}
	}
	return ""
}

func checkU8(t AttrType, v uint8) string {
	switch t {
	case AttrCarrier:
		if v < 1 || v > 9 {
			return "carrier " + strconv.Itoa(int(v)) + ", want 1-9"
		}
	case AttrRestrict, AttrTransportGateway:
		if v > 1 {
			return strings.ToLower(t.String()) + " " + strconv.Itoa(int(v)) + ", want 0 or 1"
		}
	case AttrBFDStatus:
		if v > 2 {
			return "bfd-status " + strconv.Itoa(int(v)) + ", want 0 (up), 1 (down) or 2 (inactive)"
		}
	case AttrRole:
		if v < 1 || v > 2 {
			return "role " + strconv.Itoa(int(v)) + ", want 1 (edge-router) or 2 (border-router)"
		}
	}
	return ""
}

// attrWantLen is the fixed value length of a known attribute, or -1 for
// variable (sequences), -4 for "multiple of 4".
func attrWantLen(t AttrType) int {
	switch {
	case t == AttrOriginator:
		return 4
	case t == AttrTLOC:
		return 6
	case t == AttrOrigin:
		return 5
	case isU32Attr(t):
		return 4
	case t == AttrUltimateTLOC:
		return 7
	case isListAttr(t):
		return -4
	case t == AttrPrivateIPv4, t == AttrPublicIPv4:
		return 6
	case t == AttrPrivateIPv6, t == AttrPublicIPv6:
		return 18
	case isU8Attr(t):
		return 1
	case t == AttrEncapParams:
		return 8
	}
	return -1
}

// decodeAttr decodes one attribute value v of type t (off: offset of the
// attribute header in the message).
// decodeAttr decodes one attribute value; prev, when it is a value of the
// same type, is overwritten and returned instead of a new one.
func decodeAttr(prev Attribute, t AttrType, flags uint8, v []byte, off int) (Attribute, error) {
	want := attrWantLen(t)
	switch {
	case want >= 0 && len(v) != want:
		return nil, errf(attrLayer, attrField(t), off, "length %d, want %d", len(v), want)
	case want == -4 && len(v)%4 != 0:
		return nil, errf(attrLayer, attrField(t), off, "length %d, want a multiple of 4", len(v))
	}
	voff := off + 4
	switch {
	case t == AttrOriginator:
		return place(prev, Originator{flags, netip.AddrFrom4([4]byte(v))}), nil
	case t == AttrTLOC:
		return place(prev, TLOCAttr{flags, tlocKey(v)}), nil
	case t == AttrOrigin:
		return place(prev, OriginAttr{flags, sdwan.Origin(v[0]), binary.BigEndian.Uint32(v[1:])}), nil
	case isU32Attr(t):
		x := binary.BigEndian.Uint32(v)
		if e := checkU32(t, x); e != "" {
			return nil, errf(attrLayer, attrField(t), voff, "%s", e)
		}
		return place(prev, Uint32Attr{t, flags, x}), nil
	case t == AttrUltimateTLOC:
		if v[6] < 1 || v[6] > 4 {
			return nil, errf(attrLayer, attrField(t)+" action", voff+6, "%d, want 1-4", v[6])
		}
		return place(prev, UltimateTLOC{flags, tlocKey(v), UltimateAction(v[6])}), nil
	case isListAttr(t):
		a, ok := prev.(*Uint32ListAttr)
		if ok {
			a.Values = slices.Grow(a.Values[:0], len(v)/4)[:len(v)/4]
		} else {
			a = &Uint32ListAttr{Values: make([]uint32, len(v)/4)}
		}
		a.Type, a.Flag = t, flags
		for i := range a.Values {
			a.Values[i] = binary.BigEndian.Uint32(v[4*i:])
		}
		return a, nil
	case t == AttrPrivateIPv4, t == AttrPublicIPv4:
		return place(prev, AddrAttr{t, flags, netip.AddrPortFrom(netip.AddrFrom4([4]byte(v)), binary.BigEndian.Uint16(v[4:]))}), nil
	case t == AttrPrivateIPv6, t == AttrPublicIPv6:
		return place(prev, AddrAttr{t, flags, netip.AddrPortFrom(netip.AddrFrom16([16]byte(v)), binary.BigEndian.Uint16(v[16:]))}), nil
	case isU8Attr(t):
		if e := checkU8(t, v[0]); e != "" {
			return nil, errf(attrLayer, attrField(t), voff, "%s", e)
		}
		return place(prev, Uint8Attr{t, flags, v[0]}), nil
	case t == AttrEncapParams:
		return place(prev, EncapParams{flags, binary.BigEndian.Uint32(v), binary.BigEndian.Uint16(v[4:]), binary.BigEndian.Uint16(v[6:])}), nil
	}
	a, ok := prev.(*UnknownAttr)
	if !ok {
		a = &UnknownAttr{}
	}
	a.Type, a.Flag, a.Value = t, flags, append(a.Value[:0], v...)
	return a, nil
}

// place returns prev overwritten with v when prev is a *T, else a new *T
// holding v.
func place[T any, P interface {
	*T
	Attribute
}](prev Attribute, v T) Attribute {
	if p, ok := prev.(P); ok {
		*p = v
		return p
	}
	p := P(new(T))
	*p = v
	return p
}

func tlocKey(v []byte) TLOCKey {
	return TLOCKey{netip.AddrFrom4([4]byte(v)), sdwan.Color(v[4]), sdwan.Encap(v[5])}
}

// decodeAttrs decodes an attribute section into attrs (the slice reused),
// off being the section's offset in the message. With spare (the values of
// an earlier decode, no longer used), a value of the right type is taken
// from it and overwritten instead of allocating one; the previous
// UPDATE's values are in spare from index hint on, in their order.
func decodeAttrs(attrs []Attribute, data []byte, off int, spare *[]Attribute, hint int) ([]Attribute, error) {
	defer compactSpare(spare) // on every return: no hole left to pile up
	attrs = attrs[:0]
	for i := 0; i < len(data); {
		if len(data)-i < 4 {
			return attrs, errf(attrLayer, "attribute header", off+i, "%d bytes left, need 4", len(data)-i)
		}
		flags, t := data[i], AttrType(data[i+1])
		l := int(binary.BigEndian.Uint16(data[i+2:]))
		if l > len(data)-i-4 {
			return attrs, errf(attrLayer, attrField(t), off+i, "length %d, only %d bytes left in the attribute section", l, len(data)-i-4)
		}
		var prev Attribute
		if spare != nil {
			prev = takeSpare(*spare, hint+len(attrs), t)
		}
		a, err := decodeAttr(prev, t, flags, data[i+4:i+4+l], off+i)
		if err != nil {
			return attrs, err
		}
		attrs = append(attrs, a)
		i += 4 + l
	}
	return attrs, nil
}

// takeSpare takes from spare (leaving nil in its place) and returns a value
// that an attribute of type t decodes into, nil if none. It looks first at
// spare[at]: the previous UPDATE's attribute at the same position, which
// in a run of UPDATEs is nearly always of the same type (a scan from the
// start cost a tenth of `dissect -T json` on OMP-heavy records).
func takeSpare(spare []Attribute, at int, t AttrType) Attribute {
	if at >= 0 && at < len(spare) {
		if a := spare[at]; a != nil && (a.Code() == t || sameKind(a, t)) {
			spare[at] = nil
			return a
		}
	}
	for i, a := range spare {
		if a != nil && (a.Code() == t || sameKind(a, t)) {
			spare[i] = nil
			return a
		}
	}
	return nil
}

// compactSpare removes the values taken (nil) from spare, keeping the
// others in order.
func compactSpare(spare *[]Attribute) {
	if spare == nil {
		return
	}
	s := *spare
	n := 0
	for _, a := range s {
		if a != nil {
			s[n] = a
			n++
		}
	}
	clear(s[n:])
	*spare = s[:n]
}

// sameKind reports whether attribute a's Go type is the one type t
// decodes into (Uint32Attr, AddrAttr, ... serve several types).
func sameKind(a Attribute, t AttrType) bool {
	switch a.(type) {
	case *Uint32Attr:
		return isU32Attr(t)
	case *AddrAttr:
		return t >= AttrPrivateIPv4 && t <= AttrPublicIPv6
	case *Uint8Attr:
		return isU8Attr(t)
	case *Uint32ListAttr:
		return isListAttr(t)
	}
	return false
}

// AppendAttr appends one attribute (header and value).
func AppendAttr(b []byte, a Attribute) ([]byte, error) {
	start := len(b)
	b = append(b, a.Flags(), byte(a.Code()), 0, 0)
	b, err := a.AppendValue(b)
	if err != nil {
		return b[:start], err
	}
	l := len(b) - start - 4
	if l > 0xffff {
		return b[:start], encErr(a.Code(), "value of "+strconv.Itoa(l)+" bytes does not fit in a u16 length")
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(l))
	return b, nil
}

// Find returns the first attribute of type t, or nil.
func Find(attrs []Attribute, t AttrType) Attribute {
	for _, a := range attrs {
		if a.Code() == t {
			return a
		}
	}
	return nil
}

type carrier uint8

func (c carrier) String() string { return sdwan.Carrier(c).String() }

// U8Kind says how a one-byte attribute's value reads: "enum" (Text names
// it), "bool" or "number".
func (a *Uint8Attr) U8Kind() string {
	switch a.Type {
	case AttrCarrier, AttrBFDStatus, AttrRole:
		return "enum"
	case AttrRestrict, AttrTransportGateway:
		return "bool"
	}
	return "number"
}

// Text is the value as text: the name of an enumerated value, true/false,
// or the number.
func (a *Uint8Attr) Text() string {
	switch a.Type {
	case AttrCarrier:
		return sdwan.Carrier(a.Value).String()
	case AttrBFDStatus:
		return sdwan.BFDStatus(a.Value).String()
	case AttrRole:
		return sdwan.MRFRole(a.Value).String()
	case AttrRestrict, AttrTransportGateway:
		return strconv.FormatBool(a.Value == 1)
	}
	return strconv.Itoa(int(a.Value))
}
