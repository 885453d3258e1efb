package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const withdrawSample = "../../pcaps/route-withdraw.pcapng"

func TestAnalyzeSummary(t *testing.T) {
	code, out, errs := runCmd(t, "", "analyze", "-r", "../../pcaps/hold-expiry.pcapng", "-T", "text")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"PEERS", "ANOMALIES", "hold-expired"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCmd(t, "", "analyze", "-r", "../../pcaps/hold-expiry.pcapng", "-T", "json")
	var sum struct {
		Schema    string           `json:"schema"`
		Peers     []map[string]any `json:"peers"`
		Anomalies []map[string]any `json:"anomalies"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Schema != "ompscope.summary/3" || len(sum.Peers) == 0 || len(sum.Anomalies) == 0 {
		t.Fatalf("json summary %d %.300s", code, out)
	}
}

func TestAnalyzeTimeline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tl.ndjson")
	if code, _, errs := runCmd(t, "", "analyze", "-r", withdrawSample, "--timeline", path, "-T", "json"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if !strings.Contains(lines[0], `"schema":"ompscope.timeline/3"`) {
		t.Errorf("first line %s", lines[0])
	}
	types := map[string]int{}
	last := ""
	for _, l := range lines {
		var e struct {
			Time string `json:"time"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if e.Time < last {
			t.Fatalf("timeline out of order: %s after %s", e.Time, last)
		}
		last = e.Time
		types[e.Type]++
	}
	for _, want := range []string{"route.add", "route.withdraw", "tloc.add", "service.add", "peer.state", "anomaly.start"} {
		if types[want] == 0 {
			t.Errorf("no %s event (%v)", want, types)
		}
	}
}

func TestAnalyzeAtDiffAndFilters(t *testing.T) {
	code, out, errs := runCmd(t, "", "analyze", "-r", withdrawSample, "--at", "end", "-T", "json")
	if code != 0 {
		t.Fatalf("exit %d %s", code, errs)
	}
	var snap map[string]any
	if err := json.Unmarshal([]byte(out), &snap); err != nil || snap["schema"] != "ompscope.tables/2" {
		t.Fatalf("snapshot %v %.200s", err, out)
	}
	all := strings.Count(out, `"prefix"`)
	code, out, _ = runCmd(t, "", "analyze", "-r", withdrawSample, "--at", "end", "-T", "json", "--vpn", "10")
	v10 := strings.Count(out, `"prefix"`)
	if code != 0 || v10 == 0 || v10 >= all || strings.Contains(out, `"vpn":20`) {
		t.Errorf("--vpn 10: %d of %d routes", v10, all)
	}
	code, out, _ = runCmd(t, "", "analyze", "-r", withdrawSample, "--at", "end", "-T", "text", "--color", "mpls")
	if code != 0 || strings.Contains(out, "biz-internet") {
		t.Errorf("--color mpls shows other colors:\n%.500s", out)
	}
	// a time before anything was advertised: empty tables
	code, out, _ = runCmd(t, "", "analyze", "-r", withdrawSample, "--at", "0", "-T", "json")
	if code != 0 || strings.Count(out, `"prefix"`) != 0 {
		t.Errorf("--at 0 shows %d routes", strings.Count(out, `"prefix"`))
	}
	code, out, errs = runCmd(t, "", "analyze", "-r", withdrawSample, "--diff", "0,end", "-T", "json")
	var d struct {
		Schema    string `json:"schema"`
		Added     []any  `json:"added"`
		Withdrawn []any  `json:"withdrawn"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || d.Schema != "ompscope.diff/2" || len(d.Added) == 0 {
		t.Errorf("diff %d %s %.300s", code, errs, out)
	}
	if code, _, _ := runCmd(t, "", "analyze", "-r", withdrawSample, "--diff", "1"); code != exitUsage {
		t.Errorf("--diff with one time: exit %d", code)
	}
	if code, _, _ := runCmd(t, "", "analyze", "-r", withdrawSample, "--at", "yesterday"); code != exitUsage {
		t.Errorf("--at yesterday: exit %d", code)
	}
	if code, _, _ := runCmd(t, "", "analyze", "-r", withdrawSample, "--color", "chartreuse"); code != exitUsage {
		t.Errorf("--color chartreuse: exit %d", code)
	}
}

func TestAnalyzeExplainAndErrors(t *testing.T) {
	if code, out, _ := runCmd(t, "", "analyze", "--explain", "stale-after-gr"); code != 0 || !strings.Contains(out, "show omp") {
		t.Errorf("--explain: %d %s", code, out)
	}
	if code, out, _ := runCmd(t, "", "analyze", "--explain", "all"); code != 0 || !strings.Contains(out, "decryption-gap") {
		t.Errorf("--explain all: %d", code)
	}
	if code, _, errs := runCmd(t, "", "analyze", "--explain", "nope"); code != exitUsage || !strings.Contains(errs, "tloc-flap") {
		t.Errorf("--explain nope: %d %s", code, errs)
	}
	if code, _, _ := runCmd(t, "", "analyze"); code != exitUsage {
		t.Errorf("no -r: %d", code)
	}
	junk := filepath.Join(t.TempDir(), "junk")
	os.WriteFile(junk, []byte("not a capture"), 0o644)
	if code, _, errs := runCmd(t, "", "analyze", "-r", junk); code != exitRuntime || errs == "" {
		t.Errorf("junk: %d %q", code, errs)
	}
}

// missing-keys: the session whose key is absent is reported as a
// decryption gap, never as a clean bill of health.
func TestAnalyzeMissingKeys(t *testing.T) {
	code, out, _ := runCmd(t, "", "analyze", "-r", "../../pcaps/missing-keys.pcap", "--keylog", "../../pcaps/missing-keys.keys", "-T", "text")
	if code != 0 || !strings.Contains(out, "decryption-gap") {
		t.Errorf("%d\n%s", code, out)
	}
}

// Flag values out of range, and instants that are not times, are refused
// before the capture is read: the capture named does not even exist.
func TestAnalyzeRefusesBadValuesBeforeReading(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "never-read.pcap")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--route-flap-count", "-5"}, "--route-flap-count -5: must be at least 1"},
		{[]string{"--tloc-flap-count", "0"}, "--tloc-flap-count 0"},
		{[]string{"--conflict-grace", "-1s"}, "--conflict-grace -1s: must be positive"},
		{[]string{"--distribution-window", "0s"}, "--distribution-window 0"},
		{[]string{"--at", "bogus"}, "--at"},
		{[]string{"--at", "5m"}, "--at"},
		{[]string{"--diff", "x,y"}, "--diff"},
		{[]string{"--diff", "1"}, "--diff takes T1,T2"},
		{[]string{"--diff", "20,5"}, "the first instant comes after the second"},
		{[]string{"--diff", "end,5"}, "the first instant comes after the second"},
		{[]string{"--vpn", "12abc"}, `--vpn "12abc"`},
	} {
		args := append([]string{"analyze", "-r", missing}, c.args...)
		code, out, errs := runCmd(t, "", args...)
		if code != exitUsage || !strings.Contains(errs, c.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", c.args, code, errs, c.want)
		}
	}
	// a negative default hold time is documented (no hold expiry)
	if code, _, errs := runCmd(t, "", "analyze", "-r", "../../pcaps/baseline.pcapng", "--default-hold-time", "-1s", "-T", "json"); code != 0 {
		t.Errorf("--default-hold-time -1s: exit %d %s", code, errs)
	}
}

// Instants outside the capture are said so; help for no command is a
// usage error.
func TestAnalyzeInstantsOutsideAndHelp(t *testing.T) {
	code, out, errs := runCmd(t, "", "analyze", "-r", "../../pcaps/baseline.pcapng", "--at", "999", "-T", "json")
	if code != 0 || !strings.Contains(errs, "after the capture's end") || !strings.Contains(out, `"after_end":true`) {
		t.Errorf("--at 999: exit %d, stderr %q, out %.200s", code, errs, out)
	}
	code, out, errs = runCmd(t, "", "analyze", "-r", "../../pcaps/baseline.pcapng", "--at", "-10", "-T", "json")
	if code != 0 || !strings.Contains(errs, "before the capture's start") || !strings.Contains(out, `"tables":[]`) {
		t.Errorf("--at -10: exit %d, stderr %q, out %.200s", code, errs, out)
	}
	if code, _, errs := runCmd(t, "", "help", "nosuch"); code != exitUsage || !strings.Contains(errs, `no command "nosuch"`) {
		t.Errorf("help nosuch: exit %d, %q", code, errs)
	}
}

// A malformed PSK is refused without printing it (nor any byte of it).
func TestPSKNeverPrinted(t *testing.T) {
	for _, secret := range []string{"zzzzsecretzzzz", "0123456789abcdeXq1", "abc", "edge1:s3cr3tvalue"} {
		code, out, errs := runCmd(t, "", "analyze", "-r", "../../pcaps/baseline.pcapng", "--psk", secret)
		key := secret
		if i := strings.LastIndexByte(secret, ':'); i >= 0 {
			key = secret[i+1:]
		}
		if code == 0 || strings.Contains(out+errs, key) || strings.Contains(errs, "invalid byte") {
			t.Errorf("--psk %q: exit %d, output shows the secret: %q", secret, code, errs)
		}
		if !strings.Contains(errs, "not shown") {
			t.Errorf("--psk %q: %q", secret, errs)
		}
	}
}

// failWriter fails every write, as a full disk does.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// Every write error surfaces: a full stdout or --timeline file is exit 1,
// with the reason.
func TestWriteErrorsSurface(t *testing.T) {
	for _, args := range [][]string{
		{"analyze", "-r", "../../pcaps/baseline.pcapng", "-T", "json"},
		{"analyze", "-r", "../../pcaps/baseline.pcapng", "-T", "text"},
		{"analyze", "-r", "../../pcaps/baseline.pcapng", "--timeline", "-"},
		{"dissect", "-r", "../../pcaps/baseline.pcapng", "-T", "json"},
	} {
		var errb bytes.Buffer
		if code := run(args, strings.NewReader(""), failWriter{}, &errb); code != exitRuntime || !strings.Contains(errb.String(), "no space left") {
			t.Errorf("%v to a full stdout: exit %d, %q", args, code, errb.String())
		}
	}
	if _, err := os.Stat("/dev/full"); err == nil {
		code, _, errs := runCmd(t, "", "analyze", "-r", "../../pcaps/baseline.pcapng", "-T", "json", "--timeline", "/dev/full")
		if code != exitRuntime || !strings.Contains(errs, "writing the output") {
			t.Errorf("--timeline /dev/full: exit %d, %q", code, errs)
		}
	}
}
