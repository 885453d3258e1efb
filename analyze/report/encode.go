package report

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"

	"github.com/ompscope/ompscope/analyze"
	"github.com/ompscope/ompscope/dissect/omp"
)

// The report's data travels in two gzip-compressed, base64-encoded blobs
// that the page decompresses with the browser's DecompressionStream:
//
//   - meta (JSON): the capture, the summary (`analyze -T json`, whole),
//     the tables with what a snapshot needs of them, the distinct
//     attribute sets, TLOC keys and names, the session state changes.
//   - hist (binary, little-endian base-128 varints; "zz" is zigzag): the
//     row groups, the rows and every row version, columnar and
//     delta-coded, so that a million-route capture stays small:
//
//     "OMPH1"
//     groups: n; per group kind (0 route, 1 tloc, 2 service), then
//     route: vpn, 4 or 6, bits, the address (4 or 16 bytes);
//     tloc: index into meta.tlocs; service: vpn, service, address (4 bytes)
//     rows: n; per row zz(table - previous table), zz(group - previous
//     group), family, path-id
//     versions: n; per version time - previous time (ns, the first from
//     meta.start), zz(row - previous row), zz(attrs+1 - previous),
//     GR count << 1 | refresh
//
// docs/report.md documents both.

const histMagic = "OMPH1"

type metaJSON struct {
	Schema     string             `json:"schema"`
	Title      string             `json:"title"`
	Start      string             `json:"start"` // RFC 3339, ns
	StartNS    string             `json:"start_ns"`
	EndNS      int64              `json:"end"` // from start
	Capture    Info               `json:"capture"`
	Summary    any                `json:"summary"`
	Tables     []tableJSON        `json:"tables"`
	Attrs      []attrJSON         `json:"attrs"`
	TLOCs      [][2]any           `json:"tlocs"` // [key, color number]
	Colors     map[string]string  `json:"colors"`
	Services   map[string]string  `json:"services"`
	FamTLOCv6  int                `json:"fam_tloc_v6"`
	Sessions   []string           `json:"sessions"`
	OMP        map[string]ompJSON `json:"omp"` // the OMP state history of each session that owns a table
	States     [][]any            `json:"states"`
	Dropped    int                `json:"dropped_versions"`
	DroppedAt  *int64             `json:"dropped_from,omitempty"`
	StatesDrop int                `json:"dropped_states"`
	AnomDrop   int                `json:"dropped_anomalies"`
	MaxAnom    int                `json:"max_anomalies"`
	DistWindow int64              `json:"distribution_window_ns"`
	Explain    map[string]string  `json:"explain"`
	Rows       int                `json:"rows"`
	Series     seriesJSON         `json:"series"`
	Versions   int                `json:"versions"`
}

type tableJSON struct {
	ID       int      `json:"id"`
	From     string   `json:"from"`
	To       string   `json:"to"`
	FromType string   `json:"from_type"`
	ToType   string   `json:"to_type"`
	FromSys  string   `json:"from_sys"`
	ToSys    string   `json:"to_sys"`
	Session  string   `json:"session"`
	Sessions []string `json:"sessions"`
	Owners   [][2]any `json:"owners"` // [from, session]: who owns it from when (GR take-overs)
	GR       [][3]any `json:"gr"`
	Created  int64    `json:"created"`
	Dead     *int64   `json:"dead"`
	Complete bool     `json:"complete"`
	Limit    int      `json:"limit"`
	Edge     bool     `json:"edge"`
	Order    int      `json:"order"`     // snapshot order of tables
	FromRank int      `json:"from_rank"` // best-path order of senders
}

type ompJSON struct {
	States [][2]any `json:"states"` // [from, state]
	Now    string   `json:"now"`
	Full   bool     `json:"full"`
}

type attrJSON struct {
	Pref     uint32 `json:"pref"`
	Site     uint32 `json:"site"`
	Origin   string `json:"origin"`
	ORank    int    `json:"orank"`
	Metric   uint32 `json:"metric"`
	Label    uint32 `json:"label"`
	Weight   uint32 `json:"weight"`
	Orig     string `json:"orig"`
	OrigRank int    `json:"orig_rank"`
	TLOC     int    `json:"tloc"` // index into tlocs, -1: none
	TSys     uint32 `json:"tsys"`
	TColor   uint32 `json:"tcolor"`
	TEncap   uint8  `json:"tencap"`
	Has      int    `json:"has"` // 1 TLOC, 2 ORIGINATOR, 4 ORIGIN, 8 an address
	Priv4    string `json:"priv4,omitempty"`
	Priv6    string `json:"priv6,omitempty"`
	Pub4     string `json:"pub4,omitempty"`
	Pub6     string `json:"pub6,omitempty"`
	PrivRank int    `json:"priv_rank"` // of the private address the best path compares
	Color    string `json:"color"`     // the TLOC's color
}

// encode builds the two blobs.
func encode(h *analyze.History, sum *analyze.SummaryJSON, info Info) (meta, data, hist []byte, err error) {
	m := metaJSON{Schema: Schema, Title: info.Title, Start: tsNS(h.Start), StartNS: fmt.Sprint(h.Start), EndNS: h.End - h.Start,
		Capture: info, Summary: slim(sum), Dropped: h.Dropped, StatesDrop: h.StatesDropped,
		AnomDrop: h.DroppedAnomalies, MaxAnom: h.MaxAnomalies,
		DistWindow: int64(h.DistributionWindow), Explain: map[string]string{}, Colors: map[string]string{},
		Services: map[string]string{}, FamTLOCv6: int(omp.FamilyTLOCv6), OMP: map[string]ompJSON{},
		Rows: len(h.Rows), Versions: len(h.VerTime)}
	if h.Dropped > 0 {
		d := h.DroppedFrom - h.Start
		m.DroppedAt = &d
	}
	for _, k := range analyze.Kinds() {
		if t, ok := analyze.Explain(k); ok {
			m.Explain[string(k)] = t
		}
	}
	rel := func(t int64) int64 {
		if t == 0 {
			return 0
		}
		return t - h.Start
	}
	tableIdx := map[int]int{}
	for i, t := range h.Tables {
		tableIdx[t.ID] = i
	}
	m.Tables = make([]tableJSON, len(h.Tables))
	for i := range h.Tables {
		t := &h.Tables[i]
		tj := tableJSON{ID: t.ID, From: t.From, To: t.To, FromType: t.FromType.String(), ToType: t.ToType.String(),
			FromSys: addrStr(t.FromSys), ToSys: addrStr(t.ToSys), Session: t.Session, Sessions: t.Sessions,
			Created: rel(t.Created), Complete: t.Complete, Limit: t.Limit,
			Edge: t.Edge, Order: t.Order, FromRank: t.FromRank, Owners: [][2]any{}, GR: [][3]any{}}
		if tj.Sessions == nil {
			tj.Sessions = []string{}
		}
		if t.DeadAt != 0 {
			d := rel(t.DeadAt)
			tj.Dead = &d
		}
		owners := []string{t.Session}
		if len(t.Sessions) > 0 {
			owners[0] = t.Sessions[0]
		}
		tj.Owners = append(tj.Owners, [2]any{rel(t.Created), owners[0]})
		for _, o := range t.Owners {
			tj.Owners = append(tj.Owners, [2]any{rel(o.T), o.Session})
			owners = append(owners, o.Session)
		}
		for _, id := range owners {
			if _, ok := m.OMP[id]; ok {
				continue
			}
			oj := ompJSON{States: [][2]any{}, Now: "none"}
			if hs := h.Sessions[id]; hs != nil {
				oj.Now, oj.Full = hs.Now, hs.Full
				for _, o := range hs.OMP {
					oj.States = append(oj.States, [2]any{rel(o.T), o.State})
				}
			}
			m.OMP[id] = oj
		}
		for _, s := range t.GR {
			var end any
			if s.End != 0 {
				end = rel(s.End)
			}
			tj.GR = append(tj.GR, [3]any{rel(s.Start), end, s.N})
		}
		m.Tables[i] = tj
	}
	// TLOC keys (groups and attributes) and the ranks of addresses
	tlocIdx := map[omp.TLOCKey]int{}
	var tlocKeys []omp.TLOCKey
	addTLOC := func(k omp.TLOCKey) {
		if _, ok := tlocIdx[k]; !ok {
			tlocIdx[k] = 0
			tlocKeys = append(tlocKeys, k)
		}
	}
	for _, g := range h.Groups {
		if g.Kind == "tloc" {
			addTLOC(g.TLOC)
		}
	}
	var origs, privs []netip.Addr
	for _, a := range h.Attrs {
		if a.HasTLOC {
			addTLOC(a.TLOC)
		}
		origs = append(origs, a.Originator)
		privs = append(privs, heldPriv(a.Attrs))
	}
	slices.SortFunc(tlocKeys, cmpTLOCKey)
	for i, k := range tlocKeys {
		tlocIdx[k] = i
		m.TLOCs = append(m.TLOCs, [2]any{k.String(), uint32(k.Color)})
		m.Colors[fmt.Sprint(uint32(k.Color))] = k.Color.String()
	}
	// ranks keep the order of netip.Addr.Compare; an absent address is -1,
	// below every other, as the invalid address compares
	sortAddrs := func(a []netip.Addr) []netip.Addr {
		a = slices.DeleteFunc(a, func(x netip.Addr) bool { return !x.IsValid() })
		slices.SortFunc(a, func(x, y netip.Addr) int { return x.Compare(y) })
		return slices.Compact(a)
	}
	origs, privs = sortAddrs(origs), sortAddrs(privs)
	rank := func(a []netip.Addr, x netip.Addr) int {
		if !x.IsValid() {
			return -1
		}
		i, _ := slices.BinarySearchFunc(a, x, func(p, q netip.Addr) int { return p.Compare(q) })
		return i
	}
	m.Attrs = make([]attrJSON, len(h.Attrs))
	for i, a := range h.Attrs {
		aj := attrJSON{Pref: a.Preference, Site: a.SiteID, ORank: a.OriginRank, Metric: a.Metric, Label: a.Label,
			Weight: a.Weight, Orig: addrStr(a.Originator), OrigRank: rank(origs, a.Originator), TLOC: -1,
			TSys: a.TLOCSys, TColor: a.TLOCColor, TEncap: a.TLOCEncap, PrivRank: rank(privs, heldPriv(a.Attrs))}
		if a.HasTLOC {
			aj.Has |= 1
			aj.TLOC = tlocIdx[a.TLOC]
			aj.Color = a.TLOC.Color.String()
		}
		if a.HasOriginator {
			aj.Has |= 2
		}
		if a.HasOrigin {
			aj.Has |= 4
			aj.Origin = a.Origin.String()
		}
		if a.HasAddress {
			aj.Has |= 8
		}
		aj.Priv4, aj.Priv6 = apStr(a.Private(false)), apStr(a.Private(true))
		aj.Pub4, aj.Pub6 = apStr(a.Public(false)), apStr(a.Public(true))
		m.Attrs[i] = aj
	}
	// sessions and their state changes
	sessIdx := map[string]int{}
	for _, s := range h.States {
		if _, ok := sessIdx[s.Session]; !ok {
			sessIdx[s.Session] = len(m.Sessions)
			m.Sessions = append(m.Sessions, s.Session)
		}
		m.States = append(m.States, []any{rel(s.T), s.Frame, sessIdx[s.Session], s.Layer, s.Old, s.New, s.Reason})
	}
	if m.Sessions == nil {
		m.Sessions = []string{}
	}
	if m.States == nil {
		m.States = [][]any{}
	}
	if m.TLOCs == nil {
		m.TLOCs = [][2]any{}
	}
	// the binary history
	b := make([]byte, 0, 16+len(h.Groups)*8+len(h.Rows)*5+len(h.VerTime)*6)
	b = append(b, histMagic...)
	b = binary.AppendUvarint(b, uint64(len(h.Groups)))
	for _, g := range h.Groups {
		switch g.Kind {
		case "route":
			b = append(b, 0)
			b = binary.AppendUvarint(b, uint64(g.VPN))
			a := g.Prefix.Addr()
			if a.Is4() {
				v := a.As4()
				b = append(b, 4, byte(g.Prefix.Bits()))
				b = append(b, v[:]...)
			} else {
				v := a.As16()
				b = append(b, 6, byte(g.Prefix.Bits()))
				b = append(b, v[:]...)
			}
		case "tloc":
			b = append(b, 1)
			b = binary.AppendUvarint(b, uint64(tlocIdx[g.TLOC]))
		default:
			m.Services[fmt.Sprint(uint8(g.Service))] = g.Service.String()
			b = append(b, 2)
			b = binary.AppendUvarint(b, uint64(g.VPN))
			b = binary.AppendUvarint(b, uint64(g.Service))
			v := g.Addr.As4()
			b = append(b, v[:]...)
		}
	}
	// rows in snapshot order (tables as snapshots list them, then group,
	// family, path-id; the older of two rows with one key first), so that
	// the page never sorts: a table's rows are one run
	perm := make([]int32, len(h.Rows))
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortFunc(perm, func(x, y int32) int {
		a, c := &h.Rows[x], &h.Rows[y]
		if d := h.Tables[tableIdx[a.Table]].Order - h.Tables[tableIdx[c.Table]].Order; d != 0 {
			return d
		}
		if a.Group != c.Group {
			return a.Group - c.Group
		}
		if a.Family != c.Family {
			return int(a.Family) - int(c.Family)
		}
		if a.PathID != c.PathID {
			return cmp.Compare(a.PathID, c.PathID)
		}
		return int(x - y)
	})
	newID := make([]int64, len(h.Rows))
	for pos, old := range perm {
		newID[old] = int64(pos)
	}
	b = binary.AppendUvarint(b, uint64(len(h.Rows)))
	pt, pg := 0, 0
	for _, old := range perm {
		r := &h.Rows[old]
		ti := tableIdx[r.Table]
		b = binary.AppendVarint(b, int64(ti-pt))
		b = binary.AppendVarint(b, int64(r.Group-pg))
		b = append(b, byte(r.Family))
		b = binary.AppendUvarint(b, uint64(r.PathID))
		pt, pg = ti, r.Group
	}
	b = binary.AppendUvarint(b, uint64(len(h.VerTime)))
	prevT, prevR, prevA := h.Start, int64(0), int64(0)
	for i, t := range h.VerTime {
		dt := t - prevT
		if dt < 0 {
			dt = 0 // capture time never goes back
		}
		b = binary.AppendUvarint(b, uint64(dt))
		row := newID[h.VerRow[i]]
		b = binary.AppendVarint(b, row-prevR)
		b = binary.AppendVarint(b, int64(h.VerAttr[i])-prevA)
		gr := uint64(h.VerGR[i]) << 1
		if h.VerRefresh[i] {
			gr |= 1
		}
		b = binary.AppendUvarint(b, gr)
		prevT, prevR, prevA = prevT+dt, row, int64(h.VerAttr[i])
	}
	m.Series = fabricSeries(h)
	meta, data, err = split(&m)
	return meta, data, b, err
}

func gz(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// heldPriv is the private address the best path compares for a TLOC.
func heldPriv(a *analyze.Attrs) netip.Addr {
	if p := a.PrivateV4.Addr(); p.IsValid() {
		return p
	}
	return a.PrivateV6.Addr()
}

func cmpTLOCKey(x, y omp.TLOCKey) int {
	if c := x.SystemIP.Compare(y.SystemIP); c != 0 {
		return c
	}
	if x.Color != y.Color {
		return int(x.Color) - int(y.Color)
	}
	return int(x.Encap) - int(y.Encap)
}

func addrStr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func apStr(a netip.AddrPort) string {
	if !a.Addr().IsValid() {
		return ""
	}
	return a.String()
}

// MaxPoints is the most points a plotted series has: past it, each point
// is the largest size in one of MaxPoints equal slices of the capture
// (the page says so).
const MaxPoints = 1500

type seriesJSON struct {
	Times    []int64  `json:"times"` // ns from the start
	Sizes    [3][]int `json:"sizes"` // routes, TLOCs, services (downsampled: the largest in each slice)
	Mins     [3][]int `json:"mins"`  // downsampled: the smallest in each slice (a dip is never smoothed away either)
	Exact    bool     `json:"exact"`
	Changes  int      `json:"changes"` // instants the sizes changed at
	MaxPoint int      `json:"max_points"`
}

// fabricSeries is the size of every table together, per kind, over time:
// the plot the page draws first (the page computes one peer's the same
// way, app.js series).
func fabricSeries(h *analyze.History) seriesJSON {
	kind := make([]uint8, len(h.Rows))
	for i, r := range h.Rows {
		switch h.Groups[r.Group].Kind {
		case "tloc":
			kind[i] = 1
		case "service":
			kind[i] = 2
		}
	}
	alive := make([]bool, len(h.Rows))
	changes, lastT := 0, int64(-1)
	for i, r := range h.VerRow {
		if now := h.VerAttr[i] != 0; now != alive[r] {
			alive[r] = now
			if h.VerTime[i] != lastT {
				changes++
				lastT = h.VerTime[i]
			}
		}
	}
	clear(alive)
	s := seriesJSON{Exact: changes <= MaxPoints, Changes: changes, MaxPoint: MaxPoints}
	var n [3]int
	push := func(t int64, v [3]int) {
		s.Times = append(s.Times, t)
		for k := range s.Sizes {
			s.Sizes[k] = append(s.Sizes[k], v[k])
		}
	}
	pushMin := func(v [3]int) {
		for k := range s.Mins {
			s.Mins[k] = append(s.Mins[k], v[k])
		}
	}
	end := h.End - h.Start
	push(0, n)
	if s.Exact {
		for i := 0; i < len(h.VerRow); {
			t := h.VerTime[i]
			moved := false
			for ; i < len(h.VerRow) && h.VerTime[i] == t; i++ {
				r := h.VerRow[i]
				if now := h.VerAttr[i] != 0; now != alive[r] {
					alive[r] = now
					if now {
						n[kind[r]]++
					} else {
						n[kind[r]]--
					}
					moved = true
				}
			}
			if moved {
				push(t-h.Start, n)
			}
		}
	} else {
		w := float64(max(end, 1)) / MaxPoints
		b := 0
		var mx, mn [3]int
		pushMin(n)
		flush := func(upTo int) {
			for ; b < upTo; b++ {
				var v, lo [3]int
				for k := range v {
					v[k], lo[k] = max(mx[k], n[k]), min(mn[k], n[k])
					mx[k], mn[k] = n[k], n[k]
				}
				push(int64(float64(b+1)*w), v)
				pushMin(lo)
			}
		}
		for i, r := range h.VerRow {
			flush(min(MaxPoints-1, int(float64(h.VerTime[i]-h.Start)/w)))
			if now := h.VerAttr[i] != 0; now != alive[r] {
				alive[r] = now
				k := kind[r]
				if now {
					n[k]++
				} else {
					n[k]--
				}
				mx[k], mn[k] = max(mx[k], n[k]), min(mn[k], n[k])
			}
		}
		flush(MaxPoints)
	}
	if s.Times[len(s.Times)-1] < end {
		push(end, n)
		if !s.Exact {
			pushMin(n)
		}
	}
	return s
}

// summaryJSON is what the page uses of the summary (`analyze -T json`):
// the capture, the session counts, the anomalies and the fabric whole,
// and of each control connection what the session chart shows (not its
// certificates and timers: a 2 000-edge summary would weigh 16 MB).
type summaryJSON struct {
	Capture   any                  `json:"capture"`
	Sessions  any                  `json:"sessions"`
	Peers     []peerJSON           `json:"peers"`
	Fabric    []analyze.DeviceView `json:"fabric"`
	Anomalies []analyze.Anomaly    `json:"anomalies"`
}

type peerJSON struct {
	Session    string  `json:"session"`
	Client     endJSON `json:"client"`
	Server     endJSON `json:"server"`
	Transport  string  `json:"transport"`
	Suite      string  `json:"suite"`
	Version    string  `json:"version"`
	Control    string  `json:"control"`
	OMP        string  `json:"omp"`
	Start      string  `json:"start"`
	Down       string  `json:"down,omitempty"`
	DownReason string  `json:"down_reason,omitempty"`
	GapRecords int     `json:"gap_records"`
}

type endJSON struct {
	Addr       string `json:"addr"`
	SystemIP   string `json:"system_ip"`
	DeviceType string `json:"device_type"`
}

func slim(sum *analyze.SummaryJSON) *summaryJSON {
	if sum == nil {
		return &summaryJSON{Peers: []peerJSON{}, Fabric: []analyze.DeviceView{}, Anomalies: []analyze.Anomaly{}}
	}
	s := &summaryJSON{Capture: sum.Capture, Sessions: sum.Sessions, Fabric: sum.Fabric, Anomalies: sum.Anomalies, Peers: []peerJSON{}}
	if s.Fabric == nil {
		s.Fabric = []analyze.DeviceView{}
	}
	if s.Anomalies == nil {
		s.Anomalies = []analyze.Anomaly{}
	}
	end := func(e analyze.Endpoint) endJSON {
		return endJSON{Addr: e.Addr.String(), SystemIP: addrStr(e.SystemIP), DeviceType: e.DeviceType.String()}
	}
	for _, p := range sum.Peers {
		pj := peerJSON{Session: p.Session, Client: end(p.Client), Server: end(p.Server), Transport: p.Transport, Suite: p.Suite,
			Version: p.Version, Control: p.Control, OMP: p.OMP, Start: tsNS(p.Start.UnixNano()), DownReason: p.DownReason,
			GapRecords: p.GapRecords}
		if !p.Down.IsZero() {
			pj.Down = tsNS(p.Down.UnixNano())
		}
		s.Peers = append(s.Peers, pj)
	}
	return s
}

// split divides the page's JSON in two: meta, what the page draws first
// (the capture, the session counts, the anomalies, the fabric's sizes
// over time), and data, the rest (tables, attribute sets, sessions and
// their states, the fabric view), which the page reads once it shows the
// plot.
func split(m *metaJSON) (meta, data []byte, err error) {
	all, err := json.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("report: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(all, &fields); err != nil {
		return nil, nil, fmt.Errorf("report: %w", err)
	}
	var sum map[string]json.RawMessage
	if err := json.Unmarshal(fields["summary"], &sum); err != nil {
		return nil, nil, fmt.Errorf("report: %w", err)
	}
	d := map[string]json.RawMessage{"peers": sum["peers"], "fabric": sum["fabric"]}
	delete(sum, "peers")
	delete(sum, "fabric")
	for _, k := range []string{"tables", "attrs", "tlocs", "colors", "services", "fam_tloc_v6", "sessions", "omp", "states"} {
		d[k] = fields[k]
		delete(fields, k)
	}
	if fields["summary"], err = json.Marshal(sum); err != nil {
		return nil, nil, fmt.Errorf("report: %w", err)
	}
	if meta, err = json.Marshal(fields); err != nil {
		return nil, nil, fmt.Errorf("report: %w", err)
	}
	if data, err = json.Marshal(d); err != nil {
		return nil, nil, fmt.Errorf("report: %w", err)
	}
	return meta, data, nil
}
