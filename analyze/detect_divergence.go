package analyze

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// vsmart-divergence: two vSmarts send one receiver different route sets
// in a VPN for longer than Config.ConvergenceWindow. Each table carries an
// order-independent fingerprint of its route paths per VPN, moved as rows
// change; a receiver whose vSmart tables changed (a row, GR, a session
// going up or down, a table synced or found incomplete, its system-ip
// claimed twice) is compared at the next tick, and only its own tables.

// KindVSmartDivergence names the notice of this detector.
const KindVSmartDivergence Kind = "vsmart-divergence"

var divergenceDetDef = detectorDef{name: "vsmart-divergence", make: func(a *Analyzer) detector {
	return &divergenceDet{a: a, dirty: map[uint32]struct{}{}, set: map[uint32][]condRef{}, fps: map[*table]*tableFP{}}
}, flags: []Flag{{Name: "convergence-window", Usage: "vsmart-divergence: how long two vSmarts may disagree",
	Dur: func(c *Config) *time.Duration { return &c.ConvergenceWindow }, DefDur: DefaultConvergenceWindow}}}

type divergenceDet struct {
	a        *Analyzer
	dirty    map[uint32]struct{}  // receivers whose vSmart tables changed
	set      map[uint32][]condRef // open conditions per receiver
	fps      map[*table]*tableFP
	lastMark uint32 // mark's last receiver, in dirty (when lastOK)
	lastOK   bool
	lastT    *table // rowChanged's last table and its fingerprints (an UPDATE's rows share a table)
	lastF    *tableFP
}

// fprint is an order-independent fingerprint of a set of route paths.
type fprint struct {
	sum uint64
	n   int
}

// tableFP is a table's fingerprints per VPN.
type tableFP struct {
	m       map[uint32]*fprint
	lastVPN uint32
	last    *fprint
}

var noFP = &tableFP{}

func (v *divergenceDet) fpOf(t *table) *tableFP {
	if f := v.fps[t]; f != nil {
		return f
	}
	return noFP
}

func (f *tableFP) vpn(vpn uint32) *fprint {
	if f.last != nil && f.lastVPN == vpn {
		return f.last
	}
	x := f.m[vpn]
	if x == nil {
		x = &fprint{}
		f.m[vpn] = x
	}
	f.lastVPN, f.last = vpn, x
	return x
}

func (v *divergenceDet) rowChanged(c *rowChange) {
	r := c.r
	if c.rekey || r.grp.key.kind != kRoute {
		return
	}
	t := r.tab()
	f := v.lastF
	if t != v.lastT {
		if f = v.fps[t]; f == nil {
			f = &tableFP{m: map[uint32]*fprint{}}
			v.fps[t] = f
		}
		v.lastT, v.lastF = t, f
	}
	if c.old != nil {
		v.move(f, r, c.old, false)
	}
	if c.new != nil {
		v.move(f, r, c.new, true)
	}
	if x := f.last; x != nil && x.n == 0 && x.sum == 0 {
		// the VPN's last path left the table: an empty fingerprint
		// compares as an absent one, so the VPN leaves the map (memory
		// follows the live rows)
		delete(f.m, f.lastVPN)
		f.last = nil
	}
	if t.from.dev == sdwan.DeviceVSmart {
		v.mark(t)
	}
}

func (v *divergenceDet) move(f *tableFP, r *row, at *Attrs, add bool) {
	var tl tlocID
	if at.HasTLOC() {
		tl = at.tlocID
	}
	g := &r.grp.key
	h := pathHash(g, r.orig4(at), tl)
	x := f.vpn(g.vpn)
	if add {
		x.sum += h
		x.n++
	} else {
		x.sum -= h
		x.n--
	}
}

func (v *divergenceDet) mark(t *table) {
	if t.to != nil && t.to.sys.IsValid() {
		k := ip4(t.to.sys)
		if v.lastOK && v.lastMark == k {
			return // marked already since the last evaluation
		}
		v.dirty[k] = struct{}{}
		v.lastMark, v.lastOK = k, true
	}
}

func (v *divergenceDet) event(e *coreEvent) {
	switch e.kind {
	case evTableChanged:
		v.mark(e.t)
	case evSessionChanged:
		if e.up { // the OMP state changed
			for _, t := range e.s.tabs {
				if t != nil {
					v.mark(t)
				}
			}
		}
	case evDup:
		v.dirty[e.recv] = struct{}{} // tables to that system-ip change meaning
	case evDropped:
		if e.t != nil {
			delete(v.fps, e.t)
			if v.lastT == e.t {
				v.lastT, v.lastF = nil, nil
			}
		}
	}
}

func (v *divergenceDet) tick(now int64) {
	if len(v.dirty) > 0 {
		v.eval(now)
	}
}

func mix64(h, v uint64) uint64 {
	h ^= v
	h *= 0x9E3779B97F4A7C15
	return h ^ h>>29
}

func pathHash(g *groupKey, orig uint32, tl tlocID) uint64 {
	h := uint64(0x243F6A8885A308D3)
	h = mix64(h, uint64(g.vpn)<<8|uint64(g.bits))
	h = mix64(h, uint64(g.addr[0])|uint64(g.addr[1])<<8|uint64(g.addr[2])<<16|uint64(g.addr[3])<<24|
		uint64(g.addr[4])<<32|uint64(g.addr[5])<<40|uint64(g.addr[6])<<48|uint64(g.addr[7])<<56)
	h = mix64(h, uint64(g.addr[8])|uint64(g.addr[9])<<8|uint64(g.addr[10])<<16|uint64(g.addr[11])<<24|
		uint64(g.addr[12])<<32|uint64(g.addr[13])<<40|uint64(g.addr[14])<<48|uint64(g.addr[15])<<56)
	h = mix64(h, uint64(orig)<<32|uint64(tl.sys))
	h = mix64(h, uint64(tl.color)<<8|uint64(tl.encap))
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// divEligible reports whether a table is a settled vSmart → edge table
// that divergence may compare.
func (v *divergenceDet) eligible(t *table, now int64) bool {
	a := v.a
	s := t.sess
	return t.deadAt == 0 && s != nil && t.from.isVSmart() && !t.to.isVSmart() && t.from.sys.IsValid() &&
		t.to.sys.IsValid() && s.omp == ompUp && s.ctl != ctlDown && !t.inGR && t.complete && !t.gapped &&
		(t.synced || now-s.ompUpAt >= int64(a.cfg.ConvergenceWindow))
}

func (v *divergenceDet) eval(now int64) {
	a := v.a
	recvs := make([]uint32, 0, len(v.dirty))
	for r := range v.dirty {
		recvs = append(recvs, r)
	}
	clear(v.dirty)
	v.lastOK = false
	slices.Sort(recvs)
	var tabs []*table
	for _, R := range recvs {
		tabs = tabs[:0]
		for _, t := range a.recvTabs[R] {
			if t.deadAt == 0 && ip4(t.to.sys) == R && v.eligible(t, now) {
				tabs = append(tabs, t)
			}
		}
		if d := a.devices[R]; d == nil && a.stats.DevicesUntracked > 0 || d != nil && d.dup {
			// two devices share the receiver's system-ip: which tables
			// belong together is ambiguous (duplicate-system-ip says so;
			// once the analyzer recorded its cap of devices, a receiver
			// it did not record may be one)
			tabs = nil
		}
		slices.SortFunc(tabs, func(x, y *table) int { return cmp.Compare(ip4(x.from.sys), ip4(y.from.sys)) })
		var vpns []uint32
		for _, t := range tabs {
			for vp := range v.fpOf(t).m {
				vpns = append(vpns, vp)
			}
		}
		slices.Sort(vpns)
		vpns = slices.Compact(vpns)
		var refs []condRef
		type pend struct {
			k      condKey
			t1, t2 *table
			vpn    uint32
		}
		var fresh []pend
		old := v.set[R]
		for _, vp := range vpns {
			for i := 0; i < len(tabs); i++ {
				for j := i + 1; j < len(tabs); j++ {
					t1, t2 := tabs[i], tabs[j]
					if t1.from.sys == t2.from.sys {
						continue
					}
					f1, f2 := v.fpOf(t1).m[vp], v.fpOf(t2).m[vp]
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
					k := condKey{KindVSmartDivergence, divergenceSubject(t1.from.sys, t2.from.sys, vp)}
					ref := condRef{k, R}
					if slices.Contains(refs, ref) {
						continue
					}
					refs = append(refs, ref)
					if !slices.Contains(old, ref) {
						fresh = append(fresh, pend{k, t1, t2, vp})
					}
				}
			}
		}
		for _, p := range fresh {
			a.condSet(p.k, R, now, now, 0, a.cfg.ConvergenceWindow, SevError, p.t1.sess.id, false,
				func() string { return v.explain(p.t1, p.t2, p.vpn) })
		}
		for _, ref := range old {
			if !slices.Contains(refs, ref) {
				a.condClear(ref.key, ref.src, now)
			}
		}
		if len(refs) == 0 {
			delete(v.set, R)
		} else {
			v.set[R] = refs
		}
	}
}

// explainDivergence names the difference between two vSmarts' tables to a
// receiver in one VPN, with an example route.
func (v *divergenceDet) explain(t1, t2 *table, vpn uint32) string {
	a := v.a
	type pk struct {
		g    *group
		orig uint32
		tl   tlocID
	}
	set := func(t *table) (map[pk]int, int) {
		m := map[pk]int{}
		n := 0
		for r := range t.rows.all {
			at := r.attrs()
			if at == nil || r.grp.key.kind != kRoute || r.grp.key.vpn != vpn {
				continue
			}
			k := pk{r.grp, r.orig4(at), at.tlocID}
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

var vSmartDivergenceKind = kindDef{kind: KindVSmartDivergence, det: &divergenceDetDef, explainText: explainText{
	sev:     "error",
	subject: "vsmarts <system-ip>,<system-ip> vpn=<vpn>  (lower system-ip first)",
	meaning: "Two vSmarts send a common edge different sets of routes (vpn, prefix, originator, TLOC) in one VPN " +
		"for longer than the convergence window. Only settled, fully observed tables are compared: both sessions " +
		"up, seen from their HANDSHAKE, END_OF_RIB received (or the window passed), no unreadable records.",
	matters: "Edges listen to every vSmart; when the vSmarts disagree, what an edge installs depends on which vSmart " +
		"it heard last, and a vSmart failure changes forwarding. Usual causes: a vSmart-to-vSmart session down, " +
		"different policies on the vSmarts, an edge connected to one vSmart only.",
	check: "show omp peers and show control connections on both vSmarts (is the vSmart mesh complete?); " +
		"show omp routes vpn <vpn> on both vSmarts and on the edge (show omp routes vpn <vpn> detail: FROM PEER); " +
		"compare the active policies (show running-config policy, show policy from-vsmart on the edge).",
	settings: "--convergence-window (Config.ConvergenceWindow), default 15s. A difference resolved inside the window " +
		"is not reported.",
}}

// divergenceSubject is "vsmarts A,B vpn=N", built in one buffer (one
// allocation where concatenating the parts took four: a divergence
// within its window is evaluated on every tick).
func divergenceSubject(v1, v2 netip.Addr, vpn uint32) string {
	var buf [64]byte
	b := append(buf[:0], "vsmarts "...)
	b = appendAddrText(b, v1)
	b = append(b, ',')
	b = appendAddrText(b, v2)
	b = append(b, " vpn="...)
	return string(strconv.AppendUint(b, uint64(vpn), 10))
}

// appendAddrText appends a.String().
func appendAddrText(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, a.String()...)
	}
	return a.AppendTo(b)
}
