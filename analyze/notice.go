package analyze

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
)

// ---- conditions

// condSet records that source src asserts condition k, true since since.
// The anomaly is raised once the condition has held for grace (at once
// when grace is 0); explain is called then.
func (a *Analyzer) condSet(k condKey, src any, since, now int64, frame uint64, grace time.Duration, sev Severity,
	sess string, endLast bool, explain func() string) *cond {
	c := a.conds[k]
	if c == nil {
		c = &cond{key: k, sev: sev, since: since, last: now, session: sess, endLast: endLast, sources: []any{src},
			sinces: []int64{since}, grace: int64(grace)}
		c.explainFn = explain
		c.ev.add(frame, a.cfg.MaxEvidence)
		a.conds[k] = c
		if grace <= 0 || since+int64(grace) <= now {
			a.raise(c, now)
		} else {
			a.armCond(c)
		}
		return c
	}
	if !slices.Contains(c.sources, src) {
		c.sources = append(c.sources, src)
		c.sinces = append(c.sinces, since)
		if c.anom == nil && since < c.since {
			c.since = since
			if since+c.grace <= now {
				a.raise(c, now)
			}
		}
	}
	c.last = now
	c.ev.add(frame, a.cfg.MaxEvidence)
	if sev > c.sev {
		c.sev = sev
	}
	if c.anom != nil {
		c.anom.Evidence, c.anom.EvidenceCount = c.ev.frames, c.ev.count
		c.anom.Severity = c.sev
	}
	return c
}

// armCond schedules the grace check of a pending condition.
func (a *Analyzer) armCond(c *cond) {
	a.after(c.since+c.grace, func(now int64) {
		if a.conds[c.key] != c || c.anom != nil {
			return
		}
		if now < c.since+c.grace {
			a.armCond(c)
			return
		}
		a.raise(c, now)
	})
}

// condClear withdraws source src from condition k; the anomaly ends when
// no source holds it any more. A pending condition's start becomes that of
// its oldest remaining source.
func (a *Analyzer) condClear(k condKey, src any, now int64) {
	c := a.conds[k]
	if c == nil {
		return
	}
	i := slices.Index(c.sources, src)
	if i < 0 {
		return
	}
	c.sources = slices.Delete(c.sources, i, i+1)
	c.sinces = slices.Delete(c.sinces, i, i+1)
	if len(c.sources) == 0 {
		a.endCond(c, now)
		return
	}
	if c.anom == nil {
		c.since = slices.Min(c.sinces)
		a.armCond(c)
	}
}

// condRaised reports whether the condition k was raised (its notice is
// out), not only pending its grace.
func (a *Analyzer) condRaised(k condKey) bool {
	c := a.conds[k]
	return c != nil && c.anom != nil
}

// condClearSubject ends a condition whatever its sources.
func (a *Analyzer) condClearSubject(kind Kind, subject string, now int64) {
	if c := a.conds[condKey{kind, subject}]; c != nil {
		a.endCond(c, now)
	}
}

func (a *Analyzer) endCond(c *cond, now int64) {
	delete(a.conds, c.key)
	an := c.anom
	if an == nil {
		return
	}
	an.Active = false
	end := now
	if c.endLast {
		end = c.last
	}
	if end < c.since {
		end = c.since
	}
	an.End = nsTime(end)
	a.anomalyEvent(EvAnomalyEnd, an, now)
}

func (a *Analyzer) raise(c *cond, now int64) {
	an := &Anomaly{Kind: c.key.kind, Severity: c.sev, Subject: c.key.subject, Start: nsTime(c.since),
		Raised: nsTime(now), Active: true, Session: c.session, Evidence: c.ev.frames, EvidenceCount: c.ev.count}
	if c.explainFn != nil {
		an.Explanation = c.explainFn()
	}
	c.anom = an
	a.addAnomaly(an)
	a.anomalyEvent(EvAnomalyStart, an, now)
}

func (a *Analyzer) addAnomaly(an *Anomaly) {
	a.anomID++
	an.ID = a.anomID
	a.anomalies = append(a.anomalies, an)
	if len(a.anomalies) <= a.cfg.MaxAnomalies {
		return
	}
	// Over the bound: drop the oldest closed anomalies down to 90% of it
	// (one pass, so the cost is amortized), then the oldest if needed.
	target := a.cfg.MaxAnomalies - a.cfg.MaxAnomalies/10
	excess := len(a.anomalies) - target
	keep := a.anomalies[:0]
	for _, x := range a.anomalies {
		if excess > 0 && !x.Active {
			excess--
			a.dropped++
			continue
		}
		keep = append(keep, x)
	}
	clear(a.anomalies[len(keep):])
	a.anomalies = keep
	if n := len(a.anomalies) - a.cfg.MaxAnomalies; n > 0 {
		a.dropped += n
		a.anomalies = slices.Delete(a.anomalies, 0, n)
	}
}

func (a *Analyzer) anomalyEvent(t EventType, an *Anomaly, now int64) {
	if !a.events() {
		return
	}
	if p := a.cfg.TimelineFilter.Peer; p != "" && !a.anomalyAbout(an, p) {
		return
	}
	cp := *an
	cp.Evidence = slices.Clone(an.Evidence)
	var frame uint64
	if n := len(cp.Evidence); n > 0 {
		frame = cp.Evidence[n-1]
	}
	a.emit(&Event{Time: nsTime(now), Type: t, Frame: frame, Session: an.Session, Anomaly: &cp})
}

// raisePending reports, at the end of the capture, conditions that held
// for at least PendingMinAge but not yet for their grace: the capture ended
// before they could be confirmed (or could resolve). They are marked
// unconfirmed, with severity info.
func (a *Analyzer) raisePending() {
	if a.cfg.PendingMinAge < 0 {
		return
	}
	var cs []*cond
	for _, c := range a.conds {
		if c.anom == nil && a.clock-c.since >= int64(a.cfg.PendingMinAge) {
			cs = append(cs, c)
		}
	}
	slices.SortFunc(cs, func(x, y *cond) int {
		if x.since != y.since {
			return cmp.Compare(x.since, y.since)
		}
		if x.key.kind != y.key.kind {
			return strings.Compare(string(x.key.kind), string(y.key.kind))
		}
		return strings.Compare(x.key.subject, y.key.subject)
	})
	for _, c := range cs {
		c.sev = SevInfo
		fn := c.explainFn
		age, grace := a.clock-c.since, c.grace
		c.explainFn = func() string {
			s := ""
			if fn != nil {
				s = fn() + " "
			}
			return s + "Unconfirmed: the capture ended " + dur(age) + " after this began, before the " + dur(grace) +
				" this detector waits had passed."
		}
		a.raise(c, a.clock)
	}
}

// ---- instantaneous anomalies (occurrences merged within a window)

func (a *Analyzer) instant(kind Kind, subject string, sev Severity, start, now int64, frame uint64, window time.Duration,
	sess string, explain func(*instant) string) *instant {
	k := condKey{kind, subject}
	in := a.instants[k]
	if in != nil && now-in.last <= in.window {
		a.extendInstant(in, sev, now, frame)
		return in
	}
	if in != nil {
		a.closeInstant(k, now)
	}
	in = &instant{last: now, window: int64(window), explain: explain}
	in.ev.add(frame, a.cfg.MaxEvidence)
	an := &Anomaly{Kind: kind, Severity: sev, Subject: subject, Start: nsTime(start), End: nsTime(now),
		Raised: nsTime(now), Active: true, Session: sess, Evidence: in.ev.frames, EvidenceCount: in.ev.count}
	an.Explanation = explain(in)
	in.anom = an
	a.instants[k] = in
	a.addAnomaly(an)
	a.anomalyEvent(EvAnomalyStart, an, now)
	a.armInstant(k, in)
	return in
}

// extendInstant adds an occurrence to an open instantaneous anomaly.
func (a *Analyzer) extendInstant(in *instant, sev Severity, now int64, frame uint64) {
	in.last = now
	in.ev.add(frame, a.cfg.MaxEvidence)
	an := in.anom
	an.End = nsTime(now)
	if sev > an.Severity {
		an.Severity = sev
	}
	an.Evidence, an.EvidenceCount = in.ev.frames, in.ev.count
}

func (a *Analyzer) armInstant(k condKey, in *instant) {
	a.after(in.last+in.window, func(now int64) {
		if a.instants[k] != in {
			return
		}
		if now < in.last+in.window {
			a.armInstant(k, in)
			return
		}
		a.closeInstant(k, now)
	})
}

func (a *Analyzer) closeInstant(k condKey, now int64) {
	in := a.instants[k]
	if in == nil {
		return
	}
	delete(a.instants, k)
	an := in.anom
	an.Active = false
	an.End = nsTime(in.last)
	an.Explanation = in.explain(in)
	a.anomalyEvent(EvAnomalyEnd, an, now)
}

// ---- periodic evaluation

// tick evaluates what changed at the current clock: groups whose rows
// changed, TLOCs that disappeared, vSmart tables that moved.
func (a *Analyzer) tick() {
	now := a.clock
	for _, t := range a.tickers {
		t.tick(now)
	}
}

func dirDesc(t *table) string { return t.from.name() + " → " + t.to.name() }

func (a *Analyzer) gapSessions() int {
	n := 0
	for _, s := range a.sessList {
		if s.gapRecords > 0 {
			n++
		}
	}
	return n
}

func attrsText(at *Attrs) string {
	if at == nil {
		return "nothing"
	}
	b := make([]byte, 0, 64)
	for i, x := range at.List {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, omp.AttrString(x)...)
	}
	return "[" + string(b) + "]"
}

func tlocAddrs(at *Attrs) string {
	if at == nil {
		return "none"
	}
	var parts []string
	for _, p := range []struct {
		n string
		v netip.AddrPort
	}{{"private ", at.PrivateV4}, {"public ", at.PublicV4}, {"private ", at.PrivateV6}, {"public ", at.PublicV6}} {
		if p.v.IsValid() {
			parts = append(parts, p.n+p.v.String())
		}
	}
	if len(parts) == 0 {
		return "no address"
	}
	return strings.Join(parts, ", ")
}

// ---- pruning (Config.Retention)

// withdrawn is a row withdrawn at t, waiting to leave memory.
type withdrawn struct {
	r *row
	t int64
}

// pruneWithdrawn (Retention 0) drops the rows withdrawn longer ago than
// the longest detector window (Config.Window) and not advertised again
// since: memory follows the live tables. The rows wait in a queue in the
// order they were withdrawn, so each costs one look, not a scan of the
// tables.
func (a *Analyzer) pruneWithdrawn() {
	cutoff := a.clock - int64(a.cfg.Window()) - int64(time.Second)
	q := a.wq[a.wqHead:]
	n := 0
	for n < len(q) && q[n].t <= cutoff {
		r := q[n].r
		n++
		if !r.used() || r.live() || r.cur().t > cutoff {
			// gone already (its slot free, or another row's since: one
			// withdrawn before the cutoff is pruned all the same), or
			// advertised (and maybe withdrawn) again since
			continue
		}
		a.pruneRow(r, cutoff)
	}
	if n == 0 {
		return
	}
	clear(q[:n])
	a.wqHead += n
	if a.wqHead > 1024 && a.wqHead > len(a.wq)/2 {
		k := copy(a.wq, a.wq[a.wqHead:])
		clear(a.wq[k:])
		a.wq, a.wqHead = a.wq[:k], 0
	}
}

// compactWQ keeps the last entry of each row in the withdrawn queue: a
// row withdrawn many times within the detectors' window (or in a capture
// whose clock stands still) had one entry per withdrawal, and the queue
// grew with the withdrawals rather than with the rows. Pruning is the
// same: an entry prunes its row only when the row's last version is
// older than the cutoff, and the row's last entry, no newer than that
// version and later in the queue, is taken in the same pass
// (TestWithdrawnQueueCompaction runs random fabrics and chaos with the
// queue compacted at every withdrawal and never). The next compaction
// waits until the queue has doubled, so each entry is moved O(1) times.
func (a *Analyzer) compactWQ() {
	q := a.wq[a.wqHead:]
	seen := make(map[*row]struct{}, len(q)/2)
	k := len(q)
	for i := len(q) - 1; i >= 0; i-- {
		if _, ok := seen[q[i].r]; ok {
			continue
		}
		seen[q[i].r] = struct{}{}
		k--
		q[k] = q[i]
	}
	n := copy(a.wq, q[k:])
	clear(a.wq[n:])
	a.wq, a.wqHead = a.wq[:n], 0
	a.wqCompactAt = max(2*n, cmp.Or(a.cfg.reference.wqCompactMin, wqCompactMin))
}

// wqCompactMin is the withdrawn queue's length below which compactWQ
// does not run.
const wqCompactMin = 1 << 16

// pruneRow takes a row withdrawn before cutoff out of memory (and its
// group, when nothing holds it any more).
func (a *Analyzer) pruneRow(r *row, cutoff int64) {
	g := r.grp
	g.remove(r)
	r.tab().remove(r) // r is a free slot from here
	a.paths--
	if a.groupIdle(g) {
		a.dropGroup(g)
	}
	a.stats.PrunedRows++
	a.pruneHorizon = max(a.pruneHorizon, cutoff)
	a.horizon = max(a.horizon, cutoff)
}

// dropGroup takes an idle group out of memory.
func (a *Analyzer) dropGroup(g *group) {
	a.groups.del(g)
	if g.key.kind == kTLOC {
		a.tlocGen++ // the TLOC groups Attrs remember (tlocGroup) are stale
	}
}

// groupIdle reports whether a group holds nothing any detector still
// refers to: it can leave memory.
func (a *Analyzer) groupIdle(g *group) bool {
	if len(g.rows) > 0 {
		return false
	}
	for _, h := range a.holders {
		if h.holdsGroup(g) {
			return false
		}
	}
	return true
}

func (a *Analyzer) maybePrune() {
	ret := int64(a.cfg.Retention)
	switch {
	case ret < 0:
		return
	case ret == 0:
		a.pruneWithdrawn()
		return
	}
	// never less than a detector needs (a flap slower than the retention
	// would never be seen)
	ret = max(ret, int64(a.cfg.Window())+int64(time.Second))
	if a.clock-a.lastPrune < ret/4 {
		return
	}
	a.lastPrune = a.clock
	cutoff := a.clock - ret
	for _, t := range a.tables {
		for r := range t.rows.all {
			i := r.n() - 1
			for i > 0 && r.ver(i).t > cutoff {
				i--
			}
			if r.ver(i).t > cutoff {
				continue // every version is recent
			}
			if i == r.n()-1 && r.v.attrs == nil {
				// withdrawn before the cutoff: the row goes
				a.pruneRow(r, cutoff) // frees r's slot: the walk goes on
				continue
			}
			if i > 0 {
				// drop the versions before the one in force at the cutoff
				h := r.pastH()
				h.v = append(h.v[:0], h.v[i:]...)
				h.trimmedTo = r.ver(0).t
				if len(h.v) == 0 {
					*h = history{trimmedTo: r.v.t, first: h.first}
					h.v = h.buf[:0]
				}
				if h.trimmedTo > a.horizon {
					a.horizon = h.trimmedTo
				}
			}
		}
		for len(t.grSpans) > 0 && t.grSpans[0].end != 0 && t.grSpans[0].end < cutoff {
			t.grSpans = t.grSpans[1:]
		}
	}
	a.tables = slices.DeleteFunc(a.tables, func(t *table) bool {
		drop := t.deadAt != 0 && t.deadAt < cutoff && t.rows.len() == 0 && !t.inGR
		if drop && t.sess != nil && t.sess.tabs[t.dir] == t {
			t.sess.tabs[t.dir] = nil // later UPDATEs on that session start a new table
		}
		if drop {
			a.tell(&coreEvent{kind: evDropped, t: t, now: a.clock})
		}
		if drop && t.rkey != 0 {
			a.recvTabs[t.rkey] = slices.DeleteFunc(a.recvTabs[t.rkey], func(x *table) bool { return x == t })
			if len(a.recvTabs[t.rkey]) == 0 {
				delete(a.recvTabs, t.rkey)
			}
		}
		return drop
	})
	// A session whose last records could not be read goes too once they
	// are older than the cutoff and than the merge window: its
	// decryption-gap closed (MergeWindow after the last record) and holds
	// what it reports; a record of the session after that makes a session
	// and a decryption-gap anew.
	gapCut := min(cutoff, a.clock-int64(a.cfg.MergeWindow)-int64(time.Second))
	keep := a.sessList[:0]
	for _, s := range a.sessList {
		if s.ctl == ctlDown && s.downAt < cutoff && !s.omp.running() && (s.tabs[0] == nil || s.tabs[0].deadAt != 0) &&
			(s.tabs[1] == nil || s.tabs[1].deadAt != 0) && (!s.gapOpen[0] && !s.gapOpen[1] || s.lastGap < gapCut) {
			delete(a.sessions, s.id)
			for _, sd := range s.sides {
				ad := sd.addr.Addr()
				if l := slices.DeleteFunc(a.unnamed[ad], func(x *side) bool { return x == sd }); len(l) > 0 {
					a.unnamed[ad] = l
				} else {
					delete(a.unnamed, ad)
				}
			}
			a.tell(&coreEvent{kind: evDropped, s: s, now: a.clock})
			continue
		}
		keep = append(keep, s)
	}
	clear(a.sessList[len(keep):])
	a.sessList = keep
	a.pruneDevices(cutoff)
}

// AnomalyAbout reports whether an anomaly concerns system-ip (or end name)
// peer: its session has that end, or its subject names it.
func (a *Analyzer) AnomalyAbout(an *Anomaly, peer string) bool { return a.anomalyAbout(an, peer) }

func (a *Analyzer) anomalyAbout(an *Anomaly, peer string) bool {
	if s := a.sessions[an.Session]; s != nil && (s.sides[0].name() == peer || s.sides[1].name() == peer) {
		return true
	}
	for _, f := range strings.FieldsFunc(an.Subject, func(r rune) bool { return r == ' ' || r == '=' || r == '/' || r == ',' }) {
		if f == peer {
			return true
		}
	}
	return false
}
