package analyze

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// tableFor returns the table of session s's direction d (sender side d),
// creating it.
func (a *Analyzer) tableFor(s *session, d int, now int64) *table {
	if t := s.tabs[d]; t != nil {
		return t
	}
	a.tableID++
	t := &table{id: a.tableID, sess: s, dir: d, from: s.sides[d], to: s.sides[1-d], sessions: []string{s.id},
		created: now, hp: &a.histPool}
	t.complete = s.sides[d].hs != nil
	t.gapped = s.gapDir[d] > 0 || s.pathsRefused[d] > 0
	t.rkey = ip4(t.to.sys)
	if t.rkey != 0 {
		a.recvTabs[t.rkey] = append(a.recvTabs[t.rkey], t)
	}
	s.tabs[d] = t
	a.tables = append(a.tables, t)
	a.tell(&coreEvent{kind: evSessionChanged, s: s, now: now})
	return t
}

func (a *Analyzer) update(s *session, d int, u *omp.Update, now int64, frame uint64) {
	if !u.Family.Parsed() {
		s.rawUpdates++
		return
	}
	t := a.tableFor(s, d, now)
	sd := s.sides[d]
	n := len(u.Withdrawn) + len(u.Reachable)
	switch famKind(u.Family) {
	case kRoute:
		a.stats.RouteEvents += n
	case kTLOC:
		a.stats.TLOCEvents += n
	default:
		a.stats.ServiceEvents += n
	}
	var at *Attrs
	if len(u.Reachable) > 0 {
		at = a.in.internRaw(u.Attrs, u.RawAttrs)
		first := &u.Reachable[0]
		var orig netip.Addr
		what := "routes"
		switch famKind(u.Family) {
		case kRoute:
			orig = at.Originator
		case kTLOC:
			orig, what = first.SystemIP, "TLOC "+first.TLOC().String()
		default:
			orig, what = first.Originator, "service "+first.Service.String()
		}
		if !sd.sys.IsValid() {
			a.infer(sd, u.Family, first, at)
		}
		if sd.sys == orig {
			// a device's own paths (reflections repeat them; a path
			// advertised for another system-ip is not this check's)
			a.tellv(coreEvent{kind: evAttrSite, s: s, at: at, orig: orig, what: what, now: now, frame: frame})
		}
	}
	for i := range u.Withdrawn {
		a.withdraw(t, u, &u.Withdrawn[i], now, frame)
	}
	for i := range u.Reachable {
		a.advertise(t, u.Family, &u.Reachable[i], at, now, frame)
	}
}

// infer names an edge whose HANDSHAKE was not seen from what it
// advertises: an edge advertises its own TLOCs and routes.
func (a *Analyzer) infer(sd *side, f omp.Family, n *omp.NLRI, at *Attrs) {
	if sd.hdrDev != sdwan.DeviceVEdge && sd.hdrDev != sdwan.DeviceVHub {
		return
	}
	var sys netip.Addr
	switch famKind(f) {
	case kTLOC:
		sys = n.SystemIP
	case kRoute:
		if at.Has(omp.AttrOriginator) {
			sys = at.Originator
		}
	}
	if sys.Is4() && !sys.IsUnspecified() {
		sd.sys, sd.inferred = sys, true
		if sd.dev == sdwan.DeviceUnknown {
			sd.dev = sd.hdrDev
		}
		a.sysChanged(sd)
	}
}

func (a *Analyzer) advertise(t *table, f omp.Family, n *omp.NLRI, at *Attrs, now int64, frame uint64) {
	gk := keyOf(f, n)
	g := a.group(&gk)
	var r *row
	pos := -1
	if g == nil {
		if a.paths >= a.cfg.MaxPaths {
			a.refusePath(t, gk.kind, now)
			return
		}
		ga := &groupAlloc{}
		g = &ga.g
		g.key = gk
		g.rows = ga.rows[:0]
		a.groups.put(g)
		if gk.kind == kTLOC {
			a.tlocGen++
		}
	} else {
		r, pos = g.findPos(t, f, n.PathID)
	}
	if r == nil {
		if a.paths >= a.cfg.MaxPaths {
			a.refusePath(t, gk.kind, now)
			return
		}
		a.paths++
		r = t.newRow()
		r.grp, r.pathID = g, n.PathID
		r.bits |= uint32(f&7) << rowFamShift
		g.addAt(r, pos)
		// a path's first advertisement is not a change (for flaps)
		a.setRow(r, at, now, frame, whyUpdate, false)
		return
	}
	if cur := r.cur(); cur.attrs == at {
		if t.inGR && cur.gr() < t.grCount {
			a.push(r, a.version(now, frame, at, whyRefresh, false))
		}
		return
	}
	a.setRow(r, at, now, frame, whyUpdate, true)
}

// refusePath counts the advertisement of a path not kept at
// Config.MaxPaths (of kind k). Its table is incomplete from here, as after
// unreadable records (a table that a graceful restart's new session adopts
// stays so, and tableFor keeps it so for a table made again for the
// session), and the detectors that judge a path's absence across tables
// (unresolved-route for TLOCs, stale-after-gr for a kind) stop raising
// notices once a path they may miss was not kept (a.refused).
func (a *Analyzer) refusePath(t *table, k uint8, now int64) {
	a.stats.PathsRefused++
	if a.refused&(1<<k) == 0 {
		a.refused |= 1 << k
		a.tell(&coreEvent{kind: evRefused, n: int(k), now: now})
	}
	s := t.sess
	s.pathsRefused[t.dir]++
	if !t.gapped || s.pathsRefused[t.dir] == 1 {
		// the table, or the session (not-distributed judges receivers
		// by their sessions), is incomplete from here
		t.gapped = true
		a.tell(&coreEvent{kind: evTableChanged, t: t, now: now})
	}
}

// group returns the group of key gk (nil: none).
func (a *Analyzer) group(gk *groupKey) *group { return a.groups.get(gk) }

// groupAlloc allocates a group with room for one row in one object.
type groupAlloc struct {
	g    group
	rows [1]*row
}

func (a *Analyzer) withdraw(t *table, u *omp.Update, n *omp.NLRI, now int64, frame uint64) {
	var r *row
	gk := keyOf(u.Family, n)
	if g := a.group(&gk); g != nil {
		r = g.find(t, u.Family, n.PathID)
	}
	if r != nil && r.live() {
		a.setRow(r, nil, now, frame, whyWithdraw, true)
		return
	}
	a.withdrawUnknown(t, u, n, r, now, frame)
}

// withdrawUnknown tells the detectors of a withdraw of a path the sender
// had not advertised on this session (r: its row, if it was withdrawn
// before).
func (a *Analyzer) withdrawUnknown(t *table, u *omp.Update, n *omp.NLRI, r *row, now int64, frame uint64) {
	a.tell(&coreEvent{kind: evWithdrawUnknown, s: t.sess, t: t, upd: u, nlri: n, r: r, now: now, frame: frame})
}

func routeSubject(vpn uint32, p netip.Prefix, orig netip.Addr) string {
	// built in one buffer: one allocation where concatenating the
	// parts' strings took four (transient conflicts build many)
	var buf [96]byte
	b := append(buf[:0], "route vpn="...)
	b = strconv.AppendUint(b, uint64(vpn), 10)
	b = append(b, " prefix="...)
	if p.IsValid() {
		b = p.AppendTo(b)
	} else {
		b = append(b, p.String()...)
	}
	b = append(b, " originator="...)
	if orig.IsValid() {
		b = appendAddrText(b, orig)
	} else {
		b = append(b, "0.0.0.0"...)
	}
	return string(b)
}

func serviceSubject(vpn uint32, svc sdwan.Service, orig netip.Addr) string {
	return "service vpn=" + itoa(vpn) + " service=" + svc.String() + " originator=" + orig.String()
}

// rowSubject is the canonical subject of a row given its attributes.
func rowSubject(r *row, at *Attrs) string {
	g := &r.grp.key
	switch g.kind {
	case kRoute:
		return routeSubject(g.vpn, g.prefix(), r.originator(at))
	case kTLOC:
		return "tloc " + g.tloc().String()
	}
	return serviceSubject(g.vpn, sdwan.Service(g.svc), g.addr4())
}

// rowKey is the exported key of a row.
func rowKey(r *row, at *Attrs) RowKey {
	g := &r.grp.key
	k := RowKey{PathID: r.pathID}
	switch g.kind {
	case kRoute:
		k.VPN, k.Prefix = g.vpn, g.prefix()
		if at != nil {
			k.Originator, k.TLOC = r.originator(at), at.TLOC
		}
	case kTLOC:
		k.TLOC = g.tloc()
		k.Originator = g.addr4()
		if at != nil {
			k.Originator = r.originator(at)
		}
	default:
		k.VPN, k.Service, k.Originator = g.vpn, sdwan.Service(g.svc), g.addr4()
		if at != nil {
			k.TLOC = at.TLOC
		}
	}
	return k
}

// push appends a version, dropping the oldest beyond HistoryPerRow.
func (a *Analyzer) push(r *row, v version) {
	v.setGR(r.tab().grCount)
	if a.rec != nil {
		a.rec.version(r, v, !r.hasV())
	}
	if !r.hasV() {
		r.v = v
		r.bits |= rowHasV
		return
	}
	h := r.pastH()
	if h == nil {
		if h = r.tab().newHistory(r); h == nil {
			a.stats.Saturated++ // the table's history slab is full: the old version is not kept
			r.v = v
			return
		}
		h.first = r.v.t
		h.v = h.buf[:0]
	}
	if len(h.v)+1 >= a.cfg.HistoryPerRow {
		copy(h.v, h.v[1:])
		h.v = h.v[:len(h.v)-1]
		h.trimmedTo = h.v[0].t
		if len(h.v) == 0 {
			h.trimmedTo = r.v.t
		}
		if h.trimmedTo > a.horizon {
			a.horizon = h.trimmedTo
		}
	}
	h.v = append(h.v, r.v)
	r.v = v
}

// version builds a version (its GR count is push's), counting saturation.
func (a *Analyzer) version(now int64, frame uint64, at *Attrs, why uint8, counted bool) version {
	v, sat := mkVersion(now, frame, at, 0, why, counted)
	if sat {
		a.stats.Saturated++
	}
	return v
}

// setRow records a new state of a row (at nil: withdrawn) and keeps every
// index and detector in step.
func (a *Analyzer) setRow(r *row, at *Attrs, now int64, frame uint64, why uint8, counted bool) {
	t := r.tab()
	old := r.attrs()
	if at != nil && t.deadAt != 0 && !t.inGR {
		t.deadAt = 0 // UPDATEs on a session thought down: it is not
	}
	a.push(r, a.version(now, frame, at, why, counted))
	g := r.grp
	k := g.key.kind
	// the change handed to the detectors lives in the analyzer (no
	// allocation per row); a detector never changes rows, so no second
	// setRow runs while one is being told
	c := &a.rc
	*c = rowChange{r: r, old: old, new: at, now: now, frame: frame, why: why, counted: counted}
	switch {
	case old == nil && at != nil:
		t.live[k]++
		t.famLive[r.fam()&7]++
		c.firstInTable = t.live[k] == 1
	case old != nil && at == nil:
		t.live[k]--
		t.famLive[r.fam()&7]--
		if a.cfg.Retention == 0 {
			a.wq = append(a.wq, withdrawn{r, now})
			if len(a.wq)-a.wqHead >= a.wqCompactAt {
				a.compactWQ()
			}
		}
	}
	if k == kTLOC {
		id := tlocID{ip4(g.key.addr4()), g.key.color, g.key.encap}
		if old == nil && at != nil {
			a.tlocUp(id, now)
		} else if old != nil && at == nil {
			a.tlocDown(id, now)
		}
	}
	c.wasOwn, c.isOwn = a.ownUpdate(r, at)
	for _, w := range a.rowW {
		w.rowChanged(c)
	}
	if a.events() {
		a.rowEvent(r, old, at, now, frame, why)
	}
}

var evTypes = [3][3]EventType{
	{EvRouteAdd, EvRouteChange, EvRouteWithdraw},
	{EvTLOCAdd, EvTLOCChange, EvTLOCWithdraw},
	{EvServiceAdd, EvServiceChange, EvServiceWithdraw},
}

func (a *Analyzer) rowEvent(r *row, old, at *Attrs, now int64, frame uint64, why uint8) {
	if f := &a.cfg.TimelineFilter; f.on() {
		k := at
		if k == nil {
			k = old
		}
		if !f.table(r.tab()) || !f.row(r, k) {
			return
		}
	}
	op, key := 1, at
	switch {
	case old == nil:
		op = 0
	case at == nil:
		op, key = 2, old
	}
	t := r.tab()
	e := Event{Time: nsTime(now), Type: evTypes[r.grp.key.kind][op], Frame: frame, Session: t.sess.id,
		From: t.from.name(), To: t.to.name(), Family: r.fam(), Row: rowKey(r, key), Old: old, New: at,
		Reason: whyNames[why]}
	if at != nil {
		e.Status = a.rowStatus(r)
	}
	if a.cfg.OnEvent == nil {
		a.emitJSON(&e) // the one event of most: no allocation
		return
	}
	ep := new(Event) // the caller's to keep
	*ep = e
	a.emit(ep)
}

// sysChanged re-keys the tables of sd's session after sd's system-ip was
// learned or changed: the group order (by receiver) and the owners' own
// lists depend on it.
func (a *Analyzer) sysChanged(sd *side) {
	for _, t := range sd.sess.tabs {
		if t != nil {
			a.rekeyTable(t)
		}
	}
}

// rekeyTable brings t's rows in line with its current ends.
func (a *Analyzer) rekeyTable(t *table) {
	oldRK := t.rkey
	if nk := ip4(t.to.sys); nk != t.rkey {
		for r := range t.rows.all {
			r.grp.remove(r) // found by the old key
		}
		if t.rkey != 0 {
			a.recvTabs[t.rkey] = slices.DeleteFunc(a.recvTabs[t.rkey], func(x *table) bool { return x == t })
		}
		t.rkey = nk
		if nk != 0 {
			a.recvTabs[nk] = append(a.recvTabs[nk], t)
		}
		for r := range t.rows.all {
			r.grp.add(r)
		}
	}
	for r := range t.rows.all {
		at := r.attrs()
		was, is := a.ownUpdate(r, at)
		if at != nil {
			// the row's place changed, not its path: detectors that index
			// by receiver or owner look again
			c := &a.rc
			*c = rowChange{r: r, old: at, new: at, now: a.clock, wasOwn: was, isOwn: is, rekey: true, oldRK: oldRK}
			for _, w := range a.rowW {
				w.rowChanged(c)
			}
		}
	}
}

// ---- fabric TLOC index

func (a *Analyzer) tlocState(id tlocID) *tlocState {
	st := a.tlocs[id]
	if st == nil {
		st = &tlocState{}
		a.tlocs[id] = st
	}
	return st
}

// tlocLiveAt reports whether some table of the fabric holds the TLOC of
// at. The TLOC's state is remembered in at (an Attrs belongs to one
// analyzer) until the state leaves a.tlocs with the TLOC's last row.
func (a *Analyzer) tlocLiveAt(at *Attrs) bool {
	st := at.tst
	if st == nil || st.gone {
		st = a.tlocs[at.tlocID] // none: looked up again next time
		at.tst = st
	}
	return st != nil && st.live > 0
}

// tlocUp: a TLOC row went live (the TLOC comes to the fabric with its
// first).
func (a *Analyzer) tlocUp(id tlocID, now int64) {
	st := a.tlocState(id)
	st.live++
	if st.live == 1 {
		a.tell(&coreEvent{kind: evTLOC, tloc: id, up: true, now: now})
	}
}

// tlocDown: a TLOC row was withdrawn (the TLOC leaves the fabric with its
// last).
func (a *Analyzer) tlocDown(id tlocID, now int64) {
	st := a.tlocState(id)
	st.live--
	if st.live == 0 {
		// the TLOC leaves the index, so that what it holds follows the
		// live tables and not every TLOC ever seen
		delete(a.tlocs, id)
		st.gone = true
		a.tell(&coreEvent{kind: evTLOC, tloc: id, now: now})
	}
}

// owner is who a row's path belongs to: the originator of a route or
// service, the system-ip of a TLOC.
func (r *row) owner(at *Attrs) uint32 {
	if r.grp.key.kind == kTLOC {
		return ip4(r.grp.key.addr4())
	}
	return r.orig4(at)
}

// isOwn reports whether a live row is sent by the path's owner (or, for a
// TLOC, by the originator its attributes name).
func isOwn(r *row, at *Attrs) bool {
	if at == nil {
		return false
	}
	from := ip4(r.tab().from.sys)
	return from != 0 && (from == r.owner(at) || from == r.orig4(at))
}

// ownUpdate keeps the group's own list in step with row r (attributes at
// now), and reports whether r was and is in it.
func (a *Analyzer) ownUpdate(r *row, at *Attrs) (was, is bool) {
	g := r.grp
	was = slices.Contains(g.own, r)
	is = isOwn(r, at)
	if was != is {
		g.setOwn(r, is)
	}
	return was, is
}

// ---- graceful restart

func (a *Analyzer) enterGR(t *table, now, deadline int64) {
	if t.inGR {
		return
	}
	t.inGR, t.grStart, t.grDeadline = true, now, deadline
	if t.grCount < maxGR {
		t.grCount++
	} else {
		a.stats.Saturated++ // later GR periods are not told apart (stale rows go unseen)
	}
	t.grGen++
	gen := t.grGen
	t.grSpans = append(t.grSpans, span{start: now, n: t.grCount})
	if len(t.grSpans) > maxGRSpans {
		t.grSpans = slices.Delete(t.grSpans, 0, 1)
		a.stats.GRSpansForgotten++
	}
	t.grFams = 0
	for f, n := range t.famLive {
		if n > 0 {
			t.grFams |= 1 << f
		}
	}
	a.after(deadline, func(now int64) {
		if t.inGR && t.grGen == gen {
			a.flushStale(t, now, 0, whyGRExpired, 0xff)
			a.exitGR(t, now, 0)
		}
	})
	a.tell(&coreEvent{kind: evTableChanged, t: t, now: now})
}

func (a *Analyzer) exitGR(t *table, now int64, frame uint64) {
	if !t.inGR {
		return
	}
	t.inGR = false
	t.grFams = 0
	if n := len(t.grSpans); n > 0 && t.grSpans[n-1].end == 0 {
		t.grSpans[n-1].end = now
	}
	if t.from.sys.IsValid() && t.to.sys.IsValid() {
		pk := [2]uint32{ip4(t.from.sys), ip4(t.to.sys)}
		if a.grWait[pk] == t {
			delete(a.grWait, pk)
		}
	}
	s := t.sess
	other := s.tabs[1-t.dir]
	otherGR := other != nil && other.inGR
	switch {
	case s.omp == ompDownGR && !otherGR:
		a.setOMP(s, ompDown, now, frame, "graceful restart over, peer did not come back")
		for _, x := range s.tabs {
			if x != nil {
				x.deadAt = now
			}
		}
	case s.omp == ompDownGR:
		t.deadAt = now
	case s.omp == ompInitGR && !otherGR:
		a.setOMP(s, ompUp, now, frame, "graceful restart complete")
	}
	a.tell(&coreEvent{kind: evTableChanged, t: t, now: now})
}

// liveRows returns the table's rows that keep says, in table order
// (deterministic: the order of first advertisement, except that a new row
// takes the slot of the last one pruned).
func liveRows(t *table, keep func(*row) bool) []*row {
	rs := make([]*row, 0, t.rows.len())
	for r := range t.rows.all {
		if keep(r) {
			rs = append(rs, r)
		}
	}
	return rs
}

func cmpRows(x, y *row) int {
	gx, gy := &x.grp.key, &y.grp.key
	if c := cmpGroupKey(gx, gy); c != 0 {
		return c
	}
	if x.fam() != y.fam() {
		return int(x.fam()) - int(y.fam())
	}
	switch {
	case x.pathID < y.pathID:
		return -1
	case x.pathID > y.pathID:
		return 1
	}
	return 0
}

func cmpGroupKey(x, y *groupKey) int {
	if x.kind != y.kind {
		return int(x.kind) - int(y.kind)
	}
	if x.vpn != y.vpn {
		if x.vpn < y.vpn {
			return -1
		}
		return 1
	}
	if x.v6 != y.v6 {
		if !x.v6 {
			return -1
		}
		return 1
	}
	for i := range x.addr {
		if x.addr[i] != y.addr[i] {
			return int(x.addr[i]) - int(y.addr[i])
		}
	}
	if x.bits != y.bits {
		return int(x.bits) - int(y.bits)
	}
	if x.color != y.color {
		if x.color < y.color {
			return -1
		}
		return 1
	}
	if x.encap != y.encap {
		return int(x.encap) - int(y.encap)
	}
	return int(x.svc) - int(y.svc)
}

func sortGroups(gs []*group) {
	slices.SortFunc(gs, func(x, y *group) int { return cmpGroupKey(&x.key, &y.key) })
}

// flushStale withdraws the rows of t not re-advertised since the GR began
// (fam 0xff: every family).
func (a *Analyzer) flushStale(t *table, now int64, frame uint64, why uint8, fam omp.Family) {
	rs := liveRows(t, func(r *row) bool {
		return r.live() && r.cur().gr() < t.grCount && (fam == 0xff || r.fam() == fam)
	})
	recv := ip4(t.to.sys)
	if !t.to.isVSmart() {
		recv = 0 // only a vSmart re-advertises what it holds (stale-after-gr)
	}
	for _, r := range rs {
		if recv != 0 {
			a.tell(&coreEvent{kind: evFlushed, r: r, at: r.attrs(), recv: recv, now: now})
		}
		a.setRow(r, nil, now, frame, why, false)
	}
}

// flushAll withdraws every live row of t.
func (a *Analyzer) flushAll(t *table, now int64, frame uint64, why uint8) {
	for _, r := range liveRows(t, (*row).live) {
		a.setRow(r, nil, now, frame, why, false)
	}
}
