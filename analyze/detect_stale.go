package analyze

import (
	"slices"
	"strings"
	"time"
)

// stale-after-gr: a vSmart dropped a path at a graceful-restart flush (GR
// timer expired, or END_OF_RIB without it) but still advertises it to
// others, with no live copy from the originator itself nor from a peer
// that has one, for Config.StaleGrace. flushStale records the flush in the
// group (at most maxStaleFlushes distinct receiver, originator and TLOC
// per group; the oldest forgotten past it, counted in
// Stats.StaleFlushesForgotten); a group with flushes is evaluated at the
// tick after any of its rows changes, and forgets a flush once the
// originator is back or the receiver stopped advertising.

// maxStaleFlushes bounds the flushes stale-after-gr keeps per group.
const maxStaleFlushes = 16

// KindStaleAfterGR names the notice of this detector.
const KindStaleAfterGR Kind = "stale-after-gr"

var staleDetDef = detectorDef{name: "stale-after-gr", make: func(a *Analyzer) detector { return &staleDet{a: a, gs: map[*group]*staleGroup{}} },
	flags: []Flag{{Name: "stale-grace", Usage: "stale-after-gr: how long stale routes may outlive their flush",
		Dur: func(c *Config) *time.Duration { return &c.StaleGrace }, DefDur: DefaultStaleGrace}}}

type staleDet struct {
	a     *Analyzer
	gs    map[*group]*staleGroup
	dirty []*group
}

// staleGroup is what the detector keeps of one group: the flushes (at
// most maxStaleFlushes) and the conditions it set.
type staleGroup struct {
	flushes []flushEntry
	refs    []condRef
	dirty   bool
}

// flushEntry records that a receiver dropped a path at a GR flush.
type flushEntry struct {
	recv uint32
	orig uint32
	tloc tlocID
	at   int64
}

func (*staleDet) eventKinds() uint64 { return 1<<evFlushed | 1<<evRefused }

func (d *staleDet) event(e *coreEvent) {
	if e.kind == evRefused {
		// a path of that kind was not kept: the groups of the kind are
		// judged again, their pending conditions let go (evalStale)
		var gs []*group
		for g := range d.gs {
			if g.key.kind == uint8(e.n) {
				gs = append(gs, g)
			}
		}
		sortGroups(gs)
		for _, g := range gs {
			d.mark(g, d.gs[g])
		}
		return
	}
	if e.kind != evFlushed {
		return
	}
	r, at := e.r, e.at
	g := r.grp
	x := d.gs[g]
	if x == nil {
		x = &staleGroup{}
		d.gs[g] = x
	}
	f := flushEntry{recv: e.recv, orig: r.orig4(at), at: e.now}
	if g.key.kind != kTLOC && at.HasTLOC() {
		f.tloc = at.tlocID
	}
	// a flush like one held (another path-id of the same originator and
	// TLOC to the same receiver) is judged as that one, from the earlier
	// time: it is not kept twice
	for _, h := range x.flushes {
		if h.recv == f.recv && h.orig == f.orig && h.tloc == f.tloc {
			d.mark(g, x)
			return
		}
	}
	if len(x.flushes) >= maxStaleFlushes {
		x.flushes = slices.Delete(x.flushes, 0, 1)
		d.a.stats.StaleFlushesForgotten++
	}
	x.flushes = append(x.flushes, f)
	d.mark(g, x)
}

func (d *staleDet) mark(g *group, x *staleGroup) {
	if !x.dirty {
		x.dirty = true
		d.dirty = append(d.dirty, g)
	}
}

func (d *staleDet) rowChanged(c *rowChange) {
	if x := d.gs[c.r.grp]; x != nil {
		d.mark(c.r.grp, x)
	}
}

func (d *staleDet) holdsGroup(g *group) bool { return d.gs[g] != nil }

func (d *staleDet) tick(now int64) {
	for len(d.dirty) > 0 {
		q := d.dirty
		d.dirty = nil
		for _, g := range q {
			x := d.gs[g]
			x.dirty = false
			d.a.evalStale(g, x, now)
			if len(x.flushes) == 0 && len(x.refs) == 0 {
				delete(d.gs, g)
			}
		}
	}
}

// staleSrc is one receiver's share of a stale-after-gr condition.
type staleSrc struct {
	g    *group
	recv uint32
}

func (a *Analyzer) evalStale(g *group, x *staleGroup, now int64) {
	kind := g.key.kind
	var refs []condRef
	keep := x.flushes[:0]
	for _, e := range x.flushes {
		match := func(r *row) bool {
			at := r.attrs()
			if at == nil || r.orig4(at) != e.orig {
				return false
			}
			return kind == kTLOC || e.tloc == (tlocID{}) || (at.HasTLOC() && at.tlocID == e.tloc)
		}
		direct := false
		var out *row
		for _, r := range g.rows {
			if !match(r) || r.stale() {
				continue
			}
			from, to := ip4(r.tab().from.sys), ip4(r.tab().to.sys)
			if to == e.recv && from == e.orig {
				direct = true
			}
			if from == e.recv && out == nil {
				out = r
			}
		}
		if direct || out == nil {
			continue // the originator is back, or the receiver stopped
		}
		keep = append(keep, e)
		src := staleSrc{g, e.recv}
		if a.refused&(1<<kind) != 0 {
			// a copy that would make it legitimate may be one the
			// analyzer did not keep (Config.MaxPaths): no new notice, and
			// none pending its grace; one raised before stays as it is
			k := condKey{KindStaleAfterGR, rowSubject(out, out.attrs())}
			if ref := (condRef{k, src}); a.condRaised(k) && slices.Contains(x.refs, ref) && !slices.Contains(refs, ref) {
				refs = append(refs, ref)
			}
			continue
		}
		legit := false
		for _, r := range g.recvRange(e.recv) {
			if legit || !match(r) || r.stale() {
				continue
			}
			w := ip4(r.tab().from.sys)
			for _, r2 := range g.recvRange(w) {
				if match(r2) && !r2.stale() && ip4(r2.tab().from.sys) == e.orig {
					legit = true
					break
				}
			}
		}
		if legit {
			continue
		}
		k := condKey{KindStaleAfterGR, rowSubject(out, out.attrs())}
		ref := condRef{k, src}
		if slices.Contains(refs, ref) {
			continue
		}
		refs = append(refs, ref)
		if slices.Contains(x.refs, ref) {
			continue
		}
		r1, recv := out, e.recv
		a.condSet(k, src, e.at, now, out.cur().frame(), a.cfg.StaleGrace, SevError, out.tab().sess.id, false,
			func() string { return a.explainStale(g, k, r1, recv) })
	}
	clear(x.flushes[len(keep):])
	x.flushes = keep
	for _, ref := range x.refs {
		if !slices.Contains(refs, ref) {
			a.condClear(ref.key, ref.src, now)
		}
	}
	x.refs = refs
}

// explainStale names, at raise time, the receivers that still hold the
// condition.
func (a *Analyzer) explainStale(g *group, k condKey, r1 *row, recv0 uint32) string {
	var who []string
	var to string
	if cd := a.conds[k]; cd != nil {
		for _, s := range cd.sources {
			if ss, ok := s.(staleSrc); ok {
				who = append(who, addrOf4(ss.recv).String())
				for _, r := range g.rows {
					if r.live() && !r.stale() && ip4(r.tab().from.sys) == ss.recv && rowSubject(r, r.attrs()) == k.subject {
						to = r.tab().to.name()
						break
					}
				}
			}
		}
	}
	if len(who) == 0 {
		who = []string{addrOf4(recv0).String()}
		to = r1.tab().to.name()
	}
	recv := strings.Join(who, " and ")
	return recv + " still advertises " + k.subject + " (to " + to + ", among others) longer than " + a.cfg.StaleGrace.String() +
		" after its graceful-restart flush removed it from what " + recv + " holds (GR timer expired, or END_OF_RIB without it) and with no live copy from the originator: receivers forward to a peer that is gone."
}

var staleAfterGRKind = kindDef{kind: KindStaleAfterGR, det: &staleDetDef, explainText: explainText{
	sev:     "error",
	subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip>",
	meaning: "After graceful restart, a device dropped a path from what it holds (the GR timer expired, or the " +
		"restarted peer's END_OF_RIB did not re-advertise it) but still advertises that path to others longer " +
		"than the grace period, with no other live source for it.",
	matters: "GR keeps forwarding alive while a peer restarts; it must end. A vSmart that keeps reflecting routes it " +
		"no longer holds makes edges send traffic to a site that may be gone (a black hole until the next reset).",
	check: "show omp peers (state, up time), show omp routes vpn <vpn> <prefix> detail on the vSmart (status S, " +
		"FROM PEER) and on the edges receiving it; show omp summary; the graceful-restart timer (omp " +
		"timers graceful-restart-timer); clear omp peer to flush.",
	settings: "--stale-grace (Config.StaleGrace), default 10s. The GR timer is the lower of the two HANDSHAKE values, " +
		"or the timer of a GRACEFUL_RESTART_BEGIN INFORM.",
}}
