package synth

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/vdaemon"
	"github.com/ompscope/ompscope/pcaps/manifest"
)

// churnRun is what TestChurn reads from the bytes of one churn run.
type churnRun struct {
	m        *manifest.Manifest
	raw      []byte
	start    time.Time // churn start
	events   int       // route NLRI in UPDATEs, every session, duplicates once
	after    int       // of which after the churn start
	sizes    []int     // live route rows over all session directions, every 2 s from the churn start
	maxFlaps int       // most changes of one path on one session direction within 60 s
}

func runChurn(t *testing.T, o Options) *churnRun {
	t.Helper()
	var logs []RecordLog
	m, _, err := Run(o, Writers{PcapNG: io.Discard, OnRecord: func(r RecordLog) { logs = append(logs, r) }})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	cr := &churnRun{m: m, raw: raw}
	s, _ := m.Params["churn_start"].(string)
	if cr.start, err = time.Parse(time.RFC3339Nano, s); err != nil {
		t.Fatalf("params.churn_start %q: %v", s, err)
	}
	type dir struct {
		s     int
		fromC bool
	}
	type rowKey struct {
		d dir
		k replayKey
	}
	live := map[rowKey]bool{}
	changes := map[rowKey][]time.Time{}
	next := cr.start
	for i, l := range logs {
		if l.Dup || l.Clear {
			continue
		}
		for !l.Time.Before(next) {
			cr.sizes = append(cr.sizes, len(live))
			next = next.Add(2 * time.Second)
		}
		msg, err := vdaemon.Decode(l.Plain)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		d, ok := msg.Body.(*vdaemon.Data)
		if !ok {
			continue
		}
		ms, err := omp.DecodeAll(d.Payload)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		for _, om := range ms {
			u, ok := om.(*omp.Update)
			if !ok || !u.Family.IsRoute() {
				continue
			}
			n := len(u.Withdrawn) + len(u.Reachable)
			cr.events += n
			if !l.Time.Before(cr.start) {
				cr.after += n
			}
			note := func(k rowKey) {
				c := append(changes[k], l.Time)
				for len(c) > 0 && l.Time.Sub(c[0]) >= time.Minute {
					c = c[1:]
				}
				changes[k] = c
				cr.maxFlaps = max(cr.maxFlaps, len(c))
			}
			for _, x := range u.Withdrawn {
				k := rowKey{dir{l.Session, l.FromClient}, replayKey{u.Family, x}}
				delete(live, k)
				note(k)
			}
			for _, x := range u.Reachable {
				k := rowKey{dir{l.Session, l.FromClient}, replayKey{u.Family, x}}
				live[k] = true
				note(k)
			}
		}
	}
	return cr
}

// TestChurn: the churn scenario keeps its tables at one size while its
// route events grow with the capture's length; the same seed makes the
// same capture; it declares no anomaly, and no path changes often enough
// to flap; the vSmarts reflect exactly what the edges advertise.
func TestChurn(t *testing.T) {
	o := Options{Scenario: "churn", Seed: 5, Edges: 4, Routes: 2000}
	o1, o2 := o, o
	// the second run ends before the first TLOC flap (so the table keeps
	// its size all along); its churn lasts twice as long as the first's
	o1.Duration, o2.Duration = 70*time.Second, 10*time.Second+time.Duration(churnFlapLead)
	r1, r1b, r2 := runChurn(t, o1), runChurn(t, o1), runChurn(t, o2)

	if !bytes.Equal(r1.raw, r1b.raw) || r1.m.Params["plaintext_sha256"] != r1b.m.Params["plaintext_sha256"] {
		t.Errorf("two runs with the same seed differ: plaintext_sha256 %v / %v", r1.m.Params["plaintext_sha256"], r1b.m.Params["plaintext_sha256"])
	}
	for _, r := range []*churnRun{r1, r2} {
		if len(r.m.Anomalies) != 0 {
			t.Errorf("%v: anomalies %+v", r.m.Params["duration"], r.m.Anomalies)
		}
		if got := r.m.Params["route_events"]; got != r.events {
			t.Errorf("%v: params.route_events %v, the bytes hold %d", r.m.Params["duration"], got, r.events)
		}
		if r.maxFlaps > 5 {
			t.Errorf("%v: a path changes %d times within 60 s (more than 5 is a flap)", r.m.Params["duration"], r.maxFlaps)
		}
		// 4 edges, 2 vSmarts: every route path is on 10 session directions
		want := 10 * o.Routes
		if n := routeRows(r.m.FinalTables); n != want {
			t.Errorf("%v: %d route rows in the final tables, want %d", r.m.Params["duration"], n, want)
		}
		if len(r.sizes) < 10 {
			t.Fatalf("%v: %d table samples", r.m.Params["duration"], len(r.sizes))
		}
		for i, n := range r.sizes {
			if n < want*98/100 || n > want*102/100 {
				t.Errorf("%v: %d live route rows %d s after the churn began, want about %d", r.m.Params["duration"], n, 2*i, want)
			}
		}
		checkReflection(t, r.m)
	}
	// twice the churn time, twice the route events
	span1, span2 := r1.m.End.Sub(r1.start), r2.m.End.Sub(r2.start)
	ratio := float64(r2.after) / float64(r1.after)
	want := span2.Seconds() / span1.Seconds()
	t.Logf("churn %v: %d route events (%d in all); churn %v: %d (%d in all); ratio %.2f, time ratio %.2f",
		span1.Round(time.Second), r1.after, r1.events, span2.Round(time.Second), r2.after, r2.events, ratio, want)
	if ratio < want*0.85 || ratio > want*1.15 {
		t.Errorf("route events after the churn start: %d in %v, %d in %v: ratio %.2f, want about %.2f", r1.after, span1, r2.after, span2, ratio, want)
	}
}

func routeRows(ts []manifest.Table) int {
	n := 0
	for _, t := range ts {
		n += t.RouteCount
	}
	return n
}

// checkReflection: in the final tables, each vSmart sends each edge the
// routes every other edge sends it, and the other vSmart all of them,
// under its path-ids ((originator index+1)<<4 | the originator's).
func checkReflection(t *testing.T, m *manifest.Manifest) {
	t.Helper()
	idx := map[string]int{}
	kind := map[string]string{}
	for i, d := range m.Devices {
		idx[d.SystemIP], kind[d.SystemIP] = i, d.Type
	}
	type rk struct {
		vpn    uint32
		prefix string
		pid    uint32
	}
	key := func(r manifest.Route) rk { return rk{r.VPN, r.Prefix, r.PathID} }
	tables := map[[2]string]manifest.Table{}
	for _, tb := range m.FinalTables {
		tables[[2]string{tb.From, tb.To}] = tb
	}
	for _, tb := range m.FinalTables {
		if kind[tb.From] != "vSmart" {
			continue
		}
		want := map[rk]bool{}
		for _, in := range m.FinalTables {
			if in.To != tb.From || in.From == tb.To || kind[in.From] != "vEdge" {
				continue
			}
			for _, r := range in.Routes {
				k := key(r)
				k.pid = uint32(idx[in.From]+1)<<4 | r.PathID&0xf
				want[k] = true
			}
		}
		got := map[rk]bool{}
		for _, r := range tb.Routes {
			got[key(r)] = true
			if !want[key(r)] {
				t.Errorf("%s sends %s route %+v, which no edge sends it", tb.From, tb.To, r)
				return
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s sends %s %d routes, the other edges send it %d", tb.From, tb.To, len(got), len(want))
		}
	}
	if len(tables) == 0 {
		t.Error("no final tables")
	}
}
