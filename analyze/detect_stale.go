package analyze

import (
	"slices"
	"strings"
)

// stale-after-gr: a vSmart dropped a path at a graceful-restart flush (GR
// timer expired, or END_OF_RIB without it) but still advertises it to
// others, with no live copy from the originator itself nor from a peer
// that has one, for Config.StaleGrace. flushStale records the flush in the
// group (at most 16 per group); a group with flushes is evaluated at the
// tick after any of its rows changes, and forgets a flush once the
// originator is back or the receiver stopped advertising.

// staleSrc is one receiver's share of a stale-after-gr condition.
type staleSrc struct {
	g    *group
	recv uint32
}

func (a *Analyzer) evalStale(g *group, now int64) {
	kind := g.key.kind
	var refs []condRef
	keep := g.flushes[:0]
	for _, e := range g.flushes {
		match := func(r *row) bool {
			at := r.attrs()
			if at == nil || ip4(r.originator(at)) != e.orig {
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
			from, to := ip4(r.tab.from.sys), ip4(r.tab.to.sys)
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
		legit := false
		for _, r := range g.recvRange(e.recv) {
			if legit || !match(r) || r.stale() {
				continue
			}
			w := ip4(r.tab.from.sys)
			for _, r2 := range g.recvRange(w) {
				if match(r2) && !r2.stale() && ip4(r2.tab.from.sys) == e.orig {
					legit = true
					break
				}
			}
		}
		if legit {
			continue
		}
		k := condKey{KindStaleAfterGR, rowSubject(out, out.attrs())}
		src := staleSrc{g, e.recv}
		ref := condRef{k, src}
		if slices.Contains(refs, ref) {
			continue
		}
		refs = append(refs, ref)
		if slices.Contains(g.stale, ref) {
			continue
		}
		r1, recv := out, e.recv
		a.condSet(k, src, e.at, now, out.cur().frame, a.cfg.StaleGrace, SevError, out.tab.sess.id, false,
			func() string { return a.explainStale(g, k, r1, recv) })
	}
	clear(g.flushes[len(keep):])
	g.flushes = keep
	for _, ref := range g.stale {
		if !slices.Contains(refs, ref) {
			a.condClear(ref.key, ref.src, now)
		}
	}
	g.stale = refs
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
					if r.live() && !r.stale() && ip4(r.tab.from.sys) == ss.recv && rowSubject(r, r.attrs()) == k.subject {
						to = r.tab.to.name()
						break
					}
				}
			}
		}
	}
	if len(who) == 0 {
		who = []string{addrOf4(recv0).String()}
		to = r1.tab.to.name()
	}
	recv := strings.Join(who, " and ")
	return recv + " still advertises " + k.subject + " (to " + to + ", among others) longer than " + a.cfg.StaleGrace.String() +
		" after its graceful-restart flush removed it from what " + recv + " holds (GR timer expired, or END_OF_RIB without it) and with no live copy from the originator: receivers forward to a peer that is gone."
}
