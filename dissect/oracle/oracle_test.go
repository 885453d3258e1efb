package oracle

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/tlsdec"
	"github.com/ompscope/ompscope/pcaps/manifest"
	"github.com/ompscope/ompscope/pcaps/synth"
)

func needTshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed: the decryption oracle tests need it (.ci/run installs it; apt-get install tshark)")
	}
	return p
}

// tsharkPlaintexts returns, per frame, the application-data plaintexts
// tshark decrypted (hex), in order.
func tsharkPlaintexts(t *testing.T, tshark, file, keys string, m *manifest.Manifest, psk string) map[uint64][]string {
	t.Helper()
	args := []string{"-r", file, "-n", "-o", "tls.keylog_file:" + keys}
	if psk != "" {
		args = append(args, "-o", "dtls.psk:"+psk, "-o", "tls.psk:"+psk)
	}
	args = append(args, m.TsharkDecodeAs()...)
	args = append(args, "--disable-protocol", "rdpmt", "--disable-protocol", "udt", "--disable-protocol", "reload-framing",
		"-Y", "dtls.app_data || tls.app_data", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
		"-e", "frame.number", "-e", "data.data")
	var stderr bytes.Buffer
	cmd := exec.Command(tshark, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	res := map[uint64][]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 2)
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			t.Fatalf("tshark line %q", line)
		}
		if len(f) == 2 && f[1] != "" {
			res[n] = append(res[n], strings.Split(strings.ReplaceAll(f[1], ":", ""), "|")...)
		}
	}
	return res
}

// ours returns, per frame, the plaintexts ompscope decrypts (the
// --payload of `ompscope dissect -T json`), and the dissector.
func ours(t *testing.T, file, keys, psk string) (map[uint64][]string, uint64) {
	t.Helper()
	ks := tlsdec.NewKeyStore()
	if keys != "" {
		f, err := os.Open(keys)
		if err != nil {
			t.Fatal(err)
		}
		ks.LoadKeyLog(f, keys)
		f.Close()
	}
	if psk != "" {
		b, _ := hex.DecodeString(psk)
		if err := ks.AddPSK("", b); err != nil {
			t.Fatal(err)
		}
	}
	r, err := capture.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res := map[uint64][]string{}
	d := dissect.New(dissect.Config{Keys: ks}, func(e *dissect.Event) {
		if e.Session != nil && e.Decrypted {
			res[e.Frame] = append(res[e.Frame], hex.EncodeToString(e.Plaintext))
		}
	})
	if err := d.Run(r); err != nil {
		t.Fatal(err)
	}
	d.Finish()
	var dups uint64
	sess, _ := d.Sessions()
	for _, s := range sess {
		dups += s.Duplicates
	}
	return res, dups
}

// compare checks ompscope's plaintexts against tshark's, frame by frame.
// tshark decrypts a duplicated DTLS datagram twice; ompscope drops the
// repeat (same epoch and sequence number) and counts it: every record
// tshark shows that ompscope does not must be a byte-identical copy of a
// record ompscope emitted at an earlier frame, and their number must be
// the number of duplicates the sessions counted.
func compare(t *testing.T, name string, want, got map[uint64][]string, dups uint64) int {
	t.Helper()
	frames := map[uint64]bool{}
	for f := range want {
		frames[f] = true
	}
	for f := range got {
		frames[f] = true
	}
	list := make([]uint64, 0, len(frames))
	for f := range frames {
		list = append(list, f)
	}
	sort.Slice(list, func(i, j int) bool { return list[i] < list[j] })
	n, bad := 0, 0
	var extra uint64
	emitted := map[string]bool{}
	for _, f := range list {
		w, g := want[f], got[f]
		n += len(w)
		if len(w) > len(g) && fmt.Sprint(w[:len(g)]) == fmt.Sprint(g) || len(g) == 0 && len(w) > 0 {
			ok := true
			for _, x := range w[len(g):] {
				if !emitted[x] {
					ok = false
				}
			}
			if ok {
				extra += uint64(len(w) - len(g))
				w = w[:len(g)]
			}
		}
		for _, x := range g {
			emitted[x] = true
		}
		if fmt.Sprint(w) != fmt.Sprint(g) {
			bad++
			if bad <= 5 {
				t.Errorf("%s frame %d: tshark decrypted %d record(s) %.80v, ompscope %d %.80v", name, f, len(w), w, len(g), g)
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d frames differ in all", name, bad)
	}
	if extra != dups {
		t.Errorf("%s: tshark shows %d repeated records ompscope dropped, the sessions counted %d duplicates", name, extra, dups)
	}
	return n
}

func pskOf(m *manifest.Manifest) string {
	if s, ok := m.Params["psk"].(string); ok {
		return s
	}
	return ""
}

// Every committed sample: ompscope's plaintexts equal tshark's, record for
// record, and equal the number the manifest says is decryptable.
func TestSamplesAgainstTshark(t *testing.T) {
	tshark := needTshark(t)
	files, _ := filepath.Glob("../../pcaps/*.manifest.json")
	if len(files) == 0 {
		t.Fatal("no samples in pcaps/")
	}
	for _, mf := range files {
		name := strings.TrimSuffix(filepath.Base(mf), ".manifest.json")
		t.Run(name, func(t *testing.T) {
			m, err := manifest.Read(mf)
			if err != nil {
				t.Fatal(err)
			}
			base := strings.TrimSuffix(mf, ".manifest.json")
			psk := pskOf(m)
			want := tsharkPlaintexts(t, tshark, base+".pcap", base+".keys", m, psk)
			got, dups := ours(t, base+".pcap", base+".keys", psk)
			n := compare(t, name, want, got, dups)
			if n == 0 && m.DecryptableRecords > 0 {
				t.Fatalf("tshark decrypted nothing; the manifest says %d records are decryptable", m.DecryptableRecords)
			}
			total := 0
			for _, v := range got {
				total += len(v)
			}
			if total != m.DecryptableRecords {
				t.Errorf("ompscope decrypted %d records, the manifest says %d are decryptable", total, m.DecryptableRecords)
			}
			// The pcapng carries its keys: no key file needed.
			got2, dups2 := ours(t, base+".pcapng", "", psk)
			compare(t, name+".pcapng", want, got2, dups2)
		})
	}
}

// Fresh captures with every cipher suite the simulator can use (all of
// pion's DTLS suites and crypto/tls's TLS 1.2 suites).
func TestEverySuiteAgainstTshark(t *testing.T) {
	tshark := needTshark(t)
	dtlsNames, tlsNames := synth.SuiteNames()
	const dtlsGCM = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
	type run struct {
		name string
		opts synth.Options
	}
	var runs []run
	for _, s := range dtlsNames {
		o := synth.Options{Scenario: "baseline", Seed: 7, Edges: 2, NoBackground: true, NoTLS: true}
		if strings.HasPrefix(s, "TLS_PSK_") {
			o.Suites = []string{s, dtlsGCM} // the PSK session uses s, the others GCM
		} else {
			o.Suites, o.NoPSK = []string{s}, true
		}
		runs = append(runs, run{"dtls/" + s, o})
	}
	for _, s := range tlsNames {
		o := synth.Options{Scenario: "baseline", Seed: 7, Edges: 2, NoBackground: true, NoPSK: true, TLSFraction: 1,
			Suites: []string{s, dtlsGCM}}
		runs = append(runs, run{"tls/" + s, o})
	}
	for _, r := range runs {
		suite, opts := r.name, r.opts
		t.Run(suite, func(t *testing.T) {
			dir := t.TempDir()
			m, _, err := synth.WriteFiles(opts, dir)
			if err != nil {
				t.Fatalf("simulator: %v", err)
			}
			wantSuite := strings.SplitN(suite, "/", 2)[1]
			found := false
			for _, s := range m.Sessions {
				found = found || s.Suite == wantSuite
			}
			if !found {
				t.Fatalf("no session of the capture uses %s", wantSuite)
			}
			base := filepath.Join(dir, "baseline")
			psk := pskOf(m)
			want := tsharkPlaintexts(t, tshark, base+".pcap", base+".keys", m, psk)
			got, dups := ours(t, base+".pcap", base+".keys", psk)
			if n := compare(t, suite, want, got, dups); n == 0 {
				t.Errorf("%s: tshark decrypted nothing", suite)
			}
		})
	}
}
