package analyze

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// TablesSchema and DiffSchema are the schema versions of the JSON forms of
// a Snapshot and a Diff.
const (
	TablesSchema = "ompscope.tables/2"
	DiffSchema   = "ompscope.diff/2"
)

// Status codes (Cisco's `show omp routes` legend, the subset this
// analysis can tell; bestpath.go says how C, I and L are inferred).
const (
	StatusChosen     = "C"
	StatusInstalled  = "I"
	StatusLooped     = "L"
	StatusRejected   = "Rej"
	StatusResolved   = "R"
	StatusUnresolved = "U"
	StatusStale      = "S"
	StatusInvalid    = "Inv"
)

// StatusLegend is the legend printed above table text.
const StatusLegend = `Code:
C   -> chosen (best path for the receiver, inferred: Cisco's best-path order)
I   -> installed (inferred: a chosen, resolved path on an edge)
Rej -> rejected (inferred: a vSmart holds the path from its originator and
       reflects it to no peer, while it reflects the originator's others)
L   -> looped (the receiver's own route, reflected back to it)
R   -> resolved (the receiver holds the route's TLOC, from any of its peers)
U   -> TLOC unresolved
S   -> stale (the sender is in graceful restart and has not re-advertised it)
Inv -> invalid (no TLOC or ORIGINATOR attribute; for a TLOC, no address)
C, I and Rej are inferred: receiver policy and BFD are not in the capture.
`

// Filter selects rows. The zero value selects everything.
type Filter struct {
	// VPN, when HasVPN, keeps routes and services of that VPN (and drops
	// TLOCs, which have none).
	VPN    uint32
	HasVPN bool
	// Prefix, when valid, keeps routes whose prefix equals it or lies
	// inside it (and drops TLOCs and services).
	Prefix netip.Prefix
	// Peer, when not empty, keeps rows of tables whose sender or receiver
	// is that system-ip (or "?address" name).
	Peer string
	// Color, when HasColor, keeps rows whose TLOC has that color.
	Color    sdwan.Color
	HasColor bool
}

// on reports whether the filter keeps less than everything.
func (f *Filter) on() bool { return f.HasVPN || f.Prefix.IsValid() || f.Peer != "" || f.HasColor }

func (f *Filter) table(t *table) bool {
	return f.Peer == "" || t.from.name() == f.Peer || t.to.name() == f.Peer
}

func (f *Filter) row(r *row, at *Attrs) bool {
	k := r.grp.key.kind
	if f.HasVPN && (k == kTLOC || r.grp.key.vpn != f.VPN) {
		return false
	}
	if f.Prefix.IsValid() {
		if k != kRoute {
			return false
		}
		p := r.grp.key.prefix()
		if p.Bits() < f.Prefix.Bits() || !f.Prefix.Contains(p.Addr()) {
			return false
		}
	}
	if f.HasColor {
		var c sdwan.Color
		if k == kTLOC {
			c = sdwan.Color(r.grp.key.color)
		} else if at.HasTLOC() {
			c = at.TLOC.Color
		} else {
			return false
		}
		if c != f.Color {
			return false
		}
	}
	return true
}

// Row is one row of a table as it stood at some instant.
type Row struct {
	Kind       string // "route", "tloc" or "service"
	Family     omp.Family
	Key        RowKey
	Status     string
	FirstSeen  time.Time
	LastChange time.Time
	Attrs      *Attrs
	// LossReason, for a route that is not chosen, is the first step of
	// the best-path order it lost on (Cisco's LossReasonEnum names:
	// invalid, stale-entry, personality, preference, tloc-preference,
	// origin-protocol, origin-metric, peer-id, tloc-id); LostTo and LostToPathID name the
	// path it lost to (its sender and path-id; empty for invalid).
	LossReason   string
	LostTo       string
	LostToPathID uint32
	r            *row

	chosen, installed, looped, rejected bool
}

// TableView is one direction's table at an instant.
type TableView struct {
	ID       int
	From, To string // system-ips ("?address" when unknown)
	FromType sdwan.DeviceType
	ToType   sdwan.DeviceType
	Session  string   // the session that owns the table now
	Sessions []string // every session that carried it (GR reconnections): the first and the last maxTableSessions (16)
	// SessionsOmitted counts the sessions that carried it left out of
	// Sessions (between the first and the last 16)
	SessionsOmitted int
	// OMP is the OMP state of the owning session at the instant ("up",
	// "init-in-gr", "down-in-gr", "down", "handshake", "none").
	OMP      string
	GR       bool // the sender was in graceful restart at the instant
	Complete bool // observed from the sender's HANDSHAKE, no unreadable records
	Routes   []Row
	TLOCs    []Row
	Services []Row
	t        *table
}

// Snapshot is the tables as they stood at one instant.
type Snapshot struct {
	At time.Time
	// Exact is false when pruned history (Config.HistoryPerRow,
	// Config.Retention) makes some rows' state at At unknown; Unknown
	// counts them and Horizon is the earliest exact instant.
	Exact   bool
	Unknown int
	Horizon time.Time
	// AfterEnd is true when At lies after the end of the capture: the
	// tables are those at the end.
	AfterEnd bool
	Tables   []*TableView
}

// Snapshot returns the tables at time at (the zero time: now), filtered.
// At an instant of Config.SnapshotAt it returns the snapshot taken as the
// capture went past it (exact whatever was pruned since); otherwise it
// rebuilds the tables from the history kept (Config.Retention).
func (a *Analyzer) Snapshot(at time.Time, f Filter) *Snapshot {
	T := timeNS(at)
	if at.IsZero() {
		T = a.clock
	}
	if s := a.markAt(T, false); s != nil {
		return s.filter(f)
	}
	return a.snapshot(T, f)
}

// SnapshotEnd returns the snapshot kept for an End instant of
// Config.SnapshotAt (nil if none was asked for or the capture has not
// finished).
func (a *Analyzer) SnapshotEnd(f Filter) *Snapshot {
	if s := a.markAt(0, true); s != nil {
		return s.filter(f)
	}
	return nil
}

// snapshotNow snapshots the tables as they stand (every table, every row).
func (a *Analyzer) snapshotNow(T int64) *Snapshot {
	s := a.snapshot(T, Filter{})
	s.Exact, s.Unknown = true, 0
	return s
}

// filter returns the part of s that f selects (s itself for the zero
// filter).
func (s *Snapshot) filter(f Filter) *Snapshot {
	if f == (Filter{}) {
		return s
	}
	out := *s
	out.Tables = nil
	for _, tv := range s.Tables {
		if f.Peer != "" && tv.From != f.Peer && tv.To != f.Peer {
			continue
		}
		cp := *tv
		keep := func(rs []Row) []Row {
			var o []Row
			for _, r := range rs {
				if f.row(r.r, r.Attrs) {
					o = append(o, r)
				}
			}
			return o
		}
		cp.Routes, cp.TLOCs, cp.Services = keep(tv.Routes), keep(tv.TLOCs), keep(tv.Services)
		if len(cp.Routes)+len(cp.TLOCs)+len(cp.Services) == 0 {
			continue
		}
		out.Tables = append(out.Tables, &cp)
	}
	return &out
}

// snapshot builds every table at T, infers the best paths (over every
// row: a filter must not change what is chosen), then applies f.
func (a *Analyzer) snapshot(T int64, f Filter) *Snapshot {
	s := a.snapshotAll(T)
	return s.filter(f)
}

func (a *Analyzer) snapshotAll(T int64) *Snapshot {
	f := Filter{}
	snap := &Snapshot{At: nsTime(T), Exact: T >= a.pruneHorizon}
	if a.horizon > 0 {
		snap.Horizon = nsTime(a.horizon)
	}
	// The TLOCs each receiver holds at T (for R/U, and their preference
	// and private address for the best path).
	held := map[string]map[tlocID]tlocHeld{}
	for _, t := range a.tables {
		if t.live[kTLOC] == 0 && t.deadAt != 0 && t.deadAt <= T {
			continue
		}
		for r := range t.rows.all {
			if r.grp.key.kind != kTLOC {
				continue
			}
			if v, _ := r.at(T); v != nil && v.attrs != nil {
				m := held[t.to.name()]
				if m == nil {
					m = map[tlocID]tlocHeld{}
					held[t.to.name()] = m
				}
				id := tlocID{ip4(r.grp.key.addr4()), r.grp.key.color, r.grp.key.encap}
				h := tlocHeld{pref: v.attrs.Preference, priv: v.attrs.PrivateV4.Addr()}
				if !h.priv.IsValid() {
					h.priv = v.attrs.PrivateV6.Addr()
				}
				if old, ok := m[id]; !ok || h.pref > old.pref {
					m[id] = h
				}
			}
		}
	}
	for _, t := range a.tables {
		if t.created > T || !f.table(t) {
			continue
		}
		tv := &TableView{ID: t.id, From: t.from.name(), To: t.to.name(), FromType: t.from.dev, ToType: t.to.dev,
			Session: t.sess.id, Sessions: slices.Clone(t.sessions), SessionsOmitted: t.sessOmitted,
			OMP: t.sess.ompAt(T).String(), GR: t.grAt(T), Complete: t.complete && !t.gapped, t: t}
		for r := range t.rows.all {
			v, known := r.at(T)
			if !known {
				snap.Unknown++
				snap.Exact = false
				continue
			}
			if v == nil || v.attrs == nil || !f.row(r, v.attrs) {
				continue
			}
			row := a.rowView(r, v, T, held[tv.To])
			switch row.Kind {
			case "route":
				tv.Routes = append(tv.Routes, row)
			case "tloc":
				tv.TLOCs = append(tv.TLOCs, row)
			default:
				tv.Services = append(tv.Services, row)
			}
		}
		alive := t.deadAt == 0 || t.deadAt > T
		if len(tv.Routes)+len(tv.TLOCs)+len(tv.Services) == 0 && (!alive || f != (Filter{})) {
			continue
		}
		for _, rs := range [][]Row{tv.Routes, tv.TLOCs, tv.Services} {
			slices.SortFunc(rs, func(x, y Row) int { return cmpRows(x.r, y.r) })
		}
		snap.Tables = append(snap.Tables, tv)
	}
	slices.SortFunc(snap.Tables, cmpTableViews)
	a.bestPath(snap, held)
	return snap
}

func cmpTableViews(x, y *TableView) int {
	if c := cmpName(x.From, y.From); c != 0 {
		return c
	}
	if c := cmpName(x.To, y.To); c != 0 {
		return c
	}
	return x.ID - y.ID
}

// cmpName orders system-ips numerically, unknown names after them.
func cmpName(x, y string) int {
	ax, ex := netip.ParseAddr(x)
	ay, ey := netip.ParseAddr(y)
	switch {
	case ex == nil && ey == nil:
		return ax.Compare(ay)
	case ex == nil:
		return -1
	case ey == nil:
		return 1
	}
	return strings.Compare(x, y)
}

func (a *Analyzer) rowView(r *row, v *version, T int64, held map[tlocID]tlocHeld) Row {
	at := v.attrs
	idx := r.n() - 1
	for idx >= 0 && r.ver(idx) != v {
		idx--
	}
	row := Row{Family: r.fam(), Key: rowKey(r, at), FirstSeen: nsTime(r.first()), LastChange: nsTime(r.lastChange(idx)), Attrs: at, r: r}
	var st string
	switch r.grp.key.kind {
	case kRoute, kService:
		row.Kind = "route"
		if r.grp.key.kind == kService {
			row.Kind = "service"
		}
		switch {
		case !at.HasTLOC() || (r.grp.key.kind == kRoute && !at.Has(omp.AttrOriginator)):
			st = StatusInvalid
		default:
			if _, ok := held[at.tlocID]; ok {
				st = StatusResolved
			} else {
				st = StatusUnresolved
			}
		}
	default:
		row.Kind = "tloc"
		st = StatusResolved
		if !at.hasAddress() {
			st = StatusInvalid
		}
	}
	if r.tab().staleAt(v, T) {
		st = StatusStale + "," + st
	}
	row.Status = st
	return row
}

// Rows returns the number of rows in the snapshot.
func (s *Snapshot) Rows() (routes, tlocs, services int) {
	for _, t := range s.Tables {
		routes += len(t.Routes)
		tlocs += len(t.TLOCs)
		services += len(t.Services)
	}
	return
}

// ---- JSON

type rowJSON struct {
	VPN        *uint32 `json:"vpn,omitempty"`
	Prefix     string  `json:"prefix,omitempty"`
	TLOCKey    string  `json:"-"`
	Service    string  `json:"service,omitempty"`
	PathID     uint32  `json:"path_id"`
	Originator string  `json:"originator"`
	TLOC       string  `json:"tloc,omitempty"`
	Private    string  `json:"private,omitempty"`
	Public     string  `json:"public,omitempty"`
	Preference uint32  `json:"preference,omitempty"`
	Weight     uint32  `json:"weight,omitempty"`
	SiteID     *uint32 `json:"site_id,omitempty"`
	Origin     string  `json:"origin,omitempty"`
	Label      uint32  `json:"label,omitempty"`
	Status     string  `json:"status"`
	LossReason string  `json:"loss_reason,omitempty"`
	LostTo     string  `json:"lost_to_peer,omitempty"`
	LostToPath *uint32 `json:"lost_to_path_id,omitempty"`
	FirstSeen  string  `json:"first_seen"`
	LastChange string  `json:"last_change"`
	Attrs      *Attrs  `json:"attrs"`
}

// MarshalJSON gives the row in the documented form: the members of the
// manifest's route/TLOC/service rows, plus status, times and attributes.
func (r Row) MarshalJSON() ([]byte, error) {
	at := r.Attrs
	j := rowJSON{PathID: r.Key.PathID, Originator: addrStr(r.Key.Originator), Status: r.Status,
		LossReason: r.LossReason, LostTo: r.LostTo, FirstSeen: ts(r.FirstSeen), LastChange: ts(r.LastChange), Attrs: at}
	if r.LostTo != "" {
		p := r.LostToPathID
		j.LostToPath = &p
	}
	if at != nil {
		j.Preference = at.Preference
		if r.Kind != "service" {
			site := at.SiteID
			j.SiteID = &site
		}
	}
	switch r.Kind {
	case "route":
		vpn := r.Key.VPN
		j.VPN, j.Prefix = &vpn, r.Key.Prefix.String()
		if at.HasTLOC() {
			j.TLOC = at.TLOC.String()
		}
		if at.Has(omp.AttrOrigin) {
			j.Origin = at.Origin.String()
		}
		j.Label = at.Label
	case "tloc":
		j.TLOC = r.Key.TLOC.String()
		v6 := r.Family == omp.FamilyTLOCv6
		if p := at.Private(v6); p.IsValid() {
			j.Private = p.String()
		}
		if p := at.Public(v6); p.IsValid() {
			j.Public = p.String()
		}
		j.Weight = at.Weight
	default:
		vpn := r.Key.VPN
		j.VPN, j.Service = &vpn, r.Key.Service.String()
		if at.HasTLOC() {
			j.TLOC = at.TLOC.String()
		}
		j.Label = at.Label
	}
	return marshal(j)
}

type tableJSON struct {
	ID       int      `json:"id"`
	From     string   `json:"from"`
	To       string   `json:"to"`
	FromType string   `json:"from_type"`
	ToType   string   `json:"to_type"`
	Session  string   `json:"session"`
	Sessions []string `json:"sessions"`
	Omitted  int      `json:"sessions_omitted,omitempty"`
	OMP      string   `json:"omp_state"`
	GR       bool     `json:"graceful_restart"`
	Complete bool     `json:"complete"`
	Routes   []Row    `json:"routes"`
	TLOCs    []Row    `json:"tlocs"`
	Services []Row    `json:"services"`
}

func nonNil(r []Row) []Row {
	if r == nil {
		return []Row{}
	}
	return r
}

// MarshalJSON gives the documented form of a table.
func (t *TableView) MarshalJSON() ([]byte, error) {
	return marshal(tableJSON{t.ID, t.From, t.To, t.FromType.String(), t.ToType.String(), t.Session, t.Sessions,
		t.SessionsOmitted, t.OMP, t.GR, t.Complete, nonNil(t.Routes), nonNil(t.TLOCs), nonNil(t.Services)})
}

// MarshalJSON gives the documented form of a snapshot.
func (s *Snapshot) MarshalJSON() ([]byte, error) {
	j := struct {
		Schema   string       `json:"schema"`
		At       string       `json:"at"`
		Exact    bool         `json:"exact"`
		Unknown  int          `json:"unknown_rows"`
		Horizon  string       `json:"horizon,omitempty"`
		AfterEnd bool         `json:"after_end,omitempty"`
		Tables   []*TableView `json:"tables"`
	}{TablesSchema, ts(s.At), s.Exact, s.Unknown, "", s.AfterEnd, s.Tables}
	if !s.Horizon.IsZero() {
		j.Horizon = ts(s.Horizon)
	}
	if j.Tables == nil {
		j.Tables = []*TableView{}
	}
	return marshal(j)
}

// ---- Diff

// DiffRow is one row that differs between two instants: Old is its state at
// the first (nil when added), New at the second (nil when withdrawn).
type DiffRow struct {
	From, To string
	Kind     string
	Old, New *Row
}

// Diff is what changed in the tables between two instants.
type Diff struct {
	From, To  time.Time
	Exact     bool
	Added     []DiffRow
	Withdrawn []DiffRow
	Changed   []DiffRow
}

// Diff compares the tables at t1 and t2 (filtered): rows added, withdrawn,
// and changed (attributes or status), each with its old and new state.
func (a *Analyzer) Diff(t1, t2 time.Time, f Filter) *Diff {
	s1, s2 := a.Snapshot(t1, f), a.Snapshot(t2, f)
	d := &Diff{From: s1.At, To: s2.At, Exact: s1.Exact && s2.Exact}
	type ent struct {
		tv  *TableView
		row *Row
	}
	// a row is the same row at both instants when its table, prefix (or
	// TLOC, service), family and path-id are: not by identity, since a
	// path withdrawn and pruned in between comes back as a new row
	index := func(s *Snapshot) map[rowIdent]ent {
		m := map[rowIdent]ent{}
		for _, tv := range s.Tables {
			for _, rs := range [][]Row{tv.Routes, tv.TLOCs, tv.Services} {
				for i := range rs {
					m[identOf(tv, &rs[i])] = ent{tv, &rs[i]}
				}
			}
		}
		return m
	}
	m1, m2 := index(s1), index(s2)
	for _, tv := range s2.Tables {
		for _, rs := range [][]Row{tv.Routes, tv.TLOCs, tv.Services} {
			for i := range rs {
				n := &rs[i]
				o, ok := m1[identOf(tv, n)]
				switch {
				case !ok:
					d.Added = append(d.Added, DiffRow{tv.From, tv.To, n.Kind, nil, n})
				case o.row.Attrs != n.Attrs || o.row.Status != n.Status || o.row.Key != n.Key:
					d.Changed = append(d.Changed, DiffRow{tv.From, tv.To, n.Kind, o.row, n})
				}
			}
		}
	}
	for _, tv := range s1.Tables {
		for _, rs := range [][]Row{tv.Routes, tv.TLOCs, tv.Services} {
			for i := range rs {
				if _, ok := m2[identOf(tv, &rs[i])]; !ok {
					d.Withdrawn = append(d.Withdrawn, DiffRow{tv.From, tv.To, rs[i].Kind, &rs[i], nil})
				}
			}
		}
	}
	return d
}

// rowIdent names a row across snapshots.
type rowIdent struct {
	table  int
	key    groupKey
	fam    omp.Family
	pathID uint32
}

func identOf(tv *TableView, r *Row) rowIdent {
	return rowIdent{tv.ID, r.r.grp.key, r.Family, r.Key.PathID}
}

// MarshalJSON gives the documented form of a diff row.
func (r DiffRow) MarshalJSON() ([]byte, error) {
	return marshal(struct {
		From string `json:"from"`
		To   string `json:"to"`
		Kind string `json:"kind"`
		Old  *Row   `json:"old,omitempty"`
		New  *Row   `json:"new,omitempty"`
	}{r.From, r.To, r.Kind, r.Old, r.New})
}

// MarshalJSON gives the documented form of a diff.
func (d *Diff) MarshalJSON() ([]byte, error) {
	nz := func(r []DiffRow) []DiffRow {
		if r == nil {
			return []DiffRow{}
		}
		return r
	}
	return marshal(struct {
		Schema    string    `json:"schema"`
		From      string    `json:"from_time"` // not "from": entries' from is a system-ip (one type per name)
		To        string    `json:"to_time"`
		Exact     bool      `json:"exact"`
		Added     []DiffRow `json:"added"`
		Withdrawn []DiffRow `json:"withdrawn"`
		Changed   []DiffRow `json:"changed"`
	}{DiffSchema, ts(d.From), ts(d.To), d.Exact, nz(d.Added), nz(d.Withdrawn), nz(d.Changed)})
}

// ParseInstant parses an instant for --at/--diff before the capture is
// read: "start", "end", RFC 3339 (with or without fraction), or a number of
// seconds (fraction allowed) from the capture start.
func ParseInstant(s string) (Instant, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "end":
		return Instant{End: true}, nil
	case "start":
		return Instant{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return Instant{Time: t}, nil
	}
	d, err := time.ParseDuration(s + "s")
	if err != nil || strings.ContainsAny(s, "hmsnuµ") {
		return Instant{}, &time.ParseError{Layout: "RFC 3339, seconds from the capture start, start or end", Value: s, Message: ": not a time"}
	}
	return Instant{Offset: d}, nil
}

// InstantAfter reports whether instant x comes after y, when that is
// known before the capture is read (both offsets, both times, or one the
// end).
func InstantAfter(x, y Instant) (known, after bool) {
	switch {
	case x.End && y.End:
		return true, false
	case x.End:
		return true, true
	case y.End:
		return true, false
	case x.Time.IsZero() && y.Time.IsZero():
		return true, x.Offset > y.Offset
	case !x.Time.IsZero() && !y.Time.IsZero():
		return true, x.Time.After(y.Time)
	}
	return false, false
}

// InstantTime is the capture time of an instant (the end: the analyzer's
// clock).
func (a *Analyzer) InstantTime(in Instant) time.Time {
	switch {
	case in.End:
		return a.Now()
	case !in.Time.IsZero():
		return in.Time
	}
	return a.Start().Add(in.Offset)
}

// ParseTime parses an instant for --at/--diff: RFC 3339 (with or without
// fraction), or a number of seconds (fraction allowed) from start.
func ParseTime(s string, start time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s + "s")
	if err != nil {
		return time.Time{}, &time.ParseError{Layout: "RFC 3339 or seconds from the capture start", Value: s, Message: ": not a time"}
	}
	return start.Add(d), nil
}
