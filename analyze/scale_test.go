package analyze

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// churn drives a steady fabric: an edge and a vSmart; the edge keeps n
// prefixes advertised and, every second, replaces k of them with fresh
// path-ids (withdrawing the old paths), for secs seconds.
func churn(tb testing.TB, cfg Config, n, k int, secs int, at func(f *fab, s int)) *fab {
	f := newFab(tb, cfg)
	e, v := edge(1, 100), vsmart(3)
	x := f.connect(e, v)
	attrs := routeAttrs(e.sys, tk(e.sys, sdwan.ColorBizInternet), e.site, 0)
	x.adv(true, omp.FamilyTLOCv4, tlocAttrs(e.sys, e.site, "192.0.2.11:12346", "192.0.2.11:12346"),
		tlocNLRI(e.sys, sdwan.ColorBizInternet, 1))
	path := make([]uint32, n)
	var nl []omp.NLRI
	for i := range n {
		path[i] = 1
		nl = append(nl, route(1, pfx(i), 1))
	}
	x.adv(true, omp.FamilyRouteV4, attrs, nl...)
	next := 0
	for s := 1; s <= secs; s++ {
		f.at(float64(s))
		var wd, ad []omp.NLRI
		for range k {
			i := next % n
			next++
			wd = append(wd, route(1, pfx(i), path[i]))
			path[i]++
			ad = append(ad, route(1, pfx(i), path[i]))
		}
		x.wd(true, omp.FamilyRouteV4, wd...)
		x.adv(true, omp.FamilyRouteV4, attrs, ad...)
		if at != nil {
			at(f, s)
		}
	}
	return f
}

func pfx(i int) string { return fmt.Sprintf("10.%d.%d.0/24", i/256, i%256) }

func tableRows(a *Analyzer) (rows, groups int) {
	for _, t := range a.tables {
		rows += t.rows.len()
	}
	return rows, a.groups.len()
}

// TestMemoryFollowsLiveTables: with fresh path-ids all the time, the rows
// kept stay near the live table plus what the detector windows need,
// however long the capture runs (Retention 0, the default); with
// Retention < 0 every path ever seen is kept.
func TestMemoryFollowsLiveTables(t *testing.T) {
	const n, k = 200, 20
	var mid, end int
	f := churn(t, Config{}, n, k, 600, func(f *fab, s int) {
		if s == 300 {
			mid, _ = tableRows(f.a)
		}
	})
	end, _ = tableRows(f.a)
	// live: n; withdrawn inside the window (61 s): ≤ 61·k
	if limit := n + 62*k; mid > limit || end > limit {
		t.Errorf("rows kept: %d at 300 s, %d at 600 s; want at most %d (live %d + the window's withdrawals)", mid, end, limit, n)
	}
	if f.a.Stats().PrunedRows < 500*k {
		t.Errorf("%d rows pruned, want more than %d", f.a.Stats().PrunedRows, 500*k)
	}
	s := f.a.Snapshot(time.Time{}, Filter{})
	if r, _, _ := s.Rows(); r != n {
		t.Errorf("%d live routes at the end, want %d", r, n)
	}
	f.wantNone()

	keep := churn(t, Config{Retention: -1}, n, k, 100, nil)
	if rows, _ := tableRows(keep.a); rows != n+100*k+1 { // and the TLOC
		t.Errorf("Retention -1: %d rows, want every path ever seen (%d)", rows, n+100*k+1)
	}
}

// TestSnapshotAtDeclaredInstants: instants named up front are snapshotted
// as the capture goes past them, and equal what a full-history analysis
// rebuilds afterwards, although the default retention pruned the rows
// withdrawn since.
func TestSnapshotAtDeclaredInstants(t *testing.T) {
	ins := []Instant{{Offset: 30 * time.Second}, {Time: sec(150.5)}, {End: true}, {Offset: time.Hour}}
	f := churn(t, Config{SnapshotAt: ins}, 50, 10, 300, nil)
	f.finish(300)
	full := churn(t, Config{Retention: -1}, 50, 10, 300, nil)
	full.finish(300)
	if f.a.Stats().PrunedRows == 0 {
		t.Fatal("nothing was pruned: the test shows nothing")
	}
	for _, in := range ins {
		at := f.a.InstantTime(in)
		got, want := f.a.Snapshot(at, Filter{}), full.a.Snapshot(full.a.InstantTime(in), Filter{})
		if !got.Exact {
			t.Errorf("%+v: snapshot not exact", in)
		}
		gj, _ := json.Marshal(got.Tables)
		wj, _ := json.Marshal(want.Tables)
		if string(gj) != string(wj) {
			t.Errorf("%+v: declared snapshot differs from the full-history one:\n%.400s\n%.400s", in, gj, wj)
		}
		if r, _, _ := got.Rows(); r != 50 {
			t.Errorf("%+v: %d routes", in, r)
		}
	}
	if s := f.a.Snapshot(f.a.InstantTime(Instant{Offset: time.Hour}), Filter{}); !s.AfterEnd {
		t.Error("an instant after the end is not marked")
	}
	// an instant not declared, before the pruning horizon: inexact
	if s := f.a.Snapshot(sec(40), Filter{}); s.Exact {
		t.Error("an undeclared instant behind pruned history claims to be exact")
	}
	// a filtered view of a declared snapshot
	if s := f.a.Snapshot(f.a.InstantTime(ins[0]), Filter{Prefix: netip.MustParsePrefix("10.0.0.0/24")}); len(s.Tables) != 1 || len(s.Tables[0].Routes) != 1 {
		t.Errorf("filtered declared snapshot: %+v", s.Tables)
	}
}

// TestRegistry: every kind is registered once, raised by a detector, and
// explained; every flag has a unique name and points into Config.
func TestRegistry(t *testing.T) {
	seen := map[Kind]bool{}
	for _, k := range kindDefs {
		if seen[k.kind] {
			t.Errorf("%s registered twice", k.kind)
		}
		seen[k.kind] = true
		if k.det == nil || k.det.make == nil {
			t.Errorf("%s has no detector", k.kind)
		}
		if k.meaning == "" || k.matters == "" || k.check == "" || k.sev == "" {
			t.Errorf("%s: incomplete --explain text", k.kind)
		}
	}
	names := map[string]bool{}
	var c Config
	for _, fl := range Flags() {
		if names[fl.Name] {
			t.Errorf("flag --%s twice", fl.Name)
		}
		names[fl.Name] = true
		n := 0
		for _, set := range []bool{fl.Int != nil, fl.Dur != nil, fl.Strs != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			t.Errorf("--%s: exactly one of Int, Dur and Strs", fl.Name)
		}
		if fl.Int != nil && fl.Int(&c) == nil || fl.Dur != nil && fl.Dur(&c) == nil || fl.Strs != nil && fl.Strs(&c) == nil {
			t.Errorf("--%s points nowhere", fl.Name)
		}
	}
	a := New(Config{})
	if len(a.dets) != 19 {
		t.Errorf("%d detectors made, want 19", len(a.dets))
	}
}
