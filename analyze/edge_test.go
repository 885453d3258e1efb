package analyze

import (
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// Silence of everything: the hello tolerance takes the connection down with
// graceful restart, and that is not a hold expiry.
func TestHelloTimeoutIsGracefulRestartNotHoldExpiry(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	f.at(10)
	x.vmuted[0] = true // e1 dies at 10s
	f.at(30)
	p := f.a.Peers()[0]
	if p.Control != "down" || p.OMP != "down-in-gr" || !strings.Contains(p.DownReason, "hello timeout") {
		t.Fatalf("%s/%s %q", p.Control, p.OMP, p.DownReason)
	}
	if !p.Down.Equal(sec(22)) { // last HELLO at 10s + 12s tolerance
		t.Errorf("down at %v", p.Down)
	}
	f.finish(60)
	f.wantNone()
}

func TestAlertHoldTimerExpired(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	f.at(5)
	x.omp(false, &omp.Alert{Code: omp.AlertHoldTimer})
	f.finish(10)
	an := f.wantOne(KindHoldExpired, "peer 10.0.0.11")
	if !an.Start.Equal(sec(5)) || !strings.Contains(an.Explanation, "ALERT hold-timer-expired") {
		t.Errorf("%+v", an)
	}
	al := f.wantOne(KindAlert, "peer 10.0.0.1")
	if al.Severity != SevError {
		t.Errorf("%+v", al)
	}
}

// A condition that began too close to the end of the capture to be
// confirmed is reported as unconfirmed.
func TestPendingAtEndIsUnconfirmed(t *testing.T) {
	f := divergenceFabric(t, -1) // never converges; finishes at 60s
	_ = f
	f2 := newFab(t, Config{})
	e1, e2, v1, v2 := edge(1, 100), edge(2, 200), vsmart(1), vsmart(2)
	b1 := f2.connect(e2, v1)
	b2 := f2.connect(e2, v2)
	f2.at(1)
	reflectTo(b1, false, e1, "10.1.0.0/24")
	reflectTo(b2, false, e1, "10.1.0.0/24")
	b1.eor(false, omp.FamilyRouteV4)
	b2.eor(false, omp.FamilyRouteV4)
	f2.at(30)
	b1.adv(false, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.9.0/24", 1))
	f2.finish(38) // 8s later: shorter than the 15s window
	an := f2.wantOne(KindVSmartDivergence, "vsmarts 10.0.0.1,10.0.0.2 vpn=1")
	if an.Severity != SevInfo || !an.Active || !strings.Contains(an.Explanation, "Unconfirmed: the capture ended 8s after") {
		t.Errorf("%+v", an)
	}
	// (no vSmart-to-vSmart session in this capture: reported as not observed)
	if m := f2.wantOne(KindVSmartMeshIncomplete, "vsmarts 10.0.0.1,10.0.0.2"); m.Severity != SevInfo ||
		!strings.HasPrefix(m.Explanation, "Not observed") {
		t.Errorf("%+v", m)
	}
	// a difference younger than PendingMinAge is not reported
	f3 := newFab(t, Config{PendingMinAge: 10 * time.Second})
	f3.connect(v1, v2)
	c1 := f3.connect(e2, v1)
	c2 := f3.connect(e2, v2)
	f3.at(1)
	reflectTo(c1, false, e1, "10.1.0.0/24")
	c1.eor(false, omp.FamilyRouteV4)
	c2.eor(false, omp.FamilyRouteV4)
	f3.finish(9)
	f3.wantNone()
}

func TestDuplicateSameSiteTwoSessions(t *testing.T) {
	// the simulator's case: same system-ip, same site, other colors and
	// addresses, both connected to the same vSmarts at once
	f := newFab(t, Config{})
	v1, v2 := vsmart(1), vsmart(2)
	a := edge(1, 100)
	b := edge(4, 100)
	b.sys = a.sys
	f.connect(a, v1)
	f.connect(a, v2)
	f.connect(v1, v2)
	f.at(8)
	f.connect(b, v1)
	f.connect(b, v2)
	f.finish(20)
	an := f.wantOne(KindDuplicateSystemIP, "system-ip 10.0.0.11")
	if !an.Start.Equal(sec(8)) || !strings.Contains(an.Explanation, "two OMP sessions to 10.0.0.1 at once") {
		t.Errorf("%+v", an)
	}
}

// A device that restarts and reconnects before its old connection timed
// out: the old session is superseded (graceful restart), no duplicate.
func TestQuickReconnectSupersedes(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	f.at(5)
	x.vmuted = [2]bool{true, true}
	x.closed = true
	f.at(9) // 4s of silence, before the 12s tolerance
	y := f.connect(e1, v1)
	advertiseEdge(y, e1, "10.1.0.0/24")
	f.finish(30)
	f.wantNone()
	ps := f.a.Peers()
	if ps[0].Control != "down" || !strings.Contains(ps[0].DownReason, "superseded") || ps[1].OMP != "up" {
		t.Errorf("old %s %q, new %s", ps[0].Control, ps[0].DownReason, ps[1].OMP)
	}
	if len(ps[1].Tables) != 1 || ps[1].Tables[0].Routes != 1 || ps[1].Tables[0].TLOCs != 1 {
		t.Errorf("new session tables %+v", ps[1].Tables)
	}
}

func TestGRAdoptionTakesOldSessionDown(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	f.at(5)
	x.end()
	f.at(10)
	y := f.connect(e1, v1)
	advertiseEdge(y, e1, "10.1.0.0/24")
	ps := f.a.Peers()
	if ps[0].OMP != "down" || ps[1].OMP != "up" {
		t.Errorf("old %s new %s", ps[0].OMP, ps[1].OMP)
	}
	snap := f.a.Snapshot(time.Time{}, Filter{})
	if len(snap.Tables) != 1 || len(snap.Tables[0].Sessions) != 2 || snap.Tables[0].Routes[0].Status != "C,R" {
		t.Errorf("adopted table %+v", snap.Tables)
	}
	// the row kept its identity across the restart
	if !snap.Tables[0].Routes[0].FirstSeen.Equal(t0) {
		t.Errorf("first seen %v", snap.Tables[0].Routes[0].FirstSeen)
	}
}

func TestTLOCCloneFromAnotherDevice(t *testing.T) {
	// e3 advertises e1's TLOC key with its own addresses to the same vSmart
	f := newFab(t, Config{})
	e1, e3, v1 := edge(1, 100), edge(3, 300), vsmart(1)
	a := f.connect(e1, v1)
	c := f.connect(e3, v1)
	f.at(1)
	advertiseEdge(a, e1)
	f.at(2)
	c.adv(true, omp.FamilyTLOCv4, tlocAttrs(e3.sys, 300, "192.0.2.13:12346", "192.0.2.13:12346"), tlocNLRI(e1.sys, sdwan.ColorBizInternet, 1))
	f.finish(20)
	an := f.wantOne(KindTLOCClone, "tloc 10.0.0.11/biz-internet/ipsec")
	if !an.Start.Equal(sec(2)) {
		t.Errorf("%+v", an)
	}
	// the clone's own site-id is not a site-id mismatch of e1 (e3 is not
	// the TLOC's device), nor an attribute conflict (addresses differ)
	if len(f.a.Anomalies()) != 1 {
		t.Errorf("%+v", f.a.Anomalies())
	}
}

// A vSmart that lost an edge keeps its paths because the other vSmart,
// still connected to the edge, sends them: legitimate, not stale.
func TestStaleAfterGRLegitThroughOtherVSmart(t *testing.T) {
	f, a, m, e1 := peerFabric(t, Config{})
	reflectTo(m, true, e1, "10.1.0.0/24") // v2 → v1
	f.at(10)
	a.end() // e1 loses v1 only
	f.finish(200)
	f.wantNone()
}

func TestMidSessionIdentityInference(t *testing.T) {
	f := newFab(t, Config{})
	e1, e2, v1 := edge(1, 100), edge(2, 200), vsmart(1)
	f.connect(e1, v1) // teaches the analyzer v1's address
	x := f.session(e2, v1)
	x.hello(true)
	x.hello(false)
	// no HANDSHAKE: e2 is named from the TLOC it advertises, v1 from its address
	advertiseEdge(x, e2, "10.2.0.0/24")
	ps := f.a.Peers()
	p := ps[1]
	if p.Client.SystemIP != e2.sys || !p.Client.Inferred || p.Server.SystemIP != v1.sys || !p.Server.Inferred || p.OMP != "up" {
		t.Errorf("%+v", p)
	}
	if p.ObservedFromStart || p.Tables[0].Complete {
		t.Errorf("mid-way session claims completeness")
	}
	if p.HoldTime != time.Minute || p.HoldKnown {
		t.Errorf("hold %v known %v", p.HoldTime, p.HoldKnown)
	}
	f.finish(30)
	f.wantNone()
}

func TestGapWithUnknownDirectionKeepsBothAlive(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	x.vmuted = [2]bool{true, true}
	for s := 5.0; s < 100; s += 5 {
		f.at(s)
		f.a.Gap(&Gap{Time: f.now, Session: x.info, Reason: "auth-failed"})
	}
	f.finish(100)
	if p := f.a.Peers()[0]; p.Control != "up" || p.OMP != "up" {
		t.Errorf("%s/%s: unreadable records are not silence", p.Control, p.OMP)
	}
	an := f.wantOne(KindDecryptionGap, x.subject())
	if an.EvidenceCount != 19 || !an.Start.Equal(sec(5)) || !an.End.Equal(sec(95)) {
		t.Errorf("%+v", an)
	}
}

func TestDecodeErrorsAreGaps(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	f.at(3)
	f.frame++
	f.a.Message(&Input{Time: f.now, Frame: f.frame, Session: x.info, FromClient: true, Err: errString("vdaemon header: too short")})
	f.at(4)
	// OMP decoded in part: what came before the error is used
	f.a.Message(&Input{Time: f.now, Frame: 99, Session: x.info, FromClient: true,
		VDaemon: &vdaemon.Message{Header: x.hdr(true, vdaemon.TypeData), Body: &vdaemon.Data{}},
		OMP:     []omp.Message{&omp.Update{Family: omp.FamilyTLOCv4, Attrs: tlocAttrs(e1.sys, 100, "192.0.2.11:1", "192.0.2.11:1"), Reachable: []omp.NLRI{tlocNLRI(e1.sys, sdwan.ColorBizInternet, 1)}}},
		Err:     errString("omp message 1: bad")})
	f.finish(10)
	an := f.wantOne(KindDecryptionGap, x.subject())
	if !strings.Contains(an.Explanation, "decode-error ×2") || f.a.Stats().DecodeErrors != 2 {
		t.Errorf("%+v", an)
	}
	if _, tl, _ := f.a.Snapshot(time.Time{}, Filter{}).Rows(); tl != 1 {
		t.Errorf("partial decode not applied")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestExplainEveryKind(t *testing.T) {
	for _, k := range Kinds() {
		s, ok := Explain(k)
		if !ok {
			t.Errorf("%s: no text", k)
			continue
		}
		for _, want := range []string{string(k), "Subject:", "What it means:", "Why it matters:", "What to check on the devices:", "show ", "Settings:"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: text lacks %q", k, want)
			}
		}
		for _, l := range strings.Split(s, "\n") {
			if len(l) > 80 && !strings.HasPrefix(l, "Subject:") {
				t.Errorf("%s: line longer than 80: %q", k, l)
			}
		}
	}
	if _, ok := Explain("no-such-kind"); ok {
		t.Errorf("unknown kind explained")
	}
}

func TestSummaryText(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	f.at(5)
	x.wd(true, omp.FamilyRouteV4, route(1, "10.9.0.0/24", 1))
	f.finish(10)
	var b strings.Builder
	f.a.WriteSummary(&b)
	out := b.String()
	for _, want := range []string{"Capture: 2026-03-01T12:00:00Z to 2026-03-01T12:00:10Z (10s)", "Sessions: 1 (1 seen from their start",
		"PEERS", "10.0.0.11 (vEdge site 100)", "10.0.0.1 (vSmart site 1000)", "1/0", "FABRIC", "ANOMALIES (1)",
		"withdraw-unknown (1, warning)", "route vpn=1 prefix=10.9.0.0/24 originator=10.0.0.11", "never advertised"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	f = newFab(t, Config{})
	f.connect(e1, v1)
	f.finish(5)
	b.Reset()
	f.a.WriteSummary(&b)
	if !strings.Contains(b.String(), "ANOMALIES (0)\nNone.") {
		t.Errorf("clean summary:\n%s", b.String())
	}
}

func TestVSmartMesh(t *testing.T) {
	f := newFab(t, Config{})
	v1, v2, v3 := vsmart(1), vsmart(2), vsmart(3)
	m12 := f.connect(v1, v2)
	f.connect(v1, v3)
	f.connect(v2, v3)
	f.at(10)
	m12.teardown(true, sdwan.ConnDCONFAIL) // no new session
	f.finish(40)
	an := f.wantOne(KindVSmartMeshIncomplete, "vsmarts 10.0.0.1,10.0.0.2")
	if !an.Start.Equal(sec(10)) || an.Severity != SevError || !an.Active || !an.Raised.Equal(sec(25)) {
		t.Errorf("%+v", an)
	}
	// back within the window: nothing
	f = newFab(t, Config{})
	m12 = f.connect(v1, v2)
	f.at(10)
	m12.end()
	f.at(20)
	f.connect(v1, v2)
	f.finish(60)
	if n := len(f.anomalies(KindVSmartMeshIncomplete)); n != 0 {
		t.Errorf("%+v", f.a.Anomalies())
	}
}
