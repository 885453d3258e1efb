package analyze

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// The harness builds real vdaemon and OMP messages and feeds them to an
// analyzer, as the dissector will.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fab struct {
	tb     testing.TB
	a      *Analyzer
	events []*Event
	now    time.Time
	frame  uint64
	port   uint16
	live   []*sess
	manual bool // no automatic OMP keepalives
}

func newFab(tb testing.TB, cfg Config) *fab {
	f := &fab{tb: tb, now: t0, port: 40000}
	if cfg.OnEvent == nil && cfg.OnEventJSON == nil {
		cfg.OnEvent = func(e *Event) { f.events = append(f.events, e) }
	}
	f.a = New(cfg)
	return f
}

// at sets the capture time to t0 + sec seconds. Unless f.manual, every
// open session sends a vdaemon HELLO each way at every whole second passed
// on the way (interval 1s, tolerance 12s) and an OMP keepalive at every
// multiple of 20s (hold time 60s), except the directions muted.
func (f *fab) at(sec float64) *fab {
	to := t0.Add(time.Duration(sec * float64(time.Second)))
	if !f.manual {
		for b := f.now.Truncate(time.Second).Add(time.Second); !b.After(to); b = b.Add(time.Second) {
			f.now = b
			omp := b.Sub(t0)%(20*time.Second) == 0
			for _, x := range f.live {
				if x.closed {
					continue
				}
				for i, from := range []bool{true, false} {
					if !x.vmuted[i] {
						x.hello(from)
						if omp && !x.muted[i] {
							x.keepalive(from)
						}
					}
				}
			}
		}
	}
	if to.After(f.now) {
		f.now = to
	}
	return f
}

type dev struct {
	name string
	sys  netip.Addr
	typ  sdwan.DeviceType
	site uint32
	addr netip.Addr
	// handshake settings
	hold    uint16
	gr      bool
	grTimer uint32
	spl     uint8
	org     string
}

func edge(n int, site uint32) dev {
	return dev{name: "edge", sys: netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + n)}), typ: sdwan.DeviceVEdge, site: site,
		addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + n)}), hold: 60, gr: true, grTimer: 120, spl: 4}
}

func vsmart(n int) dev {
	return dev{name: "vsmart", sys: netip.AddrFrom4([4]byte{10, 0, 0, byte(n)}), typ: sdwan.DeviceVSmart, site: 1000,
		addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(n)}), hold: 60, gr: true, grTimer: 120, spl: 4}
}

type sess struct {
	f      *fab
	info   *SessionInfo
	c, s   dev
	closed bool
	muted  [2]bool // [0] client, [1] server: no automatic OMP keepalives
	vmuted [2]bool // no automatic vdaemon HELLOs (nor OMP keepalives)
}

func (d dev) handshake() *omp.Handshake {
	h := &omp.Handshake{SystemIP: d.sys, SiteID: d.site, DomainID: 1, OverlayID: 1, HoldTime: d.hold,
		DeviceType: d.typ, GRTimer: d.grTimer}
	if d.gr {
		h.Flags |= omp.HandshakeGR
	}
	h.Capabilities = append(h.Capabilities, omp.Capability{Type: omp.CapSendPathLimit, Value: d.spl})
	if d.org != "" {
		h.Capabilities = append(h.Capabilities, omp.Capability{Type: omp.CapOrganization, Text: d.org})
	}
	return h
}

func (f *fab) input(s *sess, fromClient bool, m *vdaemon.Message, msgs ...omp.Message) {
	f.frame++
	f.a.Message(&Input{Time: f.now, Frame: f.frame, Session: s.info, FromClient: fromClient, VDaemon: m, OMP: msgs})
}

func (s *sess) hdr(fromClient bool, t vdaemon.MsgType) vdaemon.Header {
	d := s.s
	if fromClient {
		d = s.c
	}
	return vdaemon.Header{Version: 1, Type: t, Device: d.typ, Flags: 0xa0, DomainID: 1, SiteID: d.site}
}

// session opens a control connection between c (client) and s (server)
// without anything on it yet.
func (f *fab) session(c, s dev) *sess {
	f.port++
	info := &SessionInfo{ID: c.addr.String() + ">" + s.addr.String() + "/" + itoa(uint32(f.port)),
		Client: netip.AddrPortFrom(c.addr, f.port), Server: netip.AddrPortFrom(s.addr, 12346),
		Transport: "dtls", Suite: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", Version: "DTLS 1.2", KeySource: "keylog"}
	x := &sess{f: f, info: info, c: c, s: s}
	f.live = append(f.live, x)
	return x
}

// connect opens a session and runs the challenge exchange, a HELLO each
// way and the OMP HANDSHAKE each way.
func (f *fab) connect(c, s dev) *sess {
	x := f.session(c, s)
	x.challenge()
	x.hello(true)
	x.hello(false)
	x.handshakes()
	return x
}

func (x *sess) challenge() {
	f := x.f
	f.input(x, false, &vdaemon.Message{Header: x.hdr(false, vdaemon.TypeChallenge), Body: &vdaemon.Challenge{}})
	f.input(x, true, &vdaemon.Message{Header: x.hdr(true, vdaemon.TypeChallengeAck), Body: &vdaemon.ChallengeAck{
		TLVs: []vdaemon.TLV{{Type: vdaemon.TLVUUID, Text: "uuid-" + x.c.sys.String() + x.c.name}}}})
	f.input(x, false, &vdaemon.Message{Header: x.hdr(false, vdaemon.TypeChallengeAckAck), Body: &vdaemon.ChallengeAckAck{VerifyStatus: 1}})
}

func (x *sess) hello(fromClient bool) {
	d := x.s
	if fromClient {
		d = x.c
	}
	x.f.input(x, fromClient, &vdaemon.Message{Header: x.hdr(fromClient, vdaemon.TypeHello), Body: &vdaemon.Hello{
		Family: vdaemon.AFInet, Addr: d.addr, Port: 12346, Color: sdwan.ColorBizInternet, IntervalMS: 1000, ToleranceMS: 12000}})
}

func (x *sess) handshakes() {
	x.omp(true, x.c.handshake())
	x.omp(false, x.s.handshake())
}

// omp sends OMP messages in one DATA message.
func (x *sess) omp(fromClient bool, msgs ...omp.Message) {
	x.f.input(x, fromClient, &vdaemon.Message{Header: x.hdr(fromClient, vdaemon.TypeData), Body: &vdaemon.Data{}}, msgs...)
}

func (x *sess) adv(fromClient bool, fam omp.Family, attrs []omp.Attribute, nl ...omp.NLRI) {
	x.omp(fromClient, &omp.Update{Family: fam, Attrs: attrs, Reachable: nl})
}

func (x *sess) wd(fromClient bool, fam omp.Family, nl ...omp.NLRI) {
	x.omp(fromClient, &omp.Update{Family: fam, Withdrawn: nl})
}

func (x *sess) eor(fromClient bool, fams ...omp.Family) {
	for _, fm := range fams {
		x.omp(fromClient, &omp.Inform{Kind: omp.InformEndOfRIB, Family: fm})
	}
}

func (x *sess) keepalive(fromClient bool) { x.omp(fromClient, &omp.Hello{}) }

func (x *sess) teardown(fromClient bool, code sdwan.ConnError) {
	x.closed = true
	x.f.input(x, fromClient, &vdaemon.Message{Header: x.hdr(fromClient, vdaemon.TypeTearDown), Body: &vdaemon.TearDown{Code: code}})
}

func (x *sess) end() {
	x.closed = true
	x.f.a.SessionEnd(x.info, x.f.now, "TCP FIN")
}

func route(vpn uint32, prefix string, pathID uint32) omp.NLRI {
	return omp.NLRI{PathID: pathID, VPN: vpn, Prefix: netip.MustParsePrefix(prefix)}
}

func tlocNLRI(sys netip.Addr, color sdwan.Color, pathID uint32) omp.NLRI {
	return omp.NLRI{PathID: pathID, SystemIP: sys, Color: color, Encap: sdwan.EncapIPsec}
}

func tk(sys netip.Addr, color sdwan.Color) omp.TLOCKey {
	return omp.TLOCKey{SystemIP: sys, Color: color, Encap: sdwan.EncapIPsec}
}

func routeAttrs(orig netip.Addr, tl omp.TLOCKey, site, pref uint32) []omp.Attribute {
	return []omp.Attribute{
		&omp.Originator{Flag: omp.FlagTransitive, Addr: orig},
		&omp.TLOCAttr{Flag: omp.FlagTransitive, TLOCKey: tl},
		&omp.OriginAttr{Flag: omp.FlagTransitive, Protocol: sdwan.OriginConnected},
		&omp.Uint32Attr{Type: omp.AttrPreference, Flag: omp.FlagTransitive, Value: pref},
		&omp.Uint32Attr{Type: omp.AttrSiteID, Flag: omp.FlagTransitive, Value: site},
		&omp.Uint32Attr{Type: omp.AttrLabel, Flag: omp.FlagTransitive, Value: 1002},
	}
}

func tlocAttrs(orig netip.Addr, site uint32, priv, pub string) []omp.Attribute {
	return []omp.Attribute{
		&omp.Originator{Flag: omp.FlagTransitive, Addr: orig},
		&omp.Uint32Attr{Type: omp.AttrSiteID, Flag: omp.FlagTransitive, Value: site},
		&omp.AddrAttr{Type: omp.AttrPrivateIPv4, Flag: omp.FlagOptional | omp.FlagTransitive, Addr: netip.MustParseAddrPort(priv)},
		&omp.AddrAttr{Type: omp.AttrPublicIPv4, Flag: omp.FlagOptional | omp.FlagTransitive, Addr: netip.MustParseAddrPort(pub)},
		&omp.Uint32Attr{Type: omp.AttrWeight, Flag: omp.FlagOptional | omp.FlagTransitive, Value: 1},
	}
}

// advertiseEdge makes edge e advertise its TLOC (biz-internet) and the
// given routes in vpn 1 on session x (e is the client).
func advertiseEdge(x *sess, e dev, prefixes ...string) {
	x.adv(true, omp.FamilyTLOCv4, tlocAttrs(e.sys, e.site, e.addr.String()+":12346", e.addr.String()+":12346"),
		tlocNLRI(e.sys, sdwan.ColorBizInternet, 1))
	var nl []omp.NLRI
	for _, p := range prefixes {
		nl = append(nl, route(1, p, 1))
	}
	if len(nl) > 0 {
		x.adv(true, omp.FamilyRouteV4, routeAttrs(e.sys, tk(e.sys, sdwan.ColorBizInternet), e.site, 0), nl...)
	}
	x.eor(true, omp.FamilyTLOCv4, omp.FamilyRouteV4)
}

// reflect makes vSmart (server of x... or client) send e's TLOC and routes
// to the other end of session x.
func reflectTo(x *sess, fromClient bool, e dev, prefixes ...string) {
	x.adv(fromClient, omp.FamilyTLOCv4, tlocAttrs(e.sys, e.site, e.addr.String()+":12346", e.addr.String()+":12346"),
		tlocNLRI(e.sys, sdwan.ColorBizInternet, 1))
	var nl []omp.NLRI
	for _, p := range prefixes {
		nl = append(nl, route(1, p, 1))
	}
	if len(nl) > 0 {
		x.adv(fromClient, omp.FamilyRouteV4, routeAttrs(e.sys, tk(e.sys, sdwan.ColorBizInternet), e.site, 0), nl...)
	}
}

func (f *fab) anomalies(kind Kind) []Anomaly {
	var out []Anomaly
	for _, an := range f.a.Anomalies() {
		if an.Kind == kind {
			out = append(out, an)
		}
	}
	return out
}

func (f *fab) finish(sec float64) {
	f.at(sec)
	f.a.Finish(f.now)
}

// wantNone fails if any anomaly exists.
func (f *fab) wantNone() {
	f.tb.Helper()
	for _, an := range f.a.Anomalies() {
		f.tb.Errorf("unexpected anomaly %s %q: %s", an.Kind, an.Subject, an.Explanation)
	}
}

// wantOne asserts exactly one anomaly of kind with subject, and returns it.
func (f *fab) wantOne(kind Kind, subject string) Anomaly {
	f.tb.Helper()
	got := f.anomalies(kind)
	if len(got) != 1 || got[0].Subject != subject {
		var subs []string
		for _, an := range f.a.Anomalies() {
			subs = append(subs, string(an.Kind)+" "+an.Subject)
		}
		f.tb.Fatalf("want one %s %q, have %q", kind, subject, subs)
	}
	return got[0]
}

func (f *fab) eventsOf(t EventType) []*Event {
	var out []*Event
	for _, e := range f.events {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

func sec(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
