package analyze

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// Best path: for each receiver and prefix, what `show omp routes` on the
// receiver would show, inferred from the paths it received.
//
// Cisco's order ("OMP Best-Path Algorithm and Loop Avoidance", Cisco SD-WAN
// Routing Configuration Guide, Cisco IOS XE SD-WAN; the text found covers
// steps 2 to 9): ignore invalid routes; the lower administrative distance
// (the same for every OMP path: not compared); the higher OMP route
// preference; the higher TLOC preference; the origin type, in the order
// "Connected, Static, EBGP, intra-area OSPF/OSPFv3, inter-area OSPF/OSPFv3,
// external EIGRP, internal EIGRP, external IBGP, or Unknown" (quoted as
// published; other origins rank as Unknown); the lower origin metric; the
// lower router ID; the lower private IP address. Step 1, as the guide's
// later editions and TAC notes give it, prefers active routes to stale
// ones (GR). A path learned from its originator is preferred to one
// reflected by another device (the guide's first example: a vSmart
// chooses the route from the edge over the same route from another
// vSmart; LossReasonEnum's "personality"); for an edge, which learns
// everything from vSmarts, this step changes nothing. A controller
// "chooses both" of equal paths from different sites, so every path equal
// on those criteria is chosen, up to the receiver's ECMP limit (an edge:
// its ecmp-limit; a vSmart: its send-path-limit; default 4; one limit per
// receiving device, recvInfo), the rest losing on router ID (peer-id) or
// private address (tloc-id).
//
// The codes, in Cisco's order (RibInStatusType of CISCO-SDWAN-OMP-MIB:
// C I Red Rej L R S Ext Inv U): C chosen; I installed (inferred: an edge
// installs a chosen, resolved path, once per originator and TLOC when
// several vSmarts reflect it, from the lowest peer, stale or not: it
// keeps forwarding through graceful restart; BFD is not in the capture;
// a receiver whose system-ip is unknown shows no I); Rej rejected
// (inferred, in snapshots only: inferRejected; receiver policy is not in
// the capture); L looped (the receiver's own route reflected back); R
// resolved; S stale; Inv invalid; U TLOC unresolved. The loss reasons are Cisco's LossReasonEnum names: invalid,
// stale-entry, personality, preference, tloc-preference, origin-protocol,
// origin-metric, peer-id, tloc-id.

// Loss reasons (CISCO-SDWAN-OMP-MIB LossReasonEnum spellings).
const (
	LossInvalid        = "invalid"
	LossStale          = "stale-entry"
	LossPersonality    = "personality"
	LossPreference     = "preference"
	LossTLOCPreference = "tloc-preference"
	LossOrigin         = "origin-protocol"
	LossMetric         = "origin-metric"
	LossPeerID         = "peer-id"
	LossTLOCID         = "tloc-id"
)

// originRank is the origin-type order of the best-path algorithm.
func originRank(o sdwan.Origin) int {
	switch o {
	case sdwan.OriginConnected:
		return 0
	case sdwan.OriginStatic:
		return 1
	case sdwan.OriginEBGP:
		return 2
	case sdwan.OriginOSPFIntra:
		return 3
	case sdwan.OriginOSPFInter:
		return 4
	case 13: // eigrp-external
		return 5
	case 12: // eigrp-internal
		return 6
	case sdwan.OriginIBGP:
		return 7
	}
	return 8
}

// tlocHeld is what a receiver holds of a TLOC: its preference and private
// address (the last tie-break).
type tlocHeld struct {
	pref uint32
	priv netip.Addr
}

// bpPath is one path in a best-path comparison.
type bpPath struct {
	row      *Row
	from     string
	fromSys  netip.Addr // the sender's system-ip (invalid when unknown)
	notOrig  bool       // not learned from its originator (a reflected copy)
	stale    bool
	eligible bool
	pref     uint32
	tpref    uint32
	origin   int
	metric   uint32
	orig     netip.Addr
	priv     netip.Addr
	tloc     tlocID
}

// cmpFrom orders senders as snapshots list tables: by system-ip, unknown
// ones after, by name.
func cmpFrom(x, y *bpPath) int { return cmpSender(x.fromSys, x.from, y.fromSys, y.from) }

// cmpSender orders senders by system-ip, unknown ones (invalid sys) after,
// by name.
func cmpSender(xs netip.Addr, xn string, ys netip.Addr, yn string) int {
	switch xv, yv := xs.IsValid(), ys.IsValid(); {
	case xv && yv:
		return xs.Compare(ys)
	case xv:
		return -1
	case yv:
		return 1
	}
	return strings.Compare(xn, yn)
}

// cmpTie orders the paths still equal after the criteria: the lower
// router ID (originator), then the lower private address of the TLOC,
// then the TLOC itself; copies of one path by sender.
func cmpTie(x, y *bpPath) int {
	if c := x.orig.Compare(y.orig); c != 0 {
		return c
	}
	if c := x.priv.Compare(y.priv); c != 0 {
		return c
	}
	if c := cmpTLOCID(x.tloc, y.tloc); c != 0 {
		return c
	}
	return cmpFrom(x, y)
}

func cmpTLOCID(x, y tlocID) int {
	switch {
	case x.sys != y.sys:
		return cmpU32(x.sys, y.sys)
	case x.color != y.color:
		return cmpU32(x.color, y.color)
	}
	return int(x.encap) - int(y.encap)
}

// recvInfo is what the comparison needs of a table's receiver, the same
// for all its tables: its ECMP limit (an edge's ecmp-limit, a vSmart's
// send-path-limit, from the first of its HANDSHAKEs seen; default 4) and
// whether it installs routes (an edge). A receiver whose system-ip is
// unknown gets the defaults and installs nothing that can be told.
func (a *Analyzer) recvInfo(t *table) (limit int, edge bool) {
	limit = omp.DefaultECMPLimit
	if t.rkey == 0 {
		return limit, false
	}
	got := false
	for _, x := range a.recvTabs[t.rkey] {
		if x.to.dev == sdwan.DeviceVEdge {
			edge = true
		}
		if h := x.to.hs; h != nil && !got {
			got = true
			if x.to.dev == sdwan.DeviceVEdge && h.ecmp > 0 {
				limit = int(h.ecmp)
			} else if x.to.dev != sdwan.DeviceVEdge && h.spl > 0 {
				limit = int(h.spl)
			}
		}
	}
	return limit, edge
}

// bestPath sets the C, I and L codes and the loss reasons of every route
// row of snap, per receiver and prefix. held gives each receiver's TLOCs.
func (a *Analyzer) bestPath(snap *Snapshot, held map[string]map[tlocID]tlocHeld) {
	type key struct {
		to string
		g  *group
	}
	groups := map[key][]*bpPath{}
	var order []key
	type recv struct {
		limit int
		edge  bool
	}
	recvs := map[string]recv{}
	for _, tv := range snap.Tables {
		if _, ok := recvs[tv.To]; !ok {
			l, e := a.recvInfo(tv.t)
			recvs[tv.To] = recv{l, e}
		}
		var fromSys netip.Addr
		if tv.t != nil {
			fromSys = tv.t.from.sys
		}
		for i := range tv.Routes {
			r := &tv.Routes[i]
			k := key{tv.To, r.r.grp}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			at := r.Attrs
			p := &bpPath{row: r, from: tv.From, fromSys: fromSys, notOrig: !(fromSys.IsValid() && fromSys == at.Originator),
				stale:    hasStatus(r.Status, StatusStale),
				eligible: !hasStatus(r.Status, StatusInvalid) && !hasStatus(r.Status, StatusUnresolved),
				pref:     at.Preference, origin: originRank(at.Origin), metric: at.Metric, orig: at.Originator, tloc: at.tlocID}
			if !at.Has(omp.AttrOrigin) {
				p.origin = 8
			}
			if h, ok := held[tv.To][at.tlocID]; ok {
				p.tpref, p.priv = h.pref, h.priv
			}
			if tv.t != nil && at.Originator.IsValid() && at.Originator == tv.t.to.sys {
				r.looped = true
				p.eligible = false
			}
			groups[k] = append(groups[k], p)
		}
	}
	for _, k := range order {
		rc := recvs[k.to]
		choose(groups[k], rc.limit, rc.edge)
	}
	a.inferRejected(snap)
	for _, tv := range snap.Tables {
		for _, rs := range [][]Row{tv.Routes, tv.TLOCs, tv.Services} {
			for i := range rs {
				rs[i].Status = composeStatus(&rs[i])
			}
		}
	}
}

// inferRejected marks Rej, in snapshots only: a path a vSmart learned
// from its originator and does not advertise to any peer, although it
// advertises that originator's other paths, and has held for longer than
// the distribution window (Config.DistributionWindow): the mark of a
// path its inbound policy rejected. It is an inference (policy is not in
// the capture); a rejected path is not chosen. The timeline does not
// carry Rej: a path cannot be known to be withheld when it arrives.
func (a *Analyzer) inferRejected(snap *Snapshot) {
	type advKey struct {
		from string
		g    *group
		orig netip.Addr
		tloc tlocID
	}
	type origKey struct {
		from string
		orig netip.Addr
	}
	adv := map[advKey]bool{}
	advOrig := map[origKey]bool{}
	for _, tv := range snap.Tables {
		if tv.FromType != sdwan.DeviceVSmart {
			continue
		}
		for i := range tv.Routes {
			r := &tv.Routes[i]
			adv[advKey{tv.From, r.r.grp, r.Attrs.Originator, r.Attrs.tlocID}] = true
			advOrig[origKey{tv.From, r.Attrs.Originator}] = true
		}
	}
	settle := snap.At.Add(-a.cfg.DistributionWindow)
	for _, tv := range snap.Tables {
		if tv.ToType != sdwan.DeviceVSmart || tv.t == nil {
			continue
		}
		for i := range tv.Routes {
			r := &tv.Routes[i]
			at := r.Attrs
			if !at.Originator.IsValid() || tv.t.from.sys != at.Originator || r.FirstSeen.After(settle) ||
				!advOrig[origKey{tv.To, at.Originator}] || adv[advKey{tv.To, r.r.grp, at.Originator, at.tlocID}] {
				continue
			}
			r.rejected, r.chosen, r.installed = true, false, false
			if r.LossReason == "" {
				r.LossReason = LossInvalid
			}
		}
	}
}

// hasStatus reports whether a comma-separated status holds code c.
func hasStatus(status, c string) bool {
	for status != "" {
		i := strings.IndexByte(status, ',')
		if i < 0 {
			return status == c
		}
		if status[:i] == c {
			return true
		}
		status = status[i+1:]
	}
	return false
}

// choose runs the comparison over one receiver's paths of one prefix.
func choose(ps []*bpPath, limit int, edge bool) {
	var cand []*bpPath
	for _, p := range ps {
		if p.eligible {
			cand = append(cand, p)
		} else {
			p.row.LossReason = LossInvalid
		}
	}
	if len(cand) == 0 {
		return
	}
	// the best on each criterion in turn; the losers keep the criterion
	for _, c := range bpCriteria {
		best := cand[0]
		for _, p := range cand[1:] {
			if c.better(p, best) < 0 {
				best = p
			}
		}
		keep := cand[:0]
		for _, p := range cand {
			if c.better(p, best) > 0 {
				p.row.LossReason, p.row.LostTo = c.reason, best.from
				p.row.LostToPathID = best.row.Key.PathID
			} else {
				keep = append(keep, p)
			}
		}
		cand = keep
	}
	// ties: up to limit distinct paths (originator, TLOC), by router ID
	// then private address; copies of a kept path (reflected by several
	// vSmarts) are chosen too, and an edge installs the first
	slices.SortStableFunc(cand, cmpTie)
	kept := 0
	var last *bpPath
	for i, p := range cand {
		newID := i == 0 || p.orig != cand[i-1].orig || p.tloc != cand[i-1].tloc
		if newID && kept >= limit {
			for _, q := range cand[i:] {
				q.row.LossReason, q.row.LostTo, q.row.LostToPathID = LossTLOCID, last.from, last.row.Key.PathID
				if q.orig != last.orig {
					q.row.LossReason = LossPeerID
				}
			}
			return
		}
		p.row.chosen = true
		if newID {
			kept++
			last = p
			p.row.installed = edge
		}
	}
}

// bpCriteria are the steps of the best-path order after validity, each
// with the loss reason of the paths it eliminates (better < 0: x better).
var bpCriteria = [...]struct {
	reason string
	better func(x, y *bpPath) int
}{
	{LossStale, func(x, y *bpPath) int { return b2i(x.stale) - b2i(y.stale) }},
	{LossPersonality, func(x, y *bpPath) int { return b2i(x.notOrig) - b2i(y.notOrig) }},
	{LossPreference, func(x, y *bpPath) int { return cmpU32(y.pref, x.pref) }},
	{LossTLOCPreference, func(x, y *bpPath) int { return cmpU32(y.tpref, x.tpref) }},
	{LossOrigin, func(x, y *bpPath) int { return x.origin - y.origin }},
	{LossMetric, func(x, y *bpPath) int { return cmpU32(x.metric, y.metric) }},
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cmpU32(x, y uint32) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// composeStatus writes a route row's codes in Cisco's order.
func composeStatus(r *Row) string {
	var parts []string
	if r.chosen {
		parts = append(parts, StatusChosen)
	}
	if r.installed {
		parts = append(parts, StatusInstalled)
	}
	if r.rejected {
		parts = append(parts, StatusRejected)
	}
	if r.looped {
		parts = append(parts, StatusLooped)
	}
	for _, c := range []string{StatusResolved, StatusStale, StatusInvalid, StatusUnresolved} {
		for _, have := range strings.Split(r.Status, ",") {
			if have == c {
				parts = append(parts, c)
			}
		}
	}
	return strings.Join(parts, ",")
}

// ---- the status of one row now, for the timeline

// heldNow reports whether receiver rk (table t's receiver when rk is 0)
// holds TLOC k now, with the TLOC's preference and private address.
func (a *Analyzer) heldNow(rk uint32, to *side, at *Attrs) (tlocHeld, bool) {
	g := a.tlocGroup(at)
	if g == nil {
		return tlocHeld{}, false
	}
	var h tlocHeld
	found := false
	name := ""
	if rk == 0 {
		name = to.name() // receivers without a system-ip are told apart by name, as in snapshots
	}
	i := g.searchRecv(rk)
	for ; i < len(g.rows) && g.rows[i].rk == rk; i++ {
		tr := g.rows[i]
		at := tr.attrs()
		if at == nil || (rk == 0 && tr.tab().to != to && tr.tab().to.name() != name) {
			continue
		}
		p := at.PrivateV4.Addr()
		if !p.IsValid() {
			p = at.PrivateV6.Addr()
		}
		if !found || at.Preference > h.pref {
			h = tlocHeld{pref: at.Preference, priv: p}
		}
		found = true
	}
	return h, found
}

// tlocGroup returns the group of at's TLOC (nil: none), remembered in at
// until a TLOC group comes or goes (Analyzer.tlocGen): the timeline's
// status asks it for every path of a prefix on every event, and most
// attribute sets name one of a few TLOCs that stay.
func (a *Analyzer) tlocGroup(at *Attrs) *group {
	if at.tgen == a.tlocGen {
		return at.tgrp
	}
	k := at.TLOC
	g := a.groups.get(&groupKey{addr: addr16(k.SystemIP), color: uint32(k.Color), encap: uint8(k.Encap), kind: kTLOC})
	at.tgrp, at.tgen = g, a.tlocGen
	return g
}

// Status bits, in Cisco's order.
const (
	bitC uint8 = 1 << iota
	bitI
	bitL
	bitR
	bitS
	bitInv
	bitU
)

var statusCodes = [...]string{StatusChosen, StatusInstalled, StatusLooped, StatusResolved, StatusStale,
	StatusInvalid, StatusUnresolved}

// statusTexts caches the text of every combination of bits.
var statusTexts = func() (t [128]string) {
	for b := range t {
		var parts []string
		for i, c := range statusCodes {
			if b&(1<<i) != 0 {
				parts = append(parts, c)
			}
		}
		t[b] = strings.Join(parts, ",")
	}
	return
}()

// rowStatus is the status r has now, as a snapshot would show it: the
// timeline's rows carry it. For a route it runs the comparison of choose
// for r alone, in one pass over its receiver's live paths of the prefix
// (no sort, no allocation once the scratch has grown). A change of r may
// change the status of the receiver's other paths of the prefix; those
// are not events. TestRowStatusMatchesSnapshot and TestChaos hold the two
// to the same answer.
func (a *Analyzer) rowStatus(r *row) string {
	at := r.attrs()
	if at == nil {
		return ""
	}
	t := r.tab()
	if r.grp.key.kind != kRoute {
		st, _ := a.baseBits(r, at)
		return statusTexts[st]
	}
	// the receiver's live paths of the prefix, in the snapshot's order
	paths, bits := a.bpPaths[:0], a.bpBits[:0]
	self := -1
	g := r.grp
	name := t.to.name()
	i := g.searchRecv(r.rk)
	for ; i < len(g.rows) && g.rows[i].rk == r.rk; i++ {
		x := g.rows[i]
		xat := x.attrs()
		if xat == nil || (r.rk == 0 && x.tab().to.name() != name) {
			continue
		}
		st, h := a.baseBits(x, xat)
		if xat.Originator.IsValid() && xat.Originator == t.to.sys {
			st |= bitL
		}
		if x == r {
			self = len(paths)
		}
		fs := x.tab().from.sys
		p := bpPath{from: x.tab().from.name(), fromSys: fs, notOrig: !(fs.IsValid() && fs == xat.Originator),
			stale: st&bitS != 0, eligible: st&(bitInv|bitU|bitL) == 0, pref: xat.Preference, tpref: h.pref, priv: h.priv,
			origin: originRank(xat.Origin), metric: xat.Metric, orig: xat.Originator, tloc: xat.tlocID}
		if !xat.Has(omp.AttrOrigin) {
			p.origin = 8
		}
		paths = append(paths, p)
		bits = append(bits, st)
	}
	a.bpPaths, a.bpBits = paths, bits
	if self < 0 {
		return ""
	}
	me := &paths[self]
	b := bits[self]
	if !me.eligible {
		return statusTexts[b]
	}
	// the best value of each criterion in turn, among the paths equal to
	// the best on the criteria before
	var best *bpPath
	for k := range paths {
		p := &paths[k]
		if !p.eligible {
			continue
		}
		if best == nil || bpCompare(p, best) < 0 {
			best = p
		}
	}
	if bpCompare(me, best) != 0 {
		return statusTexts[b] // lost on a criterion
	}
	// tied: chosen when fewer than limit distinct paths sort before it
	limit, edge := a.recvInfo(t)
	ahead, firstCopy := 0, true
	for k := range paths {
		p := &paths[k]
		if !p.eligible || bpCompare(p, best) != 0 || p == me {
			continue
		}
		same := p.orig == me.orig && p.tloc == me.tloc
		// (counting stops at the limit: each count scans the paths once)
		if !same && ahead < limit && cmpTie(p, me) < 0 && isFirstOfID(k, paths, best) {
			ahead++
		}
		if same && (cmpFrom(p, me) < 0 || (cmpFrom(p, me) == 0 && k < self)) {
			firstCopy = false
		}
	}
	if ahead >= limit {
		return statusTexts[b]
	}
	b |= bitC
	if edge && firstCopy {
		b |= bitI
	}
	return statusTexts[b]
}

// bpCompare compares two paths on every criterion (< 0: x better): the
// steps of bpCriteria written out, for the timeline's status of every
// changed row (the loop's calls through the table were a quarter of
// rowStatus's time; BenchmarkRowStatus with 4 paths 183-234 ns against
// 275-289, with 64 paths 3.1-3.9 µs against 4.1-5.0).
// TestBPCompareIsTheCriteria holds the two together.
func bpCompare(x, y *bpPath) int {
	if d := b2i(x.stale) - b2i(y.stale); d != 0 {
		return d
	}
	if d := b2i(x.notOrig) - b2i(y.notOrig); d != 0 {
		return d
	}
	if d := cmpU32(y.pref, x.pref); d != 0 {
		return d
	}
	if d := cmpU32(y.tpref, x.tpref); d != 0 {
		return d
	}
	if d := x.origin - y.origin; d != 0 {
		return d
	}
	return cmpU32(x.metric, y.metric)
}

// bpCompareByCriteria is bpCompare as the loop over bpCriteria.
func bpCompareByCriteria(x, y *bpPath) int {
	for _, c := range bpCriteria {
		if d := c.better(x, y); d != 0 {
			return d
		}
	}
	return 0
}

// isFirstOfID reports whether p is the first, in tie order, of the tied
// paths with its originator and TLOC (so that each distinct path counts
// once).
func isFirstOfID(i int, paths []bpPath, best *bpPath) bool {
	p := &paths[i]
	for k := range paths {
		q := &paths[k]
		if k == i || !q.eligible || q.orig != p.orig || q.tloc != p.tloc || bpCompare(q, best) != 0 {
			continue
		}
		if c := cmpTie(q, p); c < 0 || (c == 0 && k < i) {
			return false
		}
	}
	return true
}

// baseBits is a row's status before the best path: R or U, Inv, S.
func (a *Analyzer) baseBits(x *row, xat *Attrs) (uint8, tlocHeld) {
	var st uint8
	var h tlocHeld
	switch {
	case x.grp.key.kind == kTLOC:
		st = bitR
		if !xat.hasAddress() {
			st = bitInv
		}
	case !xat.HasTLOC() || (x.grp.key.kind == kRoute && !xat.Has(omp.AttrOriginator)):
		st = bitInv
	default:
		var ok bool
		if h, ok = a.heldNow(x.rk, x.tab().to, xat); ok {
			st = bitR
		} else {
			st = bitU
		}
	}
	if x.stale() {
		st |= bitS
	}
	return st, h
}
