package analyze

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
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
	if a.cfg.OnEvent == nil {
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
	a.unres.tick(now)
	a.plim.tick(now)
	a.conf.tick(now)
	for len(a.dirty) > 0 {
		d := a.dirty
		a.dirty = nil
		for _, g := range d {
			g.dirty = false
			if len(g.flushes) > 0 || len(g.stale) > 0 {
				a.evalStale(g, now)
			}
		}
		if a.dirty == nil {
			a.dirty = d[:0]
		}
	}
	if len(a.divDirty) > 0 {
		a.evalDivergence(now)
	}
	if a.meshDirty {
		a.meshDirty = false
		a.evalMesh(now)
	}
	if len(a.distQ) > 0 {
		a.distTick(now)
	}
}

// ---- vSmart mesh

type meshSrc struct{}

// meshPairs returns the vSmart pairs (lower system-ip first) with whether
// a session between them is up now and whether one was ever seen.
func (a *Analyzer) meshPairs() (pairs [][2]uint32, up, seen map[[2]uint32]bool) {
	vs := make([]uint32, 0, len(a.vsmarts))
	for v := range a.vsmarts {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	up, seen = map[[2]uint32]bool{}, map[[2]uint32]bool{}
	for _, s := range a.sessList {
		x, y := ip4(s.sides[0].sys), ip4(s.sides[1].sys)
		if x == 0 || y == 0 || x == y {
			continue
		}
		if x > y {
			x, y = y, x
		}
		p := [2]uint32{x, y}
		if _, ok := a.vsmarts[x]; !ok {
			continue
		}
		if _, ok := a.vsmarts[y]; !ok {
			continue
		}
		if s.ompStart || s.omp != ompNone {
			seen[p] = true
		}
		if s.omp.running() && s.ctl != ctlDown {
			up[p] = true
		}
	}
	for i := range vs {
		for j := i + 1; j < len(vs); j++ {
			pairs = append(pairs, [2]uint32{vs[i], vs[j]})
		}
	}
	return pairs, up, seen
}

func meshSubject(p [2]uint32) string {
	return "vsmarts " + addrOf4(p[0]).String() + "," + addrOf4(p[1]).String()
}

// evalMesh: two vSmarts whose OMP session was seen and is down now, for
// longer than the convergence window, leave the mesh incomplete.
func (a *Analyzer) evalMesh(now int64) {
	pairs, up, seen := a.meshPairs()
	for _, p := range pairs {
		k := condKey{KindVSmartMeshIncomplete, meshSubject(p)}
		if up[p] || !seen[p] {
			a.condClear(k, meshSrc{}, now)
			continue
		}
		if _, ok := a.conds[k]; ok {
			continue
		}
		x, y := addrOf4(p[0]).String(), addrOf4(p[1]).String()
		a.condSet(k, meshSrc{}, now, now, 0, a.cfg.ConvergenceWindow, SevError, "", false, func() string {
			return "The OMP session between vSmarts " + x + " and " + y + " is down: the vSmarts no longer exchange what they hold, " +
				"so edges connected to only one of them miss the others' routes (and vsmart-divergence follows)."
		})
	}
}

// meshUnobserved, at the end: vSmart pairs between which the capture never
// showed an OMP session. When the capture evidently sees the controller
// mesh itself (both vSmarts are ends of observed vSmart-to-vSmart sessions,
// and those sessions do not all go through one vSmart, as they would at one
// controller's own link) the pair never peering is a warning; otherwise the
// capture point may simply not see their traffic: info, "not observed".
func (a *Analyzer) meshUnobserved() {
	pairs, _, seen := a.meshPairs()
	var vv [][2]uint32 // observed vSmart-to-vSmart sessions
	for _, p := range pairs {
		if seen[p] {
			vv = append(vv, p)
		}
	}
	// the vSmarts common to every observed vSmart-to-vSmart session
	var common []uint32
	if len(vv) > 0 {
		common = []uint32{vv[0][0], vv[0][1]}
		for _, p := range vv[1:] {
			common = slices.DeleteFunc(common, func(v uint32) bool { return v != p[0] && v != p[1] })
		}
	}
	// vSmarts seen in an OMP session with a device that is not a vSmart
	withEdges := map[uint32]bool{}
	for _, s := range a.sessList {
		if !(s.ompStart || s.omp != ompNone) {
			continue
		}
		x, y := ip4(s.sides[0].sys), ip4(s.sides[1].sys)
		_, xv := a.vsmarts[x]
		_, yv := a.vsmarts[y]
		if xv && !yv && y != 0 {
			withEdges[x] = true
		}
		if yv && !xv && x != 0 {
			withEdges[y] = true
		}
	}
	inMesh := func(v uint32) (peers []string) {
		for _, p := range vv {
			switch v {
			case p[0]:
				peers = append(peers, addrOf4(p[1]).String())
			case p[1]:
				peers = append(peers, addrOf4(p[0]).String())
			}
		}
		return peers
	}
	for _, p := range pairs {
		if seen[p] {
			continue
		}
		k := condKey{KindVSmartMeshIncomplete, meshSubject(p)}
		if _, ok := a.conds[k]; ok {
			continue
		}
		since := max(a.vsmarts[p[0]], a.vsmarts[p[1]])
		x, y := addrOf4(p[0]).String(), addrOf4(p[1]).String()
		px, py := inMesh(p[0]), inMesh(p[1])
		// The capture sees each vSmart's own traffic when both are seen in
		// OMP sessions with edges too (not only through one controller's
		// link, where the other vSmarts appear only as its peers).
		ownTraffic := withEdges[p[0]] && withEdges[p[1]]
		if len(px) > 0 && len(py) > 0 && (len(common) == 0 || ownTraffic) {
			a.condSet(k, meshSrc{}, since, a.clock, 0, 0, SevWarning, "", false, func() string {
				how := "not all through one vSmart"
				if len(common) > 0 {
					how = "and both vSmarts' OMP sessions with edges"
				}
				return "vSmarts " + x + " and " + y + " never peered in this capture, although it sees the vSmart mesh (" +
					strconv.Itoa(len(vv)) + " vSmart-to-vSmart OMP sessions, " + how + "; " + x + " with " +
					strings.Join(px, ", ") + ", " + y + " with " + strings.Join(py, ", ") +
					"): the mesh is incomplete, unless their session takes a path this capture point does not see."
			})
			continue
		}
		why := "the capture never shows " + x + " or " + y + " in a session with another vSmart"
		switch {
		case len(px) > 0 && len(py) > 0:
			why = "the vSmart-to-vSmart sessions it shows all go through " + addrOf4(common[0]).String() +
				" (a capture on that controller's link sees no other vSmart pair)"
		case len(px) > 0:
			why = "the capture never shows " + y + " in a session with another vSmart"
		case len(py) > 0:
			why = "the capture never shows " + x + " in a session with another vSmart"
		}
		a.condSet(k, meshSrc{}, since, a.clock, 0, 0, SevInfo, "", false, func() string {
			return "Not observed: the capture shows no OMP session between vSmarts " + x + " and " + y +
				", but " + why + "; either they do not peer (the vSmart mesh is incomplete) or this capture point does not see their traffic."
		})
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
	s := parts[0]
	for _, p := range parts[1:] {
		s += ", " + p
	}
	return s
}

// ---- vSmart divergence

// divEligible reports whether a table is a settled vSmart → edge table
// that divergence may compare.
func (a *Analyzer) divEligible(t *table, now int64) bool {
	s := t.sess
	return t.deadAt == 0 && s != nil && t.from.isVSmart() && !t.to.isVSmart() && t.from.sys.IsValid() &&
		t.to.sys.IsValid() && s.omp == ompUp && s.ctl != ctlDown && !t.inGR && t.complete && !t.gapped &&
		(t.synced || now-s.ompUpAt >= int64(a.cfg.ConvergenceWindow))
}

func (a *Analyzer) evalDivergence(now int64) {
	recvs := make([]uint32, 0, len(a.divDirty))
	for r := range a.divDirty {
		recvs = append(recvs, r)
	}
	clear(a.divDirty)
	slices.Sort(recvs)
	var tabs []*table
	for _, R := range recvs {
		tabs = tabs[:0]
		for _, t := range a.recvTabs[R] {
			if t.deadAt == 0 && ip4(t.to.sys) == R && a.divEligible(t, now) {
				tabs = append(tabs, t)
			}
		}
		if d := a.devices[R]; d != nil && d.dup {
			// two devices share the receiver's system-ip: which tables
			// belong together is ambiguous (duplicate-system-ip says so)
			tabs = nil
		}
		slices.SortFunc(tabs, func(x, y *table) int { return cmp.Compare(ip4(x.from.sys), ip4(y.from.sys)) })
		var vpns []uint32
		for _, t := range tabs {
			for v := range t.fp {
				if !slices.Contains(vpns, v) {
					vpns = append(vpns, v)
				}
			}
		}
		slices.Sort(vpns)
		var refs []condRef
		type pend struct {
			k      condKey
			t1, t2 *table
			vpn    uint32
		}
		var fresh []pend
		old := a.divSet[R]
		for _, v := range vpns {
			for i := 0; i < len(tabs); i++ {
				for j := i + 1; j < len(tabs); j++ {
					t1, t2 := tabs[i], tabs[j]
					if t1.from.sys == t2.from.sys {
						continue
					}
					f1, f2 := t1.fp[v], t2.fp[v]
					var s1, s2 fprint
					if f1 != nil {
						s1 = *f1
					}
					if f2 != nil {
						s2 = *f2
					}
					if s1 == s2 {
						continue
					}
					k := condKey{KindVSmartDivergence, "vsmarts " + t1.from.sys.String() + "," + t2.from.sys.String() + " vpn=" + itoa(v)}
					ref := condRef{k, R}
					if slices.Contains(refs, ref) {
						continue
					}
					refs = append(refs, ref)
					if !slices.Contains(old, ref) {
						fresh = append(fresh, pend{k, t1, t2, v})
					}
				}
			}
		}
		for _, p := range fresh {
			a.condSet(p.k, R, now, now, 0, a.cfg.ConvergenceWindow, SevError, p.t1.sess.id, false,
				func() string { return a.explainDivergence(p.t1, p.t2, p.vpn) })
		}
		for _, ref := range old {
			if !slices.Contains(refs, ref) {
				a.condClear(ref.key, ref.src, now)
			}
		}
		if len(refs) == 0 {
			delete(a.divSet, R)
		} else {
			a.divSet[R] = refs
		}
	}
}

// explainDivergence names the difference between two vSmarts' tables to a
// receiver in one VPN, with an example route.
func (a *Analyzer) explainDivergence(t1, t2 *table, vpn uint32) string {
	type pk struct {
		g    *group
		orig uint32
		tl   tlocID
	}
	set := func(t *table) (map[pk]int, int) {
		m := map[pk]int{}
		n := 0
		for _, r := range t.rows {
			at := r.attrs()
			if at == nil || r.grp.key.kind != kRoute || r.grp.key.vpn != vpn {
				continue
			}
			k := pk{r.grp, ip4(r.originator(at)), at.tlocID}
			m[k]++
			n++
		}
		return m, n
	}
	m1, n1 := set(t1)
	m2, n2 := set(t2)
	example := ""
	find := func(x, y map[pk]int, who *table) {
		var ks []pk
		for k, c := range x {
			if y[k] != c {
				ks = append(ks, k)
			}
		}
		if len(ks) == 0 || example != "" {
			return
		}
		slices.SortFunc(ks, func(p, q pk) int {
			if c := cmpGroupKey(&p.g.key, &q.g.key); c != 0 {
				return c
			}
			return cmp.Compare(p.orig, q.orig)
		})
		k := ks[0]
		example = "; for example only " + who.from.sys.String() + " sends " + k.g.key.prefix().String() + " from " + addrOf4(k.orig).String()
	}
	find(m1, m2, t1)
	find(m2, m1, t2)
	return "vSmarts " + t1.from.sys.String() + " and " + t2.from.sys.String() + " send " + t1.to.name() + " different routes in vpn " +
		itoa(vpn) + " (" + strconv.Itoa(n1) + " vs " + strconv.Itoa(n2) + " paths" + example +
		"); a difference that outlasts the convergence window (" + a.cfg.ConvergenceWindow.String() +
		") is not propagation delay: the edges' view depends on which vSmart they listen to."
}

// ---- pruning (Config.Retention)

// groupIdle reports whether a group holds nothing any detector still
// refers to: it can leave memory.
func (a *Analyzer) groupIdle(g *group) bool {
	if len(g.rows) > 0 || len(g.stale) > 0 || len(g.flushes) > 0 || g.dirty || g.distDirty || g.distAt != 0 {
		return false
	}
	_, dist := a.distSet[g]
	return !dist
}

func (a *Analyzer) maybePrune() {
	ret := int64(a.cfg.Retention)
	rowsOnly := false
	switch {
	case ret < 0:
		return
	case ret == 0:
		// memory follows the live tables: what no detector window needs
		// any more goes; sessions and tables stay for the summary
		ret, rowsOnly = int64(a.cfg.Window())+int64(time.Second), true
	}
	if a.clock-a.lastPrune < ret/4 {
		return
	}
	a.lastPrune = a.clock
	cutoff := a.clock - ret
	for _, t := range a.tables {
		for j := 0; j < len(t.rows); j++ {
			r := t.rows[j]
			i := len(r.hist) - 1
			for i > 0 && r.hist[i].t > cutoff {
				i--
			}
			if r.hist[i].t > cutoff {
				continue // every version is recent
			}
			if i == len(r.hist)-1 && r.hist[i].attrs == nil && !r.grp.dirty {
				// withdrawn before the cutoff: the row goes
				t.remove(r)
				j-- // the last row moved here
				g := r.grp
				g.remove(r)
				if a.groupIdle(g) {
					delete(a.groups, g.key)
				}
				a.stats.PrunedRows++
				a.pruneHorizon = max(a.pruneHorizon, cutoff)
				a.horizon = max(a.horizon, cutoff)
				continue
			}
			if i > 0 {
				r.hist = append(r.hist[:0], r.hist[i:]...)
				r.trimmedTo = r.hist[0].t
				if r.trimmedTo > a.horizon {
					a.horizon = r.trimmedTo
				}
			}
		}
		for len(t.grSpans) > 0 && t.grSpans[0].end != 0 && t.grSpans[0].end < cutoff {
			t.grSpans = t.grSpans[1:]
		}
	}
	if rowsOnly {
		return
	}
	a.tables = slices.DeleteFunc(a.tables, func(t *table) bool {
		drop := t.deadAt != 0 && t.deadAt < cutoff && len(t.rows) == 0 && !t.inGR
		if drop && t.sess != nil && t.sess.tabs[t.dir] == t {
			t.sess.tabs[t.dir] = nil // later UPDATEs on that session start a new table
		}
		if drop && t.rkey != 0 {
			a.recvTabs[t.rkey] = slices.DeleteFunc(a.recvTabs[t.rkey], func(x *table) bool { return x == t })
			if len(a.recvTabs[t.rkey]) == 0 {
				delete(a.recvTabs, t.rkey)
			}
		}
		return drop
	})
	keep := a.sessList[:0]
	for _, s := range a.sessList {
		if s.ctl == ctlDown && s.downAt < cutoff && !s.omp.running() && (s.tabs[0] == nil || s.tabs[0].deadAt != 0) &&
			(s.tabs[1] == nil || s.tabs[1].deadAt != 0) && !s.gapOpen[0] && !s.gapOpen[1] {
			delete(a.sessions, s.id)
			continue
		}
		keep = append(keep, s)
	}
	clear(a.sessList[len(keep):])
	a.sessList = keep
}
