package analyze

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The detectors' own tables follow the live state and are capped (counted
// when the cap is hit), whatever a hostile capture sends.

func theMeshDet(tb testing.TB, a *Analyzer) *meshDet { return theDet[*meshDet](tb, a) }

func theCertDet(tb testing.TB, a *Analyzer) *certDet { return theDet[*certDet](tb, a) }

// theDet is the analyzer's detector of type T (the test fails without).
func theDet[T any](tb testing.TB, a *Analyzer) T {
	d, ok := detectorOf[T](a)
	if !ok {
		tb.Fatalf("no detector of type %T", d)
	}
	return d
}

// vsmartN is a vSmart with system-ip 10.2.n/256.n%256.
func vsmartN(n int) dev {
	d := vsmart(1)
	d.sys = netip.AddrFrom4([4]byte{10, 2, byte(n >> 8), byte(n)})
	d.addr = netip.AddrFrom4([4]byte{198, 18, byte(n >> 8), byte(n)})
	return d
}

// TestVSmartMeshForgetsVSmartsNoSessionNames: one session whose end sends
// HANDSHAKE after HANDSHAKE, each naming another vSmart system-ip. A
// vSmart no session names any more leaves the detector: it tracked every
// one (and built every pair of them at each evaluation and at the end).
func TestVSmartMeshForgetsVSmartsNoSessionNames(t *testing.T) {
	f := newFab(t, Config{})
	x := f.connect(vsmart(1), vsmart(2))
	for i := range 300 {
		f.at(1 + float64(i)*0.01)
		x.omp(true, vsmartN(i).handshake())
	}
	f.at(10)
	x.keepalive(true)
	m := theMeshDet(t, f.a)
	if n := len(m.vsmarts); n != 2 {
		t.Fatalf("the mesh detector tracks %d vSmarts, want 2 (those the session names)", n)
	}
	if n := f.a.Stats().MeshUntracked; n != 0 {
		t.Errorf("%d HANDSHAKEs counted untracked, want 0", n)
	}
	f.finish(20)
	if as := f.anomalies(KindVSmartMeshIncomplete); len(as) != 0 {
		t.Errorf("%d vsmart-mesh-incomplete, want 0 (the one pair left peers): %+v", len(as), as)
	}
}

// TestVSmartMeshCap: more live vSmarts than the detector tracks. It tracks
// maxMeshVSmarts of them, counts the HANDSHAKEs of the others, and at the
// end reports the pairs of those it tracks, no more.
func TestVSmartMeshCap(t *testing.T) {
	const extra = 20
	f := newFab(t, Config{MaxAnomalies: 1 << 20})
	f.manual = true
	e1 := edge(1, 100)
	for i := range maxMeshVSmarts + extra {
		f.at(float64(i) * 0.01)
		f.connect(e1, vsmartN(i))
	}
	f.at(5)
	m := theMeshDet(t, f.a)
	if n := len(m.vsmarts); n != maxMeshVSmarts {
		t.Fatalf("the mesh detector tracks %d vSmarts, want %d (the cap)", n, maxMeshVSmarts)
	}
	if n := f.a.Stats().MeshUntracked; n != extra {
		t.Errorf("%d HANDSHAKEs counted untracked, want %d", n, extra)
	}
	f.finish(10)
	if n, want := len(f.anomalies(KindVSmartMeshIncomplete)), maxMeshVSmarts*(maxMeshVSmarts-1)/2; n != want {
		t.Errorf("%d vsmart-mesh-incomplete, want %d (the pairs of the vSmarts tracked)", n, want)
	}
	if n := len(m.vsmarts); n > maxMeshVSmarts {
		t.Errorf("%d vSmarts tracked at the end", n)
	}
	var b strings.Builder
	if err := f.a.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), fmt.Sprintf("%d HANDSHAKE(s) named a vSmart past the %d", extra, maxMeshVSmarts)) {
		t.Errorf("the summary does not tell the limit")
	}
}

// TestVSmartMeshEvalLooksAtWhatCounts: eval keeps the pairs with a
// condition, and those only: a pair whose session went down has one until
// the session is back, then none.
func TestVSmartMeshEvalLooksAtWhatCounts(t *testing.T) {
	f := newFab(t, Config{})
	meshOfThreeOneDown(f)
	f.at(11)
	f.connect(vsmart(2), vsmart(4)) // an evaluation
	f.at(12)
	m := theMeshDet(t, f.a)
	if len(m.active) != 1 {
		t.Fatalf("active pairs %v, want the pair 2-3", m.active)
	}
	f.connect(vsmart(2), vsmart(3))
	f.at(13)
	if len(m.active) != 0 {
		t.Errorf("active pairs %v after the pair is back, want none", m.active)
	}
	f.finish(40)
	for _, an := range f.anomalies(KindVSmartMeshIncomplete) {
		if an.Severity == SevError {
			t.Errorf("%+v", an)
		}
	}
}

// TestRogueCertificateQueueFollowsSessions: a live capture (Retention) of
// sessions with certificates and no keys never learns the fabric's
// issuers, so no issuer check is ever due: a session that leaves memory
// leaves the queue of checks too (it stayed there, its session with it).
func TestRogueCertificateQueueFollowsSessions(t *testing.T) {
	f := newFab(t, Config{Retention: time.Minute})
	f.manual = true
	const n = 50
	for i := range n {
		ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)})
		info := &SessionInfo{ID: "s" + strconv.Itoa(i), Client: netip.AddrPortFrom(ip, 12346),
			Server: netipAP("198.51.100.1:12346"), Transport: "dtls",
			ClientCert: &Certificate{Subject: "CN=edge" + strconv.Itoa(i) + ",O=Acme", Issuer: "CN=Acme Root CA,O=Acme", SHA256: "ee"},
			ServerCert: fabricCert("vsmart1")}
		f.a.SessionSeen(info, sec(float64(i)), uint64(i+1))
		f.a.SessionEnd(info, sec(float64(i)+0.5), "TCP FIN")
	}
	u := theCertDet(t, f.a)
	if len(u.pending) != n {
		t.Fatalf("%d sessions queued, want %d", len(u.pending), n)
	}
	f.a.Advance(sec(600))
	f.a.Advance(sec(700))
	if len(f.a.sessList) != 0 {
		t.Fatalf("%d sessions kept, want them pruned", len(f.a.sessList))
	}
	if len(u.pending) != 0 || len(u.st) != 0 {
		t.Errorf("after the sessions left memory: %d queued, %d states", len(u.pending), len(u.st))
	}
	f.finish(800)
	f.wantNone()
}
