package analyze

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// A run with every event type; each line must be valid JSON with the
// documented members.
func TestTimelineJSON(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24", "2001:db8:1::/48")
	x.omp(true, &omp.Update{Family: omp.FamilyService, Attrs: routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0),
		Reachable: []omp.NLRI{{PathID: 1, VPN: 1, Service: sdwan.ServiceFW, Originator: e1.sys}}})
	f.at(2)
	x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 7), route(1, "10.1.0.0/24", 1))
	f.at(3)
	x.wd(true, omp.FamilyRouteV4, route(1, "10.9.9.0/24", 1)) // withdraw-unknown
	f.at(4)
	x.end()
	f.finish(200) // past the GR timer (120s)

	header := TimelineHeader(t0)
	var h map[string]any
	if err := json.Unmarshal(header, &h); err != nil || h["schema"] != TimelineSchema || h["type"] != "timeline.start" {
		t.Fatalf("header %s: %v", header, err)
	}
	seen := map[string]bool{}
	for _, e := range f.events {
		b := e.AppendJSON(nil)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		ts, _ := m["time"].(string)
		if pt, err := time.Parse(time.RFC3339Nano, ts); err != nil || !pt.Equal(e.Time) || !strings.HasSuffix(ts, "Z") {
			t.Errorf("time %q", ts)
		}
		typ := m["type"].(string)
		seen[typ] = true
		need := []string{}
		switch {
		case strings.HasPrefix(typ, "route."):
			need = []string{"from", "to", "family", "vpn", "prefix", "path_id", "originator", "reason"}
		case strings.HasPrefix(typ, "tloc."):
			need = []string{"from", "to", "family", "tloc", "path_id", "originator", "reason"}
		case strings.HasPrefix(typ, "service."):
			need = []string{"from", "to", "family", "vpn", "service", "path_id", "originator", "reason"}
		case typ == "peer.state":
			need = []string{"layer", "old_state", "new_state", "reason", "client_addr", "server_addr", "client_system_ip", "server_system_ip"}
		case strings.HasPrefix(typ, "anomaly."):
			need = []string{"anomaly"}
			an := m["anomaly"].(map[string]any)
			for _, k := range []string{"id", "kind", "severity", "subject", "start", "raised", "active", "explanation", "evidence", "evidence_count"} {
				if _, ok := an[k]; !ok {
					t.Errorf("%s: anomaly without %s", b, k)
				}
			}
		default:
			t.Errorf("unknown type %q", typ)
		}
		for _, k := range need {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: no %s", b, k)
			}
		}
		if typ == "route.change" {
			if m["old"].(map[string]any)["preference"] != 0.0 || m["new"].(map[string]any)["preference"] != 7.0 {
				t.Errorf("change %s", b)
			}
		}
		if typ == "route.add" && m["prefix"] == "10.1.0.0/24" && e.Reason == ReasonUpdate {
			nw := m["new"].(map[string]any)
			if nw["originator"] != "10.0.0.11" || nw["tloc"] != "10.0.0.11/biz-internet/ipsec" || nw["origin"] != "connected" ||
				nw["site_id"] != 100.0 || nw["label"] != 1002.0 {
				t.Errorf("attrs %s", b)
			}
		}
	}
	for _, typ := range []string{"route.add", "route.change", "route.withdraw", "tloc.add", "tloc.withdraw", "service.add",
		"service.withdraw", "peer.state", "anomaly.start", "anomaly.end"} {
		if !seen[typ] {
			t.Errorf("no %s event", typ)
		}
	}
	// GR expiry withdrawals carry their reason
	n := 0
	for _, e := range f.eventsOf(EvRouteWithdraw) {
		if e.Reason == ReasonGRExpired {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d gr-expired", n)
	}
}

func TestAnomalyJSONDoesNotEscape(t *testing.T) {
	an := &Anomaly{ID: 1, Kind: KindDecryptionGap, Subject: "session 1.2.3.4:1 > 5.6.7.8:2", Start: t0, Raised: t0, Active: true}
	b, err := an.MarshalJSON()
	if err != nil || !strings.Contains(string(b), `"session 1.2.3.4:1 > 5.6.7.8:2"`) || strings.Contains(string(b), `"end"`) {
		t.Fatalf("%s %v", b, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["severity"] != "info" || len(m["evidence"].([]any)) != 0 {
		t.Fatalf("%v %v", m, err)
	}
}

func TestSnapshotAndDiffJSON(t *testing.T) {
	f := newFab(t, Config{})
	e1, v1 := edge(1, 100), vsmart(1)
	x := f.connect(e1, v1)
	advertiseEdge(x, e1, "10.1.0.0/24", "10.1.1.0/24")
	f.at(5)
	x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 9), route(1, "10.1.0.0/24", 1))
	x.wd(true, omp.FamilyRouteV4, route(1, "10.1.1.0/24", 1))
	x.adv(true, omp.FamilyRouteV4, routeAttrs(e1.sys, tk(e1.sys, sdwan.ColorBizInternet), 100, 0), route(1, "10.1.2.0/24", 1))
	f.finish(10)

	b, err := json.Marshal(f.a.Snapshot(sec(1), Filter{}))
	if err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Schema string `json:"schema"`
		At     string `json:"at"`
		Exact  bool   `json:"exact"`
		Tables []struct {
			From, To string
			OMP      string `json:"omp_state"`
			Complete bool   `json:"complete"`
			Routes   []map[string]any
			TLOCs    []map[string]any `json:"tlocs"`
		} `json:"tables"`
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Schema != TablesSchema || !snap.Exact || len(snap.Tables) != 1 {
		t.Fatalf("%s", b)
	}
	tb := snap.Tables[0]
	if tb.From != "10.0.0.11" || tb.To != "10.0.0.1" || tb.OMP != "up" || !tb.Complete || len(tb.Routes) != 2 || len(tb.TLOCs) != 1 {
		t.Fatalf("%s", b)
	}
	r := tb.Routes[0]
	if r["vpn"] != 1.0 || r["prefix"] != "10.1.0.0/24" || r["path_id"] != 1.0 || r["originator"] != "10.0.0.11" ||
		r["tloc"] != "10.0.0.11/biz-internet/ipsec" || r["site_id"] != 100.0 || r["origin"] != "connected" || r["status"] != "C,R" {
		t.Errorf("route row %v", r)
	}
	tl := tb.TLOCs[0]
	if tl["private"] != "192.0.2.11:12346" || tl["weight"] != 1.0 || tl["tloc"] != "10.0.0.11/biz-internet/ipsec" {
		t.Errorf("tloc row %v", tl)
	}

	d := f.a.Diff(sec(1), sec(6), Filter{})
	if len(d.Added) != 1 || len(d.Withdrawn) != 1 || len(d.Changed) != 1 {
		t.Fatalf("diff %d %d %d", len(d.Added), len(d.Withdrawn), len(d.Changed))
	}
	if d.Changed[0].Old.Attrs.Preference != 0 || d.Changed[0].New.Attrs.Preference != 9 || d.Added[0].New.Key.Prefix.String() != "10.1.2.0/24" ||
		d.Withdrawn[0].Old.Key.Prefix.String() != "10.1.1.0/24" {
		t.Errorf("diff rows %+v", d)
	}
	b, _ = json.Marshal(d)
	var dj map[string]any
	if err := json.Unmarshal(b, &dj); err != nil || dj["schema"] != DiffSchema {
		t.Fatalf("%s", b)
	}
	ch := dj["changed"].([]any)[0].(map[string]any)
	if ch["kind"] != "route" || ch["old"].(map[string]any)["preference"] != nil || ch["new"].(map[string]any)["preference"] != 9.0 {
		// preference 0 is omitted from rows (as in the manifest)
		t.Errorf("changed %v", ch)
	}
	if _, ok := dj["added"].([]any)[0].(map[string]any)["old"]; ok {
		t.Errorf("added row has old")
	}
}

func TestPeersJSON(t *testing.T) {
	f := newFab(t, Config{})
	f.connect(edge(1, 100), vsmart(1))
	b, err := json.Marshal(f.a.Peers())
	if err != nil {
		t.Fatal(err)
	}
	var ps []map[string]any
	if err := json.Unmarshal(b, &ps); err != nil || len(ps) != 1 {
		t.Fatalf("%s", b)
	}
	p := ps[0]
	if p["control_state"] != "up" || p["omp_state"] != "up" || p["hold_time_s"] != 60.0 || p["client"].(map[string]any)["system_ip"] != "10.0.0.11" {
		t.Errorf("%v", p)
	}
}

// TestTimelineJSONValidWithControlCharacters: strings that come from the
// wire (here a session ID and a software version) may hold control
// characters and invalid UTF-8; the timeline stays valid JSON.
func TestTimelineJSONValidWithControlCharacters(t *testing.T) {
	e := &Event{Time: t0, Type: EvPeerState, Session: "a\x01b\x07\xff\"\\<>", State: &StateChange{Layer: "omp",
		Old: "up", New: "down", Reason: "x\x00y\u2028"}}
	b := e.AppendJSON(nil)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	if v["session"] != "a\x01b\x07\ufffd\"\\<>" {
		t.Errorf("session %q", v["session"])
	}
}

// TestOnEventJSON: the lines OnEventJSON receives (with no OnEvent: the
// allocation-free path) are exactly the events' AppendJSON, in order, with
// their times.
func TestOnEventJSON(t *testing.T) {
	var want []string
	var wantT []time.Time
	churn(t, Config{OnEvent: func(e *Event) {
		want = append(want, string(e.AppendJSON(nil)))
		wantT = append(wantT, e.Time)
	}}, 40, 5, 120, nil).finish(120)
	var got []string
	var gotT []time.Time
	churn(t, Config{OnEventJSON: func(tm time.Time, line []byte) {
		got = append(got, string(line))
		gotT = append(gotT, tm)
	}}, 40, 5, 120, nil).finish(120)
	if len(want) < 500 || len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] || !gotT[i].Equal(wantT[i]) {
			t.Fatalf("line %d:\n%s\nwant\n%s", i, got[i], want[i])
		}
	}
}

// An encoder remembers the last second, session, sender, receiver,
// family, reason, status and originator from one line to the next: its
// lines are AppendJSON's, whatever their order (back in time, a new
// second, years RFC 3339 cannot write, values that alternate or need
// escaping).
func TestEventEncoderMatchesAppendJSON(t *testing.T) {
	base := time.Date(2026, 1, 1, 10, 57, 31, 131800000, time.UTC)
	times := []time.Time{base, base.Add(5), base.Add(time.Second), base, base.Add(-time.Hour),
		time.Date(10000, 1, 1, 0, 0, 0, 1, time.UTC), base.Add(time.Second + 7), time.Time{}, base}
	sessions := []string{"dtls:192.0.2.1:12346>198.51.100.1:12346#1", "dtls:192.0.2.1:12346>198.51.100.1:12346#1",
		"tls:[2001:db8::1]:23456>[2001:db8::2]:23456#2", "", "a\"b\\c\n\x01é\xff", "dtls:192.0.2.1:12346>198.51.100.1:12346#1"}
	names := []string{"10.0.0.11", "10.0.0.11", "?198.51.100.1:12346", "", "x\"\u2028"}
	fams := []omp.Family{omp.FamilyRouteV4, omp.FamilyRouteV4, omp.FamilyTLOCv4, omp.FamilyService, omp.FamilyRouteV6}
	origs := []netip.Addr{netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.11"), {}, netip.MustParseAddr("2001:db8::1")}
	var enc eventEncoder
	var got []byte
	for i := 0; i < 200; i++ {
		e := &Event{Time: times[i%len(times)], Type: EvRouteAdd, Frame: uint64(i), Session: sessions[i*7%len(sessions)],
			From: names[i%len(names)], To: names[i*3%len(names)], Family: fams[i%len(fams)], Reason: names[i*5%len(names)],
			Status: names[i*2%len(names)], Row: RowKey{VPN: uint32(i % 3), PathID: uint32(i), Originator: origs[i%len(origs)],
				Prefix: netip.MustParsePrefix("10.1.0.0/24")}}
		got = e.appendJSON(got[:0], &enc)
		if want := e.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// BenchmarkEventJSON encodes route events as an UPDATE's NLRI give them to
// the timeline: one session, sender and receiver, new prefixes, the time
// moving by a millisecond per 64 events; with AppendJSON and with an
// eventEncoder (Analyzer's timeline). ns/op is per line.
func BenchmarkEventJSON(b *testing.B) {
	base := time.Date(2026, 1, 1, 10, 57, 31, 0, time.UTC)
	at := &Attrs{}
	evs := make([]Event, 4096)
	for i := range evs {
		evs[i] = Event{Time: base.Add(time.Duration(i/64) * time.Millisecond), Type: EvRouteAdd, Frame: uint64(1000 + i/64),
			Session: "dtls:198.18.0.1:12346>203.0.113.14:12446#57", From: "10.255.0.1", To: "1.1.1.4", Family: omp.FamilyRouteV4,
			Row: RowKey{VPN: 10, Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24), PathID: 1,
				Originator: netip.MustParseAddr("10.255.0.1")}, Reason: ReasonUpdate, Status: "C,R", New: at}
	}
	for _, remember := range []bool{false, true} {
		name := "AppendJSON"
		if remember {
			name = "eventEncoder"
		}
		b.Run(name, func(b *testing.B) {
			var enc *eventEncoder
			if remember {
				enc = &eventEncoder{}
			}
			var buf []byte
			n := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				buf = evs[i%len(evs)].appendJSON(buf[:0], enc)
				n += len(buf)
			}
			b.SetBytes(int64(n / max(b.N, 1)))
		})
	}
}
