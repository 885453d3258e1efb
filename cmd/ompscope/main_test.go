package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageAndVersion(t *testing.T) {
	if code, out, _ := runCmd(t, "", "--version"); code != 0 || !strings.HasPrefix(out, "ompscope ") {
		t.Errorf("--version: %d %q", code, out)
	}
	if code, out, _ := runCmd(t, "", "--help"); code != 0 || !strings.Contains(out, "decode") {
		t.Errorf("--help: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, "", "frobnicate"); code != exitUsage || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errs)
	}
	if code, _, _ := runCmd(t, ""); code != exitUsage {
		t.Errorf("no command: %d", code)
	}
	for name := range commands {
		if code, out, _ := runCmd(t, "", name, "--help"); code != 0 || !strings.Contains(out, "Usage: ompscope "+name) {
			t.Errorf("%s --help: %d %q", name, code, out)
		}
		if code, _, errs := runCmd(t, "", name, "--no-such-flag"); code != exitUsage || !strings.Contains(errs, "unknown flag") {
			t.Errorf("%s --no-such-flag: %d %q", name, code, errs)
		}
		if code, _, _ := runCmd(t, "", name, "--no-such-flag"); code != exitUsage {
			t.Errorf("%s --no-such-flag: exit %d, want 2", name, code)
		}
	}
}

func TestDecodeSample(t *testing.T) {
	sample, err := os.ReadFile("../../pcaps/sample.hex")
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, string(sample), "decode", "-T", "json")
	if code != exitRuntime {
		t.Errorf("exit %d, want 1 (the sample's last line is broken on purpose)", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d objects, want 6:\n%s", len(lines), out)
	}
	var objs []map[string]any
	for _, l := range lines {
		var o map[string]any
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if o["schema"] != decodeSchema {
			t.Errorf("schema %v", o["schema"])
		}
		objs = append(objs, o)
	}
	// line numbers are the input's
	for i, want := range []float64{4, 6, 8, 10, 12, 14} {
		if objs[i]["line"] != want {
			t.Errorf("object %d: line %v, want %v", i, objs[i]["line"], want)
		}
	}
	upd := objs[2]["omp"].([]any)[0].(map[string]any)
	if upd["type"] != "UPDATE" || upd["family"] != "route-ipv4" || len(upd["reachable"].([]any)) != 2 {
		t.Errorf("update object %v", upd)
	}
	if e := objs[5]["error"]; e != "omp message 0 at offset 0: omp update: attribute 4 (PREFERENCE) at offset 17: length 2, want 4" {
		t.Errorf("error object %v", e)
	}
	if _, ok := objs[0]["error"]; ok {
		t.Errorf("good line has an error: %v", objs[0])
	}
}

func TestDecodeArgsAndText(t *testing.T) {
	code, out, _ := runCmd(t, "", "decode", "-T", "text", "1b:30:a0:00:00:00:00:01:00:00:00:01:1a:00", "zz")
	if code != exitRuntime {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(out, "# argument 1\nvdaemon TEAR_DOWN v1 from vSmart") || !strings.Contains(out, "# argument 2\nerror: bad hex") {
		t.Errorf("text output:\n%s", out)
	}
	code, out, _ = runCmd(t, "", "decode", "--format=json", "0x1b30a000000000010000000100 00")
	if code != 0 || !strings.Contains(out, `"error":"NOERR"`) {
		t.Errorf("%d %s", code, out)
	}
	if code, _, _ := runCmd(t, "", "decode", "-T", "yaml", "00"); code != exitUsage {
		t.Errorf("-T yaml: exit %d", code)
	}
}
