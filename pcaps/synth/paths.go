package synth

import (
	"net/netip"
	"sort"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// attrSet is one interned set of path attributes with what the manifest
// shows of it. Every NLRI of a group shares one.
type attrSet struct {
	id    int
	attrs []omp.Attribute
	size  int // encoded size of the attribute section
	sum   pathSum
}

// pathSum is what a manifest table entry shows of a path's attributes.
type pathSum struct {
	originator netip.Addr
	tloc       omp.TLOCKey // routes and services
	pref       uint32
	weight     uint32
	site       uint32
	origin     sdwan.Origin
	hasOrigin  bool
	priv, pub  netip.AddrPort
}

// attrTable interns attribute sets by their encoding, so that equal sets
// are one pointer (and ids follow the order of first use: deterministic).
type attrTable struct {
	m map[string]*attrSet
}

func (t *attrTable) intern(attrs []omp.Attribute, sum pathSum) *attrSet {
	var b []byte
	for _, a := range attrs {
		var err error
		if b, err = omp.AppendAttr(b, a); err != nil {
			panic("synth: attribute does not encode: " + err.Error()) // a simulator bug, never input
		}
	}
	if s, ok := t.m[string(b)]; ok {
		return s
	}
	s := &attrSet{id: len(t.m), attrs: attrs, size: len(b), sum: sum}
	t.m[string(b)] = s
	return s
}

// group is NLRI of one family sharing one attribute set.
type group struct {
	fam  omp.Family
	set  *attrSet
	nlri []omp.NLRI
}

// ribKey identifies a path on one session direction.
type ribKey struct {
	fam omp.Family
	n   omp.NLRI
}

// rib is what a speaker has advertised to one peer (not withdrawn).
type rib struct {
	paths  map[ribKey]*attrSet // nil when only counts are kept
	byOrig map[int]map[ribKey]bool
	counts [5]int
}

func newRIB(track bool) *rib {
	r := &rib{}
	if track {
		r.paths = map[ribKey]*attrSet{}
		r.byOrig = map[int]map[ribKey]bool{}
	}
	return r
}

// origOf is the index of the originator of a path a vSmart reflects
// (from its path-id), or -1 for a path an edge advertises itself.
func origOf(k ribKey) int { return int(k.n.PathID>>4) - 1 }

func (r *rib) add(k ribKey, a *attrSet) {
	if _, ok := r.paths[k]; !ok {
		r.counts[k.fam]++
		o := origOf(k)
		if r.byOrig[o] == nil {
			r.byOrig[o] = map[ribKey]bool{}
		}
		r.byOrig[o][k] = true
	}
	r.paths[k] = a
}

func (r *rib) del(k ribKey) {
	if _, ok := r.paths[k]; ok {
		delete(r.paths, k)
		delete(r.byOrig[origOf(k)], k)
		r.counts[k.fam]--
	}
}

// of returns the paths of the originators in only.
func (r *rib) of(only map[int]bool) map[ribKey]*attrSet {
	m := map[ribKey]*attrSet{}
	for o := range only {
		for k := range r.byOrig[o] {
			m[k] = r.paths[k]
		}
	}
	return m
}

func u32(t omp.AttrType, v uint32) omp.Attribute {
	return &omp.Uint32Attr{Type: t, Flag: omp.DefaultFlags(t), Value: v}
}

func originatorAttr(a netip.Addr) omp.Attribute {
	return &omp.Originator{Flag: omp.DefaultFlags(omp.AttrOriginator), Addr: a}
}

func tlocAttr(k omp.TLOCKey) omp.Attribute {
	return &omp.TLOCAttr{Flag: omp.DefaultFlags(omp.AttrTLOC), TLOCKey: k}
}

func addrAttr(t omp.AttrType, a netip.AddrPort) omp.Attribute {
	return &omp.AddrAttr{Type: t, Flag: omp.DefaultFlags(t), Addr: a}
}

// tlocGroup is the advertisement of one TLOC of e under key (its own key,
// or another edge's for a clone).
func tlocGroup(at *attrTable, e *device, t *tloc, key omp.TLOCKey) group {
	privT, pubT, fam := omp.AttrPrivateIPv4, omp.AttrPublicIPv4, omp.FamilyTLOCv4
	if t.v6 {
		privT, pubT, fam = omp.AttrPrivateIPv6, omp.AttrPublicIPv6, omp.FamilyTLOCv6
	}
	attrs := []omp.Attribute{
		originatorAttr(e.sysIP),
		addrAttr(privT, t.priv),
		addrAttr(pubT, t.pub),
		u32(omp.AttrPreference, t.pref),
		u32(omp.AttrSiteID, e.siteAttr),
		u32(omp.AttrWeight, t.weight),
		&omp.Uint8Attr{Type: omp.AttrCarrier, Flag: omp.DefaultFlags(omp.AttrCarrier), Value: t.carrier},
		&omp.EncapParams{Flag: omp.DefaultFlags(omp.AttrEncapParams), SPI: t.spi, AuthBits: 0x0003, EncryptionBits: 256},
		u32(omp.AttrGenID, t.genID),
		u32(omp.AttrBandwidth, t.bw),
	}
	sum := pathSum{originator: e.sysIP, pref: t.pref, weight: t.weight, site: e.siteAttr, priv: t.priv, pub: t.pub}
	return group{fam: fam, set: at.intern(attrs, sum),
		nlri: []omp.NLRI{{PathID: 1, SystemIP: key.SystemIP, Color: key.Color, Encap: key.Encap}}}
}

// edgeGroups is everything e advertises now, family by family.
func edgeGroups(at *attrTable, e *device) []group {
	var tv4, tv6, svc, rv4, rv6 []group
	for k, t := range e.tlocs {
		if !t.up {
			continue
		}
		g := tlocGroup(at, e, t, e.tlocKey(k))
		if t.v6 {
			tv6 = append(tv6, g)
		} else {
			tv4 = append(tv4, g)
		}
	}
	if e.cloneOf != nil {
		t := e.tlocs[0]
		g := tlocGroup(at, e, t, e.cloneOf.tlocKey(0))
		g.nlri[0].PathID = 2
		if t.v6 {
			tv6 = append(tv6, g)
		} else {
			tv4 = append(tv4, g)
		}
	}
	for _, s := range e.services {
		if !e.tlocs[s.tloc].up {
			continue
		}
		attrs := []omp.Attribute{originatorAttr(e.sysIP), tlocAttr(e.tlocKey(s.tloc)), u32(omp.AttrLabel, e.labels[s.vpn]+10)}
		set := at.intern(attrs, pathSum{originator: e.sysIP, tloc: e.tlocKey(s.tloc)})
		svc = append(svc, group{fam: omp.FamilyService, set: set,
			nlri: []omp.NLRI{{PathID: uint32(s.tloc) + 1, VPN: s.vpn, Service: s.svc, Originator: e.sysIP}}})
	}
	routeSet := func(ci int, key omp.TLOCKey) *attrSet { return routeAttrs(at, e, ci, key) }
	for k, t := range e.tlocs {
		if !t.up {
			continue
		}
		for ci := range e.classes {
			var n4, n6 []omp.NLRI
			for _, r := range e.routes {
				if r.down || r.bad != 0 || int(r.cls) != ci || r.mask&(1<<k) == 0 {
					continue
				}
				n := omp.NLRI{PathID: e.pathID(&r, k), VPN: e.classes[ci].vpn, Prefix: r.prefix}
				if r.prefix.Addr().Is4() {
					n4 = append(n4, n)
				} else {
					n6 = append(n6, n)
				}
			}
			if len(n4)+len(n6) == 0 {
				continue
			}
			set := routeSet(ci, e.tlocKey(k))
			if len(n4) > 0 {
				rv4 = append(rv4, group{omp.FamilyRouteV4, set, n4})
			}
			if len(n6) > 0 {
				rv6 = append(rv6, group{omp.FamilyRouteV6, set, n6})
			}
		}
	}
	for _, r := range e.routes {
		if r.down || r.bad == 0 {
			continue
		}
		key := omp.TLOCKey{SystemIP: e.sysIP, Color: r.bad, Encap: sdwan.EncapIPsec}
		g := group{omp.FamilyRouteV4, routeSet(int(r.cls), key), []omp.NLRI{{PathID: 15, VPN: e.classes[r.cls].vpn, Prefix: r.prefix}}}
		if !r.prefix.Addr().Is4() {
			g.fam = omp.FamilyRouteV6
		}
		if g.fam == omp.FamilyRouteV4 {
			rv4 = append(rv4, g)
		} else {
			rv6 = append(rv6, g)
		}
	}
	out := append(tv4, tv6...)
	out = append(out, svc...)
	out = append(out, rv4...)
	return append(out, rv6...)
}

// routeAttrs is the attribute set of e's routes of class ci via the TLOC
// key.
func routeAttrs(at *attrTable, e *device, ci int, key omp.TLOCKey) *attrSet {
	c := e.classes[ci]
	attrs := []omp.Attribute{
		originatorAttr(e.sysIP),
		tlocAttr(key),
		&omp.OriginAttr{Flag: omp.DefaultFlags(omp.AttrOrigin), Protocol: c.origin, Metric: c.metric},
	}
	if c.pref != 0 {
		attrs = append(attrs, u32(omp.AttrPreference, c.pref))
	}
	attrs = append(attrs, u32(omp.AttrSiteID, e.siteAttr))
	if c.tag != 0 {
		attrs = append(attrs, u32(omp.AttrTag, c.tag))
	}
	attrs = append(attrs, u32(omp.AttrLabel, e.labels[c.vpn]))
	if len(c.asPath) > 0 {
		attrs = append(attrs, &omp.Uint32ListAttr{Type: omp.AttrASPath, Flag: omp.DefaultFlags(omp.AttrASPath), Values: c.asPath})
	}
	if len(c.community) > 0 {
		attrs = append(attrs, &omp.Uint32ListAttr{Type: omp.AttrCommunity, Flag: omp.DefaultFlags(omp.AttrCommunity), Values: c.community})
	}
	return at.intern(attrs, pathSum{originator: e.sysIP, tloc: key, pref: c.pref, site: e.siteAttr, origin: c.origin, hasOrigin: true})
}

// pathID is the path-id e gives route r via its TLOC k: k+1, or, for a
// route the churn scenario advertised again with fresh path-ids (r.gen >
// 0), the k-th of the gen-th block of len(e.tlocs) path-ids, cycling
// within 1-15 (a vSmart keeps 4 bits of it).
func (e *device) pathID(r *route, k int) uint32 {
	nt := len(e.tlocs)
	return uint32(1 + k + nt*(int(r.gen)%(15/nt)))
}

// remap gives the NLRI of g the path-ids a vSmart assigns to what it
// learned from the device with index orig: (orig+1)<<4 | the
// originator's own path-id.
func remap(g group, orig int) group {
	n := make([]omp.NLRI, len(g.nlri))
	copy(n, g.nlri)
	for i := range n {
		n[i].PathID = uint32(orig+1)<<4 | n[i].PathID&0xf
	}
	return group{g.fam, g.set, n}
}

func nlriLess(a, b *omp.NLRI) bool {
	if a.PathID != b.PathID {
		return a.PathID < b.PathID
	}
	if a.VPN != b.VPN {
		return a.VPN < b.VPN
	}
	if a.Prefix != b.Prefix {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c < 0
		}
		return a.Prefix.Bits() < b.Prefix.Bits()
	}
	if a.SystemIP != b.SystemIP {
		return a.SystemIP.Less(b.SystemIP)
	}
	if a.Color != b.Color {
		return a.Color < b.Color
	}
	if a.Encap != b.Encap {
		return a.Encap < b.Encap
	}
	if a.Service != b.Service {
		return a.Service < b.Service
	}
	return a.Originator.Less(b.Originator)
}

// groupsOf turns a path map into groups, in a deterministic order: by
// family, then attribute set, then NLRI.
func groupsOf(m map[ribKey]*attrSet) []group {
	type kv struct {
		k ribKey
		s *attrSet
	}
	all := make([]kv, 0, len(m))
	for k, s := range m {
		all = append(all, kv{k, s})
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := &all[i], &all[j]
		if a.k.fam != b.k.fam {
			return a.k.fam < b.k.fam
		}
		if a.s.id != b.s.id {
			return a.s.id < b.s.id
		}
		return nlriLess(&a.k.n, &b.k.n)
	})
	var out []group
	for _, x := range all {
		if n := len(out); n > 0 && out[n-1].fam == x.k.fam && out[n-1].set == x.s {
			out[n-1].nlri = append(out[n-1].nlri, x.k.n)
			continue
		}
		out = append(out, group{x.k.fam, x.s, []omp.NLRI{x.k.n}})
	}
	return out
}

// sortKeys orders withdrawn keys by family and NLRI.
func sortKeys(ks []ribKey) {
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].fam != ks[j].fam {
			return ks[i].fam < ks[j].fam
		}
		return nlriLess(&ks[i].n, &ks[j].n)
	})
}

// addGroups puts the paths of gs into m.
func addGroups(m map[ribKey]*attrSet, gs []group) {
	for _, g := range gs {
		for _, n := range g.nlri {
			m[ribKey{g.fam, n}] = g.set
		}
	}
}

// diff compares what a speaker wants a peer to have with what it has
// advertised: the keys to withdraw and the groups to announce.
func diff(have, want map[ribKey]*attrSet) (withdraw []ribKey, announce []group) {
	for k := range have {
		if _, ok := want[k]; !ok {
			withdraw = append(withdraw, k)
		}
	}
	sortKeys(withdraw)
	add := map[ribKey]*attrSet{}
	for k, s := range want {
		if have[k] != s {
			add[k] = s
		}
	}
	return withdraw, groupsOf(add)
}

func nlriLen(f omp.Family, n *omp.NLRI) int {
	switch f {
	case omp.FamilyRouteV4, omp.FamilyRouteV6:
		return 9 + (n.Prefix.Bits()+7)/8
	case omp.FamilyTLOCv4, omp.FamilyTLOCv6:
		return 10
	case omp.FamilyService:
		return 13
	}
	return 0
}

// packWithdraw splits withdrawals of one family into UPDATEs of at most
// max bytes.
func packWithdraw(f omp.Family, ks []omp.NLRI, max int) []*omp.Update {
	var out []*omp.Update
	for len(ks) > 0 {
		size, i := omp.HeaderLen+5, 0
		for i < len(ks) && size+nlriLen(f, &ks[i]) <= max {
			size += nlriLen(f, &ks[i])
			i++
		}
		if i == 0 {
			i = 1
		}
		out = append(out, &omp.Update{Family: f, Withdrawn: ks[:i]})
		ks = ks[i:]
	}
	return out
}

// packAnnounce splits a group into UPDATEs of at most max bytes.
func packAnnounce(g group, max int) []*omp.Update {
	var out []*omp.Update
	ns := g.nlri
	for len(ns) > 0 {
		size, i := omp.HeaderLen+5+g.set.size, 0
		for i < len(ns) && size+nlriLen(g.fam, &ns[i]) <= max {
			size += nlriLen(g.fam, &ns[i])
			i++
		}
		if i == 0 {
			i = 1
		}
		out = append(out, &omp.Update{Family: g.fam, Attrs: g.set.attrs, Reachable: ns[:i]})
		ns = ns[i:]
	}
	return out
}
