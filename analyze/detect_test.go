package analyze

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// ---- 1 unresolved-route

func TestUnresolvedRoute(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	f.at(1)
	advertiseEdge(x, e1) // TLOC biz-internet only
	// a route through the mpls TLOC, which nobody advertises
	x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorMPLS), 100, 0), route(1, "10.9.0.0/24", 1))
	f.at(5.9)
	x.keepalive(true)
	if n := len(f.anomalies(KindUnresolvedRoute)); n != 0 {
		t.Fatalf("raised before the grace: %d", n)
	}
	f.at(7)
	x.keepalive(true)
	an := f.wantOne(KindUnresolvedRoute, "route vpn=1 prefix=10.9.0.0/24 originator=10.0.0.11")
	if !an.Start.Equal(sec(1)) || !an.Active || !strings.Contains(an.Explanation, "10.0.0.11/mpls/ipsec") {
		t.Errorf("anomaly %+v", an)
	}
	// snapshot status U
	s := f.a.Snapshot(time.Time{}, Filter{Prefix: mustPrefix("10.9.0.0/24")})
	if len(s.Tables) != 1 || s.Tables[0].Routes[0].Status != "U" {
		t.Fatalf("status %+v", s.Tables)
	}
	// the TLOC appears: the anomaly ends
	f.at(8)
	x.adv(true, omp.FamilyTLOCv4, tlocAttrs(e1.sys, 100, "192.0.2.11:12346", "192.0.2.11:12346"), tlocNLRI(e1.sys, sdwan.ColorMPLS, 1))
	f.at(9)
	x.keepalive(true)
	an = f.wantOne(KindUnresolvedRoute, "route vpn=1 prefix=10.9.0.0/24 originator=10.0.0.11")
	if an.Active || !an.End.Equal(sec(8)) {
		t.Errorf("not ended at 8s: %+v", an)
	}
	// the TLOC goes away again, the route stays: a new anomaly after grace
	f.at(20)
	x.wd(true, omp.FamilyTLOCv4, tlocNLRI(e1.sys, sdwan.ColorMPLS, 1))
	f.finish(30)
	if got := f.anomalies(KindUnresolvedRoute); len(got) != 2 || !got[1].Start.Equal(sec(20)) || !got[1].Active {
		t.Fatalf("after TLOC loss: %+v", got)
	}
	if len(f.a.tlocs) != 1 { // biz-internet only: the mpls TLOC left the index with its row
		t.Fatalf("TLOC index holds %d, want 1", len(f.a.tlocs))
	}
}

// A TLOC that left the fabric and came back resolves the routes through
// it again (the routes' attributes remembered the TLOC's first state).
func TestUnresolvedRouteTLOCBack(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	f.at(1)
	mpls := tlocNLRI(e1.sys, sdwan.ColorMPLS, 1)
	x.adv(true, omp.FamilyTLOCv4, tlocAttrs(e1.sys, 100, "192.0.2.11:12346", "192.0.2.11:12346"), mpls)
	x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorMPLS), 100, 0), route(1, "10.9.0.0/24", 1))
	for i, end := range []float64{10, 30, 50} {
		f.at(end)
		x.wd(true, omp.FamilyTLOCv4, mpls)
		f.at(end + 9) // past the grace: unresolved
		x.keepalive(true)
		f.at(end + 10)
		x.adv(true, omp.FamilyTLOCv4, tlocAttrs(e1.sys, 100, "192.0.2.11:12346", "192.0.2.11:12346"), mpls)
		// a route through it, with the same attributes as the first
		x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorMPLS), 100, 0), route(1, fmt.Sprintf("10.10.%d.0/24", i), 1))
		f.at(end + 17) // past the grace of the new route
		x.keepalive(true)
		got := f.anomalies(KindUnresolvedRoute)
		if len(got) != i+1 || !got[i].Start.Equal(sec(end)) || got[i].Active || !got[i].End.Equal(sec(end+10)) {
			t.Fatalf("loss %d: %+v", i, got)
		}
		x.wd(true, omp.FamilyRouteV4, route(1, fmt.Sprintf("10.10.%d.0/24", i), 1))
	}
	f.finish(80)
	if n := len(f.anomalies(KindUnresolvedRoute)); n != 3 { // the new routes resolved
		t.Fatalf("%d unresolved-route notices, want 3", n)
	}
}

func TestUnresolvedRouteResolvedInsideGrace(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	f.at(1)
	// routes before their TLOC, the TLOC 4.9s later
	x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.0.0/24", 1))
	f.at(5.9)
	advertiseEdge(x, e1)
	f.finish(30)
	f.wantNone()
}

// ---- 2/3 flaps

func flapRoute(x *sess, changes int, start, step float64) {
	for i := 0; i < changes; i++ {
		x.f.at(start + float64(i)*step)
		if i%2 == 0 {
			x.adv(true, omp.FamilyRouteV4, routeAttrs(x.c.sys, tk(x.c.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.5.0.0/24", 1))
		} else {
			x.wd(true, omp.FamilyRouteV4, route(1, "10.5.0.0/24", 1))
		}
	}
}

func TestRouteFlapJustUnderThreshold(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1)
	// the first advertisement and 5 changes in 50s: not more than 5
	flapRoute(x, 6, 10, 10)
	f.finish(200)
	f.wantNone()
}

func TestRouteFlap(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1)
	// advertised at 10s, then 8 changes at 15, 20, ..., 50
	flapRoute(x, 9, 10, 5)
	f.at(60)
	x.keepalive(true)
	// from the 6th change (40s) ...
	an := f.wantOne(KindRouteFlap, "route vpn=1 prefix=10.5.0.0/24 originator=10.0.0.11")
	if !an.Start.Equal(sec(40)) || !an.Active {
		t.Errorf("start %v active %v", an.Start, an.Active)
	}
	if an.EvidenceCount != 3 { // the 6th, 7th and 8th change
		t.Errorf("evidence %d %v", an.EvidenceCount, an.Evidence)
	}
	// ... to when the count in the last 60s falls back to 5: the 6th most
	// recent change (25s) leaves the window at 85s
	f.at(106)
	x.keepalive(true)
	an = f.wantOne(KindRouteFlap, "route vpn=1 prefix=10.5.0.0/24 originator=10.0.0.11")
	if an.Active || !an.End.Equal(sec(85)) {
		t.Errorf("after the window: active %v end %v", an.Active, an.End)
	}
	ends := f.eventsOf(EvAnomalyEnd)
	if len(ends) != 1 || !ends[0].Time.Equal(sec(85)) {
		for _, e := range ends {
			t.Errorf("anomaly.end event %v %+v", e.Time, e.Anomaly)
		}
	}
}

func TestRouteFlapSpreadOutIsNotAFlap(t *testing.T) {
	// 10 changes, but never more than 5 inside 60s
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1)
	flapRoute(x, 10, 10, 12.5)
	f.finish(300)
	f.wantNone()
}

func TestRouteFlapSessionDownDoesNotCount(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	e1.gr = false
	for i := 0; i < 6; i++ {
		f.at(float64(i * 5))
		x := f.connect(e1, v1)
		advertiseEdge(x, e1, "10.1.0.0/24")
		f.at(float64(i*5) + 2)
		x.end()
	}
	f.finish(40)
	f.wantNone()
}

func TestTLOCFlapWithConfig(t *testing.T) {
	f := newFab(t, Config{TLOCFlapCount: 2, TLOCFlapWindow: 10 * time.Second})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	for i := 0; i < 4; i++ { // advertised, then 3 changes
		f.at(float64(10 + i))
		if i%2 == 0 {
			advertiseEdge(x, e1)
		} else {
			x.wd(true, omp.FamilyTLOCv4, tlocNLRI(e1.sys, sdwan.ColorBizInternet, 1))
		}
	}
	f.finish(30)
	an := f.wantOne(KindTLOCFlap, "tloc 10.0.0.11/biz-internet/ipsec")
	if !an.Start.Equal(sec(13)) || !an.End.Equal(sec(21)) || an.Active {
		t.Errorf("%+v", an)
	}
}

// ---- 4 duplicate-system-ip

func TestDuplicateSystemIP(t *testing.T) {
	f := newFab(t, Config{})
	v1 := vsmart(1)
	a := edge(1, 100)
	b := edge(2, 200)
	b.sys = a.sys // same system-ip, another site
	xa := f.connect(a, v1)
	f.at(10)
	xb := f.connect(b, v1)
	f.at(20)
	xb.teardown(false, sdwan.ConnError(65)) // DUPSYSIPDEL from the vSmart
	f.finish(30)
	an := f.wantOne(KindDuplicateSystemIP, "system-ip 10.0.0.11")
	if !an.Start.Equal(sec(10)) || !an.End.Equal(sec(20)) || !strings.Contains(an.Explanation, "site-ids 100 and 200") {
		t.Errorf("%+v", an)
	}
	_ = xa
	f.wantOne(KindTeardown, "peer 10.0.0.1")
}

func TestSameEdgeTwoConnectionsIsNotDuplicate(t *testing.T) {
	f := newFab(t, Config{})
	v1, v2 := vsmart(1), vsmart(2)
	a := edge(1, 100)
	a2 := a
	a2.addr = mustAddr("203.0.113.11") // second transport, other vSmart
	f.connect(a, v1)
	f.connect(a2, v2)
	f.connect(v1, v2)
	f.finish(30)
	f.wantNone()
}

// ---- 5 site-id-mismatch

func TestSiteIDMismatchAttribute(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	f.at(2)
	x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 101, 0), route(1, "10.1.0.0/24", 1))
	f.finish(5)
	an := f.wantOne(KindSiteIDMismatch, "site 100")
	if !an.Start.Equal(sec(2)) || !strings.Contains(an.Explanation, "SITE_ID 101") {
		t.Errorf("%+v", an)
	}
}

func TestSiteIDMismatchHeader(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.session(e1, v1)
	x.challenge()
	h := x.hdr(true, vdaemon.TypeData)
	h.SiteID = 7
	f.input(x, true, &vdaemon.Message{Header: h, Body: &vdaemon.Data{}}, e1.handshake())
	x.omp(false, v1.handshake())
	f.finish(5)
	an := f.wantOne(KindSiteIDMismatch, "site 100")
	if !strings.Contains(an.Explanation, "vdaemon header") {
		t.Errorf("%+v", an)
	}
}

// ---- 6 vsmart-divergence

// reflectedFabric: edge e1 advertises 10.1.0.0/24 to vsmart1 and vsmart2
// (a1, a2), which reflect it to e2 (b1) and e2b (b2: e2 or another edge),
// at 1s; the vSmarts peer.
func reflectedFabric(f *fab, e1, e2, e2b dev) (a1, a2, b1, b2 *sess) {
	v1, v2 := vsmart(1), vsmart(2)
	a1, a2 = f.connect(e1, v1), f.connect(e1, v2)
	b1, b2 = f.connect(e2, v1), f.connect(e2b, v2)
	f.connect(v1, v2)
	f.at(1)
	advertiseEdge(a1, e1, "10.1.0.0/24")
	advertiseEdge(a2, e1, "10.1.0.0/24")
	reflectTo(b1, false, e1, "10.1.0.0/24")
	reflectTo(b2, false, e1, "10.1.0.0/24")
	b1.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	b2.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	return a1, a2, b1, b2
}

func divergenceFabric(t *testing.T, lag float64) *fab {
	f := newFab(t, Config{})
	e1, e2 := edge(1, 100), edge(2, 200)
	a1, a2, b1, b2 := reflectedFabric(f, e1, e2, e2)
	// at 20s a new route; vsmart1 reflects it at once, vsmart2 after lag
	f.at(20)
	a1.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.9.0/24", 1))
	a2.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.9.0/24", 1))
	b1.adv(false, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.9.0/24", 1))
	if lag >= 0 {
		f.at(20 + lag)
		b2.adv(false, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.9.0/24", 1))
	}
	f.finish(60)
	return f
}

func TestVSmartConvergesJustInsideWindow(t *testing.T) {
	f := divergenceFabric(t, 14.9)
	f.wantNone()
}

func TestVSmartDivergence(t *testing.T) {
	f := divergenceFabric(t, 15.5)
	an := f.wantOne(KindVSmartDivergence, "vsmarts 10.0.0.1,10.0.0.2 vpn=1")
	if !an.Start.Equal(sec(20)) || !an.End.Equal(sec(35.5)) || an.Active {
		t.Errorf("%+v", an)
	}
	if !strings.Contains(an.Explanation, "10.1.9.0/24") {
		t.Errorf("explanation %q", an.Explanation)
	}
	f = divergenceFabric(t, -1) // never converges
	an = f.wantOne(KindVSmartDivergence, "vsmarts 10.0.0.1,10.0.0.2 vpn=1")
	if !an.Active || !an.End.IsZero() || !an.Raised.Equal(sec(35)) {
		t.Errorf("%+v", an)
	}
}

// ---- 7 withdraw-unknown

func TestWithdrawUnknown(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	f.at(3)
	x.wd(true, omp.FamilyRouteV4, route(1, "10.7.0.0/24", 1))
	f.at(4)
	x.wd(true, omp.FamilyRouteV4, route(1, "10.7.0.0/24", 1))
	f.finish(5)
	an := f.wantOne(KindWithdrawUnknown, "route vpn=1 prefix=10.7.0.0/24 originator=10.0.0.11")
	if an.EvidenceCount != 2 || !an.Start.Equal(sec(3)) || !an.End.Equal(sec(4)) {
		t.Errorf("%+v", an)
	}
}

func TestWithdrawUnknownSuppressedMidSession(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.session(e1, v1) // no challenge, no HANDSHAKE: joined mid-way
	x.hello(true)
	x.keepalive(true)
	x.wd(true, omp.FamilyRouteV4, route(1, "10.7.0.0/24", 1))
	f.finish(5)
	f.wantNone()
}

func TestWithdrawRightAfterGRRestart(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24", "10.1.1.0/24")
	f.at(10)
	x.end() // connection lost: GR
	f.at(20)
	y := f.connect(e1, v1)
	y.wd(true, omp.FamilyRouteV4, route(1, "10.1.1.0/24", 1)) // withdraw a stale path at once
	advertiseEdge(y, e1, "10.1.0.0/24")
	f.finish(30)
	f.wantNone()
	s := f.a.Snapshot(time.Time{}, Filter{})
	if r, _, _ := s.Rows(); r != 1 {
		t.Fatalf("%d routes after restart", r)
	}
}

// ---- 8 stale-after-gr and graceful restart

// twoEdges: edges e1 and e2 on vsmart1 (sessions a and b), the clock at 1 s.
func twoEdges(t *testing.T, cfg Config) (f *fab, a, b *sess, e1, e2, v1 dev) {
	f = newFab(t, cfg)
	e1, e2, v1 = edge(1, 100), edge(2, 200), vsmart(1)
	a = f.connect(e1, v1)
	b = f.connect(e2, v1)
	f.at(1)
	return
}

func grFabric(t *testing.T, cfg Config) (*fab, *sess, *sess, dev, dev, dev) {
	f, a, b, e1, e2, v1 := twoEdges(t, cfg)
	advertiseEdge(a, e1, "10.1.0.0/24", "10.1.1.0/24")
	advertiseEdge(b, e2, "10.2.0.0/24")
	reflectTo(b, false, e1, "10.1.0.0/24", "10.1.1.0/24")
	b.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	return f, a, b, e1, e2, v1
}

// peerFabric: e1 on vsmart1 (session a) and vsmart2, e2 on vsmart1, and
// the session m between the vSmarts; at 1 s e1 advertises 10.1.0.0/24 to
// both and vsmart1 reflects it to e2. It returns the fabric, a, m and e1.
func peerFabric(t *testing.T, cfg Config) (*fab, *sess, *sess, dev) {
	f := newFab(t, cfg)
	e1, e2, v1, v2 := edge(1, 100), edge(2, 200), vsmart(1), vsmart(2)
	a := f.connect(e1, v1)
	b := f.connect(e2, v1)
	c := f.connect(e1, v2)
	m := f.connect(v2, v1)
	f.at(1)
	advertiseEdge(a, e1, "10.1.0.0/24")
	reflectTo(b, false, e1, "10.1.0.0/24")
	b.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	advertiseEdge(c, e1, "10.1.0.0/24")
	return f, a, m, e1
}

func TestGracefulRestartExpiry(t *testing.T) {
	f, a, b, _, _, _ := grFabric(t, Config{})
	f.at(10)
	a.end() // e1's connection drops; GR 120s
	p := f.a.Peers()[0]
	if p.OMP != "down-in-gr" || p.Tables[0].Stale != 3 {
		t.Fatalf("after loss: %s, %+v", p.OMP, p.Tables)
	}
	s := f.a.Snapshot(sec(50), Filter{Peer: "10.0.0.11"})
	for _, tv := range s.Tables {
		for _, r := range tv.Routes {
			if !hasCode(r.Status, "S") {
				t.Errorf("status at 50s %q", r.Status)
			}
		}
	}
	// vsmart1 withdraws e1's routes and TLOC from e2 when GR expires
	f.at(130)
	b.wd(false, omp.FamilyRouteV4, route(1, "10.1.0.0/24", 1), route(1, "10.1.1.0/24", 1))
	b.wd(false, omp.FamilyTLOCv4, tlocNLRI(mustAddr("10.0.0.11"), sdwan.ColorBizInternet, 1))
	f.finish(200)
	f.wantNone()
	w := 0
	for _, e := range append(f.eventsOf(EvRouteWithdraw), f.eventsOf(EvTLOCWithdraw)...) {
		if e.Reason == ReasonGRExpired {
			w++
			if !e.Time.Equal(sec(130)) {
				t.Errorf("gr-expired at %v", e.Time)
			}
		}
	}
	if w != 3 {
		t.Errorf("%d gr-expired withdrawals", w)
	}
	if p := f.a.Peers()[0]; p.OMP != "down" {
		t.Errorf("after GR: %s", p.OMP)
	}
}

func TestStaleAfterGRTimer(t *testing.T) {
	f, a, _, _, _, _ := grFabric(t, Config{})
	f.at(10)
	a.end()
	f.finish(200)
	got := f.anomalies(KindStaleAfterGR) // two routes and the TLOC
	if len(got) != 3 || got[0].Subject != "tloc 10.0.0.11/biz-internet/ipsec" {
		t.Fatalf("%+v", got)
	}
	for _, an := range got {
		if !an.Start.Equal(sec(130)) || !an.Raised.Equal(sec(140)) || !strings.Contains(an.Explanation, "10.0.0.1 still advertises") {
			t.Errorf("%+v", an)
		}
	}
}

func TestStaleAfterGRNotRefreshedBeforeEndOfRIB(t *testing.T) {
	f, a, _, e1, _, v1 := grFabric(t, Config{})
	f.at(10)
	a.end()
	f.at(20)
	y := f.connect(e1, v1)
	if p := f.a.Peers()[2]; p.OMP != "init-in-gr" {
		t.Fatalf("reconnected session %s", p.OMP)
	}
	advertiseEdge(y, e1, "10.1.0.0/24") // 10.1.1.0/24 is gone; END_OF_RIB follows
	if p := f.a.Peers()[2]; p.OMP != "up" {
		t.Fatalf("after END_OF_RIB %s", p.OMP)
	}
	flush := 0
	for _, e := range f.eventsOf(EvRouteWithdraw) {
		if e.Reason == ReasonGRFlush {
			flush++
		}
	}
	if flush != 1 {
		t.Fatalf("%d gr-flush", flush)
	}
	// vsmart1 keeps reflecting 10.1.1.0/24 to e2
	f.finish(60)
	an := f.wantOne(KindStaleAfterGR, "route vpn=1 prefix=10.1.1.0/24 originator=10.0.0.11")
	if !an.Start.Equal(sec(20)) || !an.Active {
		t.Errorf("%+v", an)
	}
}

func TestStaleAfterGRWithdrawnInGrace(t *testing.T) {
	f, a, b, e1, _, v1 := grFabric(t, Config{})
	f.at(10)
	a.end()
	f.at(20)
	y := f.connect(e1, v1)
	advertiseEdge(y, e1, "10.1.0.0/24")
	f.at(29)
	b.wd(false, omp.FamilyRouteV4, route(1, "10.1.1.0/24", 1))
	f.finish(60)
	f.wantNone()
}

// ---- 9 hold-expired

func TestHoldExpired(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	// both keep alive every 20s until 40s, then e1 goes silent
	f.at(41)
	x.muted[0] = true
	f.finish(130)
	an := f.wantOne(KindHoldExpired, "peer 10.0.0.11")
	if !an.Start.Equal(sec(100)) || !an.Active {
		t.Errorf("%+v", an)
	}
	// the vdaemon HELLOs went on: the control connection stays up, OMP is
	// down and its paths withdrawn (no graceful restart after a hold expiry)
	p := f.a.Peers()[0]
	if p.OMP != "down" || p.Control != "up" || p.Tables[0].Routes != 0 {
		t.Errorf("state %s/%s %+v", p.Control, p.OMP, p.Tables)
	}
}

func TestHoldKeptAlive(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	f.connect(e1, v1)
	f.finish(310)
	f.wantNone()
}

func TestHoldExpiredThenHeardAgain(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	x.muted[0] = true
	f.at(70) // e1 silent since 0: expired at 60
	f.at(80)
	x.keepalive(true)
	f.finish(90)
	an := f.wantOne(KindHoldExpired, "peer 10.0.0.11")
	if an.Active || !an.Start.Equal(sec(60)) || !an.End.Equal(sec(80)) {
		t.Errorf("%+v", an)
	}
}

func TestHoldZeroDisables(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	e1.hold = 0
	x := f.connect(e1, v1)
	x.muted = [2]bool{true, true}
	f.finish(1000)
	f.wantNone()
}

// ---- 10 attribute-conflict

// edgeToTwoVSmarts connects edge 1 to vSmarts 1 and 2.
func edgeToTwoVSmarts(t *testing.T) (f *fab, e1 dev, a1, a2 *sess) {
	f = newFab(t, Config{})
	e1 = edge(1, 100)
	return f, e1, f.connect(e1, vsmart(1)), f.connect(e1, vsmart(2))
}

// conflictAtReceiver has e2 receive e1's route from v1 and, with another
// preference, from v2, at 1 s; it returns v2's session.
func conflictAtReceiver(t *testing.T) (*fab, *sess) {
	f := newFab(t, Config{})
	e1, e2, v1, v2 := edge(1, 100), edge(2, 200), vsmart(1), vsmart(2)
	b1 := f.connect(e2, v1)
	b2 := f.connect(e2, v2)
	f.at(1)
	reflectTo(b1, false, e1, "10.1.0.0/24")
	b2.adv(false, omp.FamilyTLOCv4, tlocAttrs(e1.sys, 100, "192.0.2.11:12346", "192.0.2.11:12346"), tlocNLRI(e1.sys, sdwan.ColorBizInternet, 1))
	b2.adv(false, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 50), route(1, "10.1.0.0/24", 1))
	return f, b2
}

func TestAttributeConflict(t *testing.T) {
	f, _ := conflictAtReceiver(t)
	f.finish(20)
	an := f.wantOne(KindAttributeConflict, "route vpn=1 prefix=10.1.0.0/24 originator=10.0.0.11")
	if !an.Start.Equal(sec(1)) || !strings.Contains(an.Explanation, "PREFERENCE 50") {
		t.Errorf("%+v", an)
	}
}

// A withdrawal ends a conflict at once, whether it met at a receiver or
// between the owner's own advertisements to two vSmarts.
func TestAttributeConflictEndsWithWithdrawal(t *testing.T) {
	for _, c := range []struct {
		name       string
		setup      func(t *testing.T) (*fab, *sess) // the conflict from 1 s; the session whose copy goes
		fromClient bool
	}{
		{"at a receiver", conflictAtReceiver, false},
		{"between the owner's advertisements", func(t *testing.T) (*fab, *sess) {
			f, e1, a1, a2 := edgeToTwoVSmarts(t)
			f.at(1)
			advertiseEdge(a1, e1, "10.1.0.0/24")
			advertiseEdge(a2, e1)
			a2.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 50), route(1, "10.1.0.0/24", 1))
			return f, a2
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, x := c.setup(t)
			f.at(15)
			x.wd(c.fromClient, omp.FamilyRouteV4, route(1, "10.1.0.0/24", 1))
			f.finish(30)
			an := f.wantOne(KindAttributeConflict, "route vpn=1 prefix=10.1.0.0/24 originator=10.0.0.11")
			if !an.Start.Equal(sec(1)) || !an.End.Equal(sec(15)) {
				t.Errorf("%+v", an)
			}
		})
	}
}

// A conflict hidden while one copy was stale (graceful restart) is found
// when that copy is refreshed (the same attributes again: no change any
// detector hears) and the GR flush of another path of the prefix is the
// bucket's next change; a withdrawal must then still look at the bucket.
func TestAttributeConflictAfterGRRefresh(t *testing.T) {
	f, e1, a1, a2 := edgeToTwoVSmarts(t)
	v1 := a1.s
	f.at(1)
	advertiseEdge(a1, e1, "10.1.0.0/24")
	a1.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.0.0/24", 2))
	f.at(5)
	a1.end() // GR: v1 keeps e1's table, stale
	f.at(6)
	advertiseEdge(a2, e1)
	a2.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 50), route(1, "10.1.0.0/24", 1))
	f.at(20)
	y := f.connect(e1, v1)
	f.at(21)
	y.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.0.0/24", 1)) // refresh
	f.at(22)
	advertiseEdge(y, e1) // TLOC, END_OF_RIB: path 2 flushed
	f.finish(60)
	an := f.wantOne(KindAttributeConflict, "route vpn=1 prefix=10.1.0.0/24 originator=10.0.0.11")
	if !an.Start.Equal(sec(22)) {
		t.Errorf("%+v", an)
	}
}

func TestAttributeConflictResolvedInGrace(t *testing.T) {
	f := newFab(t, Config{})
	e1, e2, v1, v2 := edge(1, 100), edge(2, 200), vsmart(1), vsmart(2)
	f.connect(v1, v2)
	b1 := f.connect(e2, v1)
	b2 := f.connect(e2, v2)
	f.at(1)
	reflectTo(b1, false, e1, "10.1.0.0/24")
	b2.adv(false, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 50), route(1, "10.1.0.0/24", 1))
	f.at(5)
	reflectTo(b2, false, e1, "10.1.0.0/24") // now identical
	f.finish(30)
	f.wantNone()
}

// ---- 11 alert / teardown

func TestAlertAndTeardown(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	f.at(5)
	x.omp(false, &omp.Alert{Code: omp.AlertCease, Subcode: omp.CeaseAdminDown})
	if p := f.a.Peers()[0]; p.OMP != "down" || p.Tables[0].Routes != 0 {
		t.Errorf("after ALERT: %s %+v", p.OMP, p.Tables)
	}
	f.at(6)
	x.teardown(false, sdwan.ConnError(53)) // CERTEXPRD
	f.finish(10)
	al := f.wantOne(KindAlert, "peer 10.0.0.1")
	if al.Severity != SevWarning || !strings.Contains(al.Explanation, "cease/admin-shutdown") {
		t.Errorf("%+v", al)
	}
	td := f.wantOne(KindTeardown, "peer 10.0.0.1")
	if td.Severity != SevError || !strings.Contains(td.Explanation, "CERTEXPRD (certificate expired)") {
		t.Errorf("%+v", td)
	}
}

func TestVBondTeardownIsNormal(t *testing.T) {
	f := newFab(t, Config{})
	e1 := edge(1, 100)
	vb := dev{name: "vbond", sys: mustAddr("10.0.0.254"), typ: sdwan.DeviceVBond, addr: mustAddr("198.51.100.254")}
	x := f.session(e1, vb)
	x.challenge()
	x.hello(true)
	x.teardown(false, sdwan.ConnDISCVBD)
	y := f.session(e1, vb)
	y.challenge()
	y.teardown(false, 0)
	f.finish(10)
	f.wantNone()
}

// ---- 12 path-limit-exceeded

func TestPathLimit(t *testing.T) {
	for _, paths := range []int{4, 5} {
		f := newFab(t, Config{})
		e1, v1 := edge(1, 100), vsmart(1)
		x := f.connect(e1, v1)
		advertiseEdge(x, e1)
		f.at(2)
		for i := 1; i <= paths; i++ {
			x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, uint32(i)), route(1, "10.1.0.0/24", uint32(i)))
		}
		f.at(3)
		x.wd(true, omp.FamilyRouteV4, route(1, "10.1.0.0/24", 1))
		f.finish(5)
		if paths == 4 {
			f.wantNone()
			continue
		}
		an := f.wantOne(KindPathLimitExceeded, "route vpn=1 prefix=10.1.0.0/24 originator=10.0.0.11")
		if !an.Start.Equal(sec(2)) || !an.End.Equal(sec(3)) || !strings.Contains(an.Explanation, "5 paths") {
			t.Errorf("%+v", an)
		}
	}
}

// A limit can fall under rows already counted: a session whose OMP was
// seen before its HANDSHAKE negotiates a lower limit than the default,
// or a session adopts a table kept in graceful restart and negotiates a
// lower limit than the session it came from. No row changes then; the
// notice must still start when the limit falls.
func TestPathLimitFallsUnderCountedRows(t *testing.T) {
	adv3 := func(x *sess, e dev) {
		for i := 1; i <= 3; i++ {
			x.adv(true, omp.FamilyRouteV4, routeAttrs(e.sys, tk(e.sys, sdwan.ColorBizInternet), 100, uint32(i)), route(1, "10.1.0.0/24", uint32(i)))
		}
	}
	// adopted from a session with a higher limit (8) by one with the
	// default: the new session's own limit did not fall; the table's did
	t.Run("adopted in graceful restart, limit 8 to the default", func(t *testing.T) {
		f := newFab(t, Config{})
		e1, v1 := edge(1, 100), vsmart(1)
		e1.spl, v1.spl = 8, 8
		x := f.connect(e1, v1)
		f.at(1)
		advertiseEdge(x, e1)
		for i := 1; i <= 6; i++ {
			x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, uint32(i)), route(1, "10.1.0.0/24", uint32(i)))
		}
		f.at(10)
		x.end()
		f.at(20)
		e1.spl, v1.spl = 4, 4
		f.connect(e1, v1)
		f.finish(30)
		an := f.wantOne(KindPathLimitExceeded, "route vpn=1 prefix=10.1.0.0/24 originator=10.0.0.11")
		if !an.Start.Equal(sec(20)) || !strings.Contains(an.Explanation, "6 paths") {
			t.Errorf("%+v", an)
		}
	})
	for _, spl := range []uint8{2, 3} {
		t.Run("handshake after traffic, limit "+itoa(uint32(spl)), func(t *testing.T) {
			f := newFab(t, Config{})
			e1, v1 := edge(1, 100), vsmart(1)
			x := f.session(e1, v1)
			x.challenge()
			x.hello(true)
			x.hello(false)
			f.at(1)
			advertiseEdge(x, e1)
			adv3(x, e1) // counted against the default limit (4)
			f.at(4)
			x.c.spl, x.s.spl = spl, spl
			x.handshakes()
			f.finish(10)
			if spl == 3 {
				f.wantNone()
				return
			}
			an := f.wantOne(KindPathLimitExceeded, "route vpn=1 prefix=10.1.0.0/24 originator=10.0.0.11")
			if !an.Start.Equal(sec(4)) || !strings.Contains(an.Explanation, "3 paths") || !strings.Contains(an.Explanation, "limit of 2") {
				t.Errorf("%+v", an)
			}
		})
		t.Run("adopted in graceful restart, limit "+itoa(uint32(spl)), func(t *testing.T) {
			f := newFab(t, Config{})
			e1, v1 := edge(1, 100), vsmart(1)
			x := f.connect(e1, v1) // limit 4
			f.at(1)
			advertiseEdge(x, e1)
			adv3(x, e1)
			f.at(10)
			x.end() // GR: the vSmart keeps e1's table
			f.at(20)
			e1.spl, v1.spl = spl, spl
			f.connect(e1, v1) // adopts the table; nothing re-advertised yet
			f.finish(30)
			if spl == 3 {
				f.wantNone()
				return
			}
			an := f.wantOne(KindPathLimitExceeded, "route vpn=1 prefix=10.1.0.0/24 originator=10.0.0.11")
			if !an.Start.Equal(sec(20)) || !strings.Contains(an.Explanation, "3 paths") {
				t.Errorf("%+v", an)
			}
		})
	}
}

// ---- 13 tloc-clone

func TestTLOCClone(t *testing.T) {
	f := newFab(t, Config{})
	a, v1, v2 := edge(1, 100), vsmart(1), vsmart(2)
	b := a
	b.addr = mustAddr("203.0.113.99")
	x := f.connect(a, v1)
	y := f.connect(b, v2)
	f.at(1)
	advertiseEdge(x, a)
	advertiseEdge(y, b)
	f.finish(20)
	an := f.wantOne(KindTLOCClone, "tloc 10.0.0.11/biz-internet/ipsec")
	if !an.Start.Equal(sec(1)) || !strings.Contains(an.Explanation, "203.0.113.99") {
		t.Errorf("%+v", an)
	}
	if n := len(f.anomalies(KindAttributeConflict)); n != 0 {
		t.Errorf("addresses also reported as attribute-conflict")
	}
}

// ---- 14 decryption-gap

func TestDecryptionGap(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	// a second session entirely without keys (direction unknown)
	y := f.session(edge(2, 200), v1)
	y.vmuted = [2]bool{true, true} // nothing readable on it
	for s := 5.0; s <= 8; s++ {
		f.at(s)
		f.frame++
		f.a.Gap(&Gap{Time: f.now, Frame: f.frame, Session: x.info, Dir: DirClient, Reason: "auth-failed"})
	}
	f.at(10)
	f.a.Gap(&Gap{Time: f.now, Frame: 1000, Session: y.info, Reason: "no-key", Records: 12})
	// x is readable again from 9s (the HELLOs go on); another unreadable
	// record within the merge window extends the same anomaly
	f.at(30)
	f.frame++
	f.a.Gap(&Gap{Time: f.now, Frame: f.frame, Session: x.info, Dir: DirClient, Reason: "auth-failed", Records: 3})
	f.finish(40)
	an := f.wantOneOf(KindDecryptionGap, x.subject())
	if !an.Start.Equal(sec(5)) || !an.End.Equal(sec(30)) || an.EvidenceCount != 7 || len(an.Evidence) != 5 {
		t.Errorf("%+v", an)
	}
	an = f.wantOneOf(KindDecryptionGap, y.subject())
	if !an.Start.Equal(sec(10)) || !an.End.Equal(sec(10)) || an.EvidenceCount != 12 || !strings.Contains(an.Explanation, "no-key ×12") {
		t.Errorf("%+v", an)
	}
	var b strings.Builder
	f.a.WriteSummary(&b)
	if !strings.Contains(b.String(), "could not be decrypted") {
		t.Errorf("summary hides the gap:\n%s", b.String())
	}
	// a span reported late (records that waited for a key) starts at its
	// first record
	f2 := newFab(t, Config{})
	z := f2.session(edge(3, 300), v1)
	f2.at(50)
	f2.a.Gap(&Gap{Time: f2.now, Start: sec(2), Frame: 77, Session: z.info, Reason: "no-key", Records: 40})
	f2.finish(50)
	an = f2.wantOneOf(KindDecryptionGap, z.subject())
	if !an.Start.Equal(sec(2)) || !an.End.Equal(sec(50)) || an.EvidenceCount != 40 {
		t.Errorf("late span %+v", an)
	}
}

// TestDecryptionGapReasonsBounded: a session keeps 16 gap reasons at
// most, each of 80 bytes at most (a relay's stream may carry any text);
// the rest are counted as "other reasons", and every record is counted.
func TestDecryptionGapReasonsBounded(t *testing.T) {
	f := newFab(t, Config{})
	x := f.session(edge(1, 100), vsmart(1))
	f.at(5)
	for i := range 1000 {
		f.frame++
		f.a.Gap(&Gap{Time: f.now, Frame: f.frame, Session: x.info, Dir: DirClient, Reason: fmt.Sprintf("reason-%d-%s", i, strings.Repeat("x", i)), Records: 2})
	}
	f.finish(10)
	s := f.a.sessions[x.info.ID]
	total := 0
	for r, n := range s.gapReasons {
		if len(r) > maxGapReasonLen+len("…") {
			t.Errorf("a reason of %d bytes kept", len(r))
		}
		total += n
	}
	if len(s.gapReasons) != maxGapReasons || s.gapReasons[gapReasonOther] == 0 || total != 2000 {
		t.Fatalf("%d reasons kept, %d records as %q, %d in all", len(s.gapReasons), s.gapReasons[gapReasonOther], gapReasonOther, total)
	}
	an := f.wantOneOf(KindDecryptionGap, x.subject())
	if an.EvidenceCount != 2000 || len(an.Explanation) > 4000 {
		t.Errorf("evidence %d, explanation of %d bytes", an.EvidenceCount, len(an.Explanation))
	}
}

func (x *sess) subject() string {
	return "session " + x.info.Client.String() + " > " + x.info.Server.String()
}

func (f *fab) wantOneOf(kind Kind, subject string) Anomaly {
	f.tb.Helper()
	var got []Anomaly
	for _, an := range f.anomalies(kind) {
		if an.Subject == subject {
			got = append(got, an)
		}
	}
	if len(got) != 1 {
		f.tb.Fatalf("want one %s %q, have %d", kind, subject, len(got))
	}
	return got[0]
}

// staleFlushFabric: e1 advertises one prefix through n TLOCs (path-ids 1..n;
// distinct: each on a color of its own, else all on one) to vsmart1, which
// reflects them all to e2; e1's connection drops at 10 s and its GR expires
// at 130 s while vsmart1 keeps reflecting.
func staleFlushFabric(t *testing.T, n int, distinct bool) *fab {
	f, a, b, e1, e2, _ := twoEdges(t, Config{})
	advertiseEdge(a, e1)
	advertiseEdge(b, e2)
	for i := 1; i <= n; i++ {
		c := sdwan.ColorBizInternet
		if distinct {
			c = sdwan.Color(100 + i)
		}
		nl := route(1, "10.1.5.0/24", uint32(i))
		a.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, c), e1.site, 0), nl)
		b.adv(false, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, c), e1.site, 0), nl)
	}
	b.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
	f.at(10)
	a.end()
	f.finish(200)
	return f
}

// TestStaleFlushesBounded: stale-after-gr keeps maxStaleFlushes flushes of
// distinct TLOCs per prefix and counts the ones it forgets (told on the
// summary's Limits line); flushes of the same originator, TLOC and
// receiver (other path-ids) are one, and none is forgotten for them.
func TestStaleFlushesBounded(t *testing.T) {
	f := staleFlushFabric(t, maxStaleFlushes+3, true)
	if n := f.a.Stats().StaleFlushesForgotten; n != 3 {
		t.Errorf("%d flushes forgotten, want 3", n)
	}
	if len(f.anomalies(KindStaleAfterGR)) == 0 {
		t.Error("no stale-after-gr")
	}
	if l := f.a.Summary(Filter{}).Limits; l == nil || l.StaleFlushesForgotten != 3 {
		t.Errorf("summary limits %+v", l)
	}
	if h := f.a.limitsHit(); !strings.Contains(h, "3 graceful-restart flush(es) forgotten by stale-after-gr (it keeps 16") {
		t.Errorf("Limits line %q", h)
	}

	f = staleFlushFabric(t, maxStaleFlushes+3, false)
	if n := f.a.Stats().StaleFlushesForgotten; n != 0 {
		t.Errorf("%d flushes forgotten of one TLOC", n)
	}
	got := f.anomalies(KindStaleAfterGR)
	if len(got) != 1 || !got[0].Start.Equal(sec(130)) {
		t.Errorf("one TLOC: %+v", got)
	}
}
