package synth

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/vdaemon"
	"github.com/ompscope/ompscope/pcaps/manifest"
)

type replayKey struct {
	fam omp.Family
	n   omp.NLRI
}

// replay decodes every record the run wrote (with the project's vdaemon
// and OMP codecs) and applies the UPDATEs of each session direction, to
// rebuild the final tables from the bytes alone.
func replay(t *testing.T, m *manifest.Manifest, logs []RecordLog) []manifest.Table {
	t.Helper()
	type dirKey struct {
		s     int
		fromC bool
	}
	tables := map[dirKey]map[replayKey][]omp.Attribute{}
	down := map[int]bool{}
	// a session is up at the end when both sides still sent something in
	// the last 12 s (the hello tolerance): the others were lost in silence
	lastHeard := map[dirKey]bool{}
	for _, l := range logs {
		if m.End.Sub(l.Time) < 12*time.Second {
			lastHeard[dirKey{l.Session, l.FromClient}] = true
		}
	}
	for i, l := range logs {
		if l.Dup {
			continue
		}
		msg, err := vdaemon.Decode(l.Plain)
		if err != nil {
			t.Fatalf("record %d (session %d): %v", i, l.Session, err)
		}
		if msg.Header.Version != vdaemon.Version || msg.Header.Flags != 0xA0 {
			t.Fatalf("record %d: header %+v", i, msg.Header)
		}
		switch b := msg.Body.(type) {
		case *vdaemon.TearDown:
			down[l.Session] = true
		case *vdaemon.Data:
			ms, err := omp.DecodeAll(b.Payload)
			if err != nil {
				t.Fatalf("record %d (session %d): %v", i, l.Session, err)
			}
			k := dirKey{l.Session, l.FromClient}
			for _, om := range ms {
				switch x := om.(type) {
				case *omp.Alert:
					down[l.Session] = true
				case *omp.Update:
					tb := tables[k]
					if tb == nil {
						tb = map[replayKey][]omp.Attribute{}
						tables[k] = tb
					}
					for _, n := range x.Withdrawn {
						delete(tb, replayKey{x.Family, n})
					}
					for _, n := range x.Reachable {
						tb[replayKey{x.Family, n}] = x.Attrs
					}
				}
			}
		}
	}
	var out []manifest.Table
	for k, tb := range tables {
		s := m.Sessions[k.s]
		if down[k.s] || s.Kind != "omp" || !lastHeard[dirKey{k.s, true}] || !lastHeard[dirKey{k.s, false}] {
			continue
		}
		from, to := s.ClientSystemIP, s.ServerSystemIP
		if !k.fromC {
			from, to = to, from
		}
		mt := manifest.Table{From: from, To: to, Routes: []manifest.Route{}, TLOCs: []manifest.TLOC{}, Services: []manifest.Service{}}
		keys := make([]ribKey, 0, len(tb))
		for rk := range tb {
			keys = append(keys, ribKey{rk.fam, rk.n})
		}
		sortKeys(keys)
		for _, rk := range keys {
			attrs := tb[replayKey{rk.fam, rk.n}]
			get := func(t omp.AttrType) uint32 {
				if a, ok := omp.Find(attrs, t).(*omp.Uint32Attr); ok {
					return a.Value
				}
				return 0
			}
			orig := omp.Find(attrs, omp.AttrOriginator).(*omp.Originator).Addr.String()
			switch {
			case rk.fam.IsRoute():
				r := manifest.Route{VPN: rk.n.VPN, Prefix: rk.n.Prefix.String(), PathID: rk.n.PathID, Originator: orig,
					TLOC: omp.Find(attrs, omp.AttrTLOC).(*omp.TLOCAttr).TLOCKey.String(), Preference: get(omp.AttrPreference), SiteID: get(omp.AttrSiteID)}
				if o, ok := omp.Find(attrs, omp.AttrOrigin).(*omp.OriginAttr); ok {
					r.Origin = o.Protocol.String()
				}
				mt.Routes = append(mt.Routes, r)
				mt.RouteCount++
			case rk.fam.IsTLOC():
				priv, pub := omp.AttrPrivateIPv4, omp.AttrPublicIPv4
				if rk.fam == omp.FamilyTLOCv6 {
					priv, pub = omp.AttrPrivateIPv6, omp.AttrPublicIPv6
				}
				mt.TLOCs = append(mt.TLOCs, manifest.TLOC{TLOC: rk.n.TLOC().String(), PathID: rk.n.PathID, Originator: orig,
					Private: omp.Find(attrs, priv).(*omp.AddrAttr).Addr.String(), Public: omp.Find(attrs, pub).(*omp.AddrAttr).Addr.String(),
					Preference: get(omp.AttrPreference), Weight: get(omp.AttrWeight), SiteID: get(omp.AttrSiteID)})
				mt.TLOCCount++
			case rk.fam == omp.FamilyService:
				mt.Services = append(mt.Services, manifest.Service{VPN: rk.n.VPN, Service: rk.n.Service.String(), PathID: rk.n.PathID,
					Originator: rk.n.Originator.String(), TLOC: omp.Find(attrs, omp.AttrTLOC).(*omp.TLOCAttr).TLOCKey.String()})
				mt.ServiceCount++
			}
		}
		out = append(out, mt)
	}
	return out
}

func tableJSON(ts []manifest.Table) []string {
	var out []string
	for _, t := range ts {
		if t.RouteCount+t.TLOCCount+t.ServiceCount == 0 {
			continue // a direction that never advertised anything
		}
		b, _ := json.Marshal(t)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// TestTablesFromBytes: for every scenario, the final tables of the
// manifest are what the UPDATEs on the wire, decoded by dissect/vdaemon
// and dissect/omp, leave behind.
func TestTablesFromBytes(t *testing.T) {
	for _, o := range Samples() {
		o := o
		t.Run(o.Scenario, func(t *testing.T) {
			t.Parallel()
			var logs []RecordLog
			m, _, err := Run(o, Writers{Pcap: io.Discard, OnRecord: func(r RecordLog) { logs = append(logs, r) }})
			if err != nil {
				t.Fatal(err)
			}
			got, want := tableJSON(replay(t, m, logs)), tableJSON(m.FinalTables)
			if len(want) == 0 {
				t.Fatal("no final tables")
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				for i := 0; i < len(got) || i < len(want); i++ {
					var g, w string
					if i < len(got) {
						g = got[i]
					}
					if i < len(want) {
						w = want[i]
					}
					if g != w {
						t.Fatalf("table %d of %d/%d differs:\nbytes:    %.600s\nmanifest: %.600s", i, len(got), len(want), g, w)
					}
				}
			}
		})
	}
}
