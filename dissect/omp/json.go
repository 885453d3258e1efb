package omp

import (
	"strconv"
	"sync"

	"github.com/ompscope/ompscope/dissect/jsonw"
)

// The JSON form of OMP messages (documented in docs/json.md). Field names
// are stable; a change to them changes the schema version of the output
// that embeds them. It is written by hand (no reflection): the dissector
// prints hundreds of thousands of messages a second.

// enumStr appends the name of an enumerated value as a JSON string
// (jsonw.Name: the names need no escaping, TestEnumNamesNeedNoEscape here
// and TestNamesNeedNoEscape in sdwan).
func enumStr(b []byte, s interface{ String() string }) []byte { return jsonw.Name(b, s.String()) }

// AppendNLRIJSON appends the JSON form of one NLRI of family f.
func AppendNLRIJSON(b []byte, f Family, n *NLRI) []byte {
	b = append(b, `{"path_id":`...)
	b = jsonw.Uint(b, uint64(n.PathID))
	switch f {
	case FamilyRouteV4, FamilyRouteV6:
		b = append(b, `,"vpn":`...)
		b = jsonw.Uint(b, uint64(n.VPN))
		b = append(b, `,"prefix":`...)
		b = jsonw.Prefix(b, n.Prefix)
	case FamilyTLOCv4, FamilyTLOCv6:
		b = append(b, `,"system_ip":`...)
		b = jsonw.Addr(b, n.SystemIP)
		b = append(b, `,"color":`...)
		b = enumStr(b, n.Color)
		b = append(b, `,"encap":`...)
		b = enumStr(b, n.Encap)
	case FamilyService:
		b = append(b, `,"vpn":`...)
		b = jsonw.Uint(b, uint64(n.VPN))
		b = append(b, `,"service":`...)
		b = enumStr(b, n.Service)
		b = append(b, `,"originator":`...)
		b = jsonw.Addr(b, n.Originator)
	}
	return append(b, '}')
}

// appendTLOCKeyJSON appends k as the JSON string "system-ip/color/encap"
// (an address and two names: nothing to escape).
func appendTLOCKeyJSON(b []byte, k TLOCKey) []byte {
	return append(k.AppendTo(append(b, '"')), '"')
}

// AppendAttrValueJSON appends the JSON form of an attribute's value: the
// value of the member AttrValueKey names, followed for ORIGIN by
// `,"metric":N` and for ULTIMATE_TLOC by `,"action":NAME` (members of the
// attribute's object beside it). A TLOC is written as everywhere else in
// ompscope's JSON, "system-ip/color/encap", and an origin as its protocol's
// name, the forms the analyzer's tables use under the same names.
func AppendAttrValueJSON(b []byte, a Attribute) []byte {
	switch a := a.(type) {
	case *Originator:
		return jsonw.Addr(b, a.Addr)
	case *TLOCAttr:
		return appendTLOCKeyJSON(b, a.TLOCKey)
	case *OriginAttr:
		b = enumStr(b, a.Protocol)
		b = append(b, `,"metric":`...)
		return jsonw.Uint(b, uint64(a.Metric))
	case *Uint32Attr:
		return jsonw.Uint(b, uint64(a.Value))
	case *UltimateTLOC:
		b = appendTLOCKeyJSON(b, a.TLOCKey)
		b = append(b, `,"action":`...)
		return enumStr(b, a.Action)
	case *Uint32ListAttr:
		b = append(b, '[')
		for i, v := range a.Values {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.Uint(b, uint64(v))
		}
		return append(b, ']')
	case *AddrAttr:
		return jsonw.AddrPort(b, a.Addr)
	case *Uint8Attr:
		switch a.U8Kind() {
		case "enum":
			return jsonw.String(b, a.Text())
		case "bool":
			return jsonw.Bool(b, a.Value == 1)
		}
		return jsonw.Uint(b, uint64(a.Value))
	case *EncapParams:
		b = append(b, `{"spi":`...)
		b = jsonw.Uint(b, uint64(a.SPI))
		b = append(b, `,"auth_bits":`...)
		b = jsonw.Uint(b, uint64(a.AuthBits))
		b = append(b, `,"encryption_bits":`...)
		return append(jsonw.Uint(b, uint64(a.EncryptionBits)), '}')
	case *UnknownAttr:
		return jsonw.Hex(b, a.Value)
	}
	return append(b, "null"...)
}

// AttrValueKey is the member that holds an attribute's value in JSON, one
// per kind of value so that every member has one JSON type: "address"
// (ORIGINATOR), "tloc" (TLOC, ULTIMATE_TLOC: "system-ip/color/encap"),
// "origin" (the protocol's name; "metric" beside it), "number",
// "numbers" (AS_PATH, COMMUNITY, GROUPS, REGION_PATH), "address_port"
// (PRIVATE/PUBLIC_IPV4/IPV6), "value_name" (CARRIER, BFD_STATUS, ROLE:
// the name of the value), "bool" (RESTRICT, TRANSPORT_GATEWAY),
// "encap_params" (an object), "hex" (an attribute this package does not
// know).
func AttrValueKey(a Attribute) string {
	switch a := a.(type) {
	case *Originator:
		return "address"
	case *TLOCAttr, *UltimateTLOC:
		return "tloc"
	case *OriginAttr:
		return "origin"
	case *Uint32Attr:
		return "number"
	case *Uint32ListAttr:
		return "numbers"
	case *AddrAttr:
		return "address_port"
	case *Uint8Attr:
		switch a.U8Kind() {
		case "enum":
			return "value_name"
		case "bool":
			return "bool"
		}
		return "number"
	case *EncapParams:
		return "encap_params"
	}
	return "hex"
}

// attrHeads is, for every attribute type, the start of its JSON object
// up to its flags: `{"code":N,"name":"NAME","flags":`, made once (one
// append per attribute instead of five), when first used.
var (
	attrHeads     [256]string
	attrHeadsOnce sync.Once
)

func makeAttrHeads() {
	for i := range attrHeads {
		b := append([]byte(`{"code":`), strconv.Itoa(i)...)
		b = append(b, `,"name":`...)
		b = enumStr(b, AttrType(i))
		attrHeads[i] = string(append(b, `,"flags":`...))
	}
}

// AppendAttrsJSON appends the attribute list.
func AppendAttrsJSON(b []byte, attrs []Attribute) []byte {
	attrHeadsOnce.Do(makeAttrHeads)
	b = append(b, '[')
	for i, a := range attrs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, attrHeads[a.Code()]...)
		b = jsonw.Uint(b, uint64(a.Flags()))
		b = append(b, ',', '"')
		b = append(b, AttrValueKey(a)...)
		b = append(b, '"', ':')
		b = AppendAttrValueJSON(b, a)
		b = append(b, '}')
	}
	return append(b, ']')
}

// AppendJSON appends the JSON object of m.
func AppendJSON(b []byte, m Message) []byte {
	switch m := m.(type) {
	case *Hello:
		return append(b, `{"type":"HELLO"}`...)
	case *Handshake:
		b = append(b, `{"type":"HANDSHAKE","system_ip":`...)
		b = jsonw.Addr(b, m.SystemIP)
		b = append(b, `,"site_id":`...)
		b = jsonw.Uint(b, uint64(m.SiteID))
		b = append(b, `,"domain_id":`...)
		b = jsonw.Uint(b, uint64(m.DomainID))
		b = append(b, `,"overlay_id":`...)
		b = jsonw.Uint(b, uint64(m.OverlayID))
		b = append(b, `,"hold_time":`...)
		b = jsonw.Uint(b, uint64(m.HoldTime))
		b = append(b, `,"device_type":`...)
		b = enumStr(b, m.DeviceType)
		b = append(b, `,"flags":`...)
		b = jsonw.Uint(b, uint64(m.Flags))
		b = append(b, `,"graceful_restart":`...)
		b = jsonw.Bool(b, m.Flags&HandshakeGR != 0)
		b = append(b, `,"route_refresh":`...)
		b = jsonw.Bool(b, m.Flags&HandshakeRouteRefresh != 0)
		b = append(b, `,"gr_timer":`...)
		b = jsonw.Uint(b, uint64(m.GRTimer))
		b = append(b, `,"capabilities":[`...)
		for i := range m.Capabilities {
			c := &m.Capabilities[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":`...)
			b = enumStr(b, c.Type)
			b = append(b, `,"code":`...)
			b = jsonw.Uint(b, uint64(c.Type))
			switch c.Type {
			case CapSendPathLimit, CapECMPLimit:
				b = append(b, `,"value":`...)
				b = jsonw.Uint(b, uint64(c.Value))
			case CapOrganization, CapSoftwareVersion:
				b = append(b, `,"text":`...)
				b = jsonw.String(b, c.Text)
			default:
				b = append(b, `,"raw":`...)
				b = jsonw.Hex(b, c.Raw)
			}
			b = append(b, '}')
		}
		return append(b, "]}"...)
	case *Update:
		b = append(b, `{"type":"UPDATE","family":`...)
		b = enumStr(b, m.Family)
		b = append(b, `,"withdrawn":[`...)
		for i := range m.Withdrawn {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendNLRIJSON(b, m.Family, &m.Withdrawn[i])
		}
		b = append(b, `],"attributes":`...)
		b = AppendAttrsJSON(b, m.Attrs)
		b = append(b, `,"reachable":[`...)
		for i := range m.Reachable {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendNLRIJSON(b, m.Family, &m.Reachable[i])
		}
		b = append(b, ']')
		if !m.Family.Parsed() {
			b = append(b, `,"raw_withdrawn":`...)
			b = jsonw.Hex(b, m.RawWithdrawn)
			b = append(b, `,"raw_reachable":`...)
			b = jsonw.Hex(b, m.RawReachable)
		}
		return append(b, '}')
	case *Alert:
		b = append(b, `{"type":"ALERT","code":`...)
		b = jsonw.Uint(b, uint64(m.Code))
		b = append(b, `,"code_name":`...)
		b = enumStr(b, m.Code)
		b = append(b, `,"subcode":`...)
		b = jsonw.Uint(b, uint64(m.Subcode))
		b = append(b, `,"subcode_name":`...)
		b = jsonw.String(b, m.SubcodeName())
		b = append(b, `,"data":`...)
		return append(jsonw.Hex(b, m.Data), '}')
	case *Inform:
		b = append(b, `{"type":"INFORM","kind":`...)
		b = enumStr(b, m.Kind)
		switch m.Kind {
		case InformEndOfRIB, InformRouteRefresh:
			b = append(b, `,"family":`...)
			b = enumStr(b, m.Family)
		case InformGRBegin:
			b = append(b, `,"restart_timer":`...)
			b = jsonw.Uint(b, uint64(m.RestartTimer))
		default:
			b = append(b, `,"raw":`...)
			b = jsonw.Hex(b, m.Raw)
		}
		return append(b, '}')
	case *Policy:
		b = append(b, `{"type":"POLICY","kind":`...)
		b = enumStr(b, m.Kind)
		b = append(b, `,"name":`...)
		b = jsonw.String(b, m.Name)
		b = append(b, `,"raw":`...)
		return append(jsonw.Hex(b, m.Body), '}')
	case *Unknown:
		b = append(b, `{"type":`...)
		b = enumStr(b, m.T)
		b = append(b, `,"type_code":`...)
		b = jsonw.Uint(b, uint64(m.T))
		b = append(b, `,"version":`...)
		b = jsonw.Uint(b, uint64(m.Version))
		b = append(b, `,"raw":`...)
		return append(jsonw.Hex(b, m.Body), '}')
	}
	return append(b, "null"...)
}

// MarshalJSON implements json.Marshaler.
func (m *Hello) MarshalJSON() ([]byte, error) { return AppendJSON(nil, m), nil }

// MarshalJSON implements json.Marshaler.
func (m *Handshake) MarshalJSON() ([]byte, error) { return AppendJSON(nil, m), nil }

// MarshalJSON implements json.Marshaler.
func (m *Update) MarshalJSON() ([]byte, error) { return AppendJSON(nil, m), nil }

// MarshalJSON implements json.Marshaler.
func (m *Alert) MarshalJSON() ([]byte, error) { return AppendJSON(nil, m), nil }

// MarshalJSON implements json.Marshaler.
func (m *Inform) MarshalJSON() ([]byte, error) { return AppendJSON(nil, m), nil }

// MarshalJSON implements json.Marshaler.
func (m *Policy) MarshalJSON() ([]byte, error) { return AppendJSON(nil, m), nil }

// MarshalJSON implements json.Marshaler.
func (m *Unknown) MarshalJSON() ([]byte, error) { return AppendJSON(nil, m), nil }
