package analyze

import (
	"net/netip"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// Row kinds.
const (
	kRoute uint8 = iota
	kTLOC
	kService
)

func famKind(f omp.Family) uint8 {
	switch {
	case f.IsRoute():
		return kRoute
	case f.IsTLOC():
		return kTLOC
	}
	return kService
}

// groupKey identifies the rows of one prefix (routes: vpn and prefix), one
// TLOC (system-ip, color, encap) or one service (vpn, service,
// originator) across every table of the fabric.
type groupKey struct {
	addr  [16]byte
	vpn   uint32
	color uint32
	kind  uint8
	bits  uint8
	encap uint8
	svc   uint8
	v6    bool
}

func addr16(a netip.Addr) (b [16]byte) {
	if a.Is4() {
		v := a.As4()
		copy(b[:], v[:])
		return
	}
	return a.As16()
}

// keyOf returns the group key of an NLRI of family f.
func keyOf(f omp.Family, n *omp.NLRI) groupKey {
	switch famKind(f) {
	case kRoute:
		return groupKey{addr: addr16(n.Prefix.Addr()), vpn: n.VPN, kind: kRoute, bits: uint8(max(n.Prefix.Bits(), 0)),
			v6: f == omp.FamilyRouteV6}
	case kTLOC:
		return groupKey{addr: addr16(n.SystemIP), color: uint32(n.Color), encap: uint8(n.Encap), kind: kTLOC}
	}
	return groupKey{addr: addr16(n.Originator), vpn: n.VPN, svc: uint8(n.Service), kind: kService}
}

// rowID identifies a row inside its group: table, family and path-id.
type rowID uint64

func mkRowID(t *table, f omp.Family, pathID uint32) rowID {
	return rowID(uint64(t.id)<<40 | uint64(f)<<32 | uint64(pathID))
}

func (g *groupKey) prefix() netip.Prefix {
	if g.v6 {
		return netip.PrefixFrom(netip.AddrFrom16(g.addr), int(g.bits))
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte(g.addr[:4])), int(g.bits))
}

func (g *groupKey) addr4() netip.Addr { return netip.AddrFrom4([4]byte(g.addr[:4])) }

func (g *groupKey) tloc() omp.TLOCKey {
	return omp.TLOCKey{SystemIP: g.addr4(), Color: sdwan.Color(g.color), Encap: sdwan.Encap(g.encap)}
}

// version is one state of a row. attrs nil means withdrawn.
type version struct {
	t       int64
	frame   uint64
	attrs   *Attrs
	gr      uint32 // the table's GR count when written: stale in a later GR
	why     uint8
	counted bool // an UPDATE-driven change (counts for flaps)
}

// Version reasons.
const (
	whyUpdate uint8 = iota
	whyWithdraw
	whySessionDown
	whyGRExpired
	whyGRFlush
	whyRefresh
)

var whyNames = [...]string{ReasonUpdate, ReasonWithdraw, ReasonSessionDown, ReasonGRExpired, ReasonGRFlush, ReasonRefresh}

// row is one path in one table, with its history (oldest first).
type row struct {
	tab       *table
	grp       *group
	pathID    uint32
	fam       omp.Family
	gi        int32 // index in grp.rows
	ti        int32 // index in tab.rows
	first     int64
	trimmedTo int64 // >0: versions before this time were dropped
	hist      []version
	flapUntil int64 // flapping until then (0: not flapping)
}

func (r *row) cur() *version { return &r.hist[len(r.hist)-1] }

func (r *row) attrs() *Attrs {
	if len(r.hist) == 0 {
		return nil
	}
	return r.hist[len(r.hist)-1].attrs
}

func (r *row) live() bool { return r.attrs() != nil }

// stale reports whether the row is stale now: its sender is in GR and has
// not re-advertised it since the GR began.
func (r *row) stale() bool {
	return r.tab.inGR && len(r.hist) > 0 && r.cur().gr < r.tab.grCount
}

// lastAttrs is the attributes of the newest version that has any.
func (r *row) lastAttrs() *Attrs {
	for i := len(r.hist) - 1; i >= 0; i-- {
		if r.hist[i].attrs != nil {
			return r.hist[i].attrs
		}
	}
	return nil
}

// originator of a row: the ORIGINATOR attribute (for TLOCs, the TLOC's
// system-ip when the attribute is absent; for services, the NLRI's).
func (r *row) originator(at *Attrs) netip.Addr {
	switch r.grp.key.kind {
	case kService:
		return r.grp.key.addr4()
	case kTLOC:
		if at.Has(omp.AttrOriginator) {
			return at.Originator
		}
		return r.grp.key.addr4()
	}
	if at.Has(omp.AttrOriginator) {
		return at.Originator
	}
	return netip.Addr{}
}

// at returns the version in force at time t (nil if none), and whether the
// answer is known (false when the history before t was pruned).
func (r *row) at(t int64) (*version, bool) {
	for i := len(r.hist) - 1; i >= 0; i-- {
		if r.hist[i].t <= t {
			return &r.hist[i], true
		}
	}
	return nil, r.trimmedTo == 0
}

// lastChange returns the time of the last non-refresh version at or before
// index i.
func (r *row) lastChange(i int) int64 {
	for ; i >= 0; i-- {
		if r.hist[i].why != whyRefresh {
			return r.hist[i].t
		}
	}
	if len(r.hist) > 0 {
		return r.hist[0].t
	}
	return 0
}

// span is a GR interval (end 0: open); n is the table's GR count in it.
type span struct {
	start, end int64
	n          uint32
}

// fprint is an order-independent fingerprint of a set of route paths.
type fprint struct {
	sum uint64
	n   int
}

// table is what one OMP speaker advertised to another over one session
// direction (or, after a GR reconnection, over the sessions that adopted
// it).
type table struct {
	id       int
	sess     *session
	dir      int
	from, to *side
	sessions []string
	rows     []*row
	live     [3]int
	famLive  [8]int
	created  int64
	deadAt   int64 // flushed for good (session down, no GR)

	inGR       bool
	grCount    uint32 // GR periods begun
	grStart    int64
	grDeadline int64
	grGen      uint32
	grFams     uint8 // families still awaiting END_OF_RIB
	grSpans    []span

	eor      uint8 // families whose END_OF_RIB was seen (bit = family)
	synced   bool
	complete bool // observed from the sender's HANDSHAKE
	gapped   bool // some records of this direction could not be read

	fp      map[uint32]*fprint
	lastVPN uint32
	lastFP  *fprint
}

func (t *table) fpFor(vpn uint32) *fprint {
	if t.lastFP != nil && t.lastVPN == vpn {
		return t.lastFP
	}
	f := t.fp[vpn]
	if f == nil {
		f = &fprint{}
		t.fp[vpn] = f
	}
	t.lastVPN, t.lastFP = vpn, f
	return f
}

// staleAt reports whether version v is stale at time at: written before
// the GR the table was in at that time.
func (t *table) staleAt(v *version, at int64) bool {
	for i := len(t.grSpans) - 1; i >= 0; i-- {
		s := t.grSpans[i]
		if s.start <= at && (s.end == 0 || at < s.end) {
			return v.gr < s.n
		}
	}
	return false
}

// grAt reports whether the table was in GR at time at.
func (t *table) grAt(at int64) bool {
	for i := len(t.grSpans) - 1; i >= 0; i-- {
		s := t.grSpans[i]
		if s.start <= at && (s.end == 0 || at < s.end) {
			return true
		}
	}
	return false
}

// group holds every row of one prefix / TLOC / service across the fabric,
// and the conditions its evaluation has set. It is also how a table finds
// its rows: ids parallels rows, and large groups get a map index.
type group struct {
	key     groupKey
	rows    []*row
	ids     []rowID
	idx     map[rowID]*row // when len(rows) > groupIndexAt
	dirty   bool
	conds   []condRef
	flushes []flushEntry
	unres   bool // has unresolved conditions (re-check when a TLOC appears)

	distAt    int64 // not-distributed check pending at (0: none)
	distDirty bool  // queued for a not-distributed re-evaluation
}

const groupIndexAt = 32

func (g *group) find(id rowID) *row {
	if g.idx != nil {
		return g.idx[id]
	}
	for i, x := range g.ids {
		if x == id {
			return g.rows[i]
		}
	}
	return nil
}

type condRef struct {
	key condKey
	src any
}

// flushEntry records that a receiver dropped a path at a GR flush, for
// stale-after-gr.
type flushEntry struct {
	recv uint32
	orig uint32
	tloc tlocID
	at   int64
}

func (g *group) add(r *row, id rowID) {
	r.gi = int32(len(g.rows))
	g.rows = append(g.rows, r)
	g.ids = append(g.ids, id)
	if g.idx != nil {
		g.idx[id] = r
	} else if len(g.rows) > groupIndexAt {
		g.idx = make(map[rowID]*row, 2*len(g.rows))
		for i, x := range g.rows {
			g.idx[g.ids[i]] = x
		}
	}
}

func (g *group) remove(r *row) {
	i := int(r.gi)
	if i < 0 || i >= len(g.rows) || g.rows[i] != r {
		return
	}
	if g.idx != nil {
		delete(g.idx, g.ids[i])
	}
	last := len(g.rows) - 1
	g.rows[i], g.ids[i] = g.rows[last], g.ids[last]
	g.rows[i].gi = int32(i)
	g.rows[last] = nil
	g.rows, g.ids = g.rows[:last], g.ids[:last]
	r.gi = -1
}

func (t *table) add(r *row) {
	r.ti = int32(len(t.rows))
	t.rows = append(t.rows, r)
}

func (t *table) remove(r *row) {
	i := int(r.ti)
	if i < 0 || i >= len(t.rows) || t.rows[i] != r {
		return
	}
	last := len(t.rows) - 1
	t.rows[i] = t.rows[last]
	t.rows[i].ti = int32(i)
	t.rows[last] = nil
	t.rows = t.rows[:last]
	r.ti = -1
}

// tlocState counts, for one TLOC key, its live TLOC rows in the whole
// fabric and the live route/service rows that point to it.
type tlocState struct {
	live int
	refs int
}
