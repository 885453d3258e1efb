package analyze

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// The analyzer's path cap (Config.MaxPaths): a path new past it is not
// kept, counted and told, and no detector that judges a path's absence
// raises a notice the path not kept could make false.

// TestPathCap: distFabric holds 10 paths before 10.1.9.0/24 reaches e2 at
// 6 s; with MaxPaths 10 that path is not kept. It is counted and told,
// e2's table from v1 is incomplete, and not-distributed does not blame v1
// for a path the analyzer did not keep. Once paths leave memory (e1's
// withdrawals, past every window) new ones are kept again.
func TestPathCap(t *testing.T) {
	f, a := distFabricWith(t, Config{MaxPaths: 10}, 5, false)
	f.at(20)
	if n := f.a.Stats().PathsRefused; n != 1 {
		t.Fatalf("%d paths refused, want 1", n)
	}
	complete := map[string]bool{}
	for _, p := range f.a.Peers() {
		for _, tv := range p.Tables {
			complete[tv.From+">"+tv.To] = tv.Complete
		}
	}
	if complete["10.0.0.1>10.0.0.12"] || !complete["10.0.0.1>10.0.0.13"] {
		t.Errorf("tables complete: %v", complete)
	}
	a.wd(true, omp.FamilyRouteV4, route(1, "10.1.0.0/24", 1), route(1, "10.1.9.0/24", 1))
	f.at(200) // past every window: the withdrawn paths leave memory
	e1 := a.c
	a.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.7.0/24", 1))
	f.finish(260)
	if n := f.a.Stats().PathsRefused; n != 1 {
		t.Errorf("%d paths refused after room was made, want 1", n)
	}
	if got := f.anomalies(KindNotDistributed); len(got) != 0 {
		t.Errorf("not-distributed for a path not kept: %+v", got)
	}
	if l := f.a.Summary(Filter{}).Limits; l == nil || l.PathsRefused != 1 {
		t.Errorf("summary limits %+v", l)
	}
	if h := f.a.limitsHit(); !strings.Contains(h, "1 advertisement(s) of new paths not kept: the analyzer held 10 paths (--max-paths) already") {
		t.Errorf("Limits line %q", h)
	}
}

// TestPathCapStale: e1's session to vsmart1 ends into graceful restart at
// 10 s; vsmart1 keeps reflecting e1's paths to e2 after its GR flush at
// 130 s. Without vsmart2's copy of them stale-after-gr is raised; with
// it, the reflection is legitimate. When that copy is not kept
// (Config.MaxPaths), whether it came before the loss (1 s) or after the
// flush, while the notice was pending its grace (132 s), no notice is
// raised either. (Reviews found notices raised in both cases.)
func TestPathCapStale(t *testing.T) {
	run := func(copyAt float64, capped bool) *fab {
		f, a, m, e1 := peerFabric(t, Config{})
		sendCopy := func(at float64) {
			if copyAt != at {
				return
			}
			f.at(at)
			if capped {
				f.a.cfg.MaxPaths = f.a.paths
			}
			reflectTo(m, true, e1, "10.1.0.0/24")
		}
		sendCopy(1)
		f.at(10)
		a.end()
		sendCopy(132)
		f.finish(200)
		if capped && f.a.Stats().PathsRefused == 0 {
			t.Fatalf("copy at %v s: nothing refused", copyAt)
		}
		return f
	}
	if got := run(0, false).anomalies(KindStaleAfterGR); len(got) == 0 {
		t.Fatal("no stale-after-gr without vsmart2's copy: the test judges nothing")
	}
	for _, copyAt := range []float64{1, 132} {
		for _, capped := range []bool{false, true} {
			for _, an := range run(copyAt, capped).anomalies(KindStaleAfterGR) {
				t.Errorf("copy at %v s, capped %v: stale-after-gr raised at %v: %s", copyAt, capped, an.Raised.Sub(t0), an.Subject)
			}
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
		if capped && f.a.Stats().PathsRefused == 0 {
			t.Fatal("nothing refused")
		}
		state := map[string]string{}
		for _, an := range f.anomalies(KindStaleAfterGR) {
			state[an.Subject] = "active"
			if !an.Active {
				state[an.Subject] = "ended at " + an.End.Sub(t0).String()
			}
		}
		if got := state["route vpn=1 prefix=10.1.0.0/24 originator="+e1.sys.String()]; got != "ended at 2m30s" {
			t.Errorf("capped %v: e1's notice %q, want ended at 2m30s (vsmart1 withdrew it)", capped, got)
		}
		if got := state["route vpn=1 prefix=10.1.0.0/24 originator="+e3.sys.String()]; got != "active" {
			t.Errorf("capped %v: e3's notice %q, want active", capped, got)
		}
	}
}

// TestPathCapUnresolved: a route whose TLOC never comes is unresolved;
// when its TLOC comes (with the route, or 2 s later, while the notice is
// pending its grace) and is not kept (Config.MaxPaths), no notice, and the
// text summary says paths were not kept. (A review found the pending one
// raised at 6 s.)
func TestPathCapUnresolved(t *testing.T) {
	run := func(tlocAt float64) *fab {
		f := newFab(t, Config{})
		e1, v1 := edge(1, 100), vsmart(1)
		x := f.connect(e1, v1)
		f.at(1)
		x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorMPLS), 100, 0), route(1, "10.9.0.0/24", 1))
		if tlocAt > 0 {
			f.at(tlocAt)
			f.a.cfg.MaxPaths = f.a.paths // the TLOC is not kept
			x.adv(true, omp.FamilyTLOCv4, tlocAttrs(e1.sys, 100, "192.0.2.11:12346", "192.0.2.11:12346"), tlocNLRI(e1.sys, sdwan.ColorMPLS, 1))
			x.eor(true, omp.FamilyTLOCv4, omp.FamilyRouteV4)
		}
		f.finish(60)
		return f
	}
	run(0).wantOne(KindUnresolvedRoute, "route vpn=1 prefix=10.9.0.0/24 originator=10.0.0.11")
	for _, tlocAt := range []float64{1, 3} {
		f := run(tlocAt)
		if n := f.a.Stats().PathsRefused; n != 1 {
			t.Fatalf("TLOC at %v s: %d refused", tlocAt, n)
		}
		for _, an := range f.anomalies(KindUnresolvedRoute) {
			t.Errorf("TLOC at %v s: unresolved-route raised at %v for a TLOC not kept", tlocAt, an.Raised.Sub(t0))
		}
		var b strings.Builder
		if err := f.a.WriteSummary(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), fmt.Sprintf("Visibility: the analyzer held --max-paths (%d) paths and did not keep 1 advertisement(s) of new ones", f.a.cfg.MaxPaths)) ||
			!strings.Contains(b.String(), "None in what could be read") {
			t.Errorf("TLOC at %v s: the summary does not tell the paths not kept:\n%s", tlocAt, b.String())
		}
	}
}
