package analyze

import (
	"cmp"
	"slices"
	"time"
)

// attribute-conflict and tloc-clone: copies of one path (for a TLOC, its
// key; for a route or service, its originator and TLOC) that differ, from
// two sources, compared where they meet: at one receiver (a bucket per
// receiver), and between the owner's own advertisements to its different
// peers (the bucket allOriginals). A TLOC's copies with different
// addresses are a clone (error); any other difference between sessions is
// an attribute conflict (warning). Both must last Config.ConflictGrace.
//
// A row change marks its receiver's bucket (and the owner's bucket when
// the row is or was one of the owner's own advertisements); the tick
// compares the rows of each marked bucket, which lie together in the group
// (rows are ordered by receiver) or in the group's own list. The cost is
// the size of the bucket, not of the group: a prefix reflected to
// thousands of edges costs each edge its two or three copies.

// The notices of this detector.
const (
	KindAttributeConflict Kind = "attribute-conflict"
	KindTLOCClone         Kind = "tloc-clone"
)

var conflictDetDef = detectorDef{name: "attribute-conflict", make: func(a *Analyzer) detector { return newConflict(a) },
	flags: []Flag{{Name: "conflict-grace", Usage: "attribute-conflict, tloc-clone: how long the condition must last",
		Dur: func(c *Config) *time.Duration { return &c.ConflictGrace }, DefDur: DefaultConflictGrace}}}

type confKey struct {
	g    *group
	recv uint32 // receiver system-ip, or allOriginals
}

const allOriginals = 0xffffffff

type centry struct {
	orig uint32
	tloc tlocID
	r    *row
	at   *Attrs
}

type conflictDet struct {
	a      *Analyzer
	active map[confKey][]condKey
	nact   map[*group]int32 // active buckets per group (heldConflict)
	dirty  marks[confKey]
	es     []centry
	found  []cand
}

// cand is a condition an evaluation found true.
type cand struct {
	key    condKey
	r1, r2 *row
	a1, a2 *Attrs
}

func newConflict(a *Analyzer) *conflictDet {
	return &conflictDet{a: a, active: map[confKey][]condKey{}, nact: map[*group]int32{}}
}

// rowChanged marks the buckets the row belongs to. A withdrawal makes no
// new pair of copies: it marks only the buckets that hold notices, unless
// a comparison in the group once left out a stale copy (which a refresh
// may since have made live again without a change any detector hears).
func (d *conflictDet) rowChanged(c *rowChange) {
	r, own := c.r, c.wasOwn || c.isOwn
	g := r.grp
	if c.new == nil && !c.rekey && g.held&heldConflictStale == 0 {
		if g.held&heldConflict == 0 {
			return
		}
		for _, k := range [2]confKey{{g, r.tab().rkey}, {g, allOriginals}} {
			if _, ok := d.active[k]; ok && k.recv != 0 && (own || k.recv != allOriginals) {
				d.dirty.mark(k)
			}
		}
		return
	}
	// a row that changed (not moved, in a group with no stale copy left
	// out) can only make pairs with itself: the others are as they were
	// when one of their rows last changed and was compared
	with := r
	if c.rekey || g.held&heldConflictStale != 0 || d.a.cfg.reference.allPairs {
		with = nil
	}
	if rk := r.tab().rkey; rk != 0 {
		d.mark(confKey{g, rk}, with)
	}
	if c.rekey && c.oldRK != 0 && c.oldRK != r.tab().rkey {
		d.mark(confKey{g, c.oldRK}, nil) // the bucket it left
	}
	if own {
		d.mark(confKey{g, allOriginals}, with)
	}
}

// mark marks bucket k when it may hold a conflict (when r is not nil:
// one that pairs r with another copy) or holds a notice.
func (d *conflictDet) mark(k confKey, r *row) {
	g := k.g
	rows := g.own
	if k.recv != allOriginals {
		rows = g.recvRange(k.recv)
	}
	var may bool
	if r != nil {
		may = mayConflictWith(g.key.kind, rows, r)
	} else {
		may = mayConflict(g.key.kind, rows)
	}
	if may {
		d.dirty.mark(k)
		return
	}
	if g.held&heldConflict != 0 {
		if _, ok := d.active[k]; ok {
			d.dirty.mark(k) // to end what it holds
		}
	}
}

// mayConflict reports whether two live copies among rows could make a
// notice: different attribute sets (interned: one pointer each) for one
// path, from two sessions (or, for a TLOC, possibly a clone). It is wider
// than eval (stale rows, the owner filter, the grace) and much cheaper:
// a bucket holds a receiver's two or three copies of a path; a larger one
// is left to eval.
func mayConflict(kind uint8, rows []*row) bool {
	if len(rows) > 16 {
		return true
	}
	for i, x := range rows {
		if ax := x.attrs(); ax != nil {
			for _, y := range rows[i+1:] {
				if mayPair(kind, x, ax, y) {
					return true
				}
			}
		}
	}
	return false
}

// mayPair reports whether rows x (attributes ax, not nil) and y are two
// live copies of one path that differ, from two sessions (for a TLOC, any
// two copies that differ: possibly a clone).
func mayPair(kind uint8, x *row, ax *Attrs, y *row) bool {
	ay := y.attrs()
	if ay == nil || ay == ax {
		return false
	}
	return kind == kTLOC || x.tab().sess != y.tab().sess && ax.HasTLOC() == ay.HasTLOC() &&
		(!ax.HasTLOC() || ax.tlocID == ay.tlocID) && x.orig4(ax) == y.orig4(ay)
}

// mayConflictWith is mayConflict for the pairs of rows that hold r. Its
// answer for a bucket is the whole answer when every other pair was
// compared since its rows last changed: a pair that may conflict marked
// the bucket then, and its evaluation either found nothing (and nothing
// it looks at has changed since: a stale copy, or a row's place, sends
// the change to mayConflict instead) or made a notice, which keeps the
// bucket marked on every change (active). It costs the size of the bucket
// instead of its square (up to 16 rows, where mayConflict stops comparing;
// BenchmarkConflictMark: 0.16 against 1.5 µs for 16; mayConflict was 5 % of `analyze` on the churn
// capture, a bucket holding a receiver's copies from two vSmarts of every
// path of a prefix).
func mayConflictWith(kind uint8, rows []*row, r *row) bool {
	ax := r.attrs()
	if ax == nil {
		return false
	}
	for _, y := range rows {
		if y != r && mayPair(kind, r, ax, y) {
			return true
		}
	}
	return false
}

func (d *conflictDet) tick(now int64) {
	ks := d.dirty.take(func(x, y confKey) int {
		if c := cmpGroupKey(&x.g.key, &y.g.key); c != 0 {
			return c
		}
		return cmp.Compare(x.recv, y.recv)
	})
	for _, k := range ks {
		d.eval(k, now)
	}
}

func (d *conflictDet) eval(k confKey, now int64) {
	a := d.a
	g := k.g
	kind := g.key.kind
	tsys := ip4(g.key.addr4())
	rows := g.own
	if k.recv != allOriginals {
		rows = g.recvRange(k.recv)
	}
	es := d.es[:0]
	for _, r := range rows {
		at := r.attrs()
		if at == nil {
			continue
		}
		if r.stale() {
			g.held |= heldConflictStale
			continue
		}
		e := centry{r: r, at: at}
		owner := tsys
		if kind != kTLOC {
			e.orig = r.orig4(at)
			owner = e.orig
			if at.HasTLOC() {
				e.tloc = at.tlocID
			}
		}
		if k.recv == allOriginals && (!r.tab().from.sys.IsValid() || ip4(r.tab().from.sys) != owner) {
			continue
		}
		es = append(es, e)
	}
	slices.SortStableFunc(es, func(x, y centry) int {
		switch {
		case x.orig != y.orig:
			return cmp.Compare(x.orig, y.orig)
		case x.tloc.sys != y.tloc.sys:
			return cmp.Compare(x.tloc.sys, y.tloc.sys)
		case x.tloc.color != y.tloc.color:
			return cmp.Compare(x.tloc.color, y.tloc.color)
		case x.tloc.encap != y.tloc.encap:
			return int(x.tloc.encap) - int(y.tloc.encap)
		case x.r.first() != y.r.first():
			// the copy seen first names the pair (the original before
			// its clone or a reflection)
			return cmp.Compare(x.r.first(), y.r.first())
		}
		return x.r.tab().id - y.r.tab().id
	})
	found := d.found[:0]
	has := func(ck condKey) bool {
		return slices.ContainsFunc(found, func(c cand) bool { return c.key == ck })
	}
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && es[j].orig == es[i].orig && es[j].tloc == es[i].tloc {
			j++
		}
		for x := i; x < j; x++ {
			for y := x + 1; y < j; y++ {
				ex, ey := &es[x], &es[y]
				if ex.at == ey.at {
					continue
				}
				sameSess := ex.r.tab().sess == ey.r.tab().sess
				if kind == kTLOC && ex.at.addrHash != ey.at.addrHash {
					// two sources of one TLOC key with different
					// addresses: a clone (two paths of one sender count)
					if sameSess && ex.r.pathID == ey.r.pathID {
						continue
					}
					if ck := (condKey{KindTLOCClone, rowSubject(ex.r, ex.at)}); !has(ck) {
						found = append(found, cand{key: ck, r1: ex.r, r2: ey.r, a1: ex.at, a2: ey.at})
					}
					continue
				}
				if sameSess || (kind == kTLOC && ex.at.otherHash == ey.at.otherHash) {
					continue
				}
				// the subject (a string) only for a pair that conflicts
				if ck := (condKey{KindAttributeConflict, rowSubject(ex.r, ex.at)}); !has(ck) {
					found = append(found, cand{key: ck, r1: ex.r, r2: ey.r, a1: ex.at, a2: ey.at})
				}
			}
		}
		i = j
	}
	clear(es)
	d.es = es[:0]
	old := d.active[k]
	var now2 []condKey
	for i := range found {
		c := found[i]
		now2 = append(now2, c.key)
		if slices.Contains(old, c.key) {
			continue
		}
		sev := SevWarning
		if c.key.kind == KindTLOCClone {
			sev = SevError
		}
		a.condSet(c.key, k, now, now, c.r1.cur().frame(), a.cfg.ConflictGrace, sev, c.r1.tab().sess.id, false, func() string {
			// at raise time (most conditions end within the grace)
			if c.key.kind == KindTLOCClone {
				return "TLOC " + c.key.subject[len("tloc "):] + " is advertised with different addresses on two sessions (" + dirDesc(c.r1.tab()) + ": " +
					tlocAddrs(c.a1) + "; " + dirDesc(c.r2.tab()) + ": " + tlocAddrs(c.a2) + "): two devices use one identity, or a stale copy survives."
			}
			return "The same path (" + c.key.subject + ") arrives with different attributes from two sessions: " + dirDesc(c.r1.tab()) + " says " +
				attrsText(c.a1) + ", " + dirDesc(c.r2.tab()) + " says " + attrsText(c.a2) + "."
		})
	}
	clear(found)
	d.found = found[:0]
	for _, ck := range old {
		if !slices.Contains(now2, ck) {
			a.condClear(ck, k, now)
		}
	}
	switch {
	case len(now2) > 0 && len(old) == 0:
		if d.nact[k.g]++; d.nact[k.g] == 1 {
			k.g.held |= heldConflict
		}
	case len(now2) == 0 && len(old) > 0:
		if d.nact[k.g]--; d.nact[k.g] == 0 {
			delete(d.nact, k.g)
			k.g.held &^= heldConflict
		}
	}
	if len(now2) == 0 {
		delete(d.active, k)
	} else {
		d.active[k] = now2
	}
}

var attributeConflictKind = kindDef{kind: KindAttributeConflict, det: &conflictDetDef, explainText: explainText{
	sev:     "warning",
	subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip> | tloc <system-ip>/<color>/<encap> | service vpn=<vpn> service=<name> originator=<system-ip>",
	meaning: "The same path (a route: vpn, prefix, originator and TLOC; a TLOC: its key; a service: vpn, service, " +
		"originator, TLOC) arrives with different attributes from two sessions, either at the same receiver, or " +
		"from its originator to two vSmarts, for longer than the grace period. For TLOCs, addresses are left to " +
		"tloc-clone and every other attribute is compared. Stale (GR) copies are not compared.",
	matters: "Receivers choose among copies that should be identical; preference, tags or labels that differ " +
		"between vSmarts (policy drift) or between two originals (a cloned device) make best-path selection " +
		"depend on timing.",
	check: "show omp routes vpn <vpn> <prefix> detail on the receiver (one entry per FROM PEER: compare the " +
		"attributes); the control policies on each vSmart; show omp tlocs detail for TLOCs.",
	settings: "--conflict-grace (Config.ConflictGrace), default 10s.",
}}

var tLOCCloneKind = kindDef{kind: KindTLOCClone, det: &conflictDetDef, explainText: explainText{
	sev:     "error",
	subject: "tloc <system-ip>/<color>/<encap>",
	meaning: "The same TLOC key is advertised with different addresses (private or public) on two sessions, either " +
		"to the same receiver or by its owner to two vSmarts, for longer than the grace period.",
	matters: "Edges build tunnels to the addresses of a TLOC; two sets mean two devices using one identity (a cloned " +
		"VM or configuration) or a stale copy. Tunnels go to the wrong box or flap between the two.",
	check: "show omp tlocs ip <system-ip> detail on the vSmarts (private/public addresses per FROM PEER); " +
		"show control connections (the peer addresses); show system status and chassis numbers on the candidates.",
	settings: "--conflict-grace (Config.ConflictGrace), default 10s.",
}}
