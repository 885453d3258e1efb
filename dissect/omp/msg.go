package omp

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// Message is one OMP message: *Hello, *Handshake, *Update, *Alert,
// *Inform, *Policy, or *Unknown (an unknown type or version, kept raw).
type Message interface {
	Type() Type
	// AppendBody appends the message body (everything after the 4-byte
	// header).
	AppendBody(b []byte) ([]byte, error)
	// DecodeBody decodes the body; data is the body, and errors count
	// offsets from the start of the message (so the body starts at 4).
	DecodeBody(data []byte) error
}

// Hello is the OMP keepalive; it has no body.
type Hello struct{}

// Handshake opens an OMP session and says who the speaker is and which
// timers and capabilities it wants.
type Handshake struct {
	SystemIP     netip.Addr
	SiteID       uint32
	DomainID     uint32
	OverlayID    uint32
	HoldTime     uint16 // seconds; 0 (no keepalives) or >= 3
	DeviceType   sdwan.DeviceType
	Flags        uint8  // HandshakeGR, HandshakeRouteRefresh
	GRTimer      uint32 // graceful-restart timer, seconds
	Capabilities []Capability
}

// Handshake flag bits.
const (
	HandshakeGR           uint8 = 0x01 // graceful restart supported
	HandshakeRouteRefresh uint8 = 0x02 // route refresh supported
)

// Defaults of the handshake timers and limits.
const (
	DefaultHoldTime      = 60
	DefaultGRTimer       = 43200
	DefaultSendPathLimit = 4
	DefaultECMPLimit     = 4
)

// CapabilityType is a handshake capability code.
type CapabilityType uint16

// Capability codes.
const (
	CapSendPathLimit   CapabilityType = 1
	CapECMPLimit       CapabilityType = 2
	CapOrganization    CapabilityType = 3
	CapSoftwareVersion CapabilityType = 4
)

var capNames = [...]string{1: "send-path-limit", 2: "ecmp-limit", 3: "organization-name", 4: "software-version"}

func (c CapabilityType) String() string {
	if c >= 1 && int(c) < len(capNames) {
		return capNames[c]
	}
	return "capability-" + strconv.Itoa(int(c))
}

// MarshalText gives the name.
func (c CapabilityType) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Capability is one handshake capability. Limits use Value, names use
// Text, unknown codes keep their bytes in Raw.
type Capability struct {
	Type  CapabilityType
	Value uint8
	Text  string
	Raw   []byte
}

// Capability returns the capability of type t, if present.
func (h *Handshake) Capability(t CapabilityType) (Capability, bool) {
	for _, c := range h.Capabilities {
		if c.Type == t {
			return c, true
		}
	}
	return Capability{}, false
}

// SendPathLimit is the send-path-limit capability, or the default.
func (h *Handshake) SendPathLimit() uint8 {
	if c, ok := h.Capability(CapSendPathLimit); ok {
		return c.Value
	}
	return DefaultSendPathLimit
}

// Update advertises (Reachable) and withdraws (Withdrawn) NLRI of one
// family; every reachable NLRI carries Attrs. For families this package
// does not parse (mcast and unknown), the two NLRI sections are kept raw in
// RawWithdrawn and RawReachable.
//
// RawAttrs is, with ReuseAttributes, the path-attribute section as decoded
// (it aliases the input: valid until that buffer is reused; nil without
// ReuseAttributes; Serialize ignores it): two UPDATEs whose RawAttrs are
// equal carry equal Attrs, which lets a consumer that reuses its messages
// cache by the bytes instead of re-encoding the values.
type Update struct {
	Family       Family
	Withdrawn    []NLRI
	Attrs        []Attribute
	Reachable    []NLRI
	RawWithdrawn []byte
	RawReachable []byte
	RawAttrs     []byte

	reuseAttrs bool        // ReuseAttributes
	spare      []Attribute // values of the previous decode, to overwrite
	cache      *AttrCache  // UseAttrCache
	shared     bool        // Attrs is the cache's (own holds the array of ours)
	own        []Attribute
}

// UseAttrCache makes DecodeFromBytes, with ReuseAttributes, take the
// attributes of a section c holds from c instead of decoding them (c's
// values, not to be changed), and offer c the sections it decodes.
func (u *Update) UseAttrCache(c *AttrCache) { u.cache = c }

// ReuseAttributes makes DecodeFromBytes overwrite the attribute values of
// the previous decode instead of allocating new ones: a caller that keeps
// one Update and copies what it keeps (MessageDecoder; the analyzer clones
// what it interns) then decodes without allocating per attribute.
func (u *Update) ReuseAttributes(on bool) { u.reuseAttrs = on }

// Alert is the OMP notification (like BGP's NOTIFICATION).
type Alert struct {
	Code    AlertCode
	Subcode uint8
	Data    []byte
}

// AlertCode is an ALERT code.
type AlertCode uint8

// Alert codes.
const (
	AlertHeader     AlertCode = 1
	AlertHandshake  AlertCode = 2
	AlertUpdate     AlertCode = 3
	AlertHoldTimer  AlertCode = 4
	AlertFSM        AlertCode = 5
	AlertCease      AlertCode = 6
	CeaseAdminDown  uint8     = 1
	CeasePeerDecfg  uint8     = 2
	CeaseAdminReset uint8     = 3
	CeaseRejected   uint8     = 4
	CeaseOther      uint8     = 5
)

var alertNames = [...]string{1: "message-header-error", 2: "handshake-error", 3: "update-error",
	4: "hold-timer-expired", 5: "state-machine-error", 6: "cease"}
var ceaseNames = [...]string{1: "admin-shutdown", 2: "peer-deconfigured", 3: "admin-reset", 4: "connection-rejected", 5: "other"}

func (c AlertCode) String() string {
	if c >= 1 && int(c) < len(alertNames) {
		return alertNames[c]
	}
	return "alert-" + strconv.Itoa(int(c))
}

// MarshalText gives the name.
func (c AlertCode) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// SubcodeName names the subcode (cease subcodes have names; others print
// as numbers).
func (a *Alert) SubcodeName() string {
	if a.Code == AlertCease && a.Subcode >= 1 && int(a.Subcode) < len(ceaseNames) {
		return ceaseNames[a.Subcode]
	}
	return strconv.Itoa(int(a.Subcode))
}

// InformKind is an INFORM kind.
type InformKind uint8

// Inform kinds.
const (
	InformEndOfRIB     InformKind = 1
	InformRouteRefresh InformKind = 2
	InformGRBegin      InformKind = 3
)

var informNames = [...]string{1: "END_OF_RIB", 2: "ROUTE_REFRESH", 3: "GRACEFUL_RESTART_BEGIN"}

func (k InformKind) String() string {
	if k >= 1 && int(k) < len(informNames) {
		return informNames[k]
	}
	return "INFORM-" + strconv.Itoa(int(k))
}

// MarshalText gives the name.
func (k InformKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Inform carries END_OF_RIB and ROUTE_REFRESH (with a family) and
// GRACEFUL_RESTART_BEGIN (with the restart timer). Unknown kinds keep their
// body in Raw.
type Inform struct {
	Kind         InformKind
	Family       Family
	RestartTimer uint32
	Raw          []byte
}

// PolicyKind is a POLICY kind.
type PolicyKind uint8

var policyNames = [...]string{1: "app-route", 2: "data", 3: "control", 4: "vpn-membership"}

func (k PolicyKind) String() string {
	if k >= 1 && int(k) < len(policyNames) {
		return policyNames[k]
	}
	return "policy-" + strconv.Itoa(int(k))
}

// MarshalText gives the name.
func (k PolicyKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Policy carries a named policy with an opaque body.
type Policy struct {
	Kind PolicyKind
	Name string
	Body []byte
}

// Unknown is a message of an unknown type or of an encoding version other
// than 1, kept as it came.
type Unknown struct {
	Version uint8
	T       Type
	Body    []byte
}

func (*Hello) Type() Type     { return TypeHello }
func (*Handshake) Type() Type { return TypeHandshake }
func (*Update) Type() Type    { return TypeUpdate }
func (*Alert) Type() Type     { return TypeAlert }
func (*Inform) Type() Type    { return TypeInform }
func (*Policy) Type() Type    { return TypePolicy }
func (u *Unknown) Type() Type { return u.T }

// ---- Hello

// AppendBody implements Message.
func (*Hello) AppendBody(b []byte) ([]byte, error) { return b, nil }

// DecodeBody implements Message.
func (*Hello) DecodeBody(data []byte) error {
	if len(data) != 0 {
		return errf("omp hello", "body", HeaderLen, "%d bytes, want 0", len(data))
	}
	return nil
}

// ---- Handshake

const handshakeFixed = 4 + 4 + 4 + 4 + 2 + 1 + 1 + 4

// AppendBody implements Message.
func (h *Handshake) AppendBody(b []byte) ([]byte, error) {
	const layer = "omp handshake"
	ip, err := addr4(layer, "system-ip", h.SystemIP)
	if err != nil {
		return b, err
	}
	if h.HoldTime == 1 || h.HoldTime == 2 {
		return b, &EncodeError{layer, "hold-time", "hold time " + strconv.Itoa(int(h.HoldTime)) + ", want 0 or at least 3"}
	}
	if len(h.Capabilities) > 255 {
		return b, &EncodeError{layer, "capabilities", strconv.Itoa(len(h.Capabilities)) + " capabilities, at most 255"}
	}
	b = append(b, ip[:]...)
	b = binary.BigEndian.AppendUint32(b, h.SiteID)
	b = binary.BigEndian.AppendUint32(b, h.DomainID)
	b = binary.BigEndian.AppendUint32(b, h.OverlayID)
	b = binary.BigEndian.AppendUint16(b, h.HoldTime)
	b = append(b, byte(h.DeviceType), h.Flags)
	b = binary.BigEndian.AppendUint32(b, h.GRTimer)
	b = append(b, byte(len(h.Capabilities)))
	for _, c := range h.Capabilities {
		var v []byte
		switch c.Type {
		case CapSendPathLimit, CapECMPLimit:
			v = []byte{c.Value}
		case CapOrganization, CapSoftwareVersion:
			v = []byte(c.Text)
		default:
			v = c.Raw
		}
		if len(v) > 0xffff {
			return b, &EncodeError{layer, "capability " + c.Type.String(), "value too long"}
		}
		b = binary.BigEndian.AppendUint16(b, uint16(c.Type))
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	return b, nil
}

// DecodeBody implements Message.
func (h *Handshake) DecodeBody(data []byte) error {
	const layer = "omp handshake"
	if len(data) < handshakeFixed+1 {
		return errf(layer, "body", HeaderLen, "%d bytes, need at least %d", len(data), handshakeFixed+1)
	}
	h.SystemIP = netip.AddrFrom4([4]byte(data[0:4]))
	h.SiteID = binary.BigEndian.Uint32(data[4:])
	h.DomainID = binary.BigEndian.Uint32(data[8:])
	h.OverlayID = binary.BigEndian.Uint32(data[12:])
	h.HoldTime = binary.BigEndian.Uint16(data[16:])
	if h.HoldTime == 1 || h.HoldTime == 2 {
		return errf(layer, "hold-time", HeaderLen+16, "%d, want 0 or at least 3", h.HoldTime)
	}
	h.DeviceType = sdwan.DeviceType(data[18])
	h.Flags = data[19]
	h.GRTimer = binary.BigEndian.Uint32(data[20:])
	count := int(data[24])
	rest := data[25:]
	off := HeaderLen + 25
	if count > len(rest)/4 {
		return errf(layer, "capability count", HeaderLen+24, "%d capabilities cannot fit in %d bytes", count, len(rest))
	}
	h.Capabilities = make([]Capability, 0, count)
	for i := 0; i < count; i++ {
		if len(rest) < 4 {
			return errf(layer, "capability "+strconv.Itoa(i)+" header", off, "%d bytes left, need 4", len(rest))
		}
		t := CapabilityType(binary.BigEndian.Uint16(rest))
		l := int(binary.BigEndian.Uint16(rest[2:]))
		if l > len(rest)-4 {
			return errf(layer, "capability "+strconv.Itoa(int(t))+" ("+t.String()+")", off, "length %d, only %d bytes left", l, len(rest)-4)
		}
		v := rest[4 : 4+l]
		c := Capability{Type: t}
		switch t {
		case CapSendPathLimit, CapECMPLimit:
			if l != 1 {
				return errf(layer, "capability "+strconv.Itoa(int(t))+" ("+t.String()+")", off, "length %d, want 1", l)
			}
			c.Value = v[0]
		case CapOrganization, CapSoftwareVersion:
			c.Text = string(v)
		default:
			c.Raw = append([]byte(nil), v...)
		}
		h.Capabilities = append(h.Capabilities, c)
		rest = rest[4+l:]
		off += 4 + l
	}
	if len(rest) != 0 {
		return errf(layer, "after capabilities", off, "%d trailing bytes", len(rest))
	}
	return nil
}

// ---- Update

// AppendBody implements Message.
func (u *Update) AppendBody(b []byte) ([]byte, error) {
	const layer = "omp update"
	b = append(b, byte(u.Family))
	// withdrawn
	lenAt := len(b)
	b = append(b, 0, 0)
	var err error
	if u.Family.Parsed() {
		for i := range u.Withdrawn {
			if b, err = appendNLRI(b, u.Family, &u.Withdrawn[i]); err != nil {
				return b, err
			}
		}
	} else {
		b = append(b, u.RawWithdrawn...)
	}
	if l := len(b) - lenAt - 2; l > 0xffff {
		return b, &EncodeError{layer, "withdrawn", strconv.Itoa(l) + " bytes do not fit in a u16 length"}
	} else {
		binary.BigEndian.PutUint16(b[lenAt:], uint16(l))
	}
	// attributes
	lenAt = len(b)
	b = append(b, 0, 0)
	for _, a := range u.Attrs {
		if b, err = AppendAttr(b, a); err != nil {
			return b, err
		}
	}
	if l := len(b) - lenAt - 2; l > 0xffff {
		return b, &EncodeError{layer, "attributes", strconv.Itoa(l) + " bytes do not fit in a u16 length"}
	} else {
		binary.BigEndian.PutUint16(b[lenAt:], uint16(l))
	}
	if u.Family.Parsed() {
		for i := range u.Reachable {
			if b, err = appendNLRI(b, u.Family, &u.Reachable[i]); err != nil {
				return b, err
			}
		}
	} else {
		b = append(b, u.RawReachable...)
	}
	return b, nil
}

// DecodeBody implements Message. It reuses u's slices.
func (u *Update) DecodeBody(data []byte) error { return u.DecodeFromBytes(data) }

// DecodeFromBytes decodes an UPDATE body into u, reusing u's slices so a
// caller that keeps one Update decodes without allocating per NLRI
// (attribute values are still allocated, a few per message).
func (u *Update) DecodeFromBytes(data []byte) error {
	const layer = "omp update"
	off := HeaderLen
	if len(data) < 5 {
		return errf(layer, "family/withdrawn-length", off, "%d bytes, need at least 5", len(data))
	}
	u.Family = Family(data[0])
	wl := int(binary.BigEndian.Uint16(data[1:]))
	if wl > len(data)-5 {
		return errf(layer, "withdrawn-length", off+1, "%d, only %d bytes left", wl, len(data)-3)
	}
	wd := data[3 : 3+wl]
	p := 3 + wl
	if len(data)-p < 2 {
		return errf(layer, "attributes-length", off+p, "%d bytes left, need 2", len(data)-p)
	}
	al := int(binary.BigEndian.Uint16(data[p:]))
	if al > len(data)-p-2 {
		return errf(layer, "attributes-length", off+p, "%d, only %d bytes left", al, len(data)-p-2)
	}
	ad := data[p+2 : p+2+al]
	adOff := off + p + 2
	nl := data[p+2+al:]
	nlOff := adOff + al

	u.Withdrawn, u.Reachable = u.Withdrawn[:0], u.Reachable[:0]
	u.RawWithdrawn, u.RawReachable, u.RawAttrs = nil, nil, nil
	var err error
	if u.Family.Parsed() {
		if u.Withdrawn, err = decodeNLRIs(u.Family, u.Withdrawn, wd, off+3, "withdrawn"); err != nil {
			return err
		}
	} else {
		u.RawWithdrawn = append([]byte(nil), wd...)
	}
	if u.shared {
		// the previous decode's attributes were the cache's: neither the
		// values nor the array are ours to overwrite
		u.Attrs, u.own, u.shared = u.own, nil, false
	}
	hit := false
	if u.reuseAttrs && u.cache != nil && len(ad) > 0 {
		if l, ok := u.cache.get(ad); ok {
			u.spare = append(u.spare, u.Attrs...) // ours, for a later decode
			clear(u.Attrs)
			u.own, u.Attrs, u.shared, hit = u.Attrs[:0], l, true, true
			u.RawAttrs = ad
		}
	}
	if !hit {
		var spare *[]Attribute
		hint := 0
		if u.reuseAttrs {
			// the values no longer in use join those left over earlier: each
			// type's values are kept for the next UPDATE that has it (their
			// number is bounded by the most of a type one UPDATE carried);
			// the previous UPDATE's, in order, from hint on
			hint = len(u.spare)
			u.spare = append(u.spare, u.Attrs...)
			spare = &u.spare
		}
		if u.Attrs, err = decodeAttrs(u.Attrs, ad, adOff, spare, hint); err != nil {
			return err
		}
		if u.reuseAttrs {
			u.RawAttrs = ad
			if u.cache != nil && len(ad) > 0 {
				u.cache.offer(ad, u.Attrs)
			}
		}
	}
	if u.Family.Parsed() {
		if u.Reachable, err = decodeNLRIs(u.Family, u.Reachable, nl, nlOff, "reachable"); err != nil {
			return err
		}
	} else {
		u.RawReachable = append([]byte(nil), nl...)
	}
	return nil
}

// minNLRILen is the smallest encoded NLRI of a family; used to bound
// allocations by the input length.
func minNLRILen(f Family) int {
	switch f {
	case FamilyRouteV4, FamilyRouteV6:
		return 9
	case FamilyTLOCv4, FamilyTLOCv6:
		return 10
	}
	return 13
}

func decodeNLRIs(f Family, out []NLRI, data []byte, off int, what string) ([]NLRI, error) {
	// One allocation, bounded by what the bytes can hold (a route entry
	// is 9 to 25 bytes: estimate 12); append grows it if the estimate
	// was short. A reused slice keeps its capacity and grows only when a
	// message holds more NLRI than any before.
	est := len(data) / minNLRILen(f)
	if f.IsRoute() {
		est = len(data)/12 + 1
	}
	if cap(out) == 0 {
		out = make([]NLRI, 0, est)
	}
	for i := 0; len(data) > 0; i++ {
		if len(out) == cap(out) {
			out = append(out, NLRI{})[:len(out)]
		}
		out = out[:len(out)+1]
		n, err := decodeNLRI(f, data, off, &out[len(out)-1], what, i)
		if err != nil {
			return out[:len(out)-1], err
		}
		data = data[n:]
		off += n
	}
	return out, nil
}

// ---- Alert

// AppendBody implements Message.
func (a *Alert) AppendBody(b []byte) ([]byte, error) {
	return append(append(b, byte(a.Code), a.Subcode), a.Data...), nil
}

// DecodeBody implements Message.
func (a *Alert) DecodeBody(data []byte) error {
	if len(data) < 2 {
		return errf("omp alert", "code/subcode", HeaderLen, "%d bytes, need 2", len(data))
	}
	a.Code, a.Subcode = AlertCode(data[0]), data[1]
	a.Data = append([]byte(nil), data[2:]...)
	return nil
}

// ---- Inform

// AppendBody implements Message.
func (m *Inform) AppendBody(b []byte) ([]byte, error) {
	b = append(b, byte(m.Kind))
	switch m.Kind {
	case InformEndOfRIB, InformRouteRefresh:
		return append(b, byte(m.Family)), nil
	case InformGRBegin:
		return binary.BigEndian.AppendUint32(b, m.RestartTimer), nil
	}
	return append(b, m.Raw...), nil
}

// DecodeBody implements Message.
func (m *Inform) DecodeBody(data []byte) error {
	const layer = "omp inform"
	if len(data) < 1 {
		return errf(layer, "kind", HeaderLen, "empty body")
	}
	m.Kind = InformKind(data[0])
	m.Family, m.RestartTimer, m.Raw = 0, 0, nil
	switch m.Kind {
	case InformEndOfRIB, InformRouteRefresh:
		if len(data) != 2 {
			return errf(layer, m.Kind.String()+" family", HeaderLen+1, "%d bytes, want 1", len(data)-1)
		}
		m.Family = Family(data[1])
	case InformGRBegin:
		if len(data) != 5 {
			return errf(layer, m.Kind.String()+" restart-timer", HeaderLen+1, "%d bytes, want 4", len(data)-1)
		}
		m.RestartTimer = binary.BigEndian.Uint32(data[1:])
	default:
		m.Raw = append([]byte(nil), data[1:]...)
	}
	return nil
}

// ---- Policy

// AppendBody implements Message.
func (p *Policy) AppendBody(b []byte) ([]byte, error) {
	if len(p.Name) > 0xffff {
		return b, &EncodeError{"omp policy", "name", "longer than 65535 bytes"}
	}
	b = append(b, byte(p.Kind))
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.Name)))
	b = append(b, p.Name...)
	return append(b, p.Body...), nil
}

// DecodeBody implements Message.
func (p *Policy) DecodeBody(data []byte) error {
	const layer = "omp policy"
	if len(data) < 3 {
		return errf(layer, "kind/name-length", HeaderLen, "%d bytes, need 3", len(data))
	}
	p.Kind = PolicyKind(data[0])
	l := int(binary.BigEndian.Uint16(data[1:]))
	if l > len(data)-3 {
		return errf(layer, "name-length", HeaderLen+1, "%d, only %d bytes left", l, len(data)-3)
	}
	p.Name = string(data[3 : 3+l])
	p.Body = append([]byte(nil), data[3+l:]...)
	return nil
}

// ---- Unknown

// AppendBody implements Message.
func (u *Unknown) AppendBody(b []byte) ([]byte, error) { return append(b, u.Body...), nil }

// DecodeBody implements Message.
func (u *Unknown) DecodeBody(data []byte) error {
	u.Body = append([]byte(nil), data...)
	return nil
}
