package analyze

import (
	"slices"
	"strconv"
	"time"
)

// unresolved-route: a live route whose TLOC no session of the capture
// advertises (the TLOC is absent from the whole fabric) for
// Config.UnresolvedGrace.
//
// The detector keeps, per prefix and originator, how many live route rows
// point to an absent TLOC; per prefix (in its group: group.urefs) how many
// live rows point to each TLOC per originator; and per TLOC the prefixes
// that have such an entry. A row change moves the counts of its old and
// new TLOC in its own group (the per-TLOC index changes only when a
// prefix gains or loses its first route via a TLOC); a TLOC coming to or
// leaving the fabric moves the counts of the prefixes pointing to it, per
// prefix and originator (not per row): each change costs what it touches,
// never a scan of the tables. A prefix and originator whose count crosses
// zero is evaluated at the next tick. (A map keyed by TLOC, prefix and
// originator cost a tenth of the analyzer's time on the churn capture.)

// KindUnresolvedRoute names the notice of this detector.
const KindUnresolvedRoute Kind = "unresolved-route"

var unresolvedDetDef = detectorDef{name: "unresolved-route", make: func(a *Analyzer) detector { return newUnresolved(a) },
	flags: []Flag{{Name: "unresolved-grace", Usage: "unresolved-route: how long a route's TLOC may be missing",
		Dur: func(c *Config) *time.Duration { return &c.UnresolvedGrace }, DefDur: DefaultUnresolvedGrace}}}

// unresKey is one route subject: a prefix (its group) and an originator.
type unresKey struct {
	g    *group
	orig uint32
}

type unresolvedDet struct {
	a      *Analyzer
	byTLOC map[tlocID][]*group // prefixes with live routes via a TLOC: one entry per group.urefs entry for it (uref.pos)
	count  map[unresKey]int32  // live route rows pointing to an absent TLOC
	active map[unresKey]bool
	dirty  marks[unresKey]
}

func newUnresolved(a *Analyzer) *unresolvedDet {
	return &unresolvedDet{a: a, byTLOC: map[tlocID][]*group{}, count: map[unresKey]int32{},
		active: map[unresKey]bool{}}
}

func (d *unresolvedDet) rowChanged(c *rowChange) {
	if c.rekey || c.r.grp.key.kind != kRoute {
		return
	}
	if c.old.HasTLOC() {
		d.ref(c.r, c.old, -1)
	}
	if c.new.HasTLOC() {
		d.ref(c.r, c.new, 1)
	}
}

// ref counts a live route row (attributes at) pointing to its TLOC.
func (d *unresolvedDet) ref(r *row, at *Attrs, n int32) {
	g, orig := r.grp, r.orig4(at)
	i := slices.IndexFunc(g.urefs, func(u uref) bool { return u.tloc == at.tlocID && u.orig == orig })
	switch {
	case i >= 0:
		if g.urefs[i].n += n; g.urefs[i].n <= 0 {
			d.unindex(at.tlocID, g.urefs[i].pos)
			last := len(g.urefs) - 1
			g.urefs[i] = g.urefs[last]
			if g.urefs = g.urefs[:last]; last == 0 {
				g.urefs = nil
			}
		}
	case n > 0:
		l := d.byTLOC[at.tlocID]
		g.urefs = append(g.urefs, uref{tloc: at.tlocID, orig: orig, n: n, pos: int32(len(l))})
		d.byTLOC[at.tlocID] = append(l, g)
	}
	if !d.a.tlocLiveAt(at) {
		d.add(unresKey{g, orig}, n)
	}
}

// unindex takes entry pos out of TLOC t's list, moving the last entry (and
// its uref's pos) into its place. (A map of groups per TLOC took three
// times the memory: 38 MB on the 2 000-edge capture.)
func (d *unresolvedDet) unindex(t tlocID, pos int32) {
	l := d.byTLOC[t]
	last := int32(len(l) - 1)
	if pos != last {
		g := l[last]
		for k := range g.urefs {
			if u := &g.urefs[k]; u.tloc == t && u.pos == last {
				u.pos = pos
				break
			}
		}
		l[pos] = g
	}
	l[last] = nil
	if last == 0 {
		delete(d.byTLOC, t)
		return
	}
	d.byTLOC[t] = l[:last]
}

func (*unresolvedDet) eventKinds() uint64 { return 1<<evTLOC | 1<<evRefused }

func (d *unresolvedDet) event(e *coreEvent) {
	if e.kind == evRefused {
		if uint8(e.n) == kTLOC {
			// the TLOC may be one not kept (Config.MaxPaths): what is
			// pending its grace goes; what was raised stays as it is
			for k := range d.active {
				ck := condKey{KindUnresolvedRoute, routeSubject(k.g.key.vpn, k.g.key.prefix(), addrOf4(k.orig))}
				if !d.a.condRaised(ck) {
					delete(d.active, k)
					d.a.condClear(ck, k, e.now)
				}
			}
		}
		return
	}
	if e.kind != evTLOC {
		return
	}
	for i, g := range d.byTLOC[e.tloc] {
		for _, u := range g.urefs {
			if u.tloc != e.tloc || u.pos != int32(i) {
				continue
			}
			n := u.n
			if e.up {
				n = -n
			}
			d.add(unresKey{g, u.orig}, n)
		}
	}
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
		d.dirty.mark(k)
	}
}

func (d *unresolvedDet) tick(now int64) {
	ks := d.dirty.take(func(x, y unresKey) int {
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
		if a.refused&(1<<kTLOC) != 0 {
			continue // the TLOC may be one the analyzer did not keep (Config.MaxPaths): not judged
		}
		d.active[k] = true
		r := d.example(k)
		var frame uint64
		sess, expl := "", ""
		if r != nil {
			frame, sess = r.cur().frame(), r.tab().sess.id
			expl = "Route " + ck.subject[len("route "):] + " points to TLOC " + r.attrs().TLOC.String() + " (seen on " + dirDesc(r.tab()) +
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
}

// example returns a live row of k whose TLOC is absent (the first in group
// order), for the evidence and the explanation.
func (d *unresolvedDet) example(k unresKey) *row {
	for _, r := range k.g.rows {
		at := r.attrs()
		if at == nil || !at.HasTLOC() || r.orig4(at) != k.orig {
			continue
		}
		if !d.a.tlocLiveAt(at) {
			return r
		}
	}
	return nil
}

var unresolvedRouteKind = kindDef{kind: KindUnresolvedRoute, det: &unresolvedDetDef, explainText: explainText{
	sev:     "warning",
	subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip>",
	meaning: "A route's TLOC attribute names a TLOC (system-ip/color/encap) that no session in the capture advertises " +
		"as a TLOC route, for longer than the grace period. (In the tables, a row's status is U when its receiver " +
		"holds no such TLOC from any of its peers; this detector asks the stronger question: does anyone in the fabric " +
		"advertise it?)",
	matters: "A receiver can only install a route whose next hop (the TLOC) it can resolve. An unresolved route is " +
		"dead: traffic falls back to another path or is dropped. Usual causes: the TLOC went down or was withdrawn " +
		"while its routes stayed, a control policy filtered the TLOC but not the routes, a wrong tloc-action or " +
		"TLOC attribute set by policy.",
	check: "show omp routes vpn <vpn> <prefix> detail (status U, the TLOC attribute); show omp tlocs ip <system-ip> " +
		"(is the TLOC there, on which vSmarts?); on the originating edge: show control local-properties, " +
		"show interface for the tunnel; on the vSmarts: the control policy (show running-config policy).",
	settings: "--unresolved-grace (Config.UnresolvedGrace), default 5s. If some sessions could not be decrypted the " +
		"explanation says so: the TLOC may have been advertised there.",
}}
