package omp

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// gen makes random valid values of every type, family and attribute.
type gen struct{ r *rand.Rand }

func (g gen) ip4() netip.Addr {
	var a [4]byte
	for i := range a {
		a[i] = byte(g.r.IntN(256))
	}
	return netip.AddrFrom4(a)
}

func (g gen) ip6() netip.Addr {
	var a [16]byte
	for i := range a {
		a[i] = byte(g.r.IntN(256))
	}
	return netip.AddrFrom16(a)
}

func (g gen) bytes(max int) []byte {
	b := make([]byte, g.r.IntN(max+1))
	for i := range b {
		b[i] = byte(g.r.IntN(256))
	}
	return b
}

func (g gen) tloc() TLOCKey {
	return TLOCKey{g.ip4(), sdwan.Color(g.r.IntN(256)), sdwan.Encap(g.r.IntN(256))}
}

func (g gen) nlri(f Family) NLRI {
	n := NLRI{PathID: g.r.Uint32()}
	switch f {
	case FamilyRouteV4:
		n.VPN = g.r.Uint32()
		n.Prefix = netip.PrefixFrom(g.ip4(), g.r.IntN(33)).Masked()
	case FamilyRouteV6:
		n.VPN = g.r.Uint32()
		n.Prefix = netip.PrefixFrom(g.ip6(), g.r.IntN(129)).Masked()
	case FamilyTLOCv4, FamilyTLOCv6:
		k := g.tloc()
		n.SystemIP, n.Color, n.Encap = k.SystemIP, k.Color, k.Encap
	case FamilyService:
		n.VPN, n.Service, n.Originator = g.r.Uint32(), sdwan.Service(g.r.IntN(256)), g.ip4()
	}
	return n
}

func (g gen) attr(t AttrType) Attribute {
	fl := uint8(g.r.IntN(256))
	switch {
	case t == AttrOriginator:
		return &Originator{fl, g.ip4()}
	case t == AttrTLOC:
		return &TLOCAttr{fl, g.tloc()}
	case t == AttrOrigin:
		return &OriginAttr{fl, sdwan.Origin(g.r.IntN(256)), g.r.Uint32()}
	case t == AttrLabel:
		return &Uint32Attr{t, fl, g.r.Uint32N(1 << 20)}
	case t == AttrWeight:
		return &Uint32Attr{t, fl, 1 + g.r.Uint32N(255)}
	case isU32Attr(t):
		return &Uint32Attr{t, fl, g.r.Uint32()}
	case t == AttrUltimateTLOC:
		return &UltimateTLOC{fl, g.tloc(), UltimateAction(1 + g.r.IntN(4))}
	case isListAttr(t):
		v := make([]uint32, g.r.IntN(6))
		for i := range v {
			v[i] = g.r.Uint32()
		}
		return &Uint32ListAttr{t, fl, v}
	case t == AttrPrivateIPv4, t == AttrPublicIPv4:
		return &AddrAttr{t, fl, netip.AddrPortFrom(g.ip4(), uint16(g.r.IntN(65536)))}
	case t == AttrPrivateIPv6, t == AttrPublicIPv6:
		return &AddrAttr{t, fl, netip.AddrPortFrom(g.ip6(), uint16(g.r.IntN(65536)))}
	case t == AttrCarrier:
		return &Uint8Attr{t, fl, uint8(1 + g.r.IntN(9))}
	case t == AttrRestrict, t == AttrTransportGateway:
		return &Uint8Attr{t, fl, uint8(g.r.IntN(2))}
	case t == AttrBFDStatus:
		return &Uint8Attr{t, fl, uint8(g.r.IntN(3))}
	case t == AttrRole:
		return &Uint8Attr{t, fl, uint8(1 + g.r.IntN(2))}
	case t == AttrEncapProto:
		return &Uint8Attr{t, fl, uint8(g.r.IntN(256))}
	case t == AttrEncapParams:
		return &EncapParams{fl, g.r.Uint32(), uint16(g.r.IntN(65536)), uint16(g.r.IntN(65536))}
	}
	return &UnknownAttr{t, fl, g.bytes(12)}
}

var allAttrTypes = func() []AttrType {
	var ts []AttrType
	for t := range attrInfo {
		ts = append(ts, t)
	}
	slices.Sort(ts)                             // map order would make every run's values differ
	return append(ts, 15, 31, 43, 99, 200, 255) // unknown ones
}()

func (g gen) message(t Type) Message {
	switch t {
	case TypeHello:
		return &Hello{}
	case TypeHandshake:
		h := &Handshake{SystemIP: g.ip4(), SiteID: g.r.Uint32(), DomainID: g.r.Uint32(), OverlayID: g.r.Uint32(),
			DeviceType: sdwan.DeviceType(g.r.IntN(256)), Flags: uint8(g.r.IntN(256)), GRTimer: g.r.Uint32()}
		for h.HoldTime = uint16(g.r.IntN(65536)); h.HoldTime == 1 || h.HoldTime == 2; {
			h.HoldTime = 0
		}
		h.Capabilities = []Capability{}
		for i := g.r.IntN(6); i > 0; i-- {
			switch ct := CapabilityType(g.r.IntN(6)); ct {
			case CapSendPathLimit, CapECMPLimit:
				h.Capabilities = append(h.Capabilities, Capability{Type: ct, Value: uint8(g.r.IntN(256))})
			case CapOrganization, CapSoftwareVersion:
				h.Capabilities = append(h.Capabilities, Capability{Type: ct, Text: string(g.bytes(10))})
			default:
				h.Capabilities = append(h.Capabilities, Capability{Type: ct + 100, Raw: g.bytes(5)})
			}
		}
		return h
	case TypeUpdate:
		u := &Update{Family: Family(g.r.IntN(8)), Attrs: []Attribute{}}
		if u.Family.Parsed() {
			u.Withdrawn, u.Reachable = []NLRI{}, []NLRI{}
			for i := g.r.IntN(5); i > 0; i-- {
				u.Withdrawn = append(u.Withdrawn, g.nlri(u.Family))
			}
			for i := g.r.IntN(20); i > 0; i-- {
				u.Reachable = append(u.Reachable, g.nlri(u.Family))
			}
		} else {
			u.Withdrawn, u.Reachable = []NLRI{}, []NLRI{}
			u.RawWithdrawn, u.RawReachable = g.bytes(20), g.bytes(20)
		}
		for i := g.r.IntN(10); i > 0; i-- {
			u.Attrs = append(u.Attrs, g.attr(allAttrTypes[g.r.IntN(len(allAttrTypes))]))
		}
		return u
	case TypeAlert:
		return &Alert{AlertCode(g.r.IntN(256)), uint8(g.r.IntN(256)), g.bytes(8)}
	case TypeInform:
		m := &Inform{Kind: InformKind(g.r.IntN(5))}
		switch m.Kind {
		case InformEndOfRIB, InformRouteRefresh:
			m.Family = Family(g.r.IntN(256))
		case InformGRBegin:
			m.RestartTimer = g.r.Uint32()
		default:
			m.Raw = g.bytes(6)
		}
		return m
	case TypePolicy:
		return &Policy{PolicyKind(g.r.IntN(256)), string(g.bytes(12)), g.bytes(30)}
	}
	return &Unknown{Version: uint8(g.r.IntN(256)), T: t, Body: g.bytes(20)}
}

// canon fixes the representation differences that decoding introduces
// and that carry no information (nil vs empty slices).
func canon(m Message) Message {
	m = normalize(m)
	switch m := m.(type) {
	case *Alert:
		if len(m.Data) == 0 {
			m.Data = nil
		}
	case *Policy:
		if len(m.Body) == 0 {
			m.Body = nil
		}
	case *Unknown:
		if len(m.Body) == 0 {
			m.Body = nil
		}
	case *Inform:
		if len(m.Raw) == 0 {
			m.Raw = nil
		}
	case *Handshake:
		for i := range m.Capabilities {
			if len(m.Capabilities[i].Raw) == 0 {
				m.Capabilities[i].Raw = nil
			}
		}
	case *Update:
		for _, a := range m.Attrs {
			switch a := a.(type) {
			case *UnknownAttr:
				if len(a.Value) == 0 {
					a.Value = nil
				}
			case *Uint32ListAttr:
				if len(a.Values) == 0 {
					a.Values = nil
				}
			}
		}
	}
	return m
}

func TestRoundTripGenerated(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	types := []Type{TypeHello, TypeHandshake, TypeUpdate, TypeAlert, TypeInform, TypePolicy, 0, 7, 200}
	for i := 0; i < 20000; i++ {
		ty := types[i%len(types)]
		m := g.message(ty)
		if u, ok := m.(*Unknown); ok && u.Version == Version && newMessage(u.T) != nil {
			continue
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatalf("encode %#v: %v", m, err)
		}
		d, n, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %x: %v", b, err)
		}
		if n != len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		if !reflect.DeepEqual(canon(d), canon(m)) {
			t.Fatalf("round trip of %s changed it:\n %#v\n %#v", ty, m, d)
		}
		b2, err := Marshal(d)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("re-encode differs: %x vs %x (%v)", b, b2, err)
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatalf("json: %v", err)
		}
	}
}

func TestJSONForm(t *testing.T) {
	m, _, err := Decode(mustHex(t, "update-route-ipv4"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(m)
	want := `{"type":"UPDATE","family":"route-ipv4","withdrawn":[{"path_id":1,"vpn":10,"prefix":"10.1.0.0/16"}],` +
		`"attributes":[{"code":1,"name":"ORIGINATOR","flags":64,"address":"10.0.0.5"},` +
		`{"code":2,"name":"TLOC","flags":64,"tloc":"10.0.0.5/biz-internet/ipsec"},` +
		`{"code":4,"name":"PREFERENCE","flags":64,"number":100}],` +
		`"reachable":[{"path_id":1,"vpn":10,"prefix":"10.5.0.0/24"},{"path_id":2,"vpn":10,"prefix":"10.5.0.1/32"},{"path_id":3,"vpn":0,"prefix":"0.0.0.0/0"}]}`
	if string(got) != want {
		t.Errorf("json\n %s\nwant\n %s", got, want)
	}
	h, _, _ := Decode(mustHex(t, "handshake"))
	got, _ = json.Marshal(h)
	want = `{"type":"HANDSHAKE","system_ip":"10.0.0.1","site_id":100,"domain_id":1,"overlay_id":1,"hold_time":60,` +
		`"device_type":"vSmart","flags":3,"graceful_restart":true,"route_refresh":true,"gr_timer":43200,` +
		`"capabilities":[{"type":"send-path-limit","code":1,"value":4},{"type":"ecmp-limit","code":2,"value":4},` +
		`{"type":"organization-name","code":3,"text":"acme-co"},{"type":"software-version","code":4,"text":"20.9.1"}]}`
	if string(got) != want {
		t.Errorf("json\n %s\nwant\n %s", got, want)
	}
	a, _ := decodeAttrs(nil, []byte{0x40, 3, 0, 5, 8, 0, 0, 0, 20, 0xc0, 37, 0, 1, 2, 0xc0, 38, 0, 1, 1}, 0, nil, 0)
	got = AppendAttrsJSON(nil, a)
	want = `[{"code":3,"name":"ORIGIN","flags":64,"origin":"OSPF-external-2","metric":20},` +
		`{"code":37,"name":"CARRIER","flags":192,"value_name":"carrier1"},{"code":38,"name":"RESTRICT","flags":192,"bool":true}]`
	if string(got) != want {
		t.Errorf("json\n %s\nwant\n %s", got, want)
	}
}

func TestTextForm(t *testing.T) {
	m, _, _ := Decode(mustHex(t, "update-route-ipv4"))
	if s := Summary(m); s != "OMP UPDATE route-ipv4 +3 −1" {
		t.Errorf("summary %q", s)
	}
	var b bytes.Buffer
	WriteText(&b, m, "")
	want := "OMP UPDATE route-ipv4 +3 −1\n  withdraw path 1 vpn 10 10.1.0.0/16\n  attr ORIGINATOR 10.0.0.5\n" +
		"  attr TLOC 10.0.0.5/biz-internet/ipsec\n  attr PREFERENCE 100\n  reach path 1 vpn 10 10.5.0.0/24\n" +
		"  reach path 2 vpn 10 10.5.0.1/32\n  reach path 3 vpn 0 0.0.0.0/0\n"
	if b.String() != want {
		t.Errorf("text\n%s\nwant\n%s", b.String(), want)
	}
}

// TestAttributeCloneSharesNothing: every attribute type's Clone is equal
// to the original and shares no memory with it (the analyzer keeps clones
// of attributes the dissector decodes into reused buffers).
func TestAttributeCloneSharesNothing(t *testing.T) {
	attrs := []Attribute{
		&Originator{Flag: 1}, &TLOCAttr{Flag: 2}, &OriginAttr{Metric: 3}, &Uint32Attr{Type: AttrPreference, Value: 4},
		&UltimateTLOC{Flag: 5}, &Uint32ListAttr{Type: AttrASPath, Values: []uint32{1, 2}}, &AddrAttr{Type: AttrPublicIPv4},
		&Uint8Attr{Type: AttrCarrier, Value: 3}, &EncapParams{SPI: 7}, &UnknownAttr{Type: 99, Value: []byte{1, 2}},
	}
	for _, a := range attrs {
		c := a.Clone()
		if !reflect.DeepEqual(a, c) {
			t.Errorf("%T: clone %+v differs from %+v", a, c, a)
		}
		if reflect.ValueOf(a).Pointer() == reflect.ValueOf(c).Pointer() {
			t.Errorf("%T: clone is the same object", a)
		}
	}
	l := attrs[5].(*Uint32ListAttr)
	lc := l.Clone().(*Uint32ListAttr)
	lc.Values[0] = 99
	u := attrs[9].(*UnknownAttr)
	uc := u.Clone().(*UnknownAttr)
	uc.Value[0] = 99
	if l.Values[0] == 99 || u.Value[0] == 99 {
		t.Error("a clone shares its slice with the original")
	}
	if AttrSiteID.Key() != "site_id" || AttrType(200).Key() != "attr_200" {
		t.Errorf("keys %q %q", AttrSiteID.Key(), AttrType(200).Key())
	}
}

// TestNewAttributeForms: the Multi-Region Fabric, BFD and GRE attributes
// read as Cisco spells their values, in JSON and text.
func TestNewAttributeForms(t *testing.T) {
	attrs := []Attribute{&Uint8Attr{AttrBFDStatus, 0xc0, 2}, &Uint8Attr{AttrRole, 0xc0, 2},
		&Uint8Attr{AttrTransportGateway, 0xc0, 1}, &Uint8Attr{AttrEncapProto, 0xc0, 47},
		&Uint32ListAttr{AttrRegionPath, 0xc0, []uint32{1, 2}}, &Uint32Attr{AttrTLOCVersion, 0xc0, 3}}
	j := string(AppendAttrsJSON(nil, attrs))
	for _, want := range []string{`"name":"BFD_STATUS","flags":192,"value_name":"inactive"`, `"name":"ROLE","flags":192,"value_name":"border-router"`,
		`"name":"TRANSPORT_GATEWAY","flags":192,"bool":true`, `"name":"ENCAP_PROTO","flags":192,"number":47`,
		`"name":"REGION_PATH","flags":192,"numbers":[1,2]`, `"name":"TLOC_VERSION","flags":192,"number":3`} {
		if !strings.Contains(j, want) {
			t.Errorf("JSON lacks %s: %s", want, j)
		}
	}
	for a, want := range map[Attribute]string{attrs[0]: "BFD_STATUS inactive", attrs[1]: "ROLE border-router",
		attrs[2]: "TRANSPORT_GATEWAY true"} {
		if got := AttrString(a); got != want {
			t.Errorf("text %q, want %q", got, want)
		}
	}
}
