package analyze

import (
	"slices"
	"strconv"
)

// unresolved-route: a live route whose TLOC no session of the capture
// advertises (the TLOC is absent from the whole fabric) for
// Config.UnresolvedGrace.
//
// The detector keeps, per prefix and originator, how many live route rows
// point to an absent TLOC. The core keeps it in step as rows change
// (tlocRef, tlocUnref) and as a TLOC comes to or leaves the fabric
// (tlocUp, tlocDown, which move the counts of the routes pointing to it
// per prefix and originator, not per row): each change costs what it
// touches, never a scan of the tables. A prefix and originator whose count
// crosses zero is evaluated at the next tick.

// unresKey is one route subject: a prefix (its group) and an originator.
type unresKey struct {
	g    *group
	orig uint32
}

type unresolvedDet struct {
	a      *Analyzer
	count  map[unresKey]int32
	active map[unresKey]bool
	dirty  map[unresKey]struct{}
	order  []unresKey // scratch
}

func newUnresolved(a *Analyzer) *unresolvedDet {
	return &unresolvedDet{a: a, count: map[unresKey]int32{}, active: map[unresKey]bool{}, dirty: map[unresKey]struct{}{}}
}

// add moves the count of unresolved live rows of k by n.
func (d *unresolvedDet) add(k unresKey, n int32) {
	if n == 0 {
		return
	}
	c := d.count[k] + n
	if c <= 0 {
		delete(d.count, k)
	} else {
		d.count[k] = c
	}
	if (c > 0) != d.active[k] {
		d.dirty[k] = struct{}{}
	}
}

func (d *unresolvedDet) tick(now int64) {
	if len(d.dirty) == 0 {
		return
	}
	ks := d.order[:0]
	for k := range d.dirty {
		ks = append(ks, k)
	}
	clear(d.dirty)
	slices.SortFunc(ks, func(x, y unresKey) int {
		if c := cmpGroupKey(&x.g.key, &y.g.key); c != 0 {
			return c
		}
		return int(int64(x.orig) - int64(y.orig))
	})
	a := d.a
	for _, k := range ks {
		on := d.count[k] > 0
		if on == d.active[k] {
			continue
		}
		ck := condKey{KindUnresolvedRoute, routeSubject(k.g.key.vpn, k.g.key.prefix(), addrOf4(k.orig))}
		if !on {
			delete(d.active, k)
			a.condClear(ck, k, now)
			continue
		}
		d.active[k] = true
		r := d.example(k)
		var frame uint64
		sess, expl := "", ""
		if r != nil {
			frame, sess = r.cur().frame, r.tab.sess.id
			tl := r.attrs().TLOC.String()
			seen := dirDesc(r.tab)
			expl = "Route " + ck.subject[len("route "):] + " points to TLOC " + tl + " (seen on " + seen +
				") but no session in this capture advertises that TLOC, so receivers cannot resolve its next hop and will not install it"
		}
		a.condSet(ck, k, now, now, frame, a.cfg.UnresolvedGrace, SevWarning, sess, false, func() string {
			s := expl
			if n := a.gapSessions(); n > 0 {
				s += " (" + strconv.Itoa(n) + " session(s) could not be fully read; the TLOC may have been advertised there)"
			}
			return s + "."
		})
	}
	d.order = ks[:0]
}

// example returns a live row of k whose TLOC is absent (the first in group
// order), for the evidence and the explanation.
func (d *unresolvedDet) example(k unresKey) *row {
	for _, r := range k.g.rows {
		at := r.attrs()
		if at == nil || !at.HasTLOC() || ip4(r.originator(at)) != k.orig {
			continue
		}
		if st := d.a.tlocs[at.tlocID]; st == nil || st.live == 0 {
			return r
		}
	}
	return nil
}
