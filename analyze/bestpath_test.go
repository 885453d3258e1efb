package analyze

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// pathAttrs is a route's attributes with the fields the best path reads.
func pathAttrs(orig netip.Addr, color sdwan.Color, pref uint32, origin sdwan.Origin, metric uint32) []omp.Attribute {
	return []omp.Attribute{
		&omp.Originator{Flag: omp.FlagTransitive, Addr: orig},
		&omp.TLOCAttr{Flag: omp.FlagTransitive, TLOCKey: tk(orig, color)},
		&omp.OriginAttr{Flag: omp.FlagTransitive, Protocol: origin, Metric: metric},
		&omp.Uint32Attr{Type: omp.AttrPreference, Flag: omp.FlagTransitive, Value: pref},
		&omp.Uint32Attr{Type: omp.AttrSiteID, Flag: omp.FlagTransitive, Value: 100},
	}
}

// tlocWithPref is a TLOC route with a preference and a private address.
func tlocWithPref(orig netip.Addr, priv string, pref uint32) []omp.Attribute {
	return append(tlocAttrs(orig, 100, priv+":12346", priv+":12346"),
		&omp.Uint32Attr{Type: omp.AttrPreference, Flag: omp.FlagTransitive, Value: pref})
}

// TestBestPath: what `show omp routes` on an edge would show for paths
// that differ at each step of Cisco's order, and the ECMP limit.
func TestBestPath(t *testing.T) {
	f := newFab(t, Config{})
	f.manual = true
	me, v1, v2 := edge(1, 100), vsmart(1), vsmart(2)
	x, y := f.connect(me, v1), f.connect(me, v2)
	o := func(n byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, 20 + n}) }
	// the TLOCs the edge holds, from both vSmarts: o(1) gold has TLOC
	// preference 200, the others 0
	for _, s := range []*sess{x, y} {
		for n := byte(1); n <= 8; n++ {
			pref := uint32(0)
			s.adv(false, omp.FamilyTLOCv4, tlocWithPref(o(n), "192.0.2."+itoa(uint32(100+n)), pref), tlocNLRI(o(n), sdwan.ColorBizInternet, 1))
		}
		s.adv(false, omp.FamilyTLOCv4, tlocWithPref(o(1), "192.0.2.201", 200), tlocNLRI(o(1), sdwan.ColorGold, 1))
	}
	p := func(s *sess, prefix string, id uint32, attrs []omp.Attribute) {
		s.adv(false, omp.FamilyRouteV4, attrs, route(1, prefix, id))
	}
	// A: preference beats everything after it
	p(x, "10.9.1.0/24", 1, pathAttrs(o(1), sdwan.ColorBizInternet, 100, sdwan.OriginStatic, 0))
	p(x, "10.9.1.0/24", 2, pathAttrs(o(2), sdwan.ColorBizInternet, 50, sdwan.OriginConnected, 0))
	// B: TLOC preference (o(1) gold 200 against biz-internet 0)
	p(x, "10.9.2.0/24", 1, pathAttrs(o(1), sdwan.ColorGold, 0, sdwan.OriginStatic, 0))
	p(x, "10.9.2.0/24", 2, pathAttrs(o(2), sdwan.ColorBizInternet, 0, sdwan.OriginConnected, 0))
	// C: origin type, then metric
	p(x, "10.9.3.0/24", 1, pathAttrs(o(2), sdwan.ColorBizInternet, 0, sdwan.OriginIBGP, 0))
	p(x, "10.9.3.0/24", 2, pathAttrs(o(3), sdwan.ColorBizInternet, 0, sdwan.OriginOSPFIntra, 20))
	p(x, "10.9.3.0/24", 3, pathAttrs(o(4), sdwan.ColorBizInternet, 0, sdwan.OriginOSPFIntra, 10))
	// D: six equal paths: four chosen (ecmp-limit 4), by router ID; the
	// same paths from the second vSmart are chosen too, installed once
	for n := byte(1); n <= 6; n++ {
		for _, s := range []*sess{x, y} {
			p(s, "10.9.4.0/24", uint32(n), pathAttrs(o(n), sdwan.ColorBizInternet, 0, sdwan.OriginConnected, 0))
		}
	}
	// E: unresolved (no TLOC held), and the edge's own route reflected
	p(x, "10.9.5.0/24", 1, pathAttrs(o(7), sdwan.ColorRed, 0, sdwan.OriginConnected, 0))
	p(x, "10.9.5.0/24", 2, pathAttrs(me.sys, sdwan.ColorBizInternet, 0, sdwan.OriginConnected, 0))
	p(x, "10.9.5.0/24", 3, pathAttrs(o(8), sdwan.ColorBizInternet, 0, sdwan.OriginConnected, 0))
	f.finish(2)

	type got struct{ status, loss, lostTo string }
	rows := map[string]got{} // "prefix from path"
	for _, tv := range f.a.Snapshot(time.Time{}, Filter{}).Tables {
		if tv.To != me.sys.String() {
			continue
		}
		for _, r := range tv.Routes {
			k := r.Key.Prefix.String() + " " + tv.From + " " + itoa(r.Key.PathID)
			lost := ""
			if r.LostTo != "" {
				lost = r.LostTo + "/" + itoa(r.LostToPathID)
			}
			rows[k] = got{r.Status, r.LossReason, lost}
		}
	}
	v1s, v2s := v1.sys.String(), v2.sys.String()
	want := map[string]got{
		"10.9.1.0/24 " + v1s + " 1": {"C,I,R", "", ""},
		"10.9.1.0/24 " + v1s + " 2": {"R", LossPreference, v1s + "/1"},
		"10.9.2.0/24 " + v1s + " 1": {"C,I,R", "", ""},
		"10.9.2.0/24 " + v1s + " 2": {"R", LossTLOCPreference, v1s + "/1"},
		"10.9.3.0/24 " + v1s + " 1": {"R", LossOrigin, v1s + "/2"},
		"10.9.3.0/24 " + v1s + " 2": {"R", LossMetric, v1s + "/3"},
		"10.9.3.0/24 " + v1s + " 3": {"C,I,R", "", ""},
		"10.9.5.0/24 " + v1s + " 1": {"U", LossInvalid, ""},
		"10.9.5.0/24 " + v1s + " 2": {"L,U", LossInvalid, ""}, // its own TLOC is not reflected back to it
		"10.9.5.0/24 " + v1s + " 3": {"C,I,R", "", ""},
	}
	for n := uint32(1); n <= 6; n++ {
		if n <= 4 {
			want["10.9.4.0/24 "+v1s+" "+itoa(n)] = got{"C,I,R", "", ""}
			want["10.9.4.0/24 "+v2s+" "+itoa(n)] = got{"C,R", "", ""}
		} else {
			want["10.9.4.0/24 "+v1s+" "+itoa(n)] = got{"R", LossPeerID, v1s + "/4"}
			want["10.9.4.0/24 "+v2s+" "+itoa(n)] = got{"R", LossPeerID, v1s + "/4"}
		}
	}
	for k, w := range want {
		if g, ok := rows[k]; !ok || g != w {
			t.Errorf("%s: %+v, want %+v", k, g, w)
		}
	}
	// the vSmart receiving from the edge chooses (C) but installs nothing
	x.adv(true, omp.FamilyRouteV4, pathAttrs(me.sys, sdwan.ColorBizInternet, 0, sdwan.OriginConnected, 0), route(1, "10.1.0.0/24", 1))
	for _, tv := range f.a.Snapshot(time.Time{}, Filter{Peer: v1s}).Tables {
		for _, r := range tv.Routes {
			if tv.To == v1s && r.Key.Prefix.String() == "10.1.0.0/24" && r.Status != "U" && r.Status != "C,R" {
				t.Errorf("vSmart's status %q", r.Status)
			}
		}
	}
	checkRowStatus(t, f.a, f.a.Snapshot(time.Time{}, Filter{}))
	// the text of --at --detail shows the loss reasons
	var b strings.Builder
	WriteTablesOpts(&b, f.a.Snapshot(time.Time{}, Filter{Prefix: netip.MustParsePrefix("10.9.3.0/24")}), TablesOptions{Detail: true})
	if out := b.String(); !strings.Contains(out, "LOSS REASON") || !strings.Contains(out, "origin-metric "+v1s+"/3") {
		t.Errorf("detail text:\n%s", out)
	}
}

// TestBestPathPersonality: a vSmart prefers the path learned from the edge
// to the same path reflected by the other vSmart.
func TestBestPathPersonality(t *testing.T) {
	f := newFab(t, Config{})
	f.manual = true
	e1, v1, v2 := edge(1, 100), vsmart(1), vsmart(2)
	x := f.connect(e1, v1)
	m := f.connect(v2, v1) // the vSmart mesh: v2 reflects e1's route to v1
	advertiseEdge(x, e1, "10.1.0.0/24")
	reflectTo(m, true, e1, "10.1.0.0/24")
	f.finish(2)
	got := map[string]string{}
	for _, tv := range f.a.Snapshot(time.Time{}, Filter{Prefix: netip.MustParsePrefix("10.1.0.0/24")}).Tables {
		for _, r := range tv.Routes {
			got[tv.From+">"+tv.To] = r.Status + " " + r.LossReason
		}
	}
	if g := got[e1.sys.String()+">"+v1.sys.String()]; g != "C,R " {
		t.Errorf("from the edge: %q", g)
	}
	if g := got[v2.sys.String()+">"+v1.sys.String()]; g != "R personality" {
		t.Errorf("from the other vSmart: %q (all %v)", g, got)
	}
}

// TestTimelineStatus: a route event carries the status its row has after
// the change, the same as a snapshot at that instant shows.
func TestTimelineStatus(t *testing.T) {
	f := newFab(t, Config{})
	f.manual = true
	me, v1 := edge(1, 100), vsmart(1)
	x := f.connect(me, v1)
	o := netip.MustParseAddr("10.0.0.30")
	x.adv(false, omp.FamilyTLOCv4, tlocWithPref(o, "192.0.2.130", 0), tlocNLRI(o, sdwan.ColorBizInternet, 1))
	f.at(1)
	x.adv(false, omp.FamilyRouteV4, pathAttrs(o, sdwan.ColorBizInternet, 10, sdwan.OriginConnected, 0), route(1, "10.9.0.0/24", 1))
	f.at(2)
	x.adv(false, omp.FamilyRouteV4, pathAttrs(o, sdwan.ColorBizInternet, 20, sdwan.OriginConnected, 0), route(1, "10.9.0.0/24", 2))
	f.at(3)
	x.adv(false, omp.FamilyRouteV4, pathAttrs(o, sdwan.ColorRed, 30, sdwan.OriginConnected, 0), route(1, "10.9.0.0/24", 3))
	f.finish(4)
	var got []string
	for _, e := range f.eventsOf(EvRouteAdd) {
		if e.Row.Prefix.String() == "10.9.0.0/24" {
			got = append(got, e.Status)
			snap := f.a.Snapshot(e.Time, Filter{Prefix: e.Row.Prefix})
			for _, tv := range snap.Tables {
				for _, r := range tv.Routes {
					if r.Key.PathID == e.Row.PathID && r.Status != e.Status {
						t.Errorf("path %d: event %q, snapshot %q", e.Row.PathID, e.Status, r.Status)
					}
				}
			}
		}
	}
	// path 1 chosen alone; path 2 chosen (higher preference); path 3 via an
	// unknown TLOC: unresolved
	if strings.Join(got, " ") != "C,I,R C,I,R U" {
		t.Errorf("statuses %v", got)
	}
	var b strings.Builder
	for _, e := range f.eventsOf(EvRouteAdd) {
		b.Write(e.AppendJSON(nil))
	}
	if !strings.Contains(b.String(), `"status":"C,I,R"`) {
		t.Errorf("JSON lacks the status: %s", b.String())
	}
}

// checkRowStatus holds the timeline's per-row status (rowStatus) to the
// snapshot's (bestPath) for every row in force now.
func checkRowStatus(tb testing.TB, a *Analyzer, s *Snapshot) {
	tb.Helper()
	if s.At.UnixNano() != a.clock {
		return
	}
	for _, tv := range s.Tables {
		for _, rs := range [][]Row{tv.Routes, tv.TLOCs, tv.Services} {
			for _, r := range rs {
				if r.r.attrs() != r.Attrs || hasStatus(r.Status, StatusRejected) {
					continue // the snapshot is of another version; Rej is a snapshot's inference
				}
				if got := a.rowStatus(r.r); got != r.Status {
					tb.Fatalf("%s → %s %s %v path %d: rowStatus %q, snapshot %q", tv.From, tv.To, r.Kind, r.Key.Prefix,
						r.Key.PathID, got, r.Status)
				}
			}
		}
	}
}

// TestRejectedInferred: a vSmart that holds a path from its originator
// and reflects the originator's other paths but never this one marks it
// Rej, once the distribution window has passed.
func TestRejectedInferred(t *testing.T) {
	f := newFab(t, Config{})
	e1, e2, v1 := edge(1, 100), edge(2, 101), vsmart(1)
	x := f.connect(e1, v1)
	y := f.connect(e2, v1)
	advertiseEdge(x, e1, "10.1.0.0/24", "10.1.1.0/24")
	reflectTo(y, false, e1, "10.1.0.0/24") // 10.1.1.0/24 is withheld
	status := func(at float64) map[string]string {
		out := map[string]string{}
		for _, tv := range f.a.Snapshot(sec(at), Filter{}).Tables {
			if tv.To != v1.sys.String() {
				continue
			}
			for _, r := range tv.Routes {
				out[r.Key.Prefix.String()] = r.Status + " " + r.LossReason
			}
		}
		return out
	}
	f.at(40)
	f.finish(40)
	if got := status(5)["10.1.1.0/24"]; got != "C,R " {
		t.Errorf("within the window: %q", got)
	}
	got := status(40)
	if got["10.1.1.0/24"] != "Rej,R invalid" || got["10.1.0.0/24"] != "C,R " {
		t.Errorf("after the window: %v", got)
	}
}

// TestCodesAreCisco: every status code and loss reason the analysis
// writes is one of Cisco's (sdwan.RIBStatusCodes, sdwan.LossReasons).
func TestCodesAreCisco(t *testing.T) {
	codes := map[string]bool{}
	for _, c := range sdwan.RIBStatusCodes {
		codes[c.Code] = true
	}
	for _, c := range []string{StatusChosen, StatusInstalled, StatusRejected, StatusLooped, StatusResolved, StatusStale,
		StatusInvalid, StatusUnresolved} {
		if !codes[c] {
			t.Errorf("status %q is not Cisco's", c)
		}
	}
	reasons := map[string]bool{}
	for _, r := range sdwan.LossReasons {
		reasons[r] = true
	}
	for _, r := range []string{LossInvalid, LossStale, LossPersonality, LossPreference, LossTLOCPreference, LossOrigin,
		LossMetric, LossPeerID, LossTLOCID} {
		if !reasons[r] {
			t.Errorf("loss reason %q is not Cisco's", r)
		}
	}
}

// BenchmarkRowStatus: the status a timeline event carries, for a receiver
// holding n paths of the prefix (each via its own TLOC): one pass over
// the paths and one TLOC lookup each, no allocation.
func BenchmarkRowStatus(b *testing.B) {
	for _, n := range []int{4, 64} {
		b.Run(itoa(uint32(n)), func(b *testing.B) {
			f := newFab(b, Config{})
			f.manual = true
			x := f.connect(edge(1, 100), vsmart(1))
			for i := 0; i < n; i++ {
				o := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
				x.adv(false, omp.FamilyTLOCv4, tlocWithPref(o, "192.0.2.1", 0), tlocNLRI(o, sdwan.ColorBizInternet, 1))
				x.adv(false, omp.FamilyRouteV4, pathAttrs(o, sdwan.ColorBizInternet, uint32(i%3), sdwan.OriginConnected, 0),
					route(1, "10.9.0.0/24", uint32(i+1)))
			}
			var r *row
			for _, t := range f.a.tables {
				for x := range t.rows.all {
					if x.grp.key.kind == kRoute && x.live() {
						r = x
					}
				}
			}
			if r == nil || f.a.rowStatus(r) == "" {
				b.Fatal("no route row")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				f.a.rowStatus(r)
			}
		})
	}
}

// TestBPCompareIsTheCriteria: the written-out comparison of the timeline's
// status gives what the criteria the snapshots explain give, on paths
// that differ in every criterion and tie in every one.
func TestBPCompareIsTheCriteria(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	path := func() bpPath {
		// few values each, so that ties on the first criteria are common
		return bpPath{stale: rng.IntN(2) == 0, notOrig: rng.IntN(2) == 0, pref: uint32(rng.IntN(3)),
			tpref: uint32(rng.IntN(3)), origin: rng.IntN(3), metric: uint32(rng.IntN(3))}
	}
	signs := map[int]int{}
	for range 100000 {
		x, y := path(), path()
		got, want := bpCompare(&x, &y), bpCompareByCriteria(&x, &y)
		if (got < 0) != (want < 0) || (got > 0) != (want > 0) {
			t.Fatalf("%+v against %+v: %d, the criteria say %d", x, y, got, want)
		}
		signs[cmp.Compare(got, 0)]++
	}
	if signs[-1] == 0 || signs[0] == 0 || signs[1] == 0 {
		t.Errorf("the paths never gave each answer: %v", signs)
	}
	if len(bpCriteria) != 6 {
		t.Errorf("%d criteria: bpCompare writes out 6", len(bpCriteria))
	}
}
