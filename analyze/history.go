package analyze

import (
	"net/netip"
	"slices"
	"time"
	"unsafe"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// History: with Config.Record, the analyzer keeps, in compact form, every
// version of every row (what --at rebuilds a table from) and every state
// change of every session, whatever Retention prunes, so that a report can
// rebuild the tables at any instant without the analyzer. A version costs
// about 20 bytes (time, row, attribute set, GR count), a row 16, a
// distinct attribute set its Attrs; Config.RecordMax bounds the versions
// (the rest are counted in History.Dropped). The distinct attribute sets
// the versions point to are bounded too, by their bytes (attrBudget;
// past either, every later version is dropped):
// a capture whose every UPDATE carries new attributes pinned an Attrs, of
// 400 bytes and more, per version, 13 GB at the default RecordMax.

// DefaultRecordMax is the default of Config.RecordMax.
const DefaultRecordMax = 32_000_000

// recVersionBytes is what a recorded version costs.
const recVersionBytes = 20

// attrBudget is the bytes of distinct attribute sets a recorder of max
// versions keeps: half what its versions may take, 1 MiB at least.
func attrBudget(versions int) int { return max(versions*recVersionBytes/2, 1<<20) }

// attrsBytes estimates what an attribute set holds.
func attrsBytes(at *Attrs) int {
	return int(unsafe.Sizeof(Attrs{})) + 48*len(at.List) + cap(at.json)
}

type recorder struct {
	max int
	// rowID[table][slot] is the row a table's slot holds now + 1 (slots
	// are reused; no map of millions of rows)
	rowID     [][]uint32
	gid       map[groupKey]uint32
	groups    []groupKey
	rows      []recRow
	attrID    map[*Attrs]uint32
	attrs     []*Attrs
	attrBytes int // attrsBytes of attrs

	evT    []int64
	evRow  []uint32
	evAttr []uint32 // attribute set + 1 (0: withdrawn)
	evGR   []uint32 // GR count << 1 | refresh

	dropped     int
	droppedFrom int64

	states        []HistState
	statesDropped int
	owners        map[int][]HistOwner // table → sessions that adopted it (GR)
	nOwners       int                 // entries in owners
}

type recRow struct {
	tab    int32
	gid    uint32
	pathID uint32
	fam    omp.Family
}

func newRecorder(max int) *recorder {
	if max <= 0 {
		max = DefaultRecordMax
	}
	return &recorder{max: max, gid: map[groupKey]uint32{}, attrID: map[*Attrs]uint32{}}
}

// version records v, a new version of r (called from push, after the GR
// count is set).
func (rc *recorder) version(r *row, v version, first bool) {
	var newAttrs int // the bytes of v's attribute set, when it is new
	if v.attrs != nil {
		if _, ok := rc.attrID[v.attrs]; !ok {
			newAttrs = attrsBytes(v.attrs)
		}
	}
	// once one version is dropped, every later one is: a row's later
	// versions kept without its first would land on the row its slot
	// held before
	if rc.dropped > 0 || len(rc.evT) >= rc.max || rc.attrBytes+newAttrs > attrBudget(rc.max) {
		if rc.dropped == 0 {
			rc.droppedFrom = v.t
		}
		rc.dropped++
		return
	}
	rc.attrBytes += newAttrs
	ti := r.tab().id
	for len(rc.rowID) <= ti {
		rc.rowID = append(rc.rowID, nil)
	}
	slots := rc.rowID[ti]
	for len(slots) <= int(r.ti) {
		slots = append(slots, 0)
	}
	rc.rowID[ti] = slots
	id := slots[r.ti] - 1
	if first || slots[r.ti] == 0 {
		g, ok := rc.gid[r.grp.key]
		if !ok {
			g = uint32(len(rc.groups))
			rc.gid[r.grp.key] = g
			rc.groups = append(rc.groups, r.grp.key)
		}
		id = uint32(len(rc.rows))
		rc.rows = append(rc.rows, recRow{tab: int32(r.tab().id), gid: g, pathID: r.pathID, fam: r.fam()})
		slots[r.ti] = id + 1
	}
	var ai uint32
	if v.attrs != nil {
		x, ok := rc.attrID[v.attrs]
		if !ok {
			x = uint32(len(rc.attrs))
			rc.attrID[v.attrs] = x
			rc.attrs = append(rc.attrs, v.attrs)
		}
		ai = x + 1
	}
	gr := v.gr() << 1
	if v.why() == whyRefresh {
		gr |= 1
	}
	rc.evT = append(rc.evT, v.t)
	rc.evRow = append(rc.evRow, id)
	rc.evAttr = append(rc.evAttr, ai)
	rc.evGR = append(rc.evGR, gr)
}

// adopt records a session taking a table over (graceful restart): a
// change of state like those of state, under the same cap (a table
// adopted again and again added one entry each, without bound).
func (rc *recorder) adopt(t *table, s *session, now int64) {
	if len(rc.states)+rc.nOwners >= rc.max/16 {
		rc.statesDropped++
		return
	}
	if rc.owners == nil {
		rc.owners = map[int][]HistOwner{}
	}
	rc.owners[t.id] = append(rc.owners[t.id], HistOwner{T: now, Session: s.id})
	rc.nOwners++
}

func (rc *recorder) state(s *session, layer, old, new, reason string, now int64, frame uint64) {
	if len(rc.states)+rc.nOwners >= rc.max/16 {
		rc.statesDropped++
		return
	}
	rc.states = append(rc.states, HistState{T: now, Frame: frame, Session: s.id, Layer: layer, Old: old, New: new, Reason: reason})
}

// History is what Config.Record kept, ready for a report: every table
// with what a snapshot needs of it, the row groups (prefixes, TLOCs,
// services) in the order snapshots list them, every row, every distinct
// attribute set, the versions in the order they were made, and the
// session state changes. Times are nanoseconds since the Unix epoch.
type History struct {
	Start, End int64
	Tables     []HistTable
	Sessions   map[string]*HistSession
	Groups     []HistGroup
	Rows       []HistRow
	Attrs      []HistAttrs
	// The versions, in the order they were made (capture-time order):
	// the row, the attribute set + 1 (0: withdrawn), the table's GR count
	// when it was made and whether it was a refresh (re-advertised
	// unchanged: it does not move the row's last change).
	VerTime    []int64
	VerRow     []uint32
	VerAttr    []uint32
	VerGR      []uint32
	VerRefresh []bool
	// Dropped versions past Config.RecordMax, the first at DroppedFrom:
	// the report's tables are incomplete from then on.
	Dropped     int
	DroppedFrom int64
	States      []HistState
	// StatesDropped counts state changes, and tables' adoptions, past the
	// cap (RecordMax/16, for both).
	StatesDropped int
	// DistributionWindow is the Rej inference's settling time.
	DistributionWindow time.Duration
	// DroppedAnomalies counts anomalies dropped past Config.MaxAnomalies
	// (the oldest closed ones), MaxAnomalies being the cap.
	DroppedAnomalies, MaxAnomalies int
}

// HistTable is one table (one direction of one OMP session, or the
// sessions that adopted it).
type HistTable struct {
	ID               int
	From, To         string
	FromType, ToType sdwan.DeviceType
	FromSys, ToSys   netip.Addr
	Session          string
	Sessions         []string
	// Owners are the sessions that took the table over after a graceful
	// restart, from when (Sessions[0] owned it before).
	Owners  []HistOwner
	GR      []HistSpan
	Created int64
	DeadAt  int64 // 0: alive
	// Complete: observed from the sender's HANDSHAKE, no unreadable records.
	Complete bool
	// Limit and Edge are what the best path needs of the receiver: its
	// ECMP limit and whether it is an edge.
	Limit int
	Edge  bool
	// Order is the table's place in a snapshot's list (by sender, receiver,
	// ID); FromRank its sender's place in the best path's order of senders
	// (tables of one sender share it).
	Order, FromRank int
}

// HistOwner is a session that owns a table from T on.
type HistOwner struct {
	T       int64
	Session string
}

// HistSession is a session's OMP state history (what a snapshot shows as
// a table's state): OMP, then Now, the answer before the first entry when
// Full is false (the history was cut).
type HistSession struct {
	OMP  []HistOMP
	Now  string
	Full bool
}

// HistOMP is one OMP state from T on.
type HistOMP struct {
	T     int64
	State string
}

// HistSpan is one graceful-restart period (End 0: open); N is the table's
// GR count in it: a version made with a lower count is stale in it.
type HistSpan struct {
	Start, End int64
	N          uint32
}

// HistGroup is one route prefix, TLOC or service of the fabric.
type HistGroup struct {
	Kind    string // "route", "tloc", "service"
	VPN     uint32
	Prefix  netip.Prefix
	TLOC    omp.TLOCKey
	Service sdwan.Service
	Addr    netip.Addr // a service's originator
}

// HistRow is one row: its table, group, family and path-id.
type HistRow struct {
	Table  int
	Group  int
	Family omp.Family
	PathID uint32
}

// HistAttrs is one attribute set with what the status and best path need
// of it.
type HistAttrs struct {
	*Attrs
	HasTLOC, HasOriginator, HasOrigin, HasAddress bool
	// OriginRank is the best path's origin order (8: unknown or absent).
	OriginRank int
	// TLOCSys, TLOCColor and TLOCEncap are the TLOC attribute as numbers.
	TLOCSys   uint32
	TLOCColor uint32
	TLOCEncap uint8
}

// HistState is one state change of a session.
type HistState struct {
	T                int64
	Frame            uint64
	Session          string
	Layer            string // "control" or "omp"
	Old, New, Reason string
}

// History returns what Config.Record kept (nil without it). Call it after
// Finish.
func (a *Analyzer) History() *History {
	rc := a.rec
	if rc == nil {
		return nil
	}
	h := &History{Start: a.first, End: a.clock, Dropped: rc.dropped, DroppedFrom: rc.droppedFrom,
		States: rc.states, StatesDropped: rc.statesDropped, DistributionWindow: a.cfg.DistributionWindow,
		DroppedAnomalies: a.dropped, MaxAnomalies: a.cfg.MaxAnomalies,
		VerTime: rc.evT, VerRow: rc.evRow, VerAttr: rc.evAttr}
	h.VerGR = make([]uint32, len(rc.evGR))
	h.VerRefresh = make([]bool, len(rc.evGR))
	for i, g := range rc.evGR {
		h.VerGR[i], h.VerRefresh[i] = g>>1, g&1 != 0
	}
	for _, t := range a.tables {
		ht := HistTable{ID: t.id, From: t.from.name(), To: t.to.name(), FromType: t.from.dev, ToType: t.to.dev,
			FromSys: t.from.sys, ToSys: t.to.sys, Session: t.sess.id, Sessions: slices.Clone(t.sessions),
			Owners: rc.owners[t.id], Created: t.created, DeadAt: t.deadAt, Complete: t.complete && !t.gapped}
		for _, s := range t.grSpans {
			ht.GR = append(ht.GR, HistSpan{s.start, s.end, s.n})
		}
		ht.Limit, ht.Edge = a.recvInfo(t)
		h.Tables = append(h.Tables, ht)
	}
	// the snapshot order of the tables and the best path's order of senders
	idx := make([]int, len(h.Tables))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(x, y int) int {
		a, b := &h.Tables[x], &h.Tables[y]
		return cmpTableViews(&TableView{ID: a.ID, From: a.From, To: a.To}, &TableView{ID: b.ID, From: b.From, To: b.To})
	})
	for r, i := range idx {
		h.Tables[i].Order = r
	}
	slices.SortFunc(idx, func(x, y int) int {
		a, b := &h.Tables[x], &h.Tables[y]
		return cmpSender(a.FromSys, a.From, b.FromSys, b.From)
	})
	for r, i := range idx {
		if r > 0 {
			p := &h.Tables[idx[r-1]]
			if cmpSender(p.FromSys, p.From, h.Tables[i].FromSys, h.Tables[i].From) == 0 {
				h.Tables[i].FromRank = p.FromRank
				continue
			}
			h.Tables[i].FromRank = p.FromRank + 1
		}
	}
	h.Sessions = map[string]*HistSession{}
	for _, s := range a.sessList {
		hs := &HistSession{Now: s.omp.String(), Full: len(s.ompHist) < maxStateHist}
		for _, o := range s.ompHist {
			hs.OMP = append(hs.OMP, HistOMP{o.t, o.st.String()})
		}
		h.Sessions[s.id] = hs
	}
	// groups in snapshot order
	order := make([]int, len(rc.groups))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return cmpGroupKey(&rc.groups[x], &rc.groups[y]) })
	rank := make([]int, len(order))
	for r, i := range order {
		g := &rc.groups[i]
		rank[i] = r
		hg := HistGroup{VPN: g.vpn}
		switch g.kind {
		case kRoute:
			hg.Kind, hg.Prefix = "route", g.prefix()
		case kTLOC:
			hg.Kind, hg.TLOC, hg.VPN = "tloc", g.tloc(), 0
		default:
			hg.Kind, hg.Service, hg.Addr = "service", sdwan.Service(g.svc), g.addr4()
		}
		h.Groups = append(h.Groups, hg)
	}
	h.Rows = make([]HistRow, len(rc.rows))
	for i, r := range rc.rows {
		h.Rows[i] = HistRow{Table: int(r.tab), Group: rank[r.gid], Family: r.fam, PathID: r.pathID}
	}
	h.Attrs = make([]HistAttrs, len(rc.attrs))
	for i, at := range rc.attrs {
		x := HistAttrs{Attrs: at, HasTLOC: at.HasTLOC(), HasOriginator: at.Has(omp.AttrOriginator),
			HasOrigin: at.Has(omp.AttrOrigin), HasAddress: at.hasAddress(), OriginRank: originRank(at.Origin),
			TLOCSys: at.tlocID.sys, TLOCColor: at.tlocID.color, TLOCEncap: at.tlocID.encap}
		if !x.HasOrigin {
			x.OriginRank = 8
		}
		h.Attrs[i] = x
	}
	return h
}
