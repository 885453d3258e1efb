package omp

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"github.com/ompscope/ompscope/dissect/internal/hexvec"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

var (
	ip5  = netip.MustParseAddr("10.0.0.5")
	tl5  = TLOCKey{ip5, sdwan.ColorBizInternet, sdwan.EncapIPsec}
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddrPort
)

// wantVectors is what each hand-written vector in testdata/vectors.hex
// must decode to.
var wantVectors = map[string]Message{
	"hello": &Hello{},
	"handshake": &Handshake{
		SystemIP: netip.MustParseAddr("10.0.0.1"), SiteID: 100, DomainID: 1, OverlayID: 1,
		HoldTime: 60, DeviceType: sdwan.DeviceVSmart, Flags: HandshakeGR | HandshakeRouteRefresh, GRTimer: 43200,
		Capabilities: []Capability{
			{Type: CapSendPathLimit, Value: 4}, {Type: CapECMPLimit, Value: 4},
			{Type: CapOrganization, Text: "acme-co"}, {Type: CapSoftwareVersion, Text: "20.9.1"},
		},
	},
	"handshake-unknown-capability": &Handshake{
		SystemIP: netip.MustParseAddr("10.0.0.2"), SiteID: 200, DomainID: 1, OverlayID: 1,
		DeviceType:   sdwan.DeviceVEdge,
		Capabilities: []Capability{{Type: 99, Raw: []byte{0xbe, 0xef}}},
	},
	"update-route-ipv4": &Update{
		Family:    FamilyRouteV4,
		Withdrawn: []NLRI{{PathID: 1, VPN: 10, Prefix: pfx("10.1.0.0/16")}},
		Attrs: []Attribute{
			&Originator{0x40, ip5}, &TLOCAttr{0x40, tl5}, &Uint32Attr{AttrPreference, 0x40, 100},
		},
		Reachable: []NLRI{
			{PathID: 1, VPN: 10, Prefix: pfx("10.5.0.0/24")},
			{PathID: 2, VPN: 10, Prefix: pfx("10.5.0.1/32")},
			{PathID: 3, VPN: 0, Prefix: pfx("0.0.0.0/0")},
		},
	},
	"update-route-ipv6": &Update{
		Family:    FamilyRouteV6,
		Withdrawn: []NLRI{},
		Attrs:     []Attribute{&Originator{0x40, ip5}},
		Reachable: []NLRI{
			{PathID: 7, VPN: 20, Prefix: pfx("2001:db8:1::/64")},
			{PathID: 8, VPN: 20, Prefix: pfx("2001:db8::1/128")},
		},
	},
	"update-tloc-ipv4": &Update{
		Family:    FamilyTLOCv4,
		Withdrawn: []NLRI{{PathID: 1, SystemIP: netip.MustParseAddr("10.0.0.6"), Color: sdwan.ColorMPLS, Encap: sdwan.EncapIPsec}},
		Attrs: []Attribute{
			&AddrAttr{AttrPrivateIPv4, 0xc0, addr("192.168.10.5:12346")},
			&AddrAttr{AttrPublicIPv4, 0xc0, addr("203.0.113.5:12346")},
			&Uint32Attr{AttrWeight, 0xc0, 1},
		},
		Reachable: []NLRI{{PathID: 1, SystemIP: ip5, Color: sdwan.ColorBizInternet, Encap: sdwan.EncapIPsec}},
	},
	"update-tloc-ipv6": &Update{
		Family:    FamilyTLOCv6,
		Withdrawn: []NLRI{},
		Attrs:     []Attribute{&AddrAttr{AttrPublicIPv6, 0xc0, addr("[2001:db8::5]:12346")}},
		Reachable: []NLRI{{PathID: 1, SystemIP: ip5, Color: sdwan.ColorPublicInternet, Encap: sdwan.EncapIPsec}},
	},
	"update-service": &Update{
		Family:    FamilyService,
		Withdrawn: []NLRI{},
		Attrs:     []Attribute{&Originator{0x40, ip5}, &TLOCAttr{0x40, tl5}, &Uint32Attr{AttrLabel, 0x40, 1001}},
		Reachable: []NLRI{{PathID: 1, VPN: 10, Service: sdwan.ServiceFW, Originator: ip5}},
	},
	"update-mcast-raw": &Update{
		Family: FamilyMcastV4, Withdrawn: []NLRI{}, Attrs: []Attribute{}, Reachable: []NLRI{},
		RawWithdrawn: []byte{0xaa, 0xbb, 0xcc}, RawReachable: []byte{0xdd, 0xee, 0xff},
	},
	"alert":                &Alert{Code: AlertCease, Subcode: CeasePeerDecfg, Data: []byte{0xde, 0xad}},
	"inform-eor":           &Inform{Kind: InformEndOfRIB, Family: FamilyRouteV4},
	"inform-route-refresh": &Inform{Kind: InformRouteRefresh, Family: FamilyRouteV6},
	"inform-gr-begin":      &Inform{Kind: InformGRBegin, RestartTimer: 60},
	"inform-unknown-kind":  &Inform{Kind: 9, Raw: []byte{1, 2}},
	"policy":               &Policy{Kind: 3, Name: "ctrl1", Body: []byte{1, 2, 3, 4, 5}},
	"unknown-type":         &Unknown{Version: 1, T: 9, Body: []byte{0xab, 0xcd}},
	"unknown-version":      &Unknown{Version: 2, T: TypeUpdate, Body: []byte{0xff}},
}

// normalize makes nil and empty slices compare equal for DeepEqual.
func normalize(m Message) Message {
	if u, ok := m.(*Update); ok {
		c := *u
		if c.Withdrawn == nil {
			c.Withdrawn = []NLRI{}
		}
		if c.Reachable == nil {
			c.Reachable = []NLRI{}
		}
		if c.Attrs == nil {
			c.Attrs = []Attribute{}
		}
		if len(c.RawWithdrawn) == 0 {
			c.RawWithdrawn = nil
		}
		if len(c.RawReachable) == 0 {
			c.RawReachable = nil
		}
		c.RawAttrs = nil // what was decoded, not what was built
		return &c
	}
	return m
}

func TestVectors(t *testing.T) {
	vecs, err := hexvec.Read("testdata/vectors.hex")
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(wantVectors) {
		t.Errorf("%d vectors in the file, %d expectations", len(vecs), len(wantVectors))
	}
	for _, v := range vecs {
		t.Run(v.Name, func(t *testing.T) {
			want, ok := wantVectors[v.Name]
			if !ok {
				t.Fatalf("no expectation for vector %q", v.Name)
			}
			m, n, err := Decode(v.Bytes)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if n != len(v.Bytes) {
				t.Errorf("consumed %d of %d bytes", n, len(v.Bytes))
			}
			if !reflect.DeepEqual(normalize(m), normalize(want)) {
				t.Errorf("decoded\n %#v\nwant\n %#v", m, want)
			}
			// Field-level spot checks through the public API.
			if m.Type() != want.Type() {
				t.Errorf("type %v, want %v", m.Type(), want.Type())
			}
			// Encoding the expected value gives the vector's bytes.
			enc, err := Marshal(want)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(enc, v.Bytes) {
				t.Errorf("encoded\n %x\nwant\n %x", enc, v.Bytes)
			}
		})
	}
}

var wantAttrs = map[string]Attribute{
	"ORIGINATOR":          &Originator{0x40, ip5},
	"TLOC":                &TLOCAttr{0x40, tl5},
	"ORIGIN":              &OriginAttr{0x40, sdwan.OriginOSPFExt2, 20},
	"PREFERENCE":          &Uint32Attr{AttrPreference, 0x40, 100},
	"SITE_ID":             &Uint32Attr{AttrSiteID, 0x40, 1000},
	"TAG":                 &Uint32Attr{AttrTag, 0x40, 0xabcd},
	"DOMAIN_ID":           &Uint32Attr{AttrDomainID, 0x40, 1},
	"OVERLAY_ID":          &Uint32Attr{AttrOverlayID, 0x40, 2},
	"LABEL":               &Uint32Attr{AttrLabel, 0x40, 1001},
	"ULTIMATE_TLOC":       &UltimateTLOC{0xc0, TLOCKey{netip.MustParseAddr("10.0.0.9"), sdwan.ColorMPLS, sdwan.EncapIPsec}, 3},
	"AFFINITY_GROUP":      &Uint32Attr{AttrAffinityGroup, 0xc0, 5},
	"REGION_ID":           &Uint32Attr{AttrRegionID, 0xc0, 2},
	"AS_PATH":             &Uint32ListAttr{AttrASPath, 0xc0, []uint32{65000, 65001}},
	"COMMUNITY":           &Uint32ListAttr{AttrCommunity, 0xc0, []uint32{0xfde80064}},
	"PRIVATE_IPV4":        &AddrAttr{AttrPrivateIPv4, 0xc0, addr("192.168.10.5:12346")},
	"PUBLIC_IPV4":         &AddrAttr{AttrPublicIPv4, 0xc0, addr("203.0.113.5:12346")},
	"PRIVATE_IPV6":        &AddrAttr{AttrPrivateIPv6, 0xc0, addr("[fd00::5]:12346")},
	"PUBLIC_IPV6":         &AddrAttr{AttrPublicIPv6, 0xc0, addr("[2001:db8::5]:12346")},
	"WEIGHT":              &Uint32Attr{AttrWeight, 0xc0, 1},
	"CARRIER":             &Uint8Attr{AttrCarrier, 0xc0, 2},
	"RESTRICT":            &Uint8Attr{AttrRestrict, 0xc0, 1},
	"GROUPS":              &Uint32ListAttr{AttrGroups, 0xc0, []uint32{1, 2, 3}},
	"ENCAP_PARAMS":        &EncapParams{0xc0, 4096, 256, 128},
	"GEN_ID":              &Uint32Attr{AttrGenID, 0xc0, 0x80000001},
	"BANDWIDTH":           &Uint32Attr{AttrBandwidth, 0xc0, 100000},
	"SUBREGION_ID":        &Uint32Attr{AttrSubregionID, 0xc0, 3},
	"REGION_PATH":         &Uint32ListAttr{AttrRegionPath, 0xc0, []uint32{1, 2}},
	"BR_PREFERENCE":       &Uint32Attr{AttrBRPreference, 0xc0, 100},
	"BFD_STATUS":          &Uint8Attr{AttrBFDStatus, 0xc0, 2},
	"TLOC_VERSION":        &Uint32Attr{AttrTLOCVersion, 0xc0, 3},
	"GRE_KEY":             &Uint32Attr{AttrGREKey, 0xc0, 0xabcd},
	"ENCAP_PROTO":         &Uint8Attr{AttrEncapProto, 0xc0, 47},
	"ROLE":                &Uint8Attr{AttrRole, 0xc0, 2},
	"SECONDARY_REGION_ID": &Uint32Attr{AttrSecondaryRegion, 0xc0, 2},
	"TRANSPORT_GATEWAY":   &Uint8Attr{AttrTransportGateway, 0xc0, 1},
	"UNKNOWN":             &UnknownAttr{99, 0xc0, []byte{1, 2, 3}},
}

func TestAttributeVectors(t *testing.T) {
	vecs, err := hexvec.Read("testdata/attributes.hex")
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(wantAttrs) {
		t.Errorf("%d vectors, %d expectations", len(vecs), len(wantAttrs))
	}
	seen := map[AttrType]bool{}
	for _, v := range vecs {
		t.Run(v.Name, func(t *testing.T) {
			want := wantAttrs[v.Name]
			if want == nil {
				t.Fatalf("no expectation for %q", v.Name)
			}
			got, err := decodeAttrs(nil, v.Bytes, 0, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("decoded %#v, want %#v", got, want)
			}
			if v.Name != "UNKNOWN" && got[0].Code().String() != v.Name {
				t.Errorf("name %s, want %s", got[0].Code(), v.Name)
			}
			seen[got[0].Code()] = true
			enc, err := AppendAttr(nil, want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, v.Bytes) {
				t.Errorf("encoded %x, want %x", enc, v.Bytes)
			}
		})
	}
	for code := range attrInfo {
		if !seen[code] {
			t.Errorf("attribute %s has no vector", code)
		}
	}
}

// Every message type and family in the spec has a vector.
func TestVectorCoverage(t *testing.T) {
	types := map[Type]bool{}
	fams := map[Family]bool{}
	for _, m := range wantVectors {
		types[m.Type()] = true
		if u, ok := m.(*Update); ok {
			fams[u.Family] = true
		}
	}
	for ty := TypeHello; ty <= TypePolicy; ty++ {
		if !types[ty] {
			t.Errorf("no vector for %s", ty)
		}
	}
	for f := FamilyTLOCv4; f <= FamilyRouteV6; f++ {
		if !fams[f] {
			t.Errorf("no vector for family %s", f)
		}
	}
}
