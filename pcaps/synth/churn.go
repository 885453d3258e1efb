package synth

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
)

// The churn scenario: a long capture of a fabric whose tables keep their
// size while their paths keep changing, for measuring the analyzer (its
// cost per route event, at a constant live table size, as the capture
// grows). Its length is --duration; its table size --routes (default 5 000
// route paths the edges originate: with 4 edges and 2 vSmarts every path
// is on 10 session directions, so about 50 000 route rows live in the
// vSmarts' tables at any time); its reflection fan-out --edges.
//
// From 3 s after convergence, every edge makes a churn step every 2 s
// (edges staggered, a little jitter); a step touches 1/80 of the edge's
// live prefixes (at least one), each in one of three ways:
//
//   - swap (4 in 10): the prefix is withdrawn and goes to the edge's
//     dormant pool; the prefix that waited longest in the pool (of the same
//     family) comes back in its place (same VPN class and TLOCs) with fresh
//     path-ids, so the live table keeps its size;
//   - fresh path-ids (4 in 10): the prefix's paths are withdrawn and
//     advertised again via the same TLOCs under new path-ids;
//   - preference (2 in 10): its paths are advertised again with another
//     preference (+100, or back).
//
// Prefixes are visited in a fixed shuffled order, so each is touched about
// every 80 steps (160 s). Every 5 minutes (from 2 minutes into the churn) one
// edge with two TLOCs or more takes a TLOC other than its first down for
// 20 s (edges and TLOCs in turn): the TLOC, its routes and services are
// withdrawn, then advertised again.
//
// No flap: a churn touch is allowed only while the route has had at most
// churnBudget changes, counting the one it makes, within 60 s (a swap
// counts one change for each prefix, fresh path-ids two, a preference
// change one); a TLOC flap adds two changes to the TLOC and its routes,
// and a TLOC flaps at most once in 5 minutes; so no route or TLOC changes
// more than 5 times in 60 s, the flap threshold. The vSmarts reflect each
// change to the other edges and to each other at once (no divergence, no
// unresolved route: the TLOC goes with its routes), so the scenario
// declares no anomaly.
//
// The vSmarts reflect a churn step by looking only at the paths it
// changed (vstate.keyed), not at the edge's whole table, so a step costs
// the simulator the same whatever the table size.
const (
	churnPeriod   = 2 * vtSec
	churnPerStep  = 80 // a step touches 1/churnPerStep of an edge's live prefixes
	churnWindow   = 60 * vtSec
	churnBudget   = 3 // changes per route within churnWindow from churn touches
	churnFlapGap  = 5 * 60 * vtSec
	churnFlapDown = 20 * vtSec
	churnFlapLead = 2 * 60 * vtSec
)

// churnEdge is the churn state of one edge.
type churnEdge struct {
	e       *device
	hist    [][churnBudget]vt // per route: the times of its last changes (oldest first)
	order   []int             // the routes in the order steps visit them
	next    int               // the next position in order
	dormant [2][]int          // withdrawn prefixes waiting to come back (IPv4, IPv6), oldest first
	batch   int               // prefixes a step touches
	classes int               // the edge's own route classes; as many preference variants follow
}

type churnState struct {
	edges                     []*churnEdge
	start                     vt
	before                    int // route events before the churn began
	steps, swaps, fresh, pref int
	flaps                     int
	skipped                   int // touches left out for lack of budget
}

func famIdx(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 0
	}
	return 1
}

// prepChurn gives every edge preference variants of its route classes and
// a pool of dormant prefixes (a quarter of its live prefixes of each
// family, at least 8 when it has any).
func prepChurn(sm *sim) error {
	var next4, next6 uint32
	for _, e := range sm.f.edges {
		for _, r := range e.routes {
			// the prefixes prefixAlloc made: 10.0.0.0/24 counting up, and
			// 2001:db8::/64 counting up
			a := r.prefix.Addr()
			if a.Is4() {
				b := a.As4()
				if v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8; v >= 0x0A000000 {
					next4 = max(next4, (v-0x0A000000)>>8+1)
				}
			} else {
				b := a.As16()
				v := uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])
				next6 = max(next6, v+1)
			}
		}
	}
	pa := prefixAlloc{v4: next4, v6: next6}
	cs := &churnState{}
	for _, e := range sm.f.edges {
		ce := &churnEdge{e: e, classes: len(e.classes)}
		for ci := 0; ci < ce.classes; ci++ {
			c := e.classes[ci]
			c.pref += 100
			e.classes = append(e.classes, c)
		}
		var live [2][]int
		for i, r := range e.routes {
			if !r.down && r.bad == 0 {
				f := famIdx(r.prefix)
				live[f] = append(live[f], i)
			}
		}
		for f := 0; f < 2; f++ {
			if len(live[f]) == 0 {
				continue
			}
			n := max(8, (len(live[f])+3)/4)
			for k := 0; k < n; k++ {
				p := pa.next4()
				if f == 1 {
					p = pa.next6()
				}
				ce.dormant[f] = append(ce.dormant[f], len(e.routes))
				e.routes = append(e.routes, route{prefix: p, cls: e.routes[live[f][0]].cls, mask: allTLOCs(e), down: true})
			}
		}
		ce.batch = max(1, (len(live[0])+len(live[1]))/churnPerStep)
		ce.hist = make([][churnBudget]vt, len(e.routes))
		for i := range ce.hist {
			for k := range ce.hist[i] {
				ce.hist[i][k] = -churnWindow
			}
		}
		ce.order = sm.rng.Perm(len(e.routes))
		cs.edges = append(cs.edges, ce)
	}
	sm.churn = cs
	return nil
}

func buildChurn(sm *sim) error {
	cs := sm.churn
	cs.start = sm.steady() + 3*vtSec
	sm.at(cs.start, func() { cs.before = sm.routeEvents })
	n := vt(len(cs.edges))
	for i, ce := range cs.edges {
		ce := ce
		sm.churnLoop(ce, cs.start+vt(i)*churnPeriod/n+sm.jitter(churnPeriod/(4*n)))
	}
	// TLOC flaps: edges with two TLOCs or more in turn, and their TLOCs
	// other than the first in turn
	var cand []*device
	for _, e := range sm.f.edges {
		if len(e.tlocs) >= 2 {
			cand = append(cand, e)
		}
	}
	flapTimes := []string{}
	if len(cand) > 0 {
		for j, t := 0, cs.start+churnFlapLead; ; j, t = j+1, t+churnFlapGap {
			e := cand[j%len(cand)]
			k := 1 + (j/len(cand))%(len(e.tlocs)-1)
			down := t + sm.jitter(2*vtSec)
			up := down + churnFlapDown + sm.jitter(2*vtSec)
			if up+5*vtSec >= sm.end {
				break
			}
			sm.at(down, func() { sm.churnTLOC(e, k, false, down) })
			sm.at(up, func() { sm.churnTLOC(e, k, true, up) })
			if len(flapTimes) < 3 {
				flapTimes = append(flapTimes, fmt.Sprintf("%s %s at %v-%v", e.name, e.tlocKey(k), time.Duration(down).Round(time.Millisecond),
					time.Duration(up).Round(time.Millisecond)))
			}
		}
	}
	batches := ""
	for i, ce := range cs.edges {
		if i > 0 {
			batches += ", "
		}
		batches += fmt.Sprintf("%s %d", ce.e.name, ce.batch)
	}
	sm.params["churn"] = fmt.Sprintf("from %v every edge makes a churn step every 2 s (staggered, jittered): it touches 1/80 of its live prefixes "+
		"(prefixes per step: %s), visited in a fixed shuffled order: 4 in 10 are swapped with the prefix of the same family that has waited longest "+
		"in the edge's dormant pool (it comes back with fresh path-ids, so the table keeps its size), 4 in 10 advertised again with fresh path-ids "+
		"(the old ones withdrawn), 2 in 10 advertised again with another preference; a route changes at most %d times within 60 s by churn. "+
		"Every 5 min from %v one edge takes a TLOC other than its first down for about 20 s (edges and TLOCs in turn; the first: %s). "+
		"No route or TLOC changes more than 5 times within 60 s: no flap, no anomaly. The vSmarts reflect every change to the other edges and to each other.",
		time.Duration(cs.start).Round(time.Millisecond), batches, churnBudget, time.Duration(cs.start+churnFlapLead).Round(time.Millisecond), strings.Join(flapTimes, "; "))
	sm.params["churn_start"] = sm.ts(cs.start).Format(time.RFC3339Nano)
	sm.atEnd = append(sm.atEnd, func() {
		sm.params["route_events"] = sm.routeEvents
		sm.params["route_events_before_churn"] = cs.before
		sm.params["churn_counts"] = map[string]any{"steps": cs.steps, "swaps": cs.swaps, "fresh_path_ids": cs.fresh,
			"preference_changes": cs.pref, "tloc_flaps": cs.flaps, "touches_skipped": cs.skipped}
	})
	return nil
}

// churnLoop runs ce's churn steps from t to the end of the capture.
func (sm *sim) churnLoop(ce *churnEdge, t vt) {
	if t >= sm.end {
		return
	}
	sm.at(t, func() {
		sm.churnStep(ce, t)
		sm.churnLoop(ce, t+churnPeriod-churnPeriod/10+sm.jitter(churnPeriod/5))
	})
}

// budget reports whether route ri of ce may change n more times at t.
func (ce *churnEdge) budget(ri int, t vt, n int) bool {
	used := 0
	for _, x := range ce.hist[ri] {
		if x > t-churnWindow {
			used++
		}
	}
	return used+n <= churnBudget
}

func (ce *churnEdge) changed(ri int, t vt, n int) {
	h := &ce.hist[ri]
	for ; n > 0; n-- {
		copy(h[:], h[1:])
		h[churnBudget-1] = t
	}
}

// churnStep is one churn step of edge ce at t.
func (sm *sim) churnStep(ce *churnEdge, t vt) {
	cs, e := sm.churn, ce.e
	cs.steps++
	before := map[ribKey]*attrSet{}
	touched := map[int]bool{}
	var list []int
	touch := func(ri int) {
		if !touched[ri] {
			touched[ri] = true
			list = append(list, ri)
			sm.routePathsInto(before, e, ri)
		}
	}
	for n := 0; n < ce.batch; n++ {
		// the next live prefix with room for one change
		ri := -1
		for tries := 0; tries < len(ce.order); tries++ {
			i := ce.order[ce.next]
			ce.next = (ce.next + 1) % len(ce.order)
			if r := &e.routes[i]; !r.down && r.bad == 0 && !touched[i] {
				if ce.budget(i, t, 1) {
					ri = i
					break
				}
				cs.skipped++
			}
		}
		if ri < 0 {
			break
		}
		r := &e.routes[ri]
		x := sm.rng.IntN(10)
		f := famIdx(r.prefix)
		switch {
		case x < 4 && len(ce.dormant[f]) > 0 && ce.budget(ce.dormant[f][0], t, 1):
			bi := ce.dormant[f][0]
			ce.dormant[f] = append(ce.dormant[f][1:], ri)
			touch(ri)
			touch(bi)
			b := &e.routes[bi]
			b.cls, b.mask, b.down = r.cls, r.mask, false
			b.gen++
			r.down = true
			ce.changed(ri, t, 1)
			ce.changed(bi, t, 1)
			cs.swaps++
		case x < 8 && ce.budget(ri, t, 2):
			touch(ri)
			r.gen++
			ce.changed(ri, t, 2)
			cs.fresh++
		default:
			touch(ri)
			if int(r.cls) < ce.classes {
				r.cls += uint16(ce.classes)
			} else {
				r.cls -= uint16(ce.classes)
			}
			ce.changed(ri, t, 1)
			cs.pref++
		}
	}
	if len(list) == 0 {
		return
	}
	after := map[ribKey]*attrSet{}
	for _, ri := range list {
		sm.routePathsInto(after, e, ri)
	}
	sm.churnSend(e, t, before, after)
}

// churnTLOC takes e's TLOC k down or up at t.
func (sm *sim) churnTLOC(e *device, k int, up bool, t vt) {
	before := map[ribKey]*attrSet{}
	addGroups(before, edgeGroups(&sm.attrs, e))
	e.tlocs[k].up = up
	after := map[ribKey]*attrSet{}
	addGroups(after, edgeGroups(&sm.attrs, e))
	if !up {
		sm.churn.flaps++
	}
	sm.churnSend(e, t, before, after)
}

// routePathsInto puts the paths e advertises now for route ri into m, as
// edgeGroups makes them.
func (sm *sim) routePathsInto(m map[ribKey]*attrSet, e *device, ri int) {
	r := &e.routes[ri]
	if r.down || r.bad != 0 {
		return // churn never touches the routes of an unadvertised TLOC color
	}
	fam := omp.FamilyRouteV4
	if !r.prefix.Addr().Is4() {
		fam = omp.FamilyRouteV6
	}
	for k, tl := range e.tlocs {
		if !tl.up || r.mask&(1<<k) == 0 {
			continue
		}
		n := omp.NLRI{PathID: e.pathID(r, k), VPN: e.classes[r.cls].vpn, Prefix: r.prefix}
		m[ribKey{fam, n}] = routeAttrs(&sm.attrs, e, int(r.cls), e.tlocKey(k))
	}
}

// churnSend sends edge e's change at t (its paths among the keys of before
// and after were before, are now after) to each vSmart, and tells the
// vSmart which keys changed.
func (sm *sim) churnSend(e *device, t vt, before, after map[ribKey]*attrSet) {
	for i := range sm.f.vsmarts {
		v := sm.vsmart(i)
		s := e.cur[v.idx]
		if s == nil || !s.ompUp() || !s.omp.eor[cli] || s.omp.hung[cli] || s.dead[cli] {
			continue
		}
		r := s.omp.rib[cli]
		var wd []ribKey
		add := map[ribKey]*attrSet{}
		check := func(k ribKey) {
			a := after[k]
			h, ok := r.paths[k]
			switch {
			case a == nil && ok:
				wd = append(wd, k)
			case a != nil && h != a:
				add[k] = a
			}
		}
		for k := range before {
			if _, ok := after[k]; !ok {
				check(k)
			}
		}
		for k := range after {
			check(k)
		}
		if len(wd)+len(add) == 0 {
			continue
		}
		sortKeys(wd)
		vs := sm.vst[v.idx]
		if vs.keyed == nil {
			vs.keyed = map[int]map[ribKey]bool{}
		}
		ks := vs.keyed[e.idx]
		if ks == nil {
			ks = map[ribKey]bool{}
			vs.keyed[e.idx] = ks
		}
		for _, k := range wd {
			ks[k] = true
		}
		for k := range add {
			ks[k] = true
		}
		sm.sendPaths(s, cli, t, wd, groupsOf(add))
	}
}

// reconcileKeyed is reconcileOnly for a vSmart that knows, for some of the
// originators in only (those in keyed), which of their paths changed: it
// looks at those paths alone, and at the whole table of the others.
func (sm *sim) reconcileKeyed(s *session, side int, t vt, only map[int]bool, keyed map[int]map[ribKey]bool) vt {
	if !s.ompUp() || s.omp.hung[side] || s.dead[side] {
		return t
	}
	sp, peer := s.dev(side), s.dev(1-side)
	v := sm.vst[sp.idx]
	r := s.omp.rib[side]
	full := map[int]bool{}
	for o := range only {
		if keyed[o] == nil {
			full[o] = true
		}
	}
	var wd []ribKey
	add := map[ribKey]*attrSet{}
	if len(full) > 0 {
		w, an := diff(r.of(full), sm.desired(sp, peer, t, full))
		wd = append(wd, w...)
		addGroups(add, an)
	}
	for o, ks := range keyed {
		e := sm.f.devs[o]
		if !only[o] || e == peer {
			continue
		}
		l := v.learned[o]
		for k := range ks {
			var a *attrSet
			if l != nil {
				if l.sess != nil && l.sess.ompUp() {
					a = l.sess.omp.rib[l.sess.sideOf(e)].paths[k]
				}
				if a == nil && l.stale != nil {
					a = l.stale[k]
				}
			}
			if a != nil && !sm.policy(v, peer, e, &k, t) {
				a = nil
			}
			rk := k
			rk.n.PathID = uint32(o+1)<<4 | k.n.PathID&0xf
			h, ok := r.paths[rk]
			switch {
			case a == nil && ok:
				wd = append(wd, rk)
			case a != nil && h != a:
				add[rk] = a
			}
		}
	}
	sortKeys(wd)
	return sm.sendPaths(s, side, t, wd, groupsOf(add))
}
