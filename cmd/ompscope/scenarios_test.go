package main

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ompscope/ompscope/analyze"
	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/tlsdec"
	"github.com/ompscope/ompscope/pcaps/manifest"
	"github.com/ompscope/ompscope/pcaps/manifestcheck"
)

// analyzeFile runs the whole pipeline (capture → flow → tlsdec → codec →
// feeder → analyzer) over a capture whose keys it carries (pcapng DSB).
func analyzeFile(t *testing.T, path string, psk string) (*analyze.Analyzer, time.Time) {
	t.Helper()
	ks := tlsdec.NewKeyStore()
	if psk != "" {
		in := inputFlags{psks: []string{psk}}
		var err error
		if ks, err = in.loadKeys(io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	a := analyze.New(analyze.Config{})
	fd := newFeeder(a)
	d := dissect.NewWithSink(dissect.Config{Keys: ks}, fd)
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := d.RunSource(r, dissect.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	last := fd.last
	d.Finish()
	a.Finish(last)
	return a, last
}

// Every committed scenario: the analyzer finds exactly the anomalies of
// its manifest (kind, subject, window within manifestcheck's documented
// 2 s tolerance), none on baseline, and the tables at the end equal the
// manifest's final tables.
func TestScenariosMatchManifests(t *testing.T) {
	files, _ := filepath.Glob("../../pcaps/*.manifest.json")
	if len(files) < 14 {
		t.Fatalf("%d scenario samples, want 14", len(files))
	}
	for _, mf := range files {
		name := strings.TrimSuffix(filepath.Base(mf), ".manifest.json")
		t.Run(name, func(t *testing.T) {
			m, err := manifest.Read(mf)
			if err != nil {
				t.Fatal(err)
			}
			psk := ""
			if s, ok := m.Params["psk"].(string); ok {
				psk = s
			}
			a, _ := analyzeFile(t, strings.TrimSuffix(mf, ".manifest.json")+".pcapng", psk)
			rep := manifestcheck.Check(m, a, manifestcheck.DefaultTolerance)
			if !rep.OK() {
				t.Errorf("%s", rep.String())
			}
			if name == "baseline" && len(a.Anomalies()) != 0 {
				t.Errorf("baseline: %d anomalies", len(a.Anomalies()))
			}
			if len(m.Anomalies) > 0 && len(a.Anomalies()) == 0 {
				t.Errorf("no anomaly found")
			}
		})
	}
}
