package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// jsonKind is a JSON value's type.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// walkTypes records the type of every value under its path (object
// members by name, array elements as []).
func walkTypes(v any, path string, seen map[string]string, where string, t *testing.T) {
	k := jsonKind(v)
	if k != "null" {
		if old, ok := seen[path]; ok && old != k {
			t.Errorf("%s: %s is %s here, %s elsewhere", where, path, k, old)
		}
		seen[path] = k
	}
	switch x := v.(type) {
	case map[string]any:
		for name, m := range x {
			walkTypes(m, path+"."+name, seen, where, t)
		}
	case []any:
		for _, m := range x {
			walkTypes(m, path+"[]", seen, where, t)
		}
	}
}

// TestJSONTypeStable: in every JSON output of every sample, each member
// (by its path within its schema) has one JSON type: numbers stay
// numbers, objects stay objects (what Elasticsearch's mapping and any
// typed reader need). Every line names its schema.
func TestJSONTypeStable(t *testing.T) {
	files, _ := filepath.Glob("../../pcaps/*.pcapng")
	if len(files) == 0 {
		t.Fatal("no samples")
	}
	seen := map[string]map[string]string{} // schema → path → type
	lines := 0
	for _, f := range files {
		for _, args := range [][]string{
			{"dissect", "-r", f, "-T", "json", "-j", "1"},
			{"analyze", "-r", f, "--timeline", "-", "-T", "json"},
			{"analyze", "-r", f, "-T", "json"},
			{"analyze", "-r", f, "--at", "end", "--at", "5", "-T", "json"},
			{"analyze", "-r", f, "--diff", "start,end", "-T", "json"},
		} {
			code, out, errs := runCmd(t, "", args...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, errs)
			}
			sc := bufio.NewScanner(strings.NewReader(out))
			sc.Buffer(nil, 1<<28)
			for sc.Scan() {
				var v map[string]any
				if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
					t.Fatalf("%v: %v", args, err)
				}
				schema, _ := v["schema"].(string)
				if schema == "" {
					t.Fatalf("%v: a line without schema: %.100s", args, sc.Text())
				}
				if seen[schema] == nil {
					seen[schema] = map[string]string{}
				}
				walkTypes(v, "", seen[schema], filepath.Base(f)+" "+args[0]+" "+schema, t)
				lines++
			}
		}
	}
	var schemas []string
	for s := range seen {
		schemas = append(schemas, s)
	}
	sort.Strings(schemas)
	t.Logf("%d lines, schemas %v", lines, schemas)
	if len(schemas) < 5 {
		t.Errorf("schemas seen: %v", schemas)
	}
}

// TestJSONSchemas: every JSON line of every sample (dissect records,
// timeline events, summaries, tables, diffs) validates against its JSON
// Schema in docs/schemas
// (santhosh-tekuri/jsonschema, draft 2020-12).
func TestJSONSchemas(t *testing.T) {
	c := jsonschema.NewCompiler()
	const base = "https://github.com/ompscope/ompscope/docs/schemas/"
	files, _ := filepath.Glob("../../docs/schemas/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := c.AddResource(base+filepath.Base(file), doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	schemas := map[string]*jsonschema.Schema{}
	for name, file := range map[string]string{"ompscope.dissect/2": "ompscope.dissect.2.json",
		"ompscope.timeline/2": "ompscope.timeline.2.json", "ompscope.summary/2": "ompscope.summary.2.json",
		"ompscope.tables/1": "ompscope.tables.1.json", "ompscope.diff/2": "ompscope.diff.2.json"} {
		sch, err := c.Compile(base + file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		schemas[name] = sch
	}
	files, _ = filepath.Glob("../../pcaps/*.pcapng")
	n := 0
	for _, f := range files {
		for _, args := range [][]string{{"dissect", "-r", f, "-T", "json", "-j", "1"}, {"analyze", "-r", f, "--timeline", "-", "-T", "json"},
			{"analyze", "-r", f, "-T", "json"}, {"analyze", "-r", f, "--at", "end", "--at", "5", "-T", "json"},
			{"analyze", "-r", f, "--diff", "start,end", "-T", "json"}} {
			code, out, errs := runCmd(t, "", args...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, errs)
			}
			sc := bufio.NewScanner(strings.NewReader(out))
			sc.Buffer(nil, 1<<28)
			for sc.Scan() {
				v, err := jsonschema.UnmarshalJSON(strings.NewReader(sc.Text()))
				if err != nil {
					t.Fatal(err)
				}
				m, _ := v.(map[string]any)
				sch := schemas[m["schema"].(string)]
				if sch == nil {
					t.Fatalf("no schema for %v", m["schema"])
				}
				if err := sch.Validate(v); err != nil {
					t.Fatalf("%s %s: %v\n%.300s", filepath.Base(f), args[0], err, sc.Text())
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("nothing validated")
	}
	// the schemas refuse what /1 wrote: a value member whose type varies
	old := `{"schema":"ompscope.dissect/2","ts":"2026-01-01T00:00:00.000000000Z","frame":1,"src":"a","dst":"b","transport":"dtls",` +
		`"omp":[{"type":"UPDATE","attributes":[{"code":4,"name":"PREFERENCE","flags":64,"value":100}]}]}`
	v, _ := jsonschema.UnmarshalJSON(strings.NewReader(old))
	if schemas["ompscope.dissect/2"].Validate(v) == nil {
		t.Error("an attribute with a value member validates")
	}
	t.Logf("%d lines validated", n)
}
