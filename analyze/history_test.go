package analyze

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// replay rebuilds, from a History alone, the rows live at T: table id,
// group, family, path-id and attributes (what a report's page does).
func replay(h *History, T int64) []string {
	cur := make([]int, len(h.Rows))
	for i := range cur {
		cur[i] = -1
	}
	for i, t := range h.VerTime {
		if t > T {
			break
		}
		cur[h.VerRow[i]] = i
	}
	var out []string
	for r, i := range cur {
		if i < 0 || h.VerAttr[i] == 0 {
			continue
		}
		row := h.Rows[r]
		g := h.Groups[row.Group]
		key := g.Prefix.String()
		if g.Kind == "tloc" {
			key = g.TLOC.String()
		}
		out = append(out, fmt.Sprintf("%d %s %d %s %d %p", row.Table, g.Kind, g.VPN, key, row.PathID, h.Attrs[h.VerAttr[i]-1].Attrs))
	}
	slices.Sort(out)
	return out
}

// rowsOf lists a snapshot's rows the way replay does.
func rowsOf(s *Snapshot) []string {
	var out []string
	for _, tv := range s.Tables {
		for _, rs := range [][]Row{tv.Routes, tv.TLOCs, tv.Services} {
			for _, r := range rs {
				key := r.Key.Prefix.String()
				if r.Kind == "tloc" {
					key = r.Key.TLOC.String()
				}
				out = append(out, fmt.Sprintf("%d %s %d %s %d %p", tv.ID, r.Kind, r.Key.VPN, key, r.Key.PathID, r.Attrs))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestHistoryReplaysSnapshots: the rows a History replays at an instant
// are the rows of the analyzer's own snapshot there, through changes,
// withdrawals, rows pruned and advertised again (a new row in a reused
// slot) and a graceful restart.
func TestHistoryReplaysSnapshots(t *testing.T) {
	marks := []float64{5, 12, 30, 95, 130, 170, 200}
	var at []Instant
	for _, m := range marks {
		at = append(at, Instant{Offset: time.Duration(m * float64(time.Second))})
	}
	f := newFab(t, Config{Record: true, SnapshotAt: at})
	e1, e2, v := edge(1, 100), edge(2, 200), vsmart(1)
	x := f.connect(e1, v)
	advertiseEdge(x, e1, "10.1.0.0/24", "10.1.1.0/24")
	y := f.connect(e2, v)
	advertiseEdge(y, e2, "10.2.0.0/24")
	reflectTo(y, false, e1, "10.1.0.0/24", "10.1.1.0/24")
	f.at(10)
	x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, 3), e1.site, 50), route(1, "10.1.0.0/24", 1))
	f.at(20)
	x.wd(true, omp.FamilyRouteV4, route(1, "10.1.1.0/24", 1))
	f.at(120) // past every detector window: the withdrawn row leaves memory
	advertiseEdge(x, e1, "10.1.1.0/24")
	f.at(150)
	x.teardown(true, 9) // a tear-down with GR
	f.at(180)
	f.finish(210)

	h := f.a.History()
	if h == nil {
		t.Fatal("no history with Config.Record")
	}
	if h.Dropped != 0 || len(h.VerTime) == 0 || len(h.States) == 0 {
		t.Fatalf("history: %d versions, %d dropped, %d state changes", len(h.VerTime), h.Dropped, len(h.States))
	}
	for i := 1; i < len(h.VerTime); i++ {
		if h.VerTime[i] < h.VerTime[i-1] {
			t.Fatalf("version %d goes back in time", i)
		}
	}
	// the row withdrawn and advertised again after pruning is two rows
	n := 0
	for _, r := range h.Rows {
		if g := h.Groups[r.Group]; g.Kind == "route" && g.Prefix.String() == "10.1.1.0/24" {
			n++
		}
	}
	if n < 2 {
		t.Errorf("10.1.1.0/24 is %d row(s); want a new row after pruning", n)
	}
	for _, m := range marks {
		T := t0.Add(time.Duration(m * float64(time.Second)))
		want := rowsOf(f.a.Snapshot(T, Filter{}))
		got := replay(h, timeNS(T))
		if len(want) == 0 {
			t.Errorf("at %vs: the snapshot is empty", m)
		}
		if !slices.Equal(got, want) {
			t.Errorf("at %vs: the history replays\n %q\nthe snapshot has\n %q", m, got, want)
		}
	}
	// Order is the snapshot's order of tables
	byOrder := make([]int, len(h.Tables))
	for _, ht := range h.Tables {
		byOrder[ht.Order] = ht.ID
	}
	var snapIDs []int
	for _, tv := range f.a.Snapshot(time.Time{}, Filter{}).Tables {
		snapIDs = append(snapIDs, tv.ID)
	}
	if got := slices.DeleteFunc(slices.Clone(byOrder), func(id int) bool { return !slices.Contains(snapIDs, id) }); !slices.Equal(got, snapIDs) {
		t.Errorf("tables by Order %v, the snapshot lists %v", got, snapIDs)
	}
	// groups come in snapshot order
	for i := 1; i < len(h.Groups); i++ {
		a, b := h.Groups[i-1], h.Groups[i]
		if a.Kind == b.Kind && a.Kind == "route" && a.VPN == b.VPN && a.Prefix.Addr().Compare(b.Prefix.Addr()) > 0 {
			t.Errorf("groups out of order: %v before %v", a.Prefix, b.Prefix)
		}
	}
	// the GR take-over or the tear-down shows in the sessions' states
	seen := false
	for _, s := range h.States {
		if s.Layer == "omp" && (s.New == "down-in-gr" || s.New == "down") {
			seen = true
		}
	}
	if !seen {
		t.Error("no OMP state change to down recorded")
	}
}

// TestHistoryCap: versions past Config.RecordMax are counted, not kept.
func TestHistoryCap(t *testing.T) {
	f := newFab(t, Config{Record: true, RecordMax: 3})
	e1, v := edge(1, 100), vsmart(1)
	x := f.connect(e1, v)
	advertiseEdge(x, e1, "10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/24")
	f.finish(5)
	h := f.a.History()
	if len(h.VerTime) != 3 || h.Dropped != 1 || h.DroppedFrom == 0 {
		t.Errorf("RecordMax 3: %d versions kept, %d dropped from %d; want 3 kept, 1 dropped", len(h.VerTime), h.Dropped, h.DroppedFrom)
	}
	if f2 := newFab(t, Config{}); f2.a.History() != nil {
		t.Error("History without Config.Record is not nil")
	}
}

// TestHistoryAttrCap: versions whose attribute sets are all distinct stop
// being kept once those sets hold the budget's bytes; the rest are
// counted as dropped.
func TestHistoryAttrCap(t *testing.T) {
	const max = 200_000 // 4 MB of versions, 2 MB of attribute sets
	f := newFab(t, Config{Record: true, RecordMax: max})
	e1, v := edge(1, 100), vsmart(1)
	x := f.connect(e1, v)
	advertiseEdge(x, e1)
	const n = 8000
	for i := range n {
		// a new preference each time: a new attribute set
		x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), uint32(1000+i), 0), route(1, "10.9.0.0/24", 1))
	}
	f.finish(5)
	h := f.a.History()
	rc := f.a.rec
	if rc.attrBytes > attrBudget(max) || len(rc.attrs) < 1000 || h.Dropped == 0 || len(h.VerTime)+h.Dropped < n {
		t.Errorf("%d attribute sets of %d bytes kept (budget %d), %d versions kept, %d dropped", len(rc.attrs), rc.attrBytes, attrBudget(max), len(h.VerTime), h.Dropped)
	}
}

// TestHistoryDropsAllAfterTheFirst: once the attribute budget drops a
// version, no later version is kept, not even one reusing a set the
// recorder holds: a row whose first version was dropped would have its
// next put on the row its slot held before (here 10.1.0.0/24, pruned).
func TestHistoryDropsAllAfterTheFirst(t *testing.T) {
	const max = 200_000
	f := newFab(t, Config{Record: true, RecordMax: max})
	e1, v := edge(1, 100), vsmart(1)
	x := f.connect(e1, v)
	advertiseEdge(x, e1)
	base := routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0)
	f.at(1)
	x.adv(true, omp.FamilyRouteV4, base, route(1, "10.1.0.0/24", 1))
	x.wd(true, omp.FamilyRouteV4, route(1, "10.1.0.0/24", 1))
	f.at(200) // 10.1.0.0/24 pruned: its slot is free
	x.keepalive(true)
	for i := 0; f.a.rec.dropped == 0; i++ {
		x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), uint32(1000+i), 0), route(1, "10.9.0.0/24", 1))
	}
	kept := len(f.a.rec.evT)
	x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 7, 0), route(1, "10.2.0.0/24", 1))
	x.adv(true, omp.FamilyRouteV4, base, route(1, "10.2.0.0/24", 1)) // a set the recorder holds
	f.finish(300)
	if n := len(f.a.rec.evT); n != kept {
		t.Fatalf("%d versions kept after the first dropped", n-kept)
	}
}

// TestHistoryOwnersCapped: a table adopted again and again (graceful
// restart reconnections) records its adoptions under the cap of state
// changes (RecordMax/16), the rest counted in StatesDropped.
func TestHistoryOwnersCapped(t *testing.T) {
	f := newFab(t, Config{Record: true, RecordMax: 16 * 20})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	const n = 200
	reconnectAgain(f, x, e1, v1, n)
	f.finish(float64(10 + 5*n))
	h := f.a.History()
	owners := 0
	for _, tb := range h.Tables {
		owners += len(tb.Owners)
	}
	if owners == 0 || owners+len(h.States) > 20 || h.StatesDropped == 0 {
		t.Fatalf("%d adoptions and %d state changes kept, %d dropped; the cap is 20", owners, len(h.States), h.StatesDropped)
	}
}
