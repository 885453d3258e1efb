package analyze

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// Regressions found by review of the state-core redesign.

// A path advertised, withdrawn, pruned and advertised again unchanged is
// the same row to --diff (not withdrawn and added).
func TestDiffAcrossPrunedRow(t *testing.T) {
	e1, v1 := edge(1, 100), vsmart(1)
	f := newFab(t, Config{SnapshotAt: []Instant{{Offset: 5 * time.Second}, {Offset: 300 * time.Second}}})
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24", "10.2.0.0/24")
	f.at(10)
	x.wd(true, omp.FamilyRouteV4, route(1, "10.1.0.0/24", 1))
	f.at(200)
	x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), e1.site, 0), route(1, "10.1.0.0/24", 1))
	f.finish(400)
	if f.a.Stats().PrunedRows == 0 {
		t.Fatal("nothing pruned: the test shows nothing")
	}
	d := f.a.Diff(sec(5), sec(300), Filter{})
	if len(d.Added)+len(d.Withdrawn)+len(d.Changed) != 0 || !d.Exact {
		t.Errorf("diff of an unchanged path: %d added, %d withdrawn, %d changed, exact %v", len(d.Added), len(d.Withdrawn), len(d.Changed), d.Exact)
	}
}

// An instant before the capture shows nothing, not the first input.
func TestInstantBeforeCapture(t *testing.T) {
	e1, v1 := edge(1, 100), vsmart(1)
	before := t0.Add(-time.Hour)
	f := newFab(t, Config{SnapshotAt: []Instant{{Time: before}, {Offset: -5 * time.Second}}})
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	f.finish(30)
	for _, at := range []time.Time{before, f.a.Start().Add(-5 * time.Second)} {
		s := f.a.Snapshot(at, Filter{})
		if r, tl, _ := s.Rows(); r != 0 || tl != 0 || !s.Exact {
			t.Errorf("%v: %d routes, %d TLOCs (exact %v) before the capture", at, r, tl, s.Exact)
		}
	}
}

// A vSmart withdrawing, long after, a path it withdrew already: the
// subject names the path's originator (not the vSmart), and the text does
// not claim more than the analyzer still knows.
func TestWithdrawUnknownAfterPrune(t *testing.T) {
	for _, ret := range []time.Duration{0, -1} {
		e1, v1 := edge(1, 100), vsmart(1)
		f := newFab(t, Config{Retention: ret})
		x := f.connect(e1, v1)
		advertiseEdge(x, e1)
		reflectTo(x, false, edge(2, 200), "10.9.0.0/24")
		f.at(10)
		x.wd(false, omp.FamilyRouteV4, route(1, "10.9.0.0/24", 1))
		f.at(200)
		x.wd(false, omp.FamilyRouteV4, route(1, "10.9.0.0/24", 1))
		f.finish(210)
		ans := f.anomalies(KindWithdrawUnknown)
		if len(ans) != 1 {
			t.Fatalf("retention %v: %d withdraw-unknown", ret, len(ans))
		}
		an := ans[0]
		if strings.HasSuffix(an.Subject, "originator="+v1.sys.String()) {
			t.Errorf("retention %v: the subject names the reflecting vSmart: %s", ret, an.Subject)
		}
		switch {
		case ret < 0 && !strings.Contains(an.Explanation, "had already withdrawn it"):
			t.Errorf("retention %v: %s", ret, an.Explanation)
		case ret == 0 && !strings.Contains(an.Explanation, "within the last 1m0s"):
			t.Errorf("retention %v: %s", ret, an.Explanation)
		}
	}
}

// A table that learns its receiver's real system-ip leaves its old
// receiver's bucket: a conflict it made there ends.
func TestConflictEndsWhenTableRekeyed(t *testing.T) {
	eA, v1, v2 := edge(1, 100), vsmart(1), vsmart(2)
	eB := edge(2, 200)
	eB.addr = eA.addr // behind the same NAT address
	f := newFab(t, Config{})
	x1 := f.connect(eA, v1)
	advertiseEdge(x1, eA)
	eT := edge(5, 500)
	x1.adv(false, omp.FamilyTLOCv4, tlocAttrs(eT.sys, eT.site, "192.0.2.99:12346", "192.0.2.99:12346"), tlocNLRI(eT.sys, sdwan.ColorBizInternet, 1))
	x1.adv(false, omp.FamilyRouteV4, routeAttrs(eT.sys, tk(eT.sys, sdwan.ColorBizInternet), eT.site, 0), route(1, "10.5.0.0/24", 1))
	f.at(1)
	// B's session was up before the capture: its client is taken for A
	x2 := f.session(eB, v2)
	x2.hello(true)
	x2.hello(false)
	x2.adv(false, omp.FamilyRouteV4, routeAttrs(eT.sys, tk(eT.sys, sdwan.ColorBizInternet), eT.site, 100), route(1, "10.5.0.0/24", 1))
	f.at(20)
	raised := false
	for _, an := range f.a.Anomalies() {
		raised = raised || an.Kind == KindAttributeConflict
	}
	if !raised {
		t.Fatal("no attribute-conflict while B is taken for A: the test shows nothing")
	}
	x2.omp(true, eB.handshake()) // its HANDSHAKE names it
	f.finish(100)
	for _, an := range f.a.Anomalies() {
		if an.Kind == KindAttributeConflict && an.Active {
			t.Errorf("attribute-conflict %s still active after the table moved to B", an.Subject)
		}
	}
}

// A vSmart with many sessions whose claims are all alike is no duplicate
// (and costs no comparison); a second device under its system-ip, with
// another site-id, is one at once; so is a chassis id learned late that
// differs.
func TestDuplicateAmongManyAlikeClaims(t *testing.T) {
	f := newFab(t, Config{})
	v := vsmart(3)
	for i := 1; i <= 30; i++ {
		f.connect(edge(i, uint32(100+i)), v)
	}
	f.at(5)
	if n := len(f.anomalies(KindDuplicateSystemIP)); n != 0 {
		t.Fatalf("%d duplicate-system-ip among alike claims", n)
	}
	impostor := vsmart(4)
	impostor.sys, impostor.site = v.sys, 2000
	f.connect(edge(40, 140), impostor)
	f.finish(10)
	an := f.wantOne(KindDuplicateSystemIP, "system-ip "+v.sys.String())
	if !strings.Contains(an.Explanation, "site-ids") {
		t.Errorf("explanation: %s", an.Explanation)
	}
}

// randomFabric drives a fabric of three edges, each connected to each of
// nv vSmarts, with random UPDATEs (copies of a path whose preference and
// TLOC addresses differ, up to paths path-ids), withdrawals, END_OF_RIBs,
// graceful restarts and reconnections, some of whose HANDSHAKEs come late
// (the tables are re-keyed when the system-ips are learned), under a
// random grace, retention and history depth. It returns the timeline and
// the summary.
func randomFabric(t *testing.T, seed uint64, nv, paths int, ref referenceWays) []byte {
	r := rand.New(rand.NewPCG(seed, 11))
	var out []byte
	f := newFab(t, Config{OnEvent: func(e *Event) { out = append(e.AppendJSON(out), '\n') },
		ConflictGrace: time.Duration(r.IntN(3)) * time.Second, HistoryPerRow: 1 + r.IntN(3),
		Retention: []time.Duration{0, -1, 5 * time.Second}[r.IntN(3)], reference: ref})
	edges := []dev{edge(1, 100), edge(2, 200), edge(3, 300)}
	var vs []dev
	for v := range nv {
		vs = append(vs, vsmart(1+v))
	}
	type link struct {
		e, v int
		x    *sess
		late bool // HANDSHAKEs not yet sent
	}
	open := func(l *link) {
		if r.IntN(3) > 0 {
			l.x, l.late = f.connect(edges[l.e], vs[l.v]), false
			return
		}
		x := f.session(edges[l.e], vs[l.v])
		x.challenge()
		x.hello(true)
		x.hello(false)
		x.keepalive(true) // OMP up, no HANDSHAKE: system-ips unknown
		l.x, l.late = x, true
	}
	var links []*link
	for e := range edges {
		for v := range vs {
			l := &link{e: e, v: v}
			open(l)
			links = append(links, l)
		}
	}
	prefixes := []string{"10.1.0.0/24", "10.2.0.0/24"}
	colors := []sdwan.Color{sdwan.ColorBizInternet, sdwan.ColorMPLS}
	now := 0.0
	for range 300 {
		now += float64(r.IntN(2000)) / 1000
		f.at(now)
		l := links[r.IntN(len(links))]
		x := l.x
		if x.closed {
			if r.IntN(4) == 0 {
				open(l)
			}
			continue
		}
		if l.late && r.IntN(8) == 0 {
			x.handshakes()
			l.late = false
		}
		fromClient := r.IntN(2) == 0
		o := edges[l.e] // the edge advertises its own paths; a vSmart reflects any edge's
		if !fromClient {
			o = edges[r.IntN(len(edges))]
		}
		color := colors[r.IntN(2)]
		pid := uint32(1 + r.IntN(paths))
		switch r.IntN(10) {
		case 0, 1, 2:
			x.adv(fromClient, omp.FamilyRouteV4, routeAttrs(o.sys, tk(o.sys, color), o.site, uint32(50*r.IntN(2))),
				route(1, prefixes[r.IntN(2)], pid))
		case 3, 4:
			addr := o.addr.String()
			if r.IntN(3) == 0 {
				addr = "192.0.2.99"
			}
			x.adv(fromClient, omp.FamilyTLOCv4, tlocAttrs(o.sys, o.site, addr+":12346", addr+":12346"), tlocNLRI(o.sys, color, pid))
		case 5:
			x.wd(fromClient, omp.FamilyRouteV4, route(1, prefixes[r.IntN(2)], pid))
		case 6:
			x.wd(fromClient, omp.FamilyTLOCv4, tlocNLRI(o.sys, color, pid))
		case 7:
			x.eor(fromClient, omp.FamilyTLOCv4, omp.FamilyRouteV4)
		case 8:
			if r.IntN(4) == 0 {
				x.end() // graceful restart: the peer keeps the table, stale
			}
		}
	}
	f.finish(now + 100)
	var b bytes.Buffer
	if err := f.a.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "pruned %d\n", f.a.stats.PrunedRows)
	return append(out, b.Bytes()...)
}

// TestWithdrawnQueueCompaction runs random fabrics and the chaos input
// with the withdrawn queue compacted at every withdrawal and never: the
// timelines, summaries and rows pruned must be the same. And a row
// withdrawn 100 000 times at one instant leaves one entry or so, not
// 100 000.
func TestWithdrawnQueueCompaction(t *testing.T) {
	n := 150
	if testing.Short() {
		n = 20
	}
	pruned := 0
	for seed := range uint64(n) {
		x := randomFabric(t, seed, 2, 4, referenceWays{wqCompactMin: 1})
		y := randomFabric(t, seed, 2, 4, referenceWays{wqCompactMin: 1 << 40})
		if !bytes.Equal(x, y) {
			t.Fatalf("fabric seed %d: the output differs when the withdrawn queue is compacted", seed)
		}
		run := func(min int) ([]byte, int) {
			out, a := chaosOutput(t, rand.New(rand.NewPCG(seed, 17)), Config{reference: referenceWays{wqCompactMin: min}})
			return out, a.stats.PrunedRows
		}
		cx, px := run(1)
		cy, py := run(1 << 40)
		if !bytes.Equal(cx, cy) || px != py {
			t.Fatalf("chaos seed %d: the output differs when the withdrawn queue is compacted (%d and %d rows pruned)", seed, px, py)
		}
		pruned += px
	}
	if pruned == 0 {
		t.Fatal("no row pruned: the test compares nothing")
	}
	f := newFab(t, Config{reference: referenceWays{wqCompactMin: 16}})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1)
	f.at(10)
	for range 100_000 {
		x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.5.0.0/24", 1))
		x.wd(true, omp.FamilyRouteV4, route(1, "10.5.0.0/24", 1))
	}
	if q := len(f.a.wq) - f.a.wqHead; q > 32 {
		t.Fatalf("the withdrawn queue holds %d entries for one row", q)
	}
}

// TestConflictMarksMatchAllPairs runs random fabrics twice: once with
// every pair of a bucket compared on each change (mayConflict), once with
// only the pairs of the row that changed (mayConflictWith). The timelines
// and the summaries must be the same, byte for byte, and the runs must
// raise the conflict detector's notices. Two vSmarts and two path-ids
// make small buckets; four vSmarts and twelve path-ids buckets of more
// than 16 rows (which mayConflict does not look into).
func TestConflictMarksMatchAllPairs(t *testing.T) {
	n := 150
	if testing.Short() {
		n = 20
	}
	for _, shape := range []struct{ nv, paths int }{{2, 2}, {4, 12}} {
		var conflicts, clones int
		for seed := range uint64(n) {
			run := func(all bool) []byte {
				return randomFabric(t, seed, shape.nv, shape.paths, referenceWays{allPairs: all})
			}
			x, y := run(true), run(false)
			if !bytes.Equal(x, y) {
				t.Fatalf("%d vSmarts, %d path-ids, seed %d: the output differs when only the changed row's pairs are compared",
					shape.nv, shape.paths, seed)
			}
			for _, l := range bytes.Split(x, []byte("\n")) {
				if bytes.Contains(l, []byte(`"type":"anomaly.start"`)) {
					conflicts += bytes.Count(l, []byte(`"kind":"`+KindAttributeConflict+`"`))
					clones += bytes.Count(l, []byte(`"kind":"`+KindTLOCClone+`"`))
				}
			}
		}
		if conflicts == 0 || clones == 0 {
			t.Fatalf("%d vSmarts, %d path-ids: %d attribute-conflict and %d tloc-clone raised: a kind was never compared",
				shape.nv, shape.paths, conflicts, clones)
		}
		t.Logf("%d vSmarts, %d path-ids, %d runs: %d attribute-conflict and %d tloc-clone raised", shape.nv, shape.paths, n, conflicts, clones)
	}
}

// chaosOutput runs 800 steps of the chaos input drawn from r through an
// analyzer of cfg (history of 3, flaps from 1 change), and returns its
// timeline and summary, and the analyzer.
func chaosOutput(t *testing.T, r *rand.Rand, cfg Config) ([]byte, *Analyzer) {
	var out []byte
	c := &chaos{next: r.IntN, now: t0, tb: t}
	cfg.OnEvent = func(e *Event) { out = append(e.AppendJSON(out), '\n') }
	cfg.HistoryPerRow, cfg.RouteFlapCount, cfg.TLOCFlapCount = 3, 1, 1
	c.a = New(cfg)
	for range 800 {
		c.step()
	}
	c.a.Finish(c.now)
	var b bytes.Buffer
	if err := c.a.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	return append(out, b.Bytes()...), c.a
}

// TestEventFiltersChangeNothing runs the chaos input (every kind of
// message, gaps, ends, in any order) and random fabrics (randomFabric:
// graceful restarts, late HANDSHAKEs, reconnections) twice: once with
// every detector told every event, once with the detectors that filter
// (eventFilter) told only their kinds. The timelines and summaries must be
// the same, byte for byte.
func TestEventFiltersChangeNothing(t *testing.T) {
	run := func(seed uint64, all bool) []byte {
		r := rand.New(rand.NewPCG(seed, 13))
		out, _ := chaosOutput(t, r, Config{Retention: []time.Duration{0, -1, time.Minute}[r.IntN(3)], reference: referenceWays{tellAll: all}})
		return out
	}
	n := 200
	if testing.Short() {
		n = 30
	}
	kinds := map[string]bool{}
	for seed := range uint64(n) {
		x, y := run(seed, true), run(seed, false)
		if !bytes.Equal(x, y) {
			t.Fatalf("seed %d: the output differs with the event filters", seed)
		}
		for _, nv := range []int{2, 4} {
			fab := func(all bool) []byte {
				return randomFabric(t, seed, nv, 4, referenceWays{tellAll: all})
			}
			if fx, fy := fab(true), fab(false); !bytes.Equal(fx, fy) {
				t.Fatalf("fabric of %d vSmarts, seed %d: the output differs with the event filters", nv, seed)
			} else {
				x = append(x, fx...)
			}
		}
		for _, k := range Kinds() {
			if bytes.Contains(x, []byte(`"`+k+`"`)) {
				kinds[string(k)] = true
			}
		}
	}
	// the filtered detectors' kinds that chaos raises
	for _, k := range []Kind{KindAlert, KindTeardown, KindDecryptionGap, KindWithdrawUnknown, KindUnresolvedRoute} {
		if !kinds[string(k)] {
			t.Errorf("no %s in any run: its detector's filter went untested", k)
		}
	}
}
