package analyze

import (
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// filterFabric: e1 advertises vpn 1 and vpn 2 routes over biz-internet and
// mpls; vsmart1 reflects them to e2.
func filterFabric(t *testing.T) *fab {
	f := newFab(t, Config{})
	e1, e2, v1 := edge(1, 100), edge(2, 200), vsmart(1)
	a := f.connect(e1, v1)
	b := f.connect(e2, v1)
	f.at(1)
	for _, x := range []struct {
		s    *sess
		from bool
	}{{a, true}, {b, false}} {
		x.s.adv(x.from, omp.FamilyTLOCv4, tlocAttrs(e1.sys, 100, "192.0.2.11:12346", "192.0.2.11:12346"), tlocNLRI(e1.sys, sdwan.ColorBizInternet, 1))
		x.s.adv(x.from, omp.FamilyTLOCv4, tlocAttrs(e1.sys, 100, "10.1.1.1:12346", "10.1.1.1:12346"), tlocNLRI(e1.sys, sdwan.ColorMPLS, 2))
		x.s.adv(x.from, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0),
			route(1, "10.1.0.0/24", 1), route(1, "10.1.1.0/24", 1), route(2, "10.2.0.0/16", 1))
		x.s.adv(x.from, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorMPLS), 100, 0), route(1, "10.1.0.0/24", 2))
	}
	return f
}

func countRows(s *Snapshot) (n int) {
	r, t, v := s.Rows()
	return r + t + v
}

func TestFilters(t *testing.T) {
	f := filterFabric(t)
	f.finish(5)
	all := f.a.Snapshot(time.Time{}, Filter{})
	if r, tl, _ := all.Rows(); r != 8 || tl != 4 {
		t.Fatalf("all: %d routes %d tlocs", r, tl)
	}
	cases := []struct {
		name   string
		f      Filter
		routes int
		tlocs  int
	}{
		{"vpn 1", Filter{VPN: 1, HasVPN: true}, 6, 0},
		{"vpn 3", Filter{VPN: 3, HasVPN: true}, 0, 0},
		{"prefix exact", Filter{Prefix: mustPrefix("10.1.0.0/24")}, 4, 0},
		{"prefix covering", Filter{Prefix: mustPrefix("10.1.0.0/16")}, 6, 0},
		{"prefix less specific not matched", Filter{Prefix: mustPrefix("10.2.0.0/24")}, 0, 0},
		{"peer receiver", Filter{Peer: "10.0.0.12"}, 4, 2},
		{"peer sender", Filter{Peer: "10.0.0.11"}, 4, 2},
		{"peer both", Filter{Peer: "10.0.0.1"}, 8, 4},
		{"color", Filter{Color: sdwan.ColorMPLS, HasColor: true}, 2, 2},
		{"color+vpn", Filter{Color: sdwan.ColorBizInternet, HasColor: true, VPN: 2, HasVPN: true}, 2, 0},
	}
	for _, c := range cases {
		s := f.a.Snapshot(time.Time{}, c.f)
		if r, tl, _ := s.Rows(); r != c.routes || tl != c.tlocs {
			t.Errorf("%s: %d routes %d tlocs, want %d %d", c.name, r, tl, c.routes, c.tlocs)
		}
	}
	// the status (best path included) does not depend on the filter
	unf := map[string]string{}
	for _, tv := range f.a.Snapshot(time.Time{}, Filter{}).Tables {
		for _, r := range tv.Routes {
			unf[tv.From+tv.To+r.Key.Prefix.String()+itoa(r.Key.PathID)] = r.Status
		}
	}
	s := f.a.Snapshot(time.Time{}, Filter{Color: sdwan.ColorMPLS, HasColor: true})
	for _, tv := range s.Tables {
		for _, r := range tv.Routes {
			if want := unf[tv.From+tv.To+r.Key.Prefix.String()+itoa(r.Key.PathID)]; r.Status != want || !hasCode(r.Status, "C") {
				t.Errorf("%s → %s %v: %s, unfiltered %s", tv.From, tv.To, r.Key.Prefix, r.Status, want)
			}
		}
	}
}

func TestStatusCodes(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	// no TLOC attribute: invalid
	x.adv(true, omp.FamilyRouteV4, []omp.Attribute{&omp.Originator{Addr: e1.sys}}, route(1, "10.1.9.0/24", 1))
	// TLOC never advertised: unresolved
	x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorGold), 100, 0), route(1, "10.1.8.0/24", 1))
	// a TLOC without addresses: invalid
	x.adv(true, omp.FamilyTLOCv4, []omp.Attribute{&omp.Originator{Addr: e1.sys}}, tlocNLRI(e1.sys, sdwan.ColorRed, 1))
	f.at(10)
	x.end() // GR: everything stale
	f.finish(20)
	st := map[string]string{}
	for _, tv := range f.a.Snapshot(sec(5), Filter{}).Tables {
		for _, r := range tv.Routes {
			st[r.Key.Prefix.String()] = r.Status
		}
		for _, r := range tv.TLOCs {
			st[r.Key.TLOC.Color.String()] = r.Status
		}
	}
	want := map[string]string{"10.1.0.0/24": "C,R", "10.1.9.0/24": "Inv", "10.1.8.0/24": "U", "biz-internet": "R", "red": "Inv"}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("%s: status %q, want %q", k, st[k], v)
		}
	}
	for _, tv := range f.a.Snapshot(sec(15), Filter{}).Tables {
		if !tv.GR || tv.OMP != "down-in-gr" {
			t.Errorf("table in GR: %+v", tv)
		}
		for _, r := range tv.Routes {
			if !hasCode(r.Status, "S") {
				t.Errorf("%v at 15s: %s", r.Key.Prefix, r.Status)
			}
		}
	}
}

func TestDiffWithFilter(t *testing.T) {
	f := filterFabric(t)
	x := f.live[0]
	f.at(3)
	x.wd(true, omp.FamilyRouteV4, route(2, "10.2.0.0/16", 1))
	x.adv(true, omp.FamilyRouteV4, routeAttrs(x.c.sys, tk(x.c.sys, sdwan.ColorBizInternet), 100, 50), route(1, "10.1.1.0/24", 1))
	f.finish(5)
	d := f.a.Diff(sec(2), sec(4), Filter{VPN: 1, HasVPN: true})
	if len(d.Withdrawn) != 0 || len(d.Changed) != 1 || len(d.Added) != 0 {
		t.Fatalf("vpn 1 diff: +%d -%d ~%d", len(d.Added), len(d.Withdrawn), len(d.Changed))
	}
	d = f.a.Diff(sec(2), sec(4), Filter{})
	if len(d.Withdrawn) != 1 || d.Withdrawn[0].Old.Key.VPN != 2 || len(d.Changed) != 1 || !d.Exact {
		t.Fatalf("diff: %+v", d)
	}
	var b strings.Builder
	WriteDiff(&b, d)
	out := b.String()
	for _, want := range []string{"0 added, 1 withdrawn, 1 changed", "- 10.0.0.11 → 10.0.0.1  route vpn 2 10.2.0.0/16",
		"~ 10.0.0.11 → 10.0.0.1  route vpn 1 10.1.1.0/24", "new [C,R] [ORIGINATOR 10.0.0.11, TLOC 10.0.0.11/biz-internet/ipsec"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff text lacks %q:\n%s", want, out)
		}
	}
	// reversed: the withdrawal is an addition
	d = f.a.Diff(sec(4), sec(2), Filter{})
	if len(d.Added) != 1 || len(d.Withdrawn) != 0 {
		t.Errorf("reverse diff +%d -%d", len(d.Added), len(d.Withdrawn))
	}
}

func TestHistoryBoundMakesOldSnapshotsInexact(t *testing.T) {
	f := newFab(t, Config{HistoryPerRow: 2, RouteFlapCount: 100})
	if got := f.a.Config().HistoryPerRow; got != 102 {
		t.Fatalf("history per row %d: must hold the flap count", got)
	}
	f = newFab(t, Config{HistoryPerRow: 4, RouteFlapCount: 1, TLOCFlapCount: 1, RouteFlapWindow: time.Millisecond})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24")
	for i := 0; i < 6; i++ {
		f.at(float64(10 + i))
		x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, uint32(i)), route(1, "10.1.0.0/24", 1))
	}
	f.finish(20)
	s := f.a.Snapshot(sec(1), Filter{})
	if s.Exact || s.Unknown != 1 || s.Horizon.IsZero() {
		t.Errorf("old snapshot: exact %v unknown %d horizon %v", s.Exact, s.Unknown, s.Horizon)
	}
	s = f.a.Snapshot(sec(15.5), Filter{})
	if !s.Exact || s.Tables[0].Routes[0].Attrs.Preference != 5 {
		t.Errorf("recent snapshot: exact %v", s.Exact)
	}
	if s.Tables[0].Routes[0].FirstSeen.IsZero() || !s.Tables[0].Routes[0].FirstSeen.Equal(t0) {
		t.Errorf("first seen survives trimming: %v", s.Tables[0].Routes[0].FirstSeen)
	}
}

func TestRetentionPrunes(t *testing.T) {
	f := newFab(t, Config{Retention: time.Minute})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1)
	// 100 distinct prefixes, each advertised and withdrawn
	for i := 0; i < 100; i++ {
		f.at(float64(1 + i))
		p := prefixN(i).String()
		x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, p, 1))
		x.wd(true, omp.FamilyRouteV4, route(1, p, 1))
	}
	f.finish(400)
	rows := 0
	for _, tb := range f.a.tables {
		rows += tb.rows.len()
	}
	if rows > 2 { // the TLOC, maybe a recent route
		t.Errorf("%d rows kept after retention", rows)
	}
	if f.a.Stats().PrunedRows < 99 {
		t.Errorf("%d pruned", f.a.Stats().PrunedRows)
	}
	if f.a.groups.len() > 3 {
		t.Errorf("%d groups kept", f.a.groups.len())
	}
	s := f.a.Snapshot(sec(10), Filter{})
	if s.Exact {
		t.Errorf("a snapshot before the horizon claims to be exact")
	}
	if now := f.a.Snapshot(time.Time{}, Filter{}); !now.Exact || countRows(now) != 1 {
		t.Errorf("current snapshot: exact %v rows %d", now.Exact, countRows(now))
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-03-01T12:00:05Z":           sec(5),
		"2026-03-01T12:00:05.25+00:00":   sec(5.25),
		"12.5":                           sec(12.5),
		"0":                              t0,
		"2026-03-01T13:00:00.000000001Z": t0.Add(time.Hour + 1),
	} {
		got, err := ParseTime(in, t0)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseTime("yesterday", t0); err == nil {
		t.Errorf("no error")
	}
}

func TestWriteTables(t *testing.T) {
	f := filterFabric(t)
	f.finish(5)
	var b strings.Builder
	WriteTables(&b, f.a.Snapshot(time.Time{}, Filter{VPN: 1, HasVPN: true}))
	out := b.String()
	for _, want := range []string{"Code:", "R   -> resolved", "U   -> TLOC unresolved", "S   -> stale", "Inv -> invalid",
		"ROUTES (6)", "FROM PEER", "TO PEER", "PATH ID", "STATUS", "TLOC IP",
		"mpls", "TLOCS (0)", "SERVICES (0)"} {
		if !strings.Contains(out, want) {
			t.Errorf("tables text lacks %q:\n%s", want, out)
		}
	}
	// rows sorted by VPN and prefix, then sender and receiver (one line
	// per path, as Cisco lists them)
	var first [][]string
	for _, l := range strings.Split(out, "\n") {
		if fs := strings.Fields(l); len(fs) > 4 && fs[0] == "1" {
			first = append(first, fs[:5])
		}
	}
	wantRows := [][]string{
		{"1", "10.1.0.0/24", "10.0.0.1", "10.0.0.12", "1"}, {"1", "10.1.0.0/24", "10.0.0.1", "10.0.0.12", "2"},
		{"1", "10.1.0.0/24", "10.0.0.11", "10.0.0.1", "1"}, {"1", "10.1.0.0/24", "10.0.0.11", "10.0.0.1", "2"},
		{"1", "10.1.1.0/24", "10.0.0.1", "10.0.0.12", "1"}, {"1", "10.1.1.0/24", "10.0.0.11", "10.0.0.1", "1"},
	}
	if len(first) != len(wantRows) {
		t.Fatalf("rows %v", first)
	}
	for i := range wantRows {
		if strings.Join(first[i], " ") != strings.Join(wantRows[i], " ") {
			t.Errorf("row %d: %v, want %v", i, first[i], wantRows[i])
		}
	}
	b.Reset()
	WriteTables(&b, f.a.Snapshot(time.Time{}, Filter{}))
	if !strings.Contains(b.String(), "192.0.2.11:12346") || !strings.Contains(b.String(), "TLOCS (4)") {
		t.Errorf("tlocs text:\n%s", b.String())
	}
}

// hasCode reports whether a comma-separated status holds code c.
func hasCode(status, c string) bool {
	for _, x := range strings.Split(status, ",") {
		if x == c {
			return true
		}
	}
	return false
}
