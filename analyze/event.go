package analyze

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"time"

	"github.com/ompscope/ompscope/dissect/jsonw"
	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// TimelineSchema is the schema version of the timeline NDJSON
// (docs/timeline.md). It changes when a field changes meaning or goes away;
// added fields do not change it.
const TimelineSchema = "ompscope.timeline/3"

// EventType is the type of a timeline event.
type EventType string

// Event types.
const (
	EvRouteAdd        EventType = "route.add"
	EvRouteChange     EventType = "route.change"
	EvRouteWithdraw   EventType = "route.withdraw"
	EvTLOCAdd         EventType = "tloc.add"
	EvTLOCChange      EventType = "tloc.change"
	EvTLOCWithdraw    EventType = "tloc.withdraw"
	EvServiceAdd      EventType = "service.add"
	EvServiceChange   EventType = "service.change"
	EvServiceWithdraw EventType = "service.withdraw"
	EvPeerState       EventType = "peer.state"
	EvAnomalyStart    EventType = "anomaly.start"
	EvAnomalyEnd      EventType = "anomaly.end"
)

// Reasons a row changes (Event.Reason, and the reason of history
// versions).
const (
	ReasonUpdate      = "update"       // an UPDATE advertised it
	ReasonWithdraw    = "withdraw"     // an UPDATE withdrew it
	ReasonSessionDown = "session-down" // the session went down without GR
	ReasonGRExpired   = "gr-expired"   // stale past the GR timer
	ReasonGRFlush     = "gr-flush"     // not re-advertised before END_OF_RIB
	ReasonRefresh     = "refresh"      // re-advertised unchanged after a GR restart (history only)
)

// Event is one timeline event. Which fields are set depends on Type: row
// events (route.*, tloc.*, service.*) set From, To, Family, Row, Old/New
// and Reason; peer.state sets State; anomaly.* set Anomaly.
type Event struct {
	Time    time.Time
	Type    EventType
	Frame   uint64 // 0 when the event comes from a timer
	Session string

	From, To string // sender and receiver system-ips ("?" + address when unknown)
	Family   omp.Family
	Row      RowKey
	Old, New *Attrs
	Reason   string
	// Status is the row's status codes after the change (route, TLOC and
	// service events that advertise), as --at would show them.
	Status string

	State   *StateChange
	Anomaly *Anomaly
}

// RowKey identifies a row inside a table. Routes use VPN, Prefix, PathID
// and Originator; TLOCs use TLOC and PathID (Originator is the ORIGINATOR
// attribute when present, else the TLOC's system-ip); services use VPN,
// Service, Originator, PathID (and TLOC, from the attributes, for display).
type RowKey struct {
	VPN        uint32
	Prefix     netip.Prefix
	PathID     uint32
	Originator netip.Addr
	TLOC       omp.TLOCKey
	Service    sdwan.Service
}

// StateChange is a peer state transition of one session, at one layer.
type StateChange struct {
	Layer          string // "control" or "omp"
	Old, New       string
	Reason         string
	Client, Server netip.AddrPort
	ClientSystemIP string
	ServerSystemIP string
}

// MarshalJSON encodes the event as one line of the timeline (docs/timeline.md).
func (e *Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// AppendJSON appends the event's JSON (no newline).
func (e *Event) AppendJSON(b []byte) []byte { return e.appendJSON(b, nil) }

// eventEncoder remembers, from one event's line to the next, what lines
// in a row mostly repeat: the second of the time (a capture's events come
// in order, many per record), and the members a row's events share with
// the one before (session, sender, receiver, family, originator, reason,
// status), encoded. On the 2 h churn capture's 4 M route events the time
// took a quarter of the encoding without it, the session a sixth
// (BenchmarkEventJSON compares the two).
type eventEncoder struct {
	tf   jsonw.TimeFormatter
	strs [memoStrs]strMemo
	orig struct {
		a    netip.Addr
		json []byte
	}
}

// The members an eventEncoder remembers.
const (
	memoSession = iota
	memoFrom
	memoTo
	memoFamily
	memoReason
	memoStatus
	memoStrs
)

// strMemo is one string member's value and its encoding (nil: none yet).
type strMemo struct {
	v    string
	json []byte
}

// str appends member name with value v as appendStr does, from memo m of
// enc when v is the value it encoded last (enc nil: no memo).
func (enc *eventEncoder) str(b []byte, m int, name, v string) []byte {
	if enc == nil {
		return appendStr(b, name, v)
	}
	x := &enc.strs[m]
	if x.json != nil && v == x.v {
		return append(b, x.json...)
	}
	n := len(b)
	b = appendStr(b, name, v)
	x.v, x.json = v, append(x.json[:0], b[n:]...)
	return b
}

// addr appends a as jsonw.Addr does, remembering the last one.
func (enc *eventEncoder) addr(b []byte, a netip.Addr) []byte {
	if enc == nil {
		return jsonw.Addr(b, a)
	}
	o := &enc.orig
	if o.json != nil && a == o.a {
		return append(b, o.json...)
	}
	n := len(b)
	b = jsonw.Addr(b, a)
	o.a, o.json = a, append(o.json[:0], b[n:]...)
	return b
}

// appendJSON is AppendJSON, with what enc remembers (nil: nothing).
func (e *Event) appendJSON(b []byte, enc *eventEncoder) []byte {
	b = append(b, `{"schema":"`+TimelineSchema+`","time":"`...)
	if enc != nil {
		b = enc.tf.Append(b, e.Time)
	} else {
		b = appendTime(b, e.Time)
	}
	b = append(b, `","type":"`...)
	b = append(b, e.Type...)
	b = append(b, '"')
	if e.Frame != 0 {
		b = append(b, `,"frame":`...)
		b = strconv.AppendUint(b, e.Frame, 10)
	}
	if e.Session != "" {
		b = enc.str(b, memoSession, "session", e.Session)
	}
	switch {
	case e.State != nil:
		s := e.State
		b = appendStr(b, "layer", s.Layer)
		b = appendStr(b, "old_state", s.Old) // not "old": a row's old is an object (one type per name)
		b = appendStr(b, "new_state", s.New)
		b = appendStr(b, "reason", s.Reason)
		b = appendStr(b, "client_addr", s.Client.String())
		b = appendStr(b, "server_addr", s.Server.String())
		b = appendStr(b, "client_system_ip", s.ClientSystemIP)
		b = appendStr(b, "server_system_ip", s.ServerSystemIP)
	case e.Anomaly != nil:
		j, _ := e.Anomaly.MarshalJSON()
		b = append(b, `,"anomaly":`...)
		b = append(b, j...)
	default:
		b = enc.str(b, memoFrom, "from", e.From)
		b = enc.str(b, memoTo, "to", e.To)
		b = enc.str(b, memoFamily, "family", e.Family.String())
		b = appendRowKey(b, e.Family, &e.Row, enc)
		b = enc.str(b, memoReason, "reason", e.Reason)
		if e.Status != "" {
			b = enc.str(b, memoStatus, "status", e.Status)
		}
		if e.Old != nil {
			b = append(b, `,"old":`...)
			b = appendAttrsJSON(b, e.Old)
		}
		if e.New != nil {
			b = append(b, `,"new":`...)
			b = appendAttrsJSON(b, e.New)
		}
	}
	return append(b, '}')
}

func appendStr(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return jsonw.String(b, v) // valid JSON whatever the wire put in v
}

func appendU32(b []byte, name string, v uint32) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendUint(b, uint64(v), 10)
}

func appendRowKey(b []byte, f omp.Family, k *RowKey, enc *eventEncoder) []byte {
	switch {
	case f.IsRoute():
		b = appendU32(b, "vpn", k.VPN)
		b = append(b, `,"prefix":`...)
		b = jsonw.Prefix(b, k.Prefix)
	case f.IsTLOC():
		b = appendStr(b, "tloc", k.TLOC.String())
	default:
		b = appendU32(b, "vpn", k.VPN)
		b = appendStr(b, "service", k.Service.String())
	}
	b = appendU32(b, "path_id", k.PathID)
	b = append(b, `,"originator":`...)
	return enc.addr(b, k.Originator)
}

func addrStr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// appendAttrsJSON appends the JSON object of an attribute set: one member
// per attribute present (docs/timeline.md lists them).
func appendAttrsJSON(b []byte, a *Attrs) []byte {
	if a != nil && a.json != nil {
		return append(b, a.json...) // built once, when the set was interned
	}
	return buildAttrsJSON(b, a)
}

func buildAttrsJSON(b []byte, a *Attrs) []byte {
	b = append(b, '{')
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	str := func(name, v string) {
		sep()
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = jsonw.String(b, v)
	}
	num := func(name string, v uint64) {
		sep()
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = strconv.AppendUint(b, v, 10)
	}
	list := func(name string, vs []uint32) {
		sep()
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":[`...)
		for i, v := range vs {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, uint64(v), 10)
		}
		b = append(b, ']')
	}
	seen := uint64(0)
	for _, at := range a.List {
		t := at.Code()
		if t < 64 {
			if seen&(1<<t) != 0 && t != omp.AttrASPath && t != omp.AttrCommunity && t != omp.AttrGroups {
				continue // repeated attribute: the first one counts
			}
			seen |= 1 << t
		}
		switch v := at.(type) {
		case *omp.Originator:
			str("originator", v.Addr.String())
		case *omp.TLOCAttr:
			str("tloc", v.TLOCKey.String())
		case *omp.OriginAttr:
			str("origin", v.Protocol.String())
			num("metric", uint64(v.Metric))
		case *omp.Uint32Attr:
			num(t.Key(), uint64(v.Value))
		case *omp.UltimateTLOC:
			str("ultimate_tloc", v.TLOCKey.String())
			str("ultimate_action", v.Action.String())
		case *omp.Uint32ListAttr:
			list(t.Key(), v.Values)
		case *omp.AddrAttr:
			str(t.Key(), v.Addr.String())
		case *omp.Uint8Attr:
			switch v.U8Kind() {
			case "enum":
				str(t.Key(), v.Text())
			case "bool":
				sep()
				b = append(b, '"')
				b = append(b, t.Key()...)
				b = append(b, '"', ':')
				b = strconv.AppendBool(b, v.Value == 1)
			default:
				num(t.Key(), uint64(v.Value))
			}
		case *omp.EncapParams:
			sep()
			b = append(b, `"encap_params":{"spi":`...)
			b = strconv.AppendUint(b, uint64(v.SPI), 10)
			b = append(b, `,"auth_bits":`...)
			b = strconv.AppendUint(b, uint64(v.AuthBits), 10)
			b = append(b, `,"encryption_bits":`...)
			b = strconv.AppendUint(b, uint64(v.EncryptionBits), 10)
			b = append(b, '}')
		case *omp.UnknownAttr:
			str("attr_"+strconv.Itoa(int(t)), hex.EncodeToString(v.Value))
		}
	}
	return append(b, '}')
}

// MarshalJSON encodes the attribute set as in the timeline.
func (a *Attrs) MarshalJSON() ([]byte, error) { return appendAttrsJSON(nil, a), nil }

// TimelineHeader is the first line of a timeline file: it names the
// schema.
func TimelineHeader(start time.Time) []byte {
	b := []byte(`{"schema":"` + TimelineSchema + `","time":"`)
	b = appendTime(b, start)
	return append(b, `","type":"timeline.start"}`...)
}

// appendTime writes a capture time as every ompscope output does: RFC 3339
// in UTC with nanoseconds, always nine digits (as dissect's ts).
func appendTime(b []byte, t time.Time) []byte {
	return jsonw.AppendTime(b, t)
}
