package omp

import (
	"encoding/hex"
	"encoding/json"
	"net/netip"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// The JSON form of OMP messages (documented in docs/json.md). Field names
// are stable; a change to them changes the schema version of the output
// that embeds them.

type jsonNLRI struct {
	PathID     uint32         `json:"path_id"`
	VPN        *uint32        `json:"vpn,omitempty"`
	Prefix     *netip.Prefix  `json:"prefix,omitempty"`
	SystemIP   *netip.Addr    `json:"system_ip,omitempty"`
	Color      *sdwan.Color   `json:"color,omitempty"`
	Encap      *sdwan.Encap   `json:"encap,omitempty"`
	Service    *sdwan.Service `json:"service,omitempty"`
	Originator *netip.Addr    `json:"originator,omitempty"`
}

// NLRIJSON is the JSON form of one NLRI of family f.
func NLRIJSON(f Family, n *NLRI) any {
	j := jsonNLRI{PathID: n.PathID}
	switch f {
	case FamilyRouteV4, FamilyRouteV6:
		j.VPN, j.Prefix = &n.VPN, &n.Prefix
	case FamilyTLOCv4, FamilyTLOCv6:
		j.SystemIP, j.Color, j.Encap = &n.SystemIP, &n.Color, &n.Encap
	case FamilyService:
		j.VPN, j.Service, j.Originator = &n.VPN, &n.Service, &n.Originator
	}
	return j
}

type jsonTLOC struct {
	SystemIP netip.Addr      `json:"system_ip"`
	Color    sdwan.Color     `json:"color"`
	Encap    sdwan.Encap     `json:"encap"`
	Action   *UltimateAction `json:"action,omitempty"`
}

type jsonAttr struct {
	Code  uint8  `json:"code"`
	Name  string `json:"name"`
	Flags uint8  `json:"flags"`
	Value any    `json:"value"`
}

// AttrValueJSON is the JSON form of an attribute's value.
func AttrValueJSON(a Attribute) any {
	switch a := a.(type) {
	case *Originator:
		return a.Addr
	case *TLOCAttr:
		return jsonTLOC{a.SystemIP, a.Color, a.Encap, nil}
	case *OriginAttr:
		return struct {
			Protocol sdwan.Origin `json:"protocol"`
			Metric   uint32       `json:"metric"`
		}{a.Protocol, a.Metric}
	case *Uint32Attr:
		return a.Value
	case *UltimateTLOC:
		act := a.Action
		return jsonTLOC{a.SystemIP, a.Color, a.Encap, &act}
	case *Uint32ListAttr:
		if a.Values == nil {
			return []uint32{}
		}
		return a.Values
	case *AddrAttr:
		return a.Addr
	case *Uint8Attr:
		if a.Type == AttrCarrier {
			return sdwan.Carrier(a.Value)
		}
		return a.Value == 1
	case *EncapParams:
		return struct {
			SPI            uint32 `json:"spi"`
			AuthBits       uint16 `json:"auth_bits"`
			EncryptionBits uint16 `json:"encryption_bits"`
		}{a.SPI, a.AuthBits, a.EncryptionBits}
	case *UnknownAttr:
		return hex.EncodeToString(a.Value)
	}
	return nil
}

func attrsJSON(attrs []Attribute) []jsonAttr {
	out := make([]jsonAttr, len(attrs))
	for i, a := range attrs {
		out[i] = jsonAttr{uint8(a.Code()), a.Code().String(), a.Flags(), AttrValueJSON(a)}
	}
	return out
}

// MarshalJSON implements json.Marshaler.
func (*Hello) MarshalJSON() ([]byte, error) { return []byte(`{"type":"HELLO"}`), nil }

type jsonCap struct {
	Type  CapabilityType `json:"type"`
	Code  uint16         `json:"code"`
	Value *uint8         `json:"value,omitempty"`
	Text  *string        `json:"text,omitempty"`
	Raw   *string        `json:"raw,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (h *Handshake) MarshalJSON() ([]byte, error) {
	caps := make([]jsonCap, len(h.Capabilities))
	for i := range h.Capabilities {
		c := &h.Capabilities[i]
		j := jsonCap{Type: c.Type, Code: uint16(c.Type)}
		switch c.Type {
		case CapSendPathLimit, CapECMPLimit:
			j.Value = &c.Value
		case CapOrganization, CapSoftwareVersion:
			j.Text = &c.Text
		default:
			s := hex.EncodeToString(c.Raw)
			j.Raw = &s
		}
		caps[i] = j
	}
	return json.Marshal(struct {
		Type            string           `json:"type"`
		SystemIP        netip.Addr       `json:"system_ip"`
		SiteID          uint32           `json:"site_id"`
		DomainID        uint32           `json:"domain_id"`
		OverlayID       uint32           `json:"overlay_id"`
		HoldTime        uint16           `json:"hold_time"`
		DeviceType      sdwan.DeviceType `json:"device_type"`
		Flags           uint8            `json:"flags"`
		GracefulRestart bool             `json:"graceful_restart"`
		RouteRefresh    bool             `json:"route_refresh"`
		GRTimer         uint32           `json:"gr_timer"`
		Capabilities    []jsonCap        `json:"capabilities"`
	}{"HANDSHAKE", h.SystemIP, h.SiteID, h.DomainID, h.OverlayID, h.HoldTime, h.DeviceType, h.Flags,
		h.Flags&HandshakeGR != 0, h.Flags&HandshakeRouteRefresh != 0, h.GRTimer, caps})
}

// MarshalJSON implements json.Marshaler.
func (u *Update) MarshalJSON() ([]byte, error) {
	nl := func(ns []NLRI) []any {
		out := make([]any, len(ns))
		for i := range ns {
			out[i] = NLRIJSON(u.Family, &ns[i])
		}
		return out
	}
	j := struct {
		Type         string     `json:"type"`
		Family       Family     `json:"family"`
		Withdrawn    []any      `json:"withdrawn"`
		Attributes   []jsonAttr `json:"attributes"`
		Reachable    []any      `json:"reachable"`
		RawWithdrawn *string    `json:"raw_withdrawn,omitempty"`
		RawReachable *string    `json:"raw_reachable,omitempty"`
	}{Type: "UPDATE", Family: u.Family, Withdrawn: nl(u.Withdrawn), Attributes: attrsJSON(u.Attrs), Reachable: nl(u.Reachable)}
	if !u.Family.Parsed() {
		w, r := hex.EncodeToString(u.RawWithdrawn), hex.EncodeToString(u.RawReachable)
		j.RawWithdrawn, j.RawReachable = &w, &r
	}
	return json.Marshal(j)
}

// MarshalJSON implements json.Marshaler.
func (a *Alert) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type        string    `json:"type"`
		Code        AlertCode `json:"code"`
		CodeNum     uint8     `json:"code_num"`
		Subcode     uint8     `json:"subcode"`
		SubcodeName string    `json:"subcode_name"`
		Data        string    `json:"data"`
	}{"ALERT", a.Code, uint8(a.Code), a.Subcode, a.SubcodeName(), hex.EncodeToString(a.Data)})
}

// MarshalJSON implements json.Marshaler.
func (m *Inform) MarshalJSON() ([]byte, error) {
	j := struct {
		Type         string     `json:"type"`
		Kind         InformKind `json:"kind"`
		Family       *Family    `json:"family,omitempty"`
		RestartTimer *uint32    `json:"restart_timer,omitempty"`
		Raw          *string    `json:"raw,omitempty"`
	}{Type: "INFORM", Kind: m.Kind}
	switch m.Kind {
	case InformEndOfRIB, InformRouteRefresh:
		j.Family = &m.Family
	case InformGRBegin:
		j.RestartTimer = &m.RestartTimer
	default:
		s := hex.EncodeToString(m.Raw)
		j.Raw = &s
	}
	return json.Marshal(j)
}

// MarshalJSON implements json.Marshaler.
func (p *Policy) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type string     `json:"type"`
		Kind PolicyKind `json:"kind"`
		Name string     `json:"name"`
		Body string     `json:"body"`
	}{"POLICY", p.Kind, p.Name, hex.EncodeToString(p.Body)})
}

// MarshalJSON implements json.Marshaler.
func (u *Unknown) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type     Type   `json:"type"`
		TypeCode uint8  `json:"type_code"`
		Version  uint8  `json:"version"`
		Body     string `json:"body"`
	}{u.T, uint8(u.T), u.Version, hex.EncodeToString(u.Body)})
}
