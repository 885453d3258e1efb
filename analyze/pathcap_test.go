package analyze

import (
	"testing"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// TestPathCapStalePendingLetGo: stale-after-gr's condition, pending its
// grace after a GR flush at 130 s, is let go when vsmart2's copy to
// vsmart1 (which makes the reflection legitimate) arrives at 132 s and is
// not kept (Config.MaxPaths): no notice, as with every path kept. (A
// review found it raised at 140 s.)
func TestPathCapStalePendingLetGo(t *testing.T) {
	for _, capped := range []bool{false, true} {
		f, a, m, e1 := peerFabric(t, Config{})
		f.at(10)
		a.end()
		f.at(132) // flushed at 130: pending until 140
		if capped {
			f.a.cfg.MaxPaths = f.a.paths
		}
		reflectTo(m, true, e1, "10.1.0.0/24") // the legitimate copy, at 132
		f.finish(200)
		refused := f.a.Stats().PathsRefused
		got := f.anomalies(KindStaleAfterGR)
		t.Logf("capped=%v refused=%d anomalies=%d", capped, refused, len(got))
		if capped && refused == 0 {
			t.Fatal("nothing refused")
		}
		for _, an := range got {
			t.Errorf("capped=%v: stale-after-gr raised at %v after the copy was refused at 132: %s", capped, an.Raised.Sub(t0), an.Subject)
		}
	}
}

// TestPathCapStaleKeepsOnlyItsOwn: once a path was not kept, stale-after-gr
// keeps the notices it raised only for the flushes still held: e1's notice
// ends when vsmart1 stops reflecting e1's route, while e3's stays, as
// with every path kept. (A review found every notice of the receiver kept.)
func TestPathCapStaleKeepsOnlyItsOwn(t *testing.T) {
	for _, capped := range []bool{false, true} {
		f := newFab(t, Config{})
		e1, e2, e3, v1 := edge(1, 100), edge(2, 200), edge(3, 300), vsmart(1)
		a := f.connect(e1, v1)
		b := f.connect(e2, v1)
		d := f.connect(e3, v1)
		f.at(1)
		advertiseEdge(a, e1, "10.1.0.0/24")
		advertiseEdge(d, e3, "10.1.0.0/24")
		reflectTo(b, false, e1, "10.1.0.0/24")
		reflectTo(b, false, e3)
		b.adv(false, omp.FamilyRouteV4, routeAttrs(e3.sys, tk(e3.sys, sdwan.ColorBizInternet), e3.site, 0), route(1, "10.1.0.0/24", 2))
		b.eor(false, omp.FamilyTLOCv4, omp.FamilyRouteV4)
		f.at(10)
		a.end()
		d.end()
		f.at(145) // both raised at 140
		if capped {
			f.a.cfg.MaxPaths = f.a.paths
			b.adv(true, omp.FamilyRouteV4, routeAttrs(e2.sys, tk(e2.sys, sdwan.ColorBizInternet), e2.site, 0), route(1, "10.2.0.0/24", 1))
		}
		f.at(150)
		// vsmart1 stops reflecting e1's route (e3's stays stale)
		b.wd(false, omp.FamilyRouteV4, route(1, "10.1.0.0/24", 1))
		f.finish(200)
		for _, an := range f.anomalies(KindStaleAfterGR) {
			t.Logf("capped=%v refused=%d %s active=%v end=%v", capped, f.a.Stats().PathsRefused, an.Subject, an.Active, an.End.Sub(t0))
			if an.Subject == "route vpn=1 prefix=10.1.0.0/24 originator="+e1.sys.String() && an.Active {
				t.Errorf("capped=%v: e1's condition still active after vsmart1 withdrew it", capped)
			}
		}
	}
}

// TestPathCapUnresolvedPendingLetGo: a route whose TLOC comes 2 s later,
// within unresolved-route's grace, and is not kept (Config.MaxPaths): the
// pending condition is let go, no notice. (A review found it raised at 6 s.)
func TestPathCapUnresolvedPendingLetGo(t *testing.T) {
	for _, capped := range []bool{false, true} {
		f := newFab(t, Config{})
		e1, v1 := edge(1, 100), vsmart(1)
		x := f.connect(e1, v1)
		f.at(1)
		x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorMPLS), 100, 0), route(1, "10.9.0.0/24", 1))
		f.at(3)
		if capped {
			f.a.cfg.MaxPaths = f.a.paths
		}
		x.adv(true, omp.FamilyTLOCv4, tlocAttrs(e1.sys, 100, "192.0.2.11:12346", "192.0.2.11:12346"), tlocNLRI(e1.sys, sdwan.ColorMPLS, 1))
		x.eor(true, omp.FamilyTLOCv4, omp.FamilyRouteV4)
		f.finish(60)
		for _, an := range f.anomalies(KindUnresolvedRoute) {
			t.Errorf("capped=%v refused=%d: unresolved-route raised at %v for a TLOC refused at 3 s", capped, f.a.Stats().PathsRefused, an.Raised.Sub(t0))
		}
	}
}
