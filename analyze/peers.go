package analyze

import (
	"encoding/json"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/ompscope/ompscope/dissect/jsonw"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// Endpoint is one end of a control connection, as the analysis knows it.
type Endpoint struct {
	Addr       netip.AddrPort
	SystemIP   netip.Addr // invalid when unknown
	Inferred   bool       // SystemIP inferred (address seen in another session's HANDSHAKE, or own advertisements)
	DeviceType sdwan.DeviceType
	SiteID     uint32
	DomainID   uint32
	// From its OMP HANDSHAKE (zero when not seen):
	Handshake     bool
	HoldTime      uint16
	GR            bool
	GRTimer       uint32
	SendPathLimit uint8
	Organization  string
	Software      string
	// From vdaemon messages:
	UUID           string
	Color          sdwan.Color
	HelloInterval  time.Duration
	HelloTolerance time.Duration
	LastHeard      time.Time
	// Certificate is what it presented in the DTLS/TLS handshake (nil
	// when none was seen).
	Certificate *Certificate
}

// TableSize counts the live rows of one direction's table.
type TableSize struct {
	From, To string
	Routes   int
	TLOCs    int
	Services int
	Stale    int
	GR       bool
	Complete bool
}

// Peer is one control connection: its state machine, the two ends, the
// negotiated timers and the size of the tables it carries.
type Peer struct {
	Session    string
	Client     Endpoint
	Server     Endpoint
	Transport  string
	Suite      string
	Version    string
	KeySource  string
	NullCipher bool

	Control    string // connect, challenge, up, down
	OMP        string // none, handshake, up, init-in-gr, down-in-gr, down
	Start      time.Time
	Last       time.Time
	Down       time.Time
	DownReason string

	HoldTime      time.Duration // negotiated OMP hold time (0: none or unknown)
	HoldKnown     bool          // both HANDSHAKEs seen
	GR            bool
	GRTimer       time.Duration
	SendPathLimit int

	ObservedFromStart bool // the challenge exchange or the HANDSHAKE was seen
	Records           int
	DecodeErrors      int
	GapRecords        int
	Policies          int // OMP POLICY messages
	OtherOMP          int // OMP messages of unknown types or versions
	RawUpdates        int // UPDATEs of families kept raw (multicast, unknown)
	Tables            []TableSize
}

func endpoint(sd *side) Endpoint {
	e := Endpoint{Addr: sd.addr, SystemIP: sd.sys, Inferred: sd.inferred, DeviceType: sd.dev, UUID: sd.uuid,
		Color: sd.color, LastHeard: nsTime(sd.lastHeard)}
	e.Certificate = sd.sess.info.ClientCert
	if sd.idx == 1 {
		e.Certificate = sd.sess.info.ServerCert
	}
	if sd.siteOK {
		e.SiteID = sd.site
	} else if sd.hdrSeen {
		e.SiteID = sd.hdrSite
	}
	if sd.hdrSeen {
		e.DomainID = sd.hdrDomain
	}
	if h := sd.hs; h != nil {
		e.Handshake, e.HoldTime, e.GR, e.GRTimer, e.SendPathLimit = true, h.hold, h.flags&1 != 0, h.grTimer, h.spl
		e.Organization, e.Software, e.DomainID = h.org, h.sw, h.domain
	}
	if sd.helloSeen {
		e.HelloInterval = time.Duration(sd.helloMS) * time.Millisecond
		e.HelloTolerance = time.Duration(sd.tolMS) * time.Millisecond
	}
	return e
}

func tableSize(t *table) TableSize {
	ts := TableSize{From: t.from.name(), To: t.to.name(), Routes: t.live[kRoute], TLOCs: t.live[kTLOC],
		Services: t.live[kService], GR: t.inGR, Complete: t.complete && !t.gapped}
	if t.inGR {
		for r := range t.rows.all {
			if r.live() && r.stale() {
				ts.Stale++
			}
		}
	}
	return ts
}

// Peers returns every session the analysis knows, in order of first sight.
func (a *Analyzer) Peers() []Peer { return a.PeersFiltered(Filter{}) }

// PeersFiltered is Peers with f applied: only the sessions one of whose
// ends is f.Peer, and table sizes that count only the live rows f keeps
// (f.VPN, f.Prefix, f.Color).
func (a *Analyzer) PeersFiltered(f Filter) []Peer {
	rowsToo := f.HasVPN || f.Prefix.IsValid() || f.HasColor
	out := make([]Peer, 0, len(a.sessList))
	for _, s := range a.sessList {
		if f.Peer != "" && s.sides[0].name() != f.Peer && s.sides[1].name() != f.Peer {
			continue
		}
		p := Peer{Session: s.id, Client: endpoint(s.sides[0]), Server: endpoint(s.sides[1]),
			Transport: s.info.Transport, Suite: s.info.Suite, Version: s.info.Version, KeySource: s.info.KeySource,
			NullCipher: s.info.NullCipher, Control: s.ctl.String(), OMP: s.omp.String(), Start: nsTime(s.start),
			Last: nsTime(s.last), DownReason: s.downReason, HoldTime: time.Duration(s.holdNS), HoldKnown: s.holdKnown,
			GR: s.grOK, GRTimer: time.Duration(s.grTimerNS), SendPathLimit: s.pathLimit,
			ObservedFromStart: s.ctlStart || s.ompStart, Records: s.records, DecodeErrors: s.decodeErrors,
			GapRecords: s.gapRecords, Policies: s.policies, OtherOMP: s.unknownOMP, RawUpdates: s.rawUpdates}
		if s.downAt != 0 {
			p.Down = nsTime(s.downAt)
		}
		for _, t := range s.tabs {
			if t != nil {
				ts := tableSize(t)
				if rowsToo {
					ts.Routes, ts.TLOCs, ts.Services, ts.Stale = 0, 0, 0, 0
					for r := range t.rows.all {
						if at := r.attrs(); at != nil && f.row(r, at) {
							switch r.grp.key.kind {
							case kRoute:
								ts.Routes++
							case kTLOC:
								ts.TLOCs++
							default:
								ts.Services++
							}
							if t.inGR && r.stale() {
								ts.Stale++
							}
						}
					}
				}
				p.Tables = append(p.Tables, ts)
			}
		}
		out = append(out, p)
	}
	return out
}

// Anomalies returns a copy of every anomaly kept, by start time.
func (a *Analyzer) Anomalies() []Anomaly {
	for _, in := range a.instants {
		in.anom.Explanation = in.explain(in)
	}
	out := make([]Anomaly, len(a.anomalies))
	for i, an := range a.anomalies {
		out[i] = *an
		out[i].Evidence = slices.Clone(an.Evidence)
	}
	slices.SortStableFunc(out, func(x, y Anomaly) int {
		if c := x.Start.Compare(y.Start); c != 0 {
			return c
		}
		return x.ID - y.ID
	})
	return out
}

// DroppedAnomalies counts anomalies dropped beyond Config.MaxAnomalies.
func (a *Analyzer) DroppedAnomalies() int { return a.dropped }

// Counts are live row counts.
type Counts struct {
	Routes   int `json:"route_count"`
	TLOCs    int `json:"tloc_count"`
	Services int `json:"service_count"`
}

func (c *Counts) add(t *table) {
	c.Routes += t.live[kRoute]
	c.TLOCs += t.live[kTLOC]
	c.Services += t.live[kService]
}

// DeviceView is the fabric view of one device: what it holds (received
// from its peers) and what it advertises, over the sessions the capture
// shows.
type DeviceView struct {
	SystemIP   netip.Addr
	DeviceType sdwan.DeviceType
	SiteID     uint32
	Peers      []string // system-ips of its OMP peers with live tables
	Received   Counts
	Advertised Counts
}

// Fabric returns the per-device view (devices whose system-ip is known),
// ordered by system-ip.
func (a *Analyzer) Fabric() []DeviceView {
	m := map[netip.Addr]*DeviceView{}
	get := func(sd *side) *DeviceView {
		v := m[sd.sys]
		if v == nil {
			v = &DeviceView{SystemIP: sd.sys, DeviceType: sd.dev}
			if d := a.devices[ip4(sd.sys)]; d != nil && d.siteOK {
				v.SiteID = d.site
			}
			m[sd.sys] = v
		}
		return v
	}
	for _, t := range a.tables {
		if t.deadAt != 0 || !t.from.sys.IsValid() || !t.to.sys.IsValid() {
			continue
		}
		f, r := get(t.from), get(t.to)
		f.Advertised.add(t)
		r.Received.add(t)
		if !slices.Contains(f.Peers, t.to.sys.String()) {
			f.Peers = append(f.Peers, t.to.sys.String())
		}
		if !slices.Contains(r.Peers, t.from.sys.String()) {
			r.Peers = append(r.Peers, t.from.sys.String())
		}
	}
	out := make([]DeviceView, 0, len(m))
	for _, v := range m {
		slices.SortFunc(v.Peers, cmpName)
		out = append(out, *v)
	}
	slices.SortFunc(out, func(x, y DeviceView) int { return x.SystemIP.Compare(y.SystemIP) })
	return out
}

// ---- JSON of peers and devices

// MarshalJSON gives the documented form of an endpoint.
func (e Endpoint) MarshalJSON() ([]byte, error) {
	var w docWriter
	return e.appendJSON(nil, &w), nil
}

// MarshalJSON gives the documented form of a peer.
func (p Peer) MarshalJSON() ([]byte, error) {
	var w docWriter
	return p.appendJSON(nil, &w), nil
}

// MarshalJSON gives the documented form of a device of the fabric view.
func (d DeviceView) MarshalJSON() ([]byte, error) {
	var w docWriter
	return d.appendJSON(nil, &w), nil
}

// SummaryJSON is the JSON summary (`analyze -T json`): everything the text
// summary shows, complete (no --top), with f applied as in the text.
type SummaryJSON struct {
	Schema  string `json:"schema"`
	Capture struct {
		Start    string  `json:"start"`
		End      string  `json:"end"`
		Duration float64 `json:"duration_s"`
	} `json:"capture"`
	Sessions struct {
		Total            int `json:"total"`
		FromStart        int `json:"from_start"`
		MidWay           int `json:"mid_way"`
		PartlyUnreadable int `json:"partly_unreadable"`
		NeverReadable    int `json:"never_readable"`
		GapRecords       int `json:"gap_records"`
	} `json:"session_counts"`
	Peers     []Peer       `json:"peers"`
	Fabric    []DeviceView `json:"fabric"`
	Anomalies []Anomaly    `json:"anomalies"`
	// Limits: what the analyzer's caps left out (absent when none was
	// reached).
	Limits *Limits `json:"limits,omitempty"`
}

// Limits counts what the analyzer's caps left out of the analysis; the
// text summary's "Limits:" line says the same.
type Limits struct {
	// row versions kept at a saturated frame number or GR count, or not
	// kept (a table's history slab full)
	SaturatedVersions int `json:"saturated_versions,omitempty"`
	// paths whose VPN or originator not-distributed did not note (their
	// receiver had as many noted as it notes): not judged
	NotDistributedUnnoted int `json:"not_distributed_unnoted,omitempty"`
	// HANDSHAKEs that named a vSmart past those vsmart-mesh-incomplete tracks
	MeshUntracked int `json:"mesh_untracked,omitempty"`
	// inputs of sessions new while the analyzer held Config.MaxSessions
	SessionsRefused int `json:"sessions_refused,omitempty"`
	// HANDSHAKEs that named a device past those the analyzer records
	DevicesUntracked int `json:"devices_untracked,omitempty"`
	// sessions left out of tables' lists of the sessions that carried them
	TableSessionsOmitted int `json:"table_sessions_omitted,omitempty"`
	// graceful-restart flushes stale-after-gr forgot (a group held its
	// most already)
	StaleFlushesForgotten int `json:"stale_flushes_forgotten,omitempty"`
	// graceful-restart periods tables forgot (the report's history)
	GRSpansForgotten int `json:"gr_spans_forgotten,omitempty"`
	// advertisements of new paths not kept at Config.MaxPaths (their
	// tables are incomplete)
	PathsRefused int `json:"paths_refused,omitempty"`
}

// limits is the analyzer's Limits, nil when no cap was reached.
func (a *Analyzer) limits() *Limits {
	st := &a.stats
	l := Limits{SaturatedVersions: st.Saturated, NotDistributedUnnoted: st.DistUnnoted, MeshUntracked: st.MeshUntracked,
		SessionsRefused: st.SessionsRefused, DevicesUntracked: st.DevicesUntracked, TableSessionsOmitted: st.TableSessionsOmitted,
		StaleFlushesForgotten: st.StaleFlushesForgotten, GRSpansForgotten: st.GRSpansForgotten, PathsRefused: st.PathsRefused}
	if l == (Limits{}) {
		return nil
	}
	return &l
}

// WriteJSON writes s as a json.Encoder with HTML escaping off writes it
// (TestSummaryWriteJSONMatchesEncoder), one peer at a time through a small
// buffer: the encoder built the whole document in memory (16 MB for the
// 2 000-edge scale capture, twice that as its buffer grew), with a map
// and a buffer per peer besides.
func (s *SummaryJSON) WriteJSON(w io.Writer) error {
	var dw docWriter
	sw := &streamWriter{w: w, b: make([]byte, 0, 64<<10)}
	b := append(sw.b, `{"schema":`...)
	b = jsonw.String(b, s.Schema)
	c := &s.Capture
	b = append(b, `,"capture":{"start":`...)
	b = jsonw.String(b, c.Start)
	b = append(b, `,"end":`...)
	b = jsonw.String(b, c.End)
	b = append(b, `,"duration_s":`...)
	b = jsonw.Float(b, c.Duration)
	n := &s.Sessions
	for i, f := range []struct {
		name string
		v    int
	}{{"total", n.Total}, {"from_start", n.FromStart}, {"mid_way", n.MidWay}, {"partly_unreadable", n.PartlyUnreadable},
		{"never_readable", n.NeverReadable}, {"gap_records", n.GapRecords}} {
		if i == 0 {
			b = append(b, `},"session_counts":{`...)
		} else {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), f.name...), `":`...)
		b = strconv.AppendInt(b, int64(f.v), 10)
	}
	sw.b = append(b, `},"peers":`...)
	if err := writeList(sw, s.Peers, func(b []byte, p *Peer) ([]byte, error) { return p.appendJSON(b, &dw), nil }); err != nil {
		return err
	}
	sw.b = append(sw.b, `,"fabric":`...)
	if err := writeList(sw, s.Fabric, func(b []byte, d *DeviceView) ([]byte, error) { return d.appendJSON(b, &dw), nil }); err != nil {
		return err
	}
	sw.b = append(sw.b, `,"anomalies":`...)
	if err := writeList(sw, s.Anomalies, func(b []byte, an *Anomaly) ([]byte, error) {
		j, err := an.MarshalJSON()
		return append(b, j...), err
	}); err != nil {
		return err
	}
	if s.Limits != nil {
		j, err := json.Marshal(s.Limits)
		if err != nil {
			return err
		}
		sw.b = append(append(sw.b, `,"limits":`...), j...)
	}
	sw.b = append(sw.b, "}\n"...)
	_, err := w.Write(sw.b)
	return err
}

// streamWriter hands a document to its writer in pieces of about 48 KB.
type streamWriter struct {
	w io.Writer
	b []byte
}

func (sw *streamWriter) flush() error {
	if len(sw.b) < 48<<10 {
		return nil
	}
	_, err := sw.w.Write(sw.b)
	sw.b = sw.b[:0]
	return err
}

// writeList writes a list (null when nil), one element at a time.
func writeList[T any](sw *streamWriter, xs []T, elem func([]byte, *T) ([]byte, error)) error {
	if xs == nil {
		sw.b = append(sw.b, "null"...)
		return nil
	}
	sw.b = append(sw.b, '[')
	for i := range xs {
		if i > 0 {
			sw.b = append(sw.b, ',')
		}
		var err error
		if sw.b, err = elem(sw.b, &xs[i]); err != nil {
			return err
		}
		if err := sw.flush(); err != nil {
			return err
		}
	}
	sw.b = append(sw.b, ']')
	return nil
}

// Summary builds the JSON summary.
func (a *Analyzer) Summary(f Filter) *SummaryJSON {
	s := &SummaryJSON{Schema: "ompscope.summary/3"}
	start, end := a.Start(), a.Now()
	s.Capture.Start, s.Capture.End, s.Capture.Duration = ts(start), ts(end), end.Sub(start).Seconds()
	s.Peers = a.PeersFiltered(f)
	for _, p := range s.Peers {
		switch {
		case p.Records == 0 && p.GapRecords > 0:
			s.Sessions.NeverReadable++
		case p.GapRecords > 0 || p.DecodeErrors > 0:
			s.Sessions.PartlyUnreadable++
		case p.ObservedFromStart:
			s.Sessions.FromStart++
		default:
			s.Sessions.MidWay++
		}
	}
	s.Sessions.Total, s.Sessions.GapRecords = len(s.Peers), a.stats.GapRecords
	s.Fabric = a.Fabric()
	s.Limits = a.limits()
	s.Anomalies = a.Anomalies()
	if f.Peer != "" {
		s.Fabric = slices.DeleteFunc(s.Fabric, func(d DeviceView) bool { return d.SystemIP.String() != f.Peer && !slices.Contains(d.Peers, f.Peer) })
		s.Anomalies = slices.DeleteFunc(s.Anomalies, func(an Anomaly) bool { return !a.anomalyAbout(&an, f.Peer) })
	}
	if s.Fabric == nil {
		s.Fabric = []DeviceView{}
	}
	return s
}
