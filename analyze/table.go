package analyze

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"unsafe"

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

// sys4 is ip4(g.addr4()).
func (g *groupKey) sys4() uint32 { return binary.BigEndian.Uint32(g.addr[:4]) }

func (g *groupKey) tloc() omp.TLOCKey {
	return omp.TLOCKey{SystemIP: g.addr4(), Color: sdwan.Color(g.color), Encap: sdwan.Encap(g.encap)}
}

// version is one state of a row. attrs nil means withdrawn.
type version struct {
	attrs *Attrs
	t     int64
	m     uint64 // frame (low 40 bits), GR count (16), reason (7), counted (top bit)
}

// A version packs its frame number, the table's GR count and its reason
// in one word, so that a row is 48 bytes (80 before: the row is most of
// the analyzer's memory on the 2 000-edge capture). Frame numbers
// past 2^40 (a trillion packets) and GR periods past 65 535 on one table
// saturate, counted in Stats.Saturated.
const (
	maxFrame = 1<<40 - 1
	maxGR    = 1<<16 - 1
)

// mkVersion builds a version; saturated reports whether a value had to be
// saturated.
func mkVersion(t int64, frame uint64, attrs *Attrs, gr uint32, why uint8, counted bool) (v version, saturated bool) {
	if frame > maxFrame {
		frame, saturated = maxFrame, true
	}
	if gr > maxGR {
		gr, saturated = maxGR, true
	}
	v = version{t: t, attrs: attrs, m: frame | uint64(gr)<<40 | uint64(why&0x7f)<<56}
	if counted {
		v.m |= 1 << 63
	}
	return v, saturated
}

func (v *version) frame() uint64   { return v.m & maxFrame }
func (v *version) gr() uint32      { return uint32(v.m>>40) & maxGR }
func (v *version) why() uint8      { return uint8(v.m>>56) & 0x7f }
func (v *version) counted() bool   { return v.m>>63 != 0 }
func (v *version) setGR(gr uint32) { v.m = v.m&^(maxGR<<40) | uint64(min(gr, maxGR))<<40 }

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

// row is one path in one table: its current version inline, older ones
// (when any are kept) apart. Most rows are advertised once and never
// change: they cost this struct alone, 48 bytes. A row holds no pointer to
// its table: the table is in the header of the chunk the row lives in
// (tab), and the row's older versions are in its table's history slab
// (pastH); family and flags share a word with the history's index.
type row struct {
	// what a search and a look at the current attributes read first, together
	rk     uint32 // tab.rkey, copied: the group's binary search reads no table
	bits   uint32 // history index + 1 (rowHistMask; 0: none), family, hasV, in use
	ti     int32  // slot in tab.rows (in a free slot: the next free slot + 1)
	pathID uint32
	v      version // the current version (when hasV)
	grp    *group
}

// The fields of row.bits.
const (
	rowHistMask        = 1<<27 - 1
	rowFamShift        = 27
	rowHasV     uint32 = 1 << 30
	rowUsed     uint32 = 1 << 31
)

func (r *row) fam() omp.Family { return omp.Family(r.bits >> rowFamShift & 7) }
func (r *row) hasV() bool      { return r.bits&rowHasV != 0 }
func (r *row) used() bool      { return r.bits&rowUsed != 0 }

// tab is the row's table, from the header of the row's chunk; nil for a
// free slot (whose ti is the free list's link, not its place), as a
// freed row's table pointer was before rows lost it.
func (r *row) tab() *table {
	if r.bits&rowUsed == 0 {
		return nil
	}
	off := uintptr(uint32(r.ti)%rowChunk)*unsafe.Sizeof(row{}) + unsafe.Offsetof(rowChunkT{}.rows)
	return (*rowChunkT)(unsafe.Pointer(uintptr(unsafe.Pointer(r)) - off)).tab
}

// pastH is the row's history (nil: none).
func (r *row) pastH() *history {
	i := r.bits & rowHistMask
	if i == 0 {
		return nil
	}
	return r.tab().hist[i-1]
}

// history is a row's older versions.
type history struct {
	v         []version
	buf       [2]version // v's first home (one allocation per changed row)
	trimmedTo int64      // >0: versions before this time were dropped
	first     int64      // the row's first advertisement (without a history: its only version's time)
}

// first is the time the row was first advertised.
func (r *row) first() int64 {
	if h := r.pastH(); h != nil {
		return h.first
	}
	return r.v.t
}

// n is the number of versions kept.
func (r *row) n() int {
	if !r.hasV() {
		return 0
	}
	if h := r.pastH(); h != nil {
		return 1 + len(h.v)
	}
	return 1
}

// ver returns version i (0 the oldest kept, n()-1 the current).
func (r *row) ver(i int) *version {
	h := r.pastH()
	if h == nil || i == len(h.v) {
		return &r.v
	}
	return &h.v[i]
}

func (r *row) trimmedTo() int64 {
	if h := r.pastH(); h != nil {
		return h.trimmedTo
	}
	return 0
}

func (r *row) cur() *version { return &r.v }

func (r *row) attrs() *Attrs {
	if !r.hasV() {
		return nil
	}
	return r.v.attrs
}

func (r *row) live() bool { return r.attrs() != nil }

// stale reports whether the row is stale now: its sender is in GR and has
// not re-advertised it since the GR began.
func (r *row) stale() bool {
	if !r.hasV() {
		return false
	}
	t := r.tab()
	return t.inGR && r.v.gr() < t.grCount
}

// lastAttrs is the attributes of the newest version that has any.
func (r *row) lastAttrs() *Attrs {
	for i := r.n() - 1; i >= 0; i-- {
		if v := r.ver(i); v.attrs != nil {
			return v.attrs
		}
	}
	return nil
}

// orig4 is ip4(r.originator(at)), without making the address: the
// attribute set keeps its originator's (Attrs.orig4), the group key a
// TLOC's or service's system-ip. (ip4 of an originator was 2 % of
// `analyze` on the churn capture; the chaos test checks the two agree.)
func (r *row) orig4(at *Attrs) uint32 {
	switch r.grp.key.kind {
	case kService:
		return r.grp.key.sys4()
	case kTLOC:
		if !at.Has(omp.AttrOriginator) {
			return r.grp.key.sys4()
		}
	}
	if at.Has(omp.AttrOriginator) {
		return at.orig4
	}
	return 0
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
	for i := r.n() - 1; i >= 0; i-- {
		if v := r.ver(i); v.t <= t {
			return v, true
		}
	}
	return nil, r.trimmedTo() == 0
}

// lastChange returns the time of the last non-refresh version at or before
// index i.
func (r *row) lastChange(i int) int64 {
	for ; i >= 0; i-- {
		if v := r.ver(i); v.why() != whyRefresh {
			return v.t
		}
	}
	if r.n() > 0 {
		return r.ver(0).t
	}
	return 0
}

// span is a GR interval (end 0: open); n is the table's GR count in it.
type span struct {
	start, end int64
	n          uint32
}

// maxTableSessions is how many of the last sessions that adopted a table
// (graceful restart) it lists, after the first one; the others are
// counted (table.sessOmitted, Stats.TableSessionsOmitted).
const maxTableSessions = 16

// table is what one OMP speaker advertised to another over one session
// direction (or, after a GR reconnection, over the sessions that adopted
// it).
type table struct {
	id       int
	rkey     uint32 // the receiver's system-ip as the group order knows it (0: unknown)
	sess     *session
	dir      int
	from, to *side
	sessions []string // the first session, then the last maxTableSessions that adopted it
	// sessOmitted counts the adopting sessions sessions left out
	sessOmitted int
	rows        rowStore
	hist        []*history // the rows' histories (row.bits), with the free slots' indexes
	histFree    []uint32
	hp          *histPool // the analyzer's
	live        [3]int
	famLive     [8]int
	created     int64
	deadAt      int64 // flushed for good (session down, no GR)

	inGR       bool
	grCount    uint32 // GR periods begun
	grStart    int64
	grDeadline int64
	grGen      uint32
	grFams     uint8  // families still awaiting END_OF_RIB
	grSpans    []span // the last maxGRSpans GR periods (the report's history)

	eor      uint8 // families whose END_OF_RIB was seen (bit = family)
	synced   bool
	complete bool // observed from the sender's HANDSHAKE
	gapped   bool // some records of this direction could not be read

}

// maxGRSpans bounds the GR periods a table remembers for the report's
// history (older ones forgotten, counted in Stats.GRSpansForgotten).
const maxGRSpans = 32

// staleAt reports whether version v is stale at time at: written before
// the GR the table was in at that time.
func (t *table) staleAt(v *version, at int64) bool {
	for i := len(t.grSpans) - 1; i >= 0; i-- {
		s := t.grSpans[i]
		if s.start <= at && (s.end == 0 || at < s.end) {
			return v.gr() < s.n
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

// group holds every row of one prefix / TLOC / service across the fabric.
// rows is sorted by (receiver, table, family, path-id) (see rowCmp): the
// rows one receiver holds, and the rows of one table, lie together, so a
// detector reaches the rows it needs by binary search instead of a scan of
// the group, and finding a row needs no index. own lists the live rows an
// owner (the originator of a route or service, the system-ip of a TLOC)
// sends itself.
type group struct {
	key  groupKey
	rows []*row
	own  []*row
	held heldBits // detectors that hold state about this group
	due  int64    // distDet's pending check (with heldDistDue; in the group: no map of a million groups)
	// unresolvedDet's: live route rows of this prefix per TLOC and
	// originator (one or two entries; kept here, where a row change
	// already is, rather than in a map keyed by group)
	urefs []uref
}

// uref counts the live route rows of a group with one TLOC and originator.
type uref struct {
	tloc tlocID
	orig uint32
	n    int32
	pos  int32 // its place in unresolvedDet.byTLOC[tloc]
}

// heldBits says which detectors hold state keyed by a group, so that a
// row change asks a detector's maps only about groups it has something
// on (most changes touch groups no detector holds anything about).
type heldBits uint8

// The detectors that use heldBits.
const (
	heldConflict heldBits = 1 << iota // conflictDet has an active bucket
	heldDistDue                       // distDet has a check pending at group.due
	// conflictDet once left a stale copy out of a comparison: a refresh
	// (the same attributes again after graceful restart) tells no
	// detector, so a pair it hid may be live now unseen (for good: it
	// only sends the group's changes the long way)
	heldConflictStale
)

// rowCmp orders rows in a group: receiver key, table, family, path-id.
func rowCmp(rk uint32, tid int, fam omp.Family, pathID uint32, r *row) int {
	if rk != r.rk {
		if rk < r.rk {
			return -1
		}
		return 1
	}
	if id := r.tab().id; tid != id {
		if tid < id {
			return -1
		}
		return 1
	}
	if rf := r.fam(); fam != rf {
		if fam < rf {
			return -1
		}
		return 1
	}
	if pathID != r.pathID {
		if pathID < r.pathID {
			return -1
		}
		return 1
	}
	return 0
}

// rowBefore reports whether row x comes before row y in their group.
func rowBefore(x, y *row) bool { return rowCmp(x.rk, x.tab().id, x.fam(), x.pathID, y) < 0 }

// search returns the index of the first row not before (rk, tid, fam,
// pathID) and whether it is that row.
func (g *group) search(rk uint32, tid int, fam omp.Family, pathID uint32) (int, bool) {
	lo, hi := 0, len(g.rows)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if rowCmp(rk, tid, fam, pathID, g.rows[m]) > 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(g.rows) && rowCmp(rk, tid, fam, pathID, g.rows[lo]) == 0
}

// searchRecv returns the index of the first row of receiver key rk or
// after it: search(rk, 0, 0, 0), reading no table (table ids, families
// and path-ids are never below zero).
func (g *group) searchRecv(rk uint32) int {
	lo, hi := 0, len(g.rows)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if g.rows[m].rk < rk {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// smallGroup is the size up to which a group is walked rather than
// searched: a walk compares pointers and fields the rows already hold.
const smallGroup = 12

// find returns the row of table t, family f and path-id p.
func (g *group) find(t *table, f omp.Family, p uint32) *row {
	r, _ := g.findPos(t, f, p)
	return r
}

// findPos is find, and when the row is absent from a group larger than
// smallGroup, the place where add would put it (else -1), so that adding
// a new path searches the group once.
func (g *group) findPos(t *table, f omp.Family, p uint32) (*row, int) {
	if len(g.rows) <= smallGroup {
		for _, r := range g.rows {
			if r.pathID == p && r.rk == t.rkey && r.fam() == f && r.tab() == t {
				return r, -1
			}
		}
		return nil, -1
	}
	i, ok := g.search(t.rkey, t.id, f, p)
	if ok {
		return g.rows[i], -1
	}
	return nil, i
}

// recvRange returns the rows of the group held by receiver key rk.
func (g *group) recvRange(rk uint32) []*row {
	if len(g.rows) <= smallGroup {
		i := 0
		for i < len(g.rows) && g.rows[i].rk < rk {
			i++
		}
		j := i
		for j < len(g.rows) && g.rows[j].rk == rk {
			j++
		}
		return g.rows[i:j]
	}
	i := g.searchRecv(rk)
	j := i
	for j < len(g.rows) && g.rows[j].rk == rk {
		j++
	}
	return g.rows[i:j]
}

// tableRange returns the rows of the group in table t.
func (g *group) tableRange(t *table) []*row {
	if len(g.rows) <= smallGroup {
		i := 0
		for i < len(g.rows) && (g.rows[i].rk != t.rkey || g.rows[i].tab() != t) {
			i++
		}
		j := i
		for j < len(g.rows) && g.rows[j].rk == t.rkey && g.rows[j].tab() == t {
			j++
		}
		return g.rows[i:j]
	}
	i, _ := g.search(t.rkey, t.id, 0, 0)
	j := i
	for j < len(g.rows) && g.rows[j].rk == t.rkey && g.rows[j].tab() == t {
		j++
	}
	return g.rows[i:j]
}

func (g *group) add(r *row) { g.addAt(r, -1) }

// addAt adds r at place i, which findPos gave for r's table, family and
// path-id with nothing added or removed since (-1: search for it).
func (g *group) addAt(r *row, i int) {
	r.rk = r.tab().rkey
	if i < 0 {
		i, _ = g.search(r.rk, r.tab().id, r.fam(), r.pathID)
	}
	if n := len(g.rows); n == cap(g.rows) {
		// grow by a quarter (at least 2), not append's doubling: a
		// group's list is 8 bytes a row, and doubling left a third of
		// it unused on the 2 000-edge capture (96 MB for 63 MB of rows)
		g.rows = append(slices.Grow([]*row(nil), n+max(2, n/4)), g.rows...)
	}
	g.rows = slices.Insert(g.rows, i, r)
}

// scanRemove is the group size up to which remove looks for a row's
// pointer in the list rather than searching by key. The list is read in
// order (the prefetcher keeps ahead) and the delete moves half of it
// anyway; a search touches a row, and its chunk's header, at every step,
// each a cache miss when, as when a pruned row leaves, the group is cold.
var scanRemove = 1024 // a variable for the tests

func (g *group) remove(r *row) {
	if len(g.rows) <= scanRemove {
		if i := slices.Index(g.rows, r); i >= 0 {
			g.rows = slices.Delete(g.rows, i, i+1)
		}
	} else if i, ok := g.search(r.rk, r.tab().id, r.fam(), r.pathID); ok && g.rows[i] == r {
		g.rows = slices.Delete(g.rows, i, i+1)
	}
	g.setOwn(r, false)
}

// setOwn puts r in the group's own list or takes it out.
func (g *group) setOwn(r *row, on bool) {
	i := slices.Index(g.own, r)
	switch {
	case on && i < 0:
		g.own = append(g.own, r)
	case !on && i >= 0:
		g.own = slices.Delete(g.own, i, i+1)
	}
}

type condRef struct {
	key condKey
	src any
}

// rowStore holds a table's rows in chunks of rowChunk: a row costs its 48
// bytes and no pointer to it, and a pruned row's slot is taken by the
// table's next new row instead of going to the collector (on the 2 000-edge
// capture a tenth of the memory, and the allocation of every row). Rows do
// not move: a *row stays valid while the row is in use. A slot is reused
// only after pruneRow took the row out of every index, which happens
// Config.Window after its withdrawal, when no detector holds it any more.
// The chunks go when the table is empty; a table that shrinks keeps the
// chunks of its largest size until then.
type rowStore struct {
	chunks []*rowChunkT
	n      int   // rows in use
	hi     int32 // slots handed out at least once
	free   int32 // first free slot + 1 (0: none), linked through row.ti
}

// rowChunk rows and the header fill 2 024 of the 2 048 bytes of one of
// the allocator's size classes (128 rows took 6 152 bytes, rounded up to
// 6 528), and a table's last, partly filled chunk wastes 1 KB on average
// rather than 3: on the 2 000-edge capture (16 000 tables) about 70 MB
// less. TestRowLayout keeps the fit.
const rowChunk = 42

// rowChunkT is a chunk of rows with their table, which row.tab finds from
// a row's slot: the pointer the rows would otherwise each carry.
type rowChunkT struct {
	tab  *table
	rows [rowChunk]row
}

func (s *rowStore) slot(i int32) *row { return &s.chunks[i/rowChunk].rows[i%rowChunk] }

// len is the number of rows in use.
func (s *rowStore) len() int { return s.n }

// all yields the rows in use, in slot order.
func (s *rowStore) all(yield func(*row) bool) {
	for i := int32(0); i < s.hi; i++ {
		if r := s.slot(i); r.used() && !yield(r) {
			return
		}
	}
}

func (t *table) newRow() *row {
	s := &t.rows
	var i int32
	if s.free != 0 {
		i = s.free - 1
		s.free = s.slot(i).ti
	} else {
		if int(s.hi) == len(s.chunks)*rowChunk {
			s.chunks = append(s.chunks, &rowChunkT{tab: t})
		}
		i = s.hi
		s.hi++
	}
	r := s.slot(i)
	*r = row{ti: i, bits: rowUsed}
	s.n++
	return r
}

// remove frees r's slot (r must be out of every index), and its history's.
func (t *table) remove(r *row) {
	s := &t.rows
	if !r.used() || r.ti < 0 || r.ti >= s.hi || r.tab() != t || s.slot(r.ti) != r {
		return
	}
	t.dropHistory(r)
	i := r.ti
	*r = row{ti: s.free}
	s.free = i + 1
	if s.n--; s.n == 0 {
		*s = rowStore{}
		t.hist, t.histFree = nil, nil
	}
}

// newHistory gives r an empty history and returns it (nil when the table
// holds rowHistMask histories already: the caller counts it in
// Stats.Saturated). The table's slab holds the pointers: a row carries a
// 27-bit index instead of an 8-byte pointer. (Histories in chunks of the
// slab itself, allocation-free, were tried: slower on the churning
// capture, each new history landing on a cold slot.) A history comes from
// the analyzer's pool of dropped ones when it has one (histPool).
func (t *table) newHistory(r *row) *history {
	h := t.hp.get()
	if i := r.bits & rowHistMask; i != 0 {
		t.hist[i-1] = h
		return h
	}
	var i uint32
	if n := len(t.histFree); n > 0 {
		i = t.histFree[n-1]
		t.histFree = t.histFree[:n-1]
		t.hist[i] = h
	} else {
		if len(t.hist) >= rowHistMask {
			t.hp.put(h)
			return nil
		}
		i = uint32(len(t.hist))
		t.hist = append(t.hist, h)
	}
	r.bits = r.bits&^rowHistMask | (i + 1)
	return h
}

// dropHistory frees r's history slot, and the history into the pool.
func (t *table) dropHistory(r *row) {
	if i := r.bits & rowHistMask; i != 0 {
		t.hp.put(t.hist[i-1])
		t.hist[i-1] = nil
		t.histFree = append(t.histFree, i-1)
		r.bits &^= rowHistMask
	}
}

// histPool keeps up to histPoolMax dropped histories for new ones: on the
// churning capture a history was made for 2 route events in 5 and dropped
// when its row was pruned, 66 M of the 2 735 M instructions of `analyze`
// (cachegrind, GOGC=off) in the allocator, and more in the collector. A
// history is only reached through its row's slot (row.pastH), so a dropped
// one is nobody's.
type histPool struct {
	free []*history
}

const histPoolMax = 4096

func (p *histPool) get() *history {
	if n := len(p.free); n > 0 {
		h := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return h
	}
	return &history{}
}

// put takes h back, emptied: its versions hold attributes, which the
// interner lets go only when no one points to them.
func (p *histPool) put(h *history) {
	if h == nil || len(p.free) >= histPoolMax {
		return
	}
	*h = history{}
	p.free = append(p.free, h)
}

// tlocState counts, for one TLOC key, its live TLOC rows in the whole
// fabric. (It also counted the route and service rows pointing to the
// TLOC, a count nothing read: two map lookups per route event, 2.6 % of
// the instructions of `analyze` on the churn capture.) A state leaves
// Analyzer.tlocs with the TLOC's last live row and is marked gone, so
// that an Attrs holding it looks again.
type tlocState struct {
	live int
	gone bool
}
