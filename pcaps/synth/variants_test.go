package synth

import (
	"io"
	"sort"
	"strings"
	"testing"
)

// TestScenarioVariants runs every scenario with other settings than the
// samples' (generated route tables and many TLS sessions; or no TLS, no
// IPv6, no impairment, no background, no VLAN, 3 edges), and checks that
// the manifest lists exactly the anomaly kinds the scenario declares and
// that its final tables are what the bytes on the wire leave behind.
func TestScenarioVariants(t *testing.T) {
	variants := []Options{
		{Seed: 21, Edges: 5, Routes: 1500, TLSFraction: 0.5},
		{Seed: 22, Edges: 3, NoTLS: true, NoIPv6: true, NoImpair: true, NoBackground: true, NoVLAN: true, NoPSK: true},
	}
	for _, sc := range Scenarios() {
		for vi, v := range variants {
			o := v
			o.Scenario = sc.Name
			if o.Edges < sc.MinEdges {
				o.Edges = sc.MinEdges
			}
			t.Run(sc.Name+"/"+itoa(vi), func(t *testing.T) {
				t.Parallel()
				var logs []RecordLog
				m, st, err := Run(o, Writers{Pcap: io.Discard, OnRecord: func(r RecordLog) { logs = append(logs, r) }})
				if err != nil {
					t.Fatal(err)
				}
				if st.StrayWrites != 0 {
					t.Errorf("%d stray writes", st.StrayWrites)
				}
				kinds := map[string]bool{}
				for _, a := range m.Anomalies {
					kinds[a.Kind] = true
					if a.Start.Before(m.Start) || a.Start.After(m.End) || (!a.End.IsZero() && a.End.Before(a.Start)) {
						t.Errorf("anomaly %+v outside the capture %v - %v", a, m.Start, m.End)
					}
				}
				var got []string
				for k := range kinds {
					got = append(got, k)
				}
				want := append([]string(nil), sc.Anomalies...)
				sort.Strings(got)
				sort.Strings(want)
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("anomaly kinds %v, the scenario declares %v", got, want)
				}
				g, w := tableJSON(replay(t, m, logs)), tableJSON(m.FinalTables)
				if strings.Join(g, "\n") != strings.Join(w, "\n") {
					t.Errorf("final tables differ from the bytes (%d / %d tables)", len(g), len(w))
				}
				if o.Routes > 0 && m.Params["route_paths"].(int) > o.Routes {
					t.Errorf("%v route paths, asked for %d", m.Params["route_paths"], o.Routes)
				}
			})
		}
	}
}
