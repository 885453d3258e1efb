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
// ones (GR). A controller prefers a path learned from the edge that
// originated it to a copy reflected by another controller (the guide's
// first example; LossReasonEnum's "personality"). A controller "chooses both" of equal paths from different
// sites, so every path equal on those criteria is chosen, up to the
// receiver's ECMP limit (an edge: its ecmp-limit; a vSmart: its
// send-path-limit; default 4), the rest losing on router ID (peer-id) or
// private address (tloc-id).
//
// The codes, in Cisco's order (RibInStatusType of CISCO-SDWAN-OMP-MIB:
// C I Red Rej L R S Ext Inv U): C chosen; I installed (inferred: an edge
// installs a chosen, resolved path, once per originator and TLOC when
// several vSmarts reflect it, from the lowest peer; BFD is not in the
// capture); L looped (the receiver's own route reflected back); R
// resolved; S stale; Inv invalid; U TLOC unresolved. Rej (rejected by
// inbound policy) is never inferred: receiver policy is not in the
// capture. The loss reasons are Cisco's LossReasonEnum names: invalid,
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
	fromCtl  bool // learned from a controller (not from the edge itself)
	stale    bool
	eligible bool
	pref     uint32
	tpref    uint32
	origin   int
	metric   uint32
	orig     netip.Addr
	priv     netip.Addr
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
	limits := map[string]int{}
	for _, tv := range snap.Tables {
		if _, ok := limits[tv.To]; !ok {
			limits[tv.To] = a.ecmpLimit(tv)
		}
		for i := range tv.Routes {
			r := &tv.Routes[i]
			k := key{tv.To, r.r.grp}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			at := r.Attrs
			p := &bpPath{row: r, from: tv.From, fromCtl: tv.FromType != sdwan.DeviceVEdge, stale: strings.Contains(r.Status, StatusStale),
				eligible: !strings.Contains(r.Status, StatusInvalid) && !strings.Contains(r.Status, StatusUnresolved),
				pref:     at.Preference, origin: originRank(at.Origin), metric: at.Metric, orig: at.Originator}
			if !at.Has(omp.AttrOrigin) {
				p.origin = 8
			}
			if h, ok := held[tv.To][at.tlocID]; ok {
				p.tpref, p.priv = h.pref, h.priv
			}
			if at.Originator.IsValid() && at.Originator.String() == tv.To {
				r.looped = true
				p.eligible = false
			}
			groups[k] = append(groups[k], p)
		}
	}
	for _, k := range order {
		ps := groups[k]
		choose(ps, limits[k.to], edgeName(snap, k.to))
	}
	for _, tv := range snap.Tables {
		for _, rs := range [][]Row{tv.Routes, tv.TLOCs, tv.Services} {
			for i := range rs {
				rs[i].Status = composeStatus(&rs[i])
			}
		}
	}
}

// edgeName reports whether the receiver named to is an edge (it installs
// routes; a vSmart does not).
func edgeName(snap *Snapshot, to string) bool {
	for _, tv := range snap.Tables {
		if tv.To == to {
			return tv.ToType == sdwan.DeviceVEdge
		}
	}
	return false
}

// ecmpLimit is the receiver's limit of chosen paths per prefix.
func (a *Analyzer) ecmpLimit(tv *TableView) int {
	t := tv.t
	if t == nil || t.to.hs == nil {
		return omp.DefaultECMPLimit
	}
	if t.to.dev == sdwan.DeviceVEdge {
		if t.to.hs.ecmp > 0 {
			return int(t.to.hs.ecmp)
		}
	} else if t.to.hs.spl > 0 {
		return int(t.to.hs.spl)
	}
	return omp.DefaultECMPLimit
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
	type crit struct {
		reason string
		better func(x, y *bpPath) int // < 0: x better
	}
	crits := []crit{
		{LossStale, func(x, y *bpPath) int { return b2i(x.stale) - b2i(y.stale) }},
		{LossPersonality, func(x, y *bpPath) int { return b2i(x.fromCtl) - b2i(y.fromCtl) }},
		{LossPreference, func(x, y *bpPath) int { return cmpU32(y.pref, x.pref) }},
		{LossTLOCPreference, func(x, y *bpPath) int { return cmpU32(y.tpref, x.tpref) }},
		{LossOrigin, func(x, y *bpPath) int { return x.origin - y.origin }},
		{LossMetric, func(x, y *bpPath) int { return cmpU32(x.metric, y.metric) }},
	}
	for _, c := range crits {
		best := cand[0]
		for _, p := range cand[1:] {
			if c.better(p, best) < 0 {
				best = p
			}
		}
		keep := cand[:0]
		var lost []*bpPath
		for _, p := range cand {
			if c.better(p, best) > 0 {
				lost = append(lost, p)
			} else {
				keep = append(keep, p)
			}
		}
		for _, p := range lost {
			p.row.LossReason, p.row.LostTo = c.reason, best.from
			p.row.LostToPathID = best.row.Key.PathID
		}
		cand = keep
	}
	// ties: up to limit distinct paths (originator, TLOC), by router ID
	// then private address; copies of a kept path (reflected by several
	// vSmarts) are chosen too
	type pathID struct {
		orig netip.Addr
		tloc tlocID
	}
	slices.SortStableFunc(cand, func(x, y *bpPath) int {
		if c := x.orig.Compare(y.orig); c != 0 {
			return c
		}
		if c := x.priv.Compare(y.priv); c != 0 {
			return c
		}
		return cmpName(x.from, y.from)
	})
	kept := map[pathID]bool{}
	var last *bpPath
	for _, p := range cand {
		id := pathID{p.orig, p.row.Attrs.tlocID}
		if !kept[id] && len(kept) >= limit {
			p.row.LossReason, p.row.LostTo, p.row.LostToPathID = LossTLOCID, last.from, last.row.Key.PathID
			if p.orig != last.orig {
				p.row.LossReason = LossPeerID
			}
			continue
		}
		p.row.chosen = true
		if !kept[id] {
			kept[id] = true
			last = p
			if edge && !p.stale {
				p.row.installed = true // the first copy (lowest peer)
			}
		}
	}
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
func (a *Analyzer) heldNow(rk uint32, to *side, k omp.TLOCKey) (tlocHeld, bool) {
	g := a.groups.get(&groupKey{addr: addr16(k.SystemIP), color: uint32(k.Color), encap: uint8(k.Encap), kind: kTLOC})
	if g == nil {
		return tlocHeld{}, false
	}
	var h tlocHeld
	found := false
	i, _ := g.search(rk, 0, 0, 0)
	for ; i < len(g.rows) && g.rows[i].rk == rk; i++ {
		tr := g.rows[i]
		at := tr.attrs()
		if at == nil || (rk == 0 && tr.tab.to != to) {
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

// rowStatus is the status r has now, as a snapshot would show it (the best
// path compared over its receiver's live paths of the prefix): the
// timeline's route rows carry it. A change of r may change the status of
// the receiver's other paths of the prefix; those are not events. It
// allocates nothing once its scratch has grown.
func (a *Analyzer) rowStatus(r *row) string {
	at := r.attrs()
	if at == nil {
		return ""
	}
	t := r.tab
	base := func(x *row, xat *Attrs) (uint8, tlocHeld) {
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
			if h, ok = a.heldNow(x.rk, x.tab.to, xat.TLOC); ok {
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
	if r.grp.key.kind != kRoute {
		st, _ := base(r, at)
		return statusTexts[st]
	}
	// the receiver's live paths of the prefix
	rows, paths, bits := a.bpRows[:0], a.bpPaths[:0], a.bpBits[:0]
	self := -1
	g := r.grp
	i, _ := g.search(r.rk, 0, 0, 0)
	for ; i < len(g.rows) && g.rows[i].rk == r.rk; i++ {
		x := g.rows[i]
		xat := x.attrs()
		if xat == nil || (r.rk == 0 && x.tab.to != t.to) {
			continue
		}
		st, h := base(x, xat)
		if x == r {
			self = len(rows)
		}
		if xat.Originator.IsValid() && xat.Originator == t.to.sys {
			st |= bitL
		}
		rows = append(rows, Row{Attrs: xat, Key: RowKey{PathID: x.pathID}, r: x})
		bits = append(bits, st)
		p := bpPath{from: x.tab.from.name(), fromCtl: x.tab.from.dev != sdwan.DeviceVEdge, stale: st&bitS != 0,
			eligible: st&(bitInv|bitU|bitL) == 0, pref: xat.Preference, tpref: h.pref, priv: h.priv,
			origin: originRank(xat.Origin), metric: xat.Metric, orig: xat.Originator}
		if !xat.Has(omp.AttrOrigin) {
			p.origin = 8
		}
		paths = append(paths, p)
	}
	ptrs := a.bpPtrs[:0]
	for k := range paths {
		paths[k].row = &rows[k]
		ptrs = append(ptrs, &paths[k])
	}
	limit := omp.DefaultECMPLimit
	if h := t.to.hs; h != nil {
		if t.to.dev == sdwan.DeviceVEdge && h.ecmp > 0 {
			limit = int(h.ecmp)
		} else if t.to.dev != sdwan.DeviceVEdge && h.spl > 0 {
			limit = int(h.spl)
		}
	}
	choose(ptrs, limit, t.to.dev == sdwan.DeviceVEdge)
	st := ""
	if self >= 0 {
		b := bits[self]
		if rows[self].chosen {
			b |= bitC
		}
		if rows[self].installed {
			b |= bitI
		}
		st = statusTexts[b]
	}
	clear(rows)
	clear(ptrs)
	a.bpRows, a.bpPaths, a.bpPtrs, a.bpBits = rows, paths, ptrs, bits
	return st
}
