package analyze

import (
	"cmp"
	"slices"
)

// KindPathLimitExceeded names the notice of this detector.
const KindPathLimitExceeded Kind = "path-limit-exceeded"

var pathLimitDetDef = detectorDef{name: "path-limit-exceeded", make: func(a *Analyzer) detector { return newPathLimit(a) }}

// path-limit-exceeded: one table carries more live paths of a prefix than
// the send-path-limit negotiated on its session. A change of a route row
// marks its table and prefix; the tick counts that table's rows of the
// prefix, which lie together in the group (a binary search, not a scan).
//
// Only a path coming live can take a count over the limit: a withdrawal
// or a change of attributes leaves it as the last count found it (at or
// under the limit, or marked). A limit can also fall under rows already
// counted, when a HANDSHAKE negotiates less than the default for rows
// seen before it, or a session adopts a table kept in graceful restart
// with a lower limit than its old session's; the core tells it
// (evPathLimit), and all the table's prefixes are marked (rare events,
// one pass over the table).

type plKey struct {
	t *table
	g *group
}

type pathLimitDet struct {
	a      *Analyzer
	active map[plKey]condKey
	dirty  marks[plKey]
	buf    []*row
}

func newPathLimit(a *Analyzer) *pathLimitDet {
	return &pathLimitDet{a: a, active: map[plKey]condKey{}}
}

func (*pathLimitDet) eventKinds() uint64 { return 1 << evPathLimit }

func (d *pathLimitDet) event(e *coreEvent) {
	if e.kind != evPathLimit {
		return
	}
	if e.t != nil {
		d.markAll(e.t)
		return
	}
	for _, t := range e.s.tabs {
		d.markAll(t)
	}
}

// markAll marks every prefix with a live path in table t.
func (d *pathLimitDet) markAll(t *table) {
	if t == nil || t.rows.len() == 0 {
		return
	}
	for r := range t.rows.all {
		if r.grp.key.kind == kRoute && r.live() {
			d.dirty.mark(plKey{t, r.grp})
		}
	}
}

func (d *pathLimitDet) rowChanged(c *rowChange) {
	r := c.r
	if r.grp.key.kind != kRoute {
		return
	}
	k := plKey{r.tab(), r.grp}
	if _, ok := d.active[k]; ok {
		d.dirty.mark(k)
		return
	}
	if c.rekey || c.old != nil || c.new == nil {
		return // no path came live: the count cannot have risen
	}
	lim := r.tab().sess.sendPathLimit()
	rows := r.grp.tableRange(r.tab())
	if len(rows) <= lim {
		return // no more live paths than rows
	}
	n := 0
	for _, x := range rows {
		if x.live() {
			n++
		}
	}
	if n > lim {
		d.dirty.mark(k)
	}
}

func (d *pathLimitDet) tick(now int64) {
	ks := d.dirty.take(func(x, y plKey) int {
		if x.t.id != y.t.id {
			return x.t.id - y.t.id
		}
		return cmpGroupKey(&x.g.key, &y.g.key)
	})
	for _, k := range ks {
		d.eval(k, now)
	}
}

func (d *pathLimitDet) eval(k plKey, now int64) {
	a := d.a
	rows := d.buf[:0]
	for _, r := range k.g.tableRange(k.t) {
		if r.live() {
			rows = append(rows, r)
		}
	}
	d.buf = rows[:0]
	lim := k.t.sess.sendPathLimit()
	old, had := d.active[k]
	if len(rows) <= lim {
		if had {
			delete(d.active, k)
			a.condClear(old, k.t, now)
		}
		return
	}
	slices.SortFunc(rows, func(x, y *row) int {
		if x.first() != y.first() {
			return cmp.Compare(x.first(), y.first())
		}
		return cmp.Compare(x.pathID, y.pathID)
	})
	ex := rows[lim]
	g := k.g
	ck := condKey{KindPathLimitExceeded, routeSubject(g.key.vpn, g.key.prefix(), ex.originator(ex.attrs()))}
	if had && old == ck {
		return
	}
	if had {
		a.condClear(old, k.t, now)
	}
	d.active[k] = ck
	n := len(rows)
	expl := dirDesc(k.t) + " carries " + itoa(uint32(n)) + " paths for vpn " + itoa(g.key.vpn) + " " + g.key.prefix().String() +
		", more than the send-path-limit of " + itoa(uint32(lim)) + " negotiated on the session; the receiver may drop the extra paths."
	a.condSet(ck, k.t, now, now, ex.cur().frame(), 0, SevWarning, k.t.sess.id, false, func() string { return expl })
}

var pathLimitExceededKind = kindDef{kind: KindPathLimitExceeded, det: &pathLimitDetDef, explainText: explainText{
	sev:     "warning",
	subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip>  (originator of the first path beyond the limit, by first sight)",
	meaning: "One session direction carries more live paths for one prefix than the send-path-limit negotiated on " +
		"the session (the lower of the two HANDSHAKE capabilities; default 4).",
	matters: "The sender should never exceed the limit; the receiver may drop the extra paths or reject the UPDATE, " +
		"so ECMP and failover paths silently disappear.",
	check: "show omp routes vpn <vpn> <prefix> (count the paths FROM PEER); show running-config omp " +
		"(send-path-limit) on the vSmart and the edge; show omp peers detail.",
	settings: "No setting; the limit comes from the HANDSHAKEs.",
}}
