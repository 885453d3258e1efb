package analyze

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ompscope/ompscope/dissect/jsonw"
)

// jobj writes a JSON object whose members are given in any order and
// come out sorted by name, as encoding/json writes a map[string]any: the
// peers', endpoints' and devices' documented forms were built as such
// maps and encoded by reflection, a map, a sort and a boxed value per
// member and a buffer per level, 150 MB of garbage for the summary of
// the 2 000-edge scale capture (8 001 peers), and the peak of that run's
// memory (the summary came after the tables had grown to their largest).
// A jobj is reused: its members' values are appended to one buffer.
//
// The output is byte for byte what encoding/json gives for the maps
// (TestPeerJSONMatchesMaps, TestEndpointJSONMatchesMaps,
// TestDeviceViewJSONMatchesMaps).
type jobj struct {
	buf []byte
	mem []jmember
}

type jmember struct {
	name   string
	lo, hi int // the value in buf
}

func (o *jobj) reset() {
	o.buf, o.mem = o.buf[:0], o.mem[:0]
}

func (o *jobj) add(name string, lo int) {
	o.mem = append(o.mem, jmember{name: name, lo: lo, hi: len(o.buf)})
}

func (o *jobj) str(name, v string) {
	lo := len(o.buf)
	o.buf = jsonw.String(o.buf, v)
	o.add(name, lo)
}

func (o *jobj) int(name string, v int64) {
	lo := len(o.buf)
	o.buf = strconv.AppendInt(o.buf, v, 10)
	o.add(name, lo)
}

func (o *jobj) uint(name string, v uint64) {
	lo := len(o.buf)
	o.buf = jsonw.Uint(o.buf, v)
	o.add(name, lo)
}

func (o *jobj) bool(name string, v bool) {
	lo := len(o.buf)
	o.buf = strconv.AppendBool(o.buf, v)
	o.add(name, lo)
}

func (o *jobj) float(name string, v float64) {
	lo := len(o.buf)
	o.buf = jsonw.Float(o.buf, v)
	o.add(name, lo)
}

// strs adds an array of strings.
func (o *jobj) strs(name string, v []string) {
	lo := len(o.buf)
	o.buf = append(o.buf, '[')
	for i, s := range v {
		if i > 0 {
			o.buf = append(o.buf, ',')
		}
		o.buf = jsonw.String(o.buf, s)
	}
	o.buf = append(o.buf, ']')
	o.add(name, lo)
}

// appendTo appends the object, its members sorted by name (a name given
// twice: the last one, as a map keeps).
func (o *jobj) appendTo(b []byte) []byte {
	slices.SortStableFunc(o.mem, func(x, y jmember) int { return strings.Compare(x.name, y.name) })
	b = append(b, '{')
	first := true
	for i, m := range o.mem {
		if i+1 < len(o.mem) && o.mem[i+1].name == m.name {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonw.String(b, m.name)
		b = append(b, ':')
		b = append(b, o.buf[m.lo:m.hi]...)
	}
	return append(b, '}')
}

// docWriter holds the reused objects of the peers', endpoints' and
// devices' documented forms, one per level of nesting.
type docWriter struct {
	peer, ep, cert jobj
}

// addr and addrPort add a member whose value is the string form of an
// address, written by jsonw (no string made).
func (o *jobj) addr(name string, a netip.Addr) {
	lo := len(o.buf)
	o.buf = jsonw.Addr(o.buf, a)
	o.add(name, lo)
}

func (o *jobj) addrPort(name string, a netip.AddrPort) {
	lo := len(o.buf)
	o.buf = jsonw.AddrPort(o.buf, a)
	o.add(name, lo)
}

// time adds a capture time as every output writes it.
func (o *jobj) time(name string, t time.Time) {
	lo := len(o.buf)
	o.buf = append(appendTime(append(o.buf, '"'), t), '"')
	o.add(name, lo)
}

// appendJSON appends the documented form of an endpoint.
func (e *Endpoint) appendJSON(b []byte, w *docWriter) []byte {
	o := &w.ep
	o.reset()
	if e.Addr.Addr().IsValid() {
		o.addrPort("addr", e.Addr)
	} else {
		o.str("addr", "invalid AddrPort") // (its String; AppendTo writes nothing)
	}
	if e.SystemIP.IsValid() {
		o.addr("system_ip", e.SystemIP)
	} else {
		o.str("system_ip", "")
	}
	o.bool("inferred", e.Inferred)
	o.str("device_type", e.DeviceType.String())
	o.uint("site_id", uint64(e.SiteID))
	o.uint("domain_id", uint64(e.DomainID))
	o.bool("handshake", e.Handshake)
	if e.Handshake {
		o.uint("hold_time", uint64(e.HoldTime))
		o.bool("graceful_restart", e.GR)
		o.uint("gr_timer", uint64(e.GRTimer))
		o.uint("send_path_limit", uint64(e.SendPathLimit))
		if e.Organization != "" {
			o.str("organization", e.Organization)
		}
		if e.Software != "" {
			o.str("software", e.Software)
		}
	}
	if e.UUID != "" {
		o.str("uuid", e.UUID)
	}
	if e.Color != 0 {
		o.str("color", e.Color.String())
	}
	if e.HelloInterval > 0 {
		o.int("hello_interval_ms", e.HelloInterval.Milliseconds())
		o.int("hello_tolerance_ms", e.HelloTolerance.Milliseconds())
	}
	o.time("last_heard", e.LastHeard)
	if c := e.Certificate; c != nil {
		co := &w.cert
		co.reset()
		co.uint("frame", c.Frame)
		switch {
		case c.Empty:
			co.bool("empty", true)
		case c.ParseError != "":
			co.str("parse_error", c.ParseError)
			co.str("sha256", c.SHA256)
		default:
			co.str("subject", c.Subject)
			co.str("issuer", c.Issuer)
			co.str("sha256", c.SHA256)
			co.bool("self_signed", c.SelfSigned)
			co.bool("subject_empty", c.SubjectEmpty)
		}
		lo := len(o.buf)
		o.buf = co.appendTo(o.buf)
		o.add("certificate", lo)
	}
	return o.appendTo(b)
}

// appendJSON appends the documented form of a peer.
func (p *Peer) appendJSON(b []byte, w *docWriter) []byte {
	o := &w.peer
	o.reset()
	o.str("session", p.Session)
	lo := len(o.buf)
	o.buf = p.Client.appendJSON(o.buf, w)
	o.add("client", lo)
	lo = len(o.buf)
	o.buf = p.Server.appendJSON(o.buf, w)
	o.add("server", lo)
	o.str("transport", p.Transport)
	o.str("suite", p.Suite)
	o.str("tls_version", p.Version)
	o.str("key_source", p.KeySource)
	o.bool("null_cipher", p.NullCipher)
	o.str("control_state", p.Control)
	o.str("omp_state", p.OMP)
	o.time("start", p.Start)
	o.time("last", p.Last)
	o.float("hold_time_s", p.HoldTime.Seconds())
	o.bool("hold_known", p.HoldKnown)
	o.bool("graceful_restart", p.GR)
	o.float("gr_timer_s", p.GRTimer.Seconds())
	o.int("send_path_limit", int64(p.SendPathLimit))
	o.bool("observed_from_start", p.ObservedFromStart)
	o.int("records", int64(p.Records))
	o.int("decode_errors", int64(p.DecodeErrors))
	o.int("gap_records", int64(p.GapRecords))
	o.int("omp_policies", int64(p.Policies))
	o.int("omp_other", int64(p.OtherOMP))
	o.int("raw_updates", int64(p.RawUpdates))
	lo = len(o.buf)
	o.buf = append(o.buf, '[')
	for i := range p.Tables {
		t := &p.Tables[i]
		if i > 0 {
			o.buf = append(o.buf, ',')
		}
		// a struct: its fields in their order
		o.buf = append(o.buf, `{"from":`...)
		o.buf = jsonw.String(o.buf, t.From)
		o.buf = append(o.buf, `,"to":`...)
		o.buf = jsonw.String(o.buf, t.To)
		o.buf = append(o.buf, `,"route_count":`...)
		o.buf = strconv.AppendInt(o.buf, int64(t.Routes), 10)
		o.buf = append(o.buf, `,"tloc_count":`...)
		o.buf = strconv.AppendInt(o.buf, int64(t.TLOCs), 10)
		o.buf = append(o.buf, `,"service_count":`...)
		o.buf = strconv.AppendInt(o.buf, int64(t.Services), 10)
		o.buf = append(o.buf, `,"stale":`...)
		o.buf = strconv.AppendInt(o.buf, int64(t.Stale), 10)
		o.buf = append(o.buf, `,"graceful_restart":`...)
		o.buf = strconv.AppendBool(o.buf, t.GR)
		o.buf = append(o.buf, `,"complete":`...)
		o.buf = strconv.AppendBool(o.buf, t.Complete)
		o.buf = append(o.buf, '}')
	}
	o.buf = append(o.buf, ']')
	o.add("tables", lo)
	if !p.Down.IsZero() {
		o.time("down", p.Down)
		o.str("down_reason", p.DownReason)
	}
	return o.appendTo(b)
}

// appendJSON appends the documented form of a device of the fabric view.
func (d *DeviceView) appendJSON(b []byte, w *docWriter) []byte {
	o := &w.peer // (a device has no peer inside)
	o.reset()
	if d.SystemIP.IsValid() {
		o.addr("system_ip", d.SystemIP)
	} else {
		o.str("system_ip", "invalid IP")
	}
	o.str("device_type", d.DeviceType.String())
	o.uint("site_id", uint64(d.SiteID))
	o.strs("peer_system_ips", d.Peers) // (nil: [], as before)
	lo := len(o.buf)
	o.buf = d.Received.appendJSON(o.buf)
	o.add("received", lo)
	lo = len(o.buf)
	o.buf = d.Advertised.appendJSON(o.buf)
	o.add("advertised", lo)
	return o.appendTo(b)
}

func (c *Counts) appendJSON(b []byte) []byte {
	b = append(b, `{"route_count":`...)
	b = strconv.AppendInt(b, int64(c.Routes), 10)
	b = append(b, `,"tloc_count":`...)
	b = strconv.AppendInt(b, int64(c.TLOCs), 10)
	b = append(b, `,"service_count":`...)
	b = strconv.AppendInt(b, int64(c.Services), 10)
	return append(b, '}')
}
