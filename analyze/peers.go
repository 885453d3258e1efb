package analyze

import (
	"net/netip"
	"slices"
	"time"

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
	j := map[string]any{
		"addr": e.Addr.String(), "system_ip": addrStr(e.SystemIP), "inferred": e.Inferred,
		"device_type": e.DeviceType.String(), "site_id": e.SiteID, "domain_id": e.DomainID,
		"handshake": e.Handshake,
	}
	if e.Handshake {
		j["hold_time"] = e.HoldTime
		j["graceful_restart"] = e.GR
		j["gr_timer"] = e.GRTimer
		j["send_path_limit"] = e.SendPathLimit
		if e.Organization != "" {
			j["organization"] = e.Organization
		}
		if e.Software != "" {
			j["software"] = e.Software
		}
	}
	if e.UUID != "" {
		j["uuid"] = e.UUID
	}
	if e.Color != 0 {
		j["color"] = e.Color.String()
	}
	if e.HelloInterval > 0 {
		j["hello_interval_ms"] = e.HelloInterval.Milliseconds()
		j["hello_tolerance_ms"] = e.HelloTolerance.Milliseconds()
	}
	j["last_heard"] = ts(e.LastHeard)
	if c := e.Certificate; c != nil {
		cj := map[string]any{"frame": c.Frame}
		switch {
		case c.Empty:
			cj["empty"] = true
		case c.ParseError != "":
			cj["parse_error"], cj["sha256"] = c.ParseError, c.SHA256
		default:
			cj["subject"], cj["issuer"], cj["sha256"] = c.Subject, c.Issuer, c.SHA256
			cj["self_signed"], cj["subject_empty"] = c.SelfSigned, c.SubjectEmpty
		}
		j["certificate"] = cj
	}
	return marshal(j)
}

// MarshalJSON gives the documented form of a peer.
func (p Peer) MarshalJSON() ([]byte, error) {
	type tj struct {
		From     string `json:"from"`
		To       string `json:"to"`
		Routes   int    `json:"route_count"`
		TLOCs    int    `json:"tloc_count"`
		Services int    `json:"service_count"`
		Stale    int    `json:"stale"`
		GR       bool   `json:"graceful_restart"`
		Complete bool   `json:"complete"`
	}
	tabs := make([]tj, len(p.Tables))
	for i, t := range p.Tables {
		tabs[i] = tj(t)
	}
	j := map[string]any{
		"session": p.Session, "client": p.Client, "server": p.Server, "transport": p.Transport,
		"suite": p.Suite, "tls_version": p.Version, "key_source": p.KeySource, "null_cipher": p.NullCipher,
		"control_state": p.Control, "omp_state": p.OMP, "start": ts(p.Start), "last": ts(p.Last),
		"hold_time_s": p.HoldTime.Seconds(), "hold_known": p.HoldKnown, "graceful_restart": p.GR,
		"gr_timer_s": p.GRTimer.Seconds(), "send_path_limit": p.SendPathLimit,
		"observed_from_start": p.ObservedFromStart, "records": p.Records, "decode_errors": p.DecodeErrors,
		"gap_records": p.GapRecords, "omp_policies": p.Policies, "omp_other": p.OtherOMP, "raw_updates": p.RawUpdates,
		"tables": tabs,
	}
	if !p.Down.IsZero() {
		j["down"] = ts(p.Down)
		j["down_reason"] = p.DownReason
	}
	return marshal(j)
}

// MarshalJSON gives the documented form of a device of the fabric view.
func (d DeviceView) MarshalJSON() ([]byte, error) {
	peers := d.Peers
	if peers == nil {
		peers = []string{}
	}
	return marshal(map[string]any{"system_ip": d.SystemIP.String(), "device_type": d.DeviceType.String(),
		"site_id": d.SiteID, "peer_system_ips": peers, "received": d.Received, "advertised": d.Advertised})
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
