package analyze

import (
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// ---- untunnelled-control

func TestUntunnelledControl(t *testing.T) {
	f := newFab(t, Config{})
	e1, e2, e3, e4, v1 := edge(1, 100), edge(2, 200), edge(3, 300), edge(4, 400), vsmart(1)
	x := f.session(e1, v1) // vdaemon in the clear
	x.info.Transport, x.info.Suite, x.info.Version = "plain", "", ""
	x.challenge()
	y := f.session(e2, v1) // NULL cipher
	y.info.Suite, y.info.NullCipher = "TLS_RSA_WITH_NULL_SHA256", true
	y.challenge()
	z := f.session(e3, v1) // DTLS 1.0
	z.info.Version = "DTLS 1.0"
	z.challenge()
	w := f.session(e4, v1) // TLS 1.0
	w.info.Transport, w.info.Version = "tls", "TLS 1.0"
	w.challenge()
	ok := f.session(edge(5, 500), v1)
	ok.challenge()
	ok.hello(true)
	f.finish(5)
	for s, want := range map[*sess]string{x: "in the clear", y: "NULL-cipher suite TLS_RSA_WITH_NULL_SHA256",
		z: "DTLS 1.0, older than", w: "TLS 1.0, older than"} {
		an := f.wantOneOf(KindUntunnelledControl, s.subject())
		if an.Severity != SevError || !strings.Contains(an.Explanation, want) || an.Session != s.info.ID {
			t.Errorf("%s: %+v", s.subject(), an)
		}
		// the frames: the session's first record (the CHALLENGE) and
		// every later one (its HELLOs every second)
		if len(an.Evidence) < 3 || an.EvidenceCount != len(an.Evidence) || !an.Start.Equal(t0) {
			t.Errorf("%s: evidence %v (%d)", s.subject(), an.Evidence, an.EvidenceCount)
		}
	}
	if n := len(f.anomalies(KindUntunnelledControl)); n != 4 {
		t.Errorf("%d untunnelled-control anomalies, want 4 (none on the DTLS 1.2 session)", n)
	}
	// the evidence frames are those of the session's records
	an := f.wantOneOf(KindUntunnelledControl, x.subject())
	if an.Evidence[0] != 1 || an.Evidence[1] != 2 || an.Evidence[2] != 3 {
		t.Errorf("plaintext evidence %v, want the CHALLENGE exchange 1,2,3 first", an.Evidence)
	}
}

// A NULL cipher learned on a later record (the suite known late), and
// a session whose only records are unreadable: each raised once, with the
// frame that showed it.
func TestUntunnelledControlLateAndGap(t *testing.T) {
	f := newFab(t, Config{})
	e1, e2, v1 := edge(1, 100), edge(2, 200), vsmart(1)
	x := f.connect(e1, v1)
	f.at(3)
	x.info = &SessionInfo{ID: x.info.ID, Client: x.info.Client, Server: x.info.Server, Transport: "dtls",
		Suite: "TLS_ECDHE_ECDSA_WITH_NULL_SHA", NullCipher: true}
	x.hello(true)
	first := f.frame
	y := f.session(e2, v1)
	y.info.Version = "DTLS 1.0"
	f.a.Gap(&Gap{Time: f.now, Frame: 500, Session: y.info, Reason: "no-key", Records: 2})
	y.closed = true
	f.finish(10)
	an := f.wantOneOf(KindUntunnelledControl, x.subject())
	if !an.Start.Equal(sec(3)) || an.Evidence[0] != first || an.Severity != SevError {
		t.Errorf("%+v", an)
	}
	an = f.wantOneOf(KindUntunnelledControl, y.subject())
	if len(an.Evidence) != 1 || an.Evidence[0] != 500 {
		t.Errorf("%+v", an)
	}
	if n := len(f.anomalies(KindUntunnelledControl)); n != 2 {
		t.Errorf("%d", n)
	}
}

// ---- vsmart-mesh-incomplete

// meshOfThreeOneDown: three vSmarts in full mesh; the session of the
// second and third drops at 10s.
func meshOfThreeOneDown(f *fab) {
	v1, v2, v3 := vsmart(1), vsmart(2), vsmart(3)
	f.connect(v1, v2)
	f.connect(v1, v3)
	m23 := f.connect(v2, v3)
	f.at(10)
	m23.end()
}

// Three vSmarts in full mesh; one session drops and stays down.
func TestVSmartMeshThreeOneDrops(t *testing.T) {
	f := newFab(t, Config{})
	meshOfThreeOneDown(f)
	f.finish(40)
	an := f.wantOne(KindVSmartMeshIncomplete, "vsmarts 10.0.0.2,10.0.0.3")
	if an.Severity != SevError || !an.Start.Equal(sec(10)) || !an.Raised.Equal(sec(25)) || !an.Active ||
		strings.Contains(an.Explanation, "Not observed") {
		t.Errorf("%+v", an)
	}
}

// A pair that never peers while the capture sees the vSmart mesh: a
// warning; the same pair when every vSmart-to-vSmart session seen goes
// through one vSmart (a capture on that controller's link): info, "not
// observed".
func TestVSmartMeshNeverPeering(t *testing.T) {
	f := newFab(t, Config{})
	v1, v2, v3, v4 := vsmart(1), vsmart(2), vsmart(3), vsmart(4)
	f.connect(v1, v2)
	f.connect(v1, v3)
	f.connect(v1, v4)
	f.connect(v2, v3)
	f.connect(v2, v4)
	f.finish(30) // v3-v4 never
	an := f.wantOne(KindVSmartMeshIncomplete, "vsmarts 10.0.0.3,10.0.0.4")
	if an.Severity != SevWarning || strings.Contains(an.Explanation, "Not observed") ||
		!strings.Contains(an.Explanation, "never peered") || !an.Start.Equal(t0) {
		t.Errorf("%+v", an)
	}

	f = newFab(t, Config{})
	f.connect(v1, v2)
	f.connect(v1, v3)
	f.finish(30) // v2-v3 never, but the capture may sit on v1's link
	an = f.wantOne(KindVSmartMeshIncomplete, "vsmarts 10.0.0.2,10.0.0.3")
	if an.Severity != SevInfo || !strings.HasPrefix(an.Explanation, "Not observed") ||
		!strings.Contains(an.Explanation, "all go through 10.0.0.1") {
		t.Errorf("%+v", an)
	}
}

// Three vSmarts, one pair never peers, and the capture sees every
// vSmart's sessions with edges as well as two vSmart-to-vSmart sessions
// through one vSmart (the vsmart-mesh-broken scenario): the capture sees
// both vSmarts' own traffic, so the missing pair is a warning, not "not
// observed".
func TestVSmartMeshNeverPeeringSeenFromCore(t *testing.T) {
	f := newFab(t, Config{})
	v1, v2, v3, e1 := vsmart(1), vsmart(2), vsmart(3), edge(1, 100)
	f.connect(v1, v2)
	f.connect(v1, v3)
	for _, v := range []dev{v1, v2, v3} {
		advertiseEdge(f.connect(e1, v), e1, "10.1.0.0/24")
	}
	f.finish(30) // v2-v3 never
	an := f.wantOne(KindVSmartMeshIncomplete, "vsmarts 10.0.0.2,10.0.0.3")
	if an.Severity != SevWarning || strings.Contains(an.Explanation, "Not observed") ||
		!strings.Contains(an.Explanation, "both vSmarts' OMP sessions with edges") {
		t.Errorf("%+v", an)
	}
}

// An edge's capture: the edge's sessions to two vSmarts, nothing between
// the vSmarts. Never a false alarm: info, "not observed".
func TestVSmartMeshNotObservedFromEdge(t *testing.T) {
	f, e1, a1, a2 := edgeToTwoVSmarts(t)
	advertiseEdge(a1, e1, "10.1.0.0/24")
	advertiseEdge(a2, e1, "10.1.0.0/24")
	f.finish(30)
	an := f.wantOne(KindVSmartMeshIncomplete, "vsmarts 10.0.0.1,10.0.0.2")
	if an.Severity != SevInfo || !strings.HasPrefix(an.Explanation, "Not observed") || an.Active != true {
		t.Errorf("%+v", an)
	}
	for _, x := range f.a.Anomalies() {
		if x.Severity != SevInfo {
			t.Errorf("false alarm %s %s", x.Kind, x.Subject)
		}
	}
}

// A single vSmart has no mesh.
func TestVSmartMeshSingleVSmart(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	x.omp(false, &omp.Hello{})
	f.finish(30)
	f.wantNone()
}

// ---- not-distributed

// distFabric: edges e1, e2, e3 on vSmart v1. e1 advertises its TLOC and
// 10.1.0.0/24 and 10.1.9.0/24 in vpn 1; v1 reflects e1's TLOC and
// 10.1.0.0/24 to e2 (which is thus in vpn 1 and receives e1's paths) and
// e1's TLOC only to e3 (not in vpn 1). late < 0: 10.1.9.0/24 never
// reaches e2; else it does at 1+late s.
func distFabric(t *testing.T, late float64, gapOnE2 bool) (*fab, *sess) {
	return distFabricWith(t, Config{}, late, gapOnE2)
}

func distFabricWith(t *testing.T, cfg Config, late float64, gapOnE2 bool) (*fab, *sess) {
	f := newFab(t, cfg)
	e1, e2, e3, v1 := edge(1, 100), edge(2, 200), edge(3, 300), vsmart(1)
	a := f.connect(e1, v1)
	b := f.connect(e2, v1)
	c := f.connect(e3, v1)
	f.at(1)
	advertiseEdge(a, e1, "10.1.0.0/24", "10.1.9.0/24")
	reflectTo(b, false, e1, "10.1.0.0/24")
	b.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	reflectTo(c, false, e1)
	c.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	// e2 and e3 advertise their TLOCs, reflected to e1
	advertiseEdge(b, e2)
	advertiseEdge(c, e3)
	reflectTo(a, false, e2)
	reflectTo(a, false, e3)
	a.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	if gapOnE2 {
		f.at(2)
		f.a.Gap(&Gap{Time: f.now, Frame: 900, Session: b.info, Dir: DirServer, Reason: "auth-failed"})
	}
	if late >= 0 {
		f.at(1 + late)
		b.adv(false, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.9.0/24", 1))
	}
	return f, a
}

func TestNotDistributedRoute(t *testing.T) {
	f, a := distFabric(t, -1, false)
	f.finish(60)
	an := f.wantOne(KindNotDistributed, "route vpn=1 prefix=10.1.9.0/24 originator=10.0.0.11")
	if an.Severity != SevError || !an.Start.Equal(sec(1)) || !an.Raised.Equal(sec(31)) || !an.Active ||
		an.Session != a.info.ID || len(an.Evidence) != 1 {
		t.Errorf("%+v", an)
	}
	// e2 misses it; e3 is not in vpn 1 and is not expected to have it
	if !strings.Contains(an.Explanation, "edge(s) 10.0.0.12 within") || strings.Contains(an.Explanation, "10.0.0.13") {
		t.Errorf("explanation %q", an.Explanation)
	}
	if n := len(f.a.Anomalies()); n != 1 {
		t.Errorf("%d anomalies: %+v", n, f.a.Anomalies())
	}
}

func TestNotDistributedArrivesJustInsideWindow(t *testing.T) {
	f, _ := distFabric(t, 29.9, false)
	f.finish(60)
	f.wantNone()
}

func TestNotDistributedArrivesLate(t *testing.T) {
	f, _ := distFabric(t, 35, false)
	f.finish(60)
	an := f.wantOne(KindNotDistributed, "route vpn=1 prefix=10.1.9.0/24 originator=10.0.0.11")
	if !an.Start.Equal(sec(1)) || !an.End.Equal(sec(36)) || an.Active {
		t.Errorf("%+v", an)
	}
}

func TestNotDistributedEndsOnWithdraw(t *testing.T) {
	f, a := distFabric(t, -1, false)
	f.at(40)
	a.wd(true, omp.FamilyRouteV4, route(1, "10.1.9.0/24", 1))
	f.finish(60)
	an := f.wantOne(KindNotDistributed, "route vpn=1 prefix=10.1.9.0/24 originator=10.0.0.11")
	if !an.End.Equal(sec(40)) || an.Active {
		t.Errorf("%+v", an)
	}
}

// The receiver's session has unreadable records: the route may have come
// there; no judgement.
func TestNotDistributedReceiverGap(t *testing.T) {
	f, _ := distFabric(t, -1, true)
	f.finish(60)
	if n := len(f.anomalies(KindNotDistributed)); n != 0 {
		t.Errorf("%+v", f.anomalies(KindNotDistributed))
	}
	f.wantOneOf(KindDecryptionGap, f.live[1].subject())
}

// The receiver's session started before the capture (no HANDSHAKE, no
// END_OF_RIB from the vSmart): not observed, not judged.
func TestNotDistributedReceiverNotObserved(t *testing.T) {
	f := newFab(t, Config{})
	e1, e2, v1 := edge(1, 100), edge(2, 200), vsmart(1)
	f.connect(e2, v1) // teaches the analyzer the addresses
	a := f.connect(e1, v1)
	b := f.session(e2, v1)
	b.hello(true)
	b.hello(false)
	f.at(1)
	advertiseEdge(a, e1, "10.1.0.0/24", "10.1.9.0/24")
	reflectTo(b, false, e1, "10.1.0.0/24")
	f.finish(60)
	if n := len(f.anomalies(KindNotDistributed)); n != 0 {
		t.Errorf("%+v", f.anomalies(KindNotDistributed))
	}
}

// Hub-and-spoke: spoke e2 receives the hub e1's paths only; spoke e3's
// routes never reach e2 (nor its TLOC): policy, not an anomaly.
func TestNotDistributedHubAndSpokeIsClean(t *testing.T) {
	f := newFab(t, Config{})
	e1, e2, e3, v1 := edge(1, 100), edge(2, 200), edge(3, 300), vsmart(1)
	a := f.connect(e1, v1)
	b := f.connect(e2, v1)
	c := f.connect(e3, v1)
	f.at(1)
	advertiseEdge(a, e1, "10.1.0.0/24")
	advertiseEdge(b, e2, "10.2.0.0/24")
	advertiseEdge(c, e3, "10.3.0.0/24")
	reflectTo(a, false, e2, "10.2.0.0/24")
	reflectTo(a, false, e3, "10.3.0.0/24")
	reflectTo(b, false, e1, "10.1.0.0/24")
	reflectTo(c, false, e1, "10.1.0.0/24")
	for _, x := range []*sess{a, b, c} {
		x.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	}
	f.finish(60)
	f.wantNone()
}

// A TLOC the vSmart reflects to nobody although it has other observed
// sessions; and the same TLOC reflected just inside the window.
func TestNotDistributedTLOC(t *testing.T) {
	run := func(reflectAt float64) *fab {
		f, a, b, e1, e2, _ := twoEdges(t, Config{})
		advertiseEdge(a, e1)
		reflectTo(b, false, e1)
		b.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
		f.at(2)
		advertiseEdge(b, e2)
		a.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
		if reflectAt > 0 {
			f.at(reflectAt)
			reflectTo(a, false, e2)
		}
		f.finish(60)
		return f
	}
	f := run(0)
	an := f.wantOne(KindNotDistributed, "tloc 10.0.0.12/biz-internet/ipsec")
	if an.Severity != SevError || !an.Start.Equal(sec(2)) || !an.Raised.Equal(sec(32)) ||
		!strings.Contains(an.Explanation, "vSmart 10.0.0.1") {
		t.Errorf("%+v", an)
	}
	run(31.9).wantNone()
	// a vSmart with no other session has nobody to reflect to
	f = newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	a := f.connect(e1, v1)
	advertiseEdge(a, e1, "10.1.0.0/24")
	a.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	f.finish(60)
	f.wantNone()
}

func TestNotDistributedWindowConfig(t *testing.T) {
	if w := New(Config{}).Config().DistributionWindow; w != DefaultDistributionWindow {
		t.Errorf("default %v", w)
	}
	f, e2, a, b := oneRouteMissing(t, Config{DistributionWindow: 5 * time.Second})
	advertiseEdge(b, e2)
	reflectTo(a, false, e2)
	a.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	f.finish(20)
	an := f.wantOne(KindNotDistributed, "route vpn=1 prefix=10.1.9.0/24 originator=10.0.0.11")
	if !an.Raised.Equal(sec(6)) {
		t.Errorf("%+v", an)
	}
}

// A receiver's session whose OMP was seen before its HANDSHAKEs counts
// from the vSmart's HANDSHAKE on (it is then observed): a route advertised
// after it that never reaches the receiver is not distributed, without
// waiting for some other event to make the detector look again (the
// convergence window, which would, is an hour here).
func TestNotDistributedAfterLateHandshake(t *testing.T) {
	f := newFab(t, Config{ConvergenceWindow: time.Hour})
	e1, e2, v1 := edge(1, 100), edge(2, 200), vsmart(1)
	a := f.connect(e1, v1)
	advertiseEdge(a, e1, "10.1.5.0/24")
	f.at(10)
	b := f.session(e2, v1)
	b.challenge()
	b.hello(true)
	b.hello(false)
	b.keepalive(true) // OMP up, HANDSHAKE not seen
	reflectTo(b, false, e1, "10.1.5.0/24")
	f.at(31)
	b.handshakes()
	f.at(32)
	reflectTo(b, false, e1, "10.1.6.0/24")
	a.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.7.0/24", 1))
	f.finish(100)
	an := f.wantOne(KindNotDistributed, "route vpn=1 prefix=10.1.7.0/24 originator=10.0.0.11")
	if !an.Start.Equal(sec(32)) || !an.Raised.Equal(sec(32).Add(DefaultDistributionWindow)) || !strings.Contains(an.Explanation, "10.0.0.12") {
		t.Errorf("%+v", an)
	}
}

// A gap in what the receiver sends (e2 has advertised nothing to the
// vSmart) makes its session partly unreadable too: the receiver is not
// judged, although everything the vSmart sent it was read.
func TestNotDistributedReceiverGapWithoutTable(t *testing.T) {
	f, _, _, b := oneRouteMissing(t, Config{})
	f.at(2)
	f.a.Gap(&Gap{Time: f.now, Frame: 900, Session: b.info, Dir: DirClient, Reason: "auth-failed"})
	f.finish(60)
	if n := len(f.anomalies(KindNotDistributed)); n != 0 {
		t.Errorf("%+v", f.anomalies(KindNotDistributed))
	}
	f.wantOneOf(KindDecryptionGap, b.subject())
}

// oneRouteMissing connects edges 1 and 2 to vSmart 1; at 1 s edge 1
// advertises 10.1.0.0/24 and 10.1.9.0/24, and the vSmart reflects only
// the first to edge 2 (and its END_OF_RIB). It returns the fabric, edge 2
// and the two sessions.
func oneRouteMissing(t *testing.T, cfg Config) (f *fab, e2 dev, a, b *sess) {
	f = newFab(t, cfg)
	e1, v1 := edge(1, 100), vsmart(1)
	e2 = edge(2, 200)
	a = f.connect(e1, v1)
	b = f.connect(e2, v1)
	f.at(1)
	advertiseEdge(a, e1, "10.1.0.0/24", "10.1.9.0/24")
	reflectTo(b, false, e1, "10.1.0.0/24")
	b.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	return f, e2, a, b
}
