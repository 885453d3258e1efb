package synth

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/pcaps/manifest"
)

const refresh = "run `go generate ./pcaps/synth` (ompscope synth --samples pcaps) to refresh the samples"

// TestSamplesFresh: each committed sample's manifest is exactly what its
// settings make today; a change to the simulator that changes what the
// samples hold fails here until the samples are written again.
func TestSamplesFresh(t *testing.T) {
	for _, o := range Samples() {
		o := o
		t.Run(o.Scenario, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(SampleDir, o.Scenario+".manifest.json")
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v; %s", err, refresh)
			}
			m, st, err := Run(o, Writers{PcapNG: io.Discard, Pcap: io.Discard, Keys: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			if st.StrayWrites != 0 {
				t.Errorf("%d stray writes", st.StrayWrites)
			}
			got, err := MarshalManifest(m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := 0; i < len(gl) && i < len(wl); i++ {
					if gl[i] != wl[i] {
						t.Fatalf("%s is stale (line %d):\n have %.300s\n make %.300s\n%s", path, i+1, wl[i], gl[i], refresh)
					}
				}
				t.Fatalf("%s is stale (%d lines, a run makes %d); %s", path, len(wl), len(gl), refresh)
			}
			// the manifest says how it was made
			cm, err := manifest.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			back, err := OptionsFromParams(cm.Scenario, cm.Seed, cm.Params)
			if err != nil {
				t.Fatal(err)
			}
			c1, err1 := o.resolve()
			c2, err2 := back.resolve()
			if err1 != nil || err2 != nil || !reflect.DeepEqual(c1.params(), c2.params()) {
				t.Errorf("the manifest's params do not give back the sample's settings: %v %v\n%v\n%v", err1, err2, c1.params(), c2.params())
			}
		})
	}
}

// TestSamplesDecrypt: every committed sample has its four files, each
// under 1 MB, and tshark decrypts its records to the manifest's count and
// plaintext hash, from the pcap with the .keys file and from the pcapng
// with its own Decryption Secrets Block.
func TestSamplesDecrypt(t *testing.T) {
	for _, o := range Samples() {
		o := o
		t.Run(o.Scenario, func(t *testing.T) {
			t.Parallel()
			base := filepath.Join(SampleDir, o.Scenario)
			for _, ext := range []string{".pcapng", ".pcap", ".keys", ".manifest.json"} {
				fi, err := os.Stat(base + ext)
				if err != nil {
					t.Fatalf("%v; %s", err, refresh)
				}
				if fi.Size() >= 1<<20 {
					t.Errorf("%s is %d bytes: a sample must stay under 1 MB", base+ext, fi.Size())
				}
			}
			tshark := needTshark(t)
			m, err := manifest.Read(base + ".manifest.json")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ file, keys string }{{base + ".pcapng", ""}, {base + ".pcap", base + ".keys"}} {
				frames := tsharkDecrypt(t, tshark, c.file, c.keys, m)
				h, n := plaintextHash(t, frames)
				if h != m.Params["plaintext_sha256"] || n != m.DecryptableRecords {
					t.Errorf("%s: tshark decrypts %d records hashing to %s; the manifest says %d, %s", c.file, n, h, m.DecryptableRecords, m.Params["plaintext_sha256"])
				}
				undecrypted := 0
				for _, f := range frames {
					undecrypted += f.app - len(f.data)
				}
				if want := m.Records - m.DecryptableRecords; (want == 0) != (undecrypted == 0) {
					t.Errorf("%s: %d application records tshark could not decrypt, the manifest expects %d", c.file, undecrypted, want)
				}
			}
		})
	}
}
