package analyze

import (
	"slices"
	"strings"
	"time"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// ---- not-distributed
//
// OMP distributes every route and every TLOC: what an edge advertises to a
// vSmart reaches the other edges through the vSmarts, unless a control
// policy says otherwise. The capture only shows part of the fabric and
// policies legitimately withhold paths, so the rules are narrow:
//
// Route R (vpn V, prefix, originator E), advertised by E itself on an
// edge → vSmart session. A receiver F is expected to get R when all of:
//   - F is an edge (not a vSmart, not E, not a duplicated system-ip);
//   - F has an OMP session with a vSmart that is up and fully observed:
//     seen from the vSmart's HANDSHAKE (or its END_OF_RIB), with no
//     unreadable record on any of F's sessions with vSmarts (a gap may
//     have carried R: F is then skipped);
//   - F participates in V: it has received some route of V from a vSmart;
//   - the vSmarts distribute E's paths to F: F has received some route or
//     TLOC originated by E from a vSmart (so a vpn-membership or
//     hub-and-spoke policy that keeps E's paths from F is not an alarm).
// When such an F holds no live path of R from any vSmart for
// Config.DistributionWindow (counted from when R was advertised, F's
// session came up or F joined V, whichever is last), R is not distributed;
// it ends when R reaches every such receiver or E withdraws it.
//
// TLOC T advertised by its owner E to vSmart S: when S has, for the whole
// window, other OMP sessions (with edges or vSmarts) that are up and fully
// observed (as above) and reflects T on none of them, T is not
// distributed (source: S).

// KindNotDistributed names the notice of this detector.
const KindNotDistributed Kind = "not-distributed"

var distDetDef = detectorDef{name: "not-distributed", make: func(a *Analyzer) detector {
	return &distDet{a: a, recv: map[uint32]*distRecv{}, vs: map[uint32][]*session{}, recvVPN: map[uint64]int64{},
		recvOrig: map[uint64]int64{}, vpnRecv: map[uint32][]uint32{}, recvN: map[uint32]*distNoted{},
		maxVPNs: distMaxVPNs, maxOrigs: distMaxOrigs, set: map[*group][]condRef{}, queued: map[*group]bool{}}
}, flags: []Flag{{Name: "distribution-window", Usage: "not-distributed: how long a route or TLOC may take to reach the peers it should reach",
	Dur: func(c *Config) *time.Duration { return &c.DistributionWindow }, DefDur: DefaultDistributionWindow}}}

type distDet struct {
	a        *Analyzer
	recv     map[uint32]*distRecv  // receiver → its sessions with vSmarts
	vs       map[uint32][]*session // vSmart → its observed up sessions
	stale    bool                  // sessions changed: rebuild recv, vs
	recvVPN  map[uint64]int64      // receiver<<32|vpn → first route of the vpn from a vSmart
	recvOrig map[uint64]int64      // receiver<<32|originator → first path of it from a vSmart
	vpnRecv  map[uint32][]uint32   // vpn → receivers (recvVPN keys)
	// A receiver's VPNs and originators are remembered for the rest of
	// the capture (a withdrawn path still says the receiver is in the
	// VPN and gets the originator's paths), so they do not follow the
	// live rows: recvN counts them per receiver, and past maxVPNs
	// (maxOrigs) a receiver's new ones are not noted but counted in
	// Stats.DistUnnoted (the receiver is then not judged for them).
	recvN    map[uint32]*distNoted
	maxVPNs  int                  // distMaxVPNs (a test lowers it)
	maxOrigs int                  // distMaxOrigs
	set      map[*group][]condRef // open conditions per group
	queued   map[*group]bool      // queued for re-evaluation
	q        []*group

	fifo      []distDue // checks one window after an advertisement, in time order
	head      int
	fifoArmed bool
}

func (*distDet) eventKinds() uint64 {
	return 1<<evSessionChanged | 1<<evGap | 1<<evTableChanged | 1<<evHandshake
}

func (d *distDet) event(e *coreEvent) {
	switch e.kind {
	case evSessionChanged, evGap, evTableChanged, evHandshake:
		// (a HANDSHAKE can make a session observed, distEligible, with
		// no change of state: when its OMP was seen before, already up)
		d.stale = true
	}
}

func (d *distDet) rowChanged(c *rowChange) {
	if c.rekey {
		return
	}
	if c.firstInTable {
		d.stale = true // a table's first path (eligibility)
	}
	d.changed(c.r, c.new, c.now)
}

func (d *distDet) tick(now int64) {
	if len(d.q) > 0 {
		d.run(now)
	}
}

func (d *distDet) holdsGroup(g *group) bool {
	_, set := d.set[g]
	return set || g.held&heldDistDue != 0 || d.queued[g]
}

// distMaxVPNs and distMaxOrigs bound the VPNs and the originators noted
// per receiver: more than any fabric has (VPN numbers stop at 65 530),
// reached only by a flood of made-up ones.
const (
	distMaxVPNs  = 1 << 16
	distMaxOrigs = 1 << 16
)

// distNoted counts a receiver's entries in recvVPN and recvOrig.
type distNoted struct{ vpns, origs int }

// distRecv is what the detector knows about one receiver's sessions with
// vSmarts (rebuilt when sessions change).
type distRecv struct {
	ok    bool  // at least one eligible session
	gap   bool  // some session with a vSmart has unreadable records
	since int64 // earliest OMP-up time of an eligible session
}

type distSrc struct{ sys uint32 } // a missing receiver (routes) or the vSmart (TLOCs)

// distEligible: session s is up, the table from the vSmart side vd is
// observed from its start (the vSmart's HANDSHAKE or its END_OF_RIB was
// seen) and the vSmart has sent it something (END_OF_RIB or a live path).
func distEligible(s *session, vd int) bool {
	if s.omp != ompUp || s.ctl == ctlDown {
		return false
	}
	t := s.tabs[vd]
	if t == nil || (!t.synced && t.live[kRoute]+t.live[kTLOC] == 0) {
		return false
	}
	return s.sides[vd].hs != nil || t.complete || t.synced
}

func (d *distDet) rebuild() {
	a := d.a
	d.stale = false
	clear(d.recv)
	clear(d.vs)
	for _, s := range a.sessList {
		for vd := 0; vd < 2; vd++ {
			v, o := s.sides[vd], s.sides[1-vd]
			if !v.isVSmart() || !o.sys.IsValid() || !v.sys.IsValid() {
				continue
			}
			if !o.isVSmart() {
				r := d.recv[ip4(o.sys)]
				if r == nil {
					r = &distRecv{}
					d.recv[ip4(o.sys)] = r
				}
				if s.gapRecords > 0 || s.pathsRefused != [2]int{} {
					r.gap = true
				} else if distEligible(s, vd) {
					if !r.ok || s.ompUpAt < r.since {
						r.since = s.ompUpAt
					}
					r.ok = true
				}
			}
			// the vSmart's observed sessions (for TLOCs)
			if s.gapRecords == 0 && s.pathsRefused == [2]int{} && distEligible(s, vd) {
				d.vs[ip4(v.sys)] = append(d.vs[ip4(v.sys)], s)
			}
		}
	}
}

// distIndex notes, for a path a vSmart sent to an edge, that the edge
// participates in the path's VPN and receives paths of its originator.
func (d *distDet) index(r *row, at *Attrs, now int64) {
	t := r.tab()
	if !t.from.isVSmart() || t.to.isVSmart() || !t.to.sys.IsValid() {
		return
	}
	f := ip4(t.to.sys)
	g := &r.grp.key
	var orig uint32
	switch g.kind {
	case kRoute:
		orig = r.orig4(at)
		k := uint64(f)<<32 | uint64(g.vpn)
		if _, ok := d.recvVPN[k]; !ok {
			if n := d.noted(f); n.vpns < d.maxVPNs {
				n.vpns++
				d.recvVPN[k] = now
				d.vpnRecv[g.vpn] = append(d.vpnRecv[g.vpn], f)
			} else {
				d.a.stats.DistUnnoted++
			}
		}
	case kTLOC:
		orig = ip4(g.addr4())
	default:
		return
	}
	if orig != 0 {
		k := uint64(f)<<32 | uint64(orig)
		if _, ok := d.recvOrig[k]; !ok {
			if n := d.noted(f); n.origs < d.maxOrigs {
				n.origs++
				d.recvOrig[k] = now
			} else {
				d.a.stats.DistUnnoted++
			}
		}
	}
}

// noted returns receiver f's counts of noted VPNs and originators.
func (d *distDet) noted(f uint32) *distNoted {
	n := d.recvN[f]
	if n == nil {
		n = &distNoted{}
		d.recvN[f] = n
	}
	return n
}

// distChanged is called when a route or TLOC row changes: an original
// advertisement schedules the check after the window; any change of a
// group with open not-distributed conditions re-evaluates it.
func (d *distDet) changed(r *row, at *Attrs, now int64) {
	g := r.grp
	if g.key.kind == kService {
		return
	}
	if at != nil {
		d.index(r, at, now)
	}
	t := r.tab()
	if at != nil && !t.from.isVSmart() && t.to.isVSmart() && t.from.sys.IsValid() && t.from.sys == r.originator(at) {
		d.armWindow(g, now+int64(d.a.cfg.DistributionWindow))
	}
	if _, ok := d.set[g]; ok && !d.queued[g] {
		d.queued[g] = true
		d.q = append(d.q, g)
	}
}

// distArm schedules the evaluation of g at time at (one pending timer per
// group, the earliest).
func (d *distDet) arm(g *group, at int64) {
	if g.held&heldDistDue != 0 && g.due <= at {
		return
	}
	g.held, g.due = g.held|heldDistDue, at
	d.a.after(at, func(now int64) {
		if g.held&heldDistDue == 0 || g.due != at {
			return
		}
		g.held &^= heldDistDue
		d.eval(g, now)
	})
}

// distDue is a group's check due at a time.
type distDue struct {
	g  *group
	at int64
}

// armWindow is arm for a check one window after now: such times only grow,
// so they wait in a queue in order, under one core timer for its head,
// instead of a timer each.
func (d *distDet) armWindow(g *group, at int64) {
	if g.held&heldDistDue != 0 && g.due <= at {
		return
	}
	g.held, g.due = g.held|heldDistDue, at
	d.fifo = append(d.fifo, distDue{g, at})
	if !d.fifoArmed {
		d.armFIFO()
	}
}

func (d *distDet) armFIFO() {
	d.fifoArmed = true
	d.a.after(d.fifo[d.head].at, func(now int64) {
		for d.head < len(d.fifo) && d.fifo[d.head].at <= now {
			e := d.fifo[d.head]
			d.fifo[d.head] = distDue{}
			d.head++
			if g := e.g; g.held&heldDistDue != 0 && g.due == e.at {
				g.held &^= heldDistDue
				d.eval(g, now)
			}
		}
		if d.head > 1024 && d.head > len(d.fifo)/2 {
			n := copy(d.fifo, d.fifo[d.head:])
			clear(d.fifo[n:])
			d.fifo, d.head = d.fifo[:n], 0
		}
		d.fifoArmed = false
		if d.head < len(d.fifo) {
			d.armFIFO()
		}
	})
}

// liveSince is when a live row became live (the oldest version of its
// current unbroken live run that the history still holds).
func liveSince(r *row) int64 {
	i := r.n() - 1
	for i > 0 && r.ver(i-1).attrs != nil {
		i--
	}
	return r.ver(i).t
}

// evalDist checks one route or TLOC group against the rules above.
func (d *distDet) eval(g *group, now int64) {
	a := d.a
	if d.stale {
		d.rebuild()
	}
	advs := d.sources(g, g.own)
	var refs []condRef
	next := int64(0)
	want := func(k condKey, src distSrc, since int64, ad distAdv, explain func() string) {
		due := since + int64(a.cfg.DistributionWindow)
		if due > now {
			if next == 0 || due < next {
				next = due
			}
			return
		}
		refs = append(refs, condRef{k, src})
		a.condSet(k, src, since, now, ad.r.cur().frame(), a.cfg.DistributionWindow, SevError, ad.r.tab().sess.id, false, explain)
		if c := a.conds[k]; c != nil && c.anom != nil {
			c.anom.Explanation = explain()
		}
	}
	for _, ad := range advs {
		if g.key.kind == kRoute {
			d.route(g, ad.orig, ad.since, ad.r, now, func(k condKey, f uint32, since int64, explain func() string) {
				want(k, distSrc{f}, since, ad, explain)
			})
		} else {
			d.tloc(g, ad.orig, ad.since, ad.r, now, func(k condKey, since int64, explain func() string) {
				want(k, distSrc{ad.orig}, since, ad, explain)
			})
		}
	}
	for _, ref := range d.set[g] {
		if !slices.Contains(refs, ref) {
			a.condClear(ref.key, ref.src, now)
		}
	}
	if len(refs) == 0 {
		delete(d.set, g)
	} else {
		d.set[g] = refs
	}
	if next != 0 {
		d.arm(g, next)
	}
}

// distAdv is a source of a group's path: the originator that advertised
// it to a vSmart (for a TLOC: the vSmart it was advertised to).
type distAdv struct {
	orig  uint32
	since int64
	r     *row // the source's earliest row (the first in the group's order among equals)
	first *row // the source's first row in the group's order
}

// sources returns the sources of group g's path, in the order of their
// first rows in the group, from rows: the group's own list (a few rows:
// advertisements sent by their originators), or all its rows in order,
// which gives the same (robust_test checks it).
func (d *distDet) sources(g *group, rows []*row) []distAdv {
	var advs []distAdv
	for _, r := range rows {
		at := r.attrs()
		t := r.tab()
		if at == nil || r.stale() || t.from.isVSmart() || !t.to.isVSmart() || !t.from.sys.IsValid() ||
			t.from.sys != r.originator(at) || !t.to.sys.IsValid() {
			continue
		}
		o := ip4(t.from.sys)
		if g.key.kind == kTLOC {
			o = ip4(t.to.sys) // the source is the vSmart
		}
		s := liveSince(r)
		i := slices.IndexFunc(advs, func(x distAdv) bool { return x.orig == o })
		if i < 0 {
			advs = append(advs, distAdv{o, s, r, r})
			continue
		}
		ad := &advs[i]
		if s < ad.since || s == ad.since && rowBefore(r, ad.r) {
			ad.since, ad.r = s, r
		}
		if rowBefore(r, ad.first) {
			ad.first = r
		}
	}
	if len(advs) > 1 {
		slices.SortFunc(advs, func(x, y distAdv) int {
			return rowCmp(x.first.rk, x.first.tab().id, x.first.fam(), x.first.pathID, y.first)
		})
	}
	return advs
}

// distRoute finds the receivers expected to hold route (g, orig) that do
// not.
func (d *distDet) route(g *group, orig uint32, advSince int64, ar *row, now int64,
	want func(condKey, uint32, int64, func() string)) {
	a := d.a
	vpn := g.key.vpn
	var k condKey // named when first needed
	for _, f := range d.vpnRecv[vpn] {
		if f == orig {
			continue
		}
		// (once the analyzer recorded its cap of devices, a receiver it
		// did not record may be either: it is not judged)
		if dv := a.devices[f]; dv == nil && a.stats.DevicesUntracked > 0 || dv != nil && (dv.dup || dv.dev == sdwan.DeviceVSmart) {
			continue
		}
		rc := d.recv[f]
		if rc == nil || !rc.ok || rc.gap {
			continue
		}
		if _, ok := d.recvOrig[uint64(f)<<32|uint64(orig)]; !ok {
			continue
		}
		got := false
		for _, r := range g.recvRange(f) {
			at := r.attrs()
			if at != nil && r.tab().from.isVSmart() && r.orig4(at) == orig {
				got = true
				break
			}
		}
		if got {
			continue
		}
		since := max(advSince, rc.since, d.recvVPN[uint64(f)<<32|uint64(vpn)])
		if k.kind == "" {
			k = condKey{KindNotDistributed, routeSubject(vpn, g.key.prefix(), addrOf4(orig))}
		}
		kk := k // k itself stays on the stack
		want(kk, f, since, func() string { return a.explainDistRoute(kk, ar) })
	}
}

func (a *Analyzer) explainDistRoute(k condKey, ar *row) string {
	var who []string
	if c := a.conds[k]; c != nil {
		for _, s := range c.sources {
			if d, ok := s.(distSrc); ok {
				who = append(who, addrOf4(d.sys).String())
			}
		}
	}
	slices.Sort(who)
	return "Route " + k.subject[len("route "):] + ", advertised by " + sideDesc(ar.tab().from) + " to vSmart " + ar.tab().to.name() +
		", never reached edge(s) " + strings.Join(who, ", ") + " within the distribution window (" + a.cfg.DistributionWindow.String() +
		"), although they are in vpn " + itoa(ar.grp.key.vpn) + " and receive other paths of " + ar.tab().from.name() +
		" from the vSmarts: a vSmart filtered or lost it."
}

// distTLOC checks that vSmart vs reflects TLOC g (advertised by its owner)
// on at least one of its other observed sessions.
func (d *distDet) tloc(g *group, vs uint32, advSince int64, ar *row, now int64,
	want func(condKey, int64, func() string)) {
	a := d.a
	owner := ip4(g.key.addr4())
	var others []*session
	since := int64(-1)
	for _, s := range d.vs[vs] {
		o := s.sides[0]
		if ip4(o.sys) == vs {
			o = s.sides[1]
		}
		if ip4(o.sys) == owner {
			continue
		}
		others = append(others, s)
		if since < 0 || s.ompUpAt < since {
			since = s.ompUpAt
		}
	}
	if len(others) == 0 {
		return
	}
	for _, r := range g.rows {
		if r.live() && r.tab().from.sys.IsValid() && ip4(r.tab().from.sys) == vs && ip4(r.tab().to.sys) != owner {
			return // reflected to someone
		}
	}
	k := condKey{KindNotDistributed, "tloc " + g.key.tloc().String()}
	n := len(others)
	want(k, max(advSince, since), func() string {
		return "TLOC " + g.key.tloc().String() + ", advertised by " + sideDesc(ar.tab().from) + " to vSmart " + addrOf4(vs).String() +
			", was not reflected by that vSmart on any of its " + itoa(uint32(n)) + " other observed OMP session(s) within the distribution window (" +
			a.cfg.DistributionWindow.String() + "): no edge learns it from there, so no tunnel is built to it."
	})
}

// distTick re-evaluates groups whose rows changed while they had open
// conditions.
func (d *distDet) run(now int64) {
	for len(d.q) > 0 {
		q := d.q
		d.q = nil
		for _, g := range q {
			delete(d.queued, g)
			d.eval(g, now)
		}
	}
}

var notDistributedKind = kindDef{kind: KindNotDistributed, det: &distDetDef, explainText: explainText{
	sev:     "error",
	subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip> | tloc <system-ip>/<color>/<encap>",
	meaning: "OMP distributes every route and TLOC; this one was not. Route: an edge E advertised it to a vSmart and " +
		"an edge F never held it (same vpn, prefix and originator, any path, from any vSmart) for the " +
		"distribution window, where F is expected to: F has an up OMP session with a vSmart that the capture saw " +
		"from the vSmart's HANDSHAKE (or END_OF_RIB) with no unreadable record on any of F's sessions with " +
		"vSmarts, F has received some route of that VPN from a vSmart (it is in the VPN), and F has received some " +
		"route or TLOC originated by E from a vSmart (no policy keeps E's paths from F). The explanation lists " +
		"the missing receivers. It ends when the route reaches them or E withdraws it. TLOC: an edge advertised " +
		"its TLOC to a vSmart that has other up, fully observed OMP sessions (to edges or vSmarts) and reflected " +
		"it on none of them for the window. Receivers with decryption gaps, sessions not seen from their start, " +
		"edges outside the VPN and edges a policy isolates from E are not judged (never a false alarm for what " +
		"the capture could not see).",
	matters: "A route that does not reach an edge is traffic that edge cannot send over the overlay: it falls back " +
		"to a default route or is dropped. A TLOC that is not reflected means no edge builds a tunnel to it, so " +
		"every route through it is unresolved. Usual causes: a control policy that rejects more than intended, " +
		"a vSmart that lost or did not process the UPDATE, the vSmarts not in full mesh, a route limit.",
	check: "show omp routes vpn <vpn> <prefix> detail on the vSmarts (received from the originator? status, " +
		"FROM PEER) and on the edges that lack it; show omp tlocs (and show omp tlocs received / advertised) " +
		"on the vSmart and the edges; show omp peers (are the sessions up?); the control policy on the vSmarts " +
		"(show running-config policy, apply-policy) and on the edge show policy from-vsmart.",
	settings: "--distribution-window (Config.DistributionWindow), default 30s. A path that arrives inside the " +
		"window is not reported; the capture ending before the window passes reports nothing.",
}}
