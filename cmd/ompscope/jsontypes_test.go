package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
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
// members by name, array elements as []) in seen, and under its member
// name alone in names (shared by every schema).
func walkTypes(v any, path, name string, seen, names map[string]string, where string, t *testing.T) {
	k := jsonKind(v)
	if k != "null" {
		if old, ok := seen[path]; ok && old != k {
			t.Errorf("%s: %s is %s here, %s elsewhere", where, path, k, old)
		}
		seen[path] = k
		if name != "" {
			if old, ok := names[name]; ok && old != k {
				t.Errorf("%s: member %q (at %s) is %s here, %s in another record", where, name, path, k, old)
			}
			names[name] = k
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for n, m := range x {
			walkTypes(m, path+"."+n, n, seen, names, where, t)
		}
	case []any:
		elem := "" // an array's elements by the array's name and []: one kind too
		if name != "" {
			elem = name + "[]"
		}
		for _, m := range x {
			walkTypes(m, path+"[]", elem, seen, names, where, t)
		}
	}
}

// TestJSONTypeStable: in every JSON output of every sample, each member
// name has one JSON type, wherever it appears and in every schema (a
// `tloc` is the string "system-ip/color/encap" in a dissected attribute as
// in the analyzer's tables): numbers stay numbers, objects stay objects,
// what Elasticsearch's mapping (one index for several outputs) and any
// typed reader need. Every line names its schema.
func TestJSONTypeStable(t *testing.T) {
	files, _ := filepath.Glob("../../pcaps/*.pcapng")
	if len(files) == 0 {
		t.Fatal("no samples")
	}
	seen := map[string]map[string]string{} // schema → path → type
	names := map[string]string{}           // member name → type, across schemas
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
				walkTypes(v, "", "", seen[schema], names, filepath.Base(f)+" "+args[0]+" "+schema, t)
				lines++
			}
		}
	}
	var schemas []string
	for s := range seen {
		schemas = append(schemas, s)
	}
	sort.Strings(schemas)
	t.Logf("%d lines, schemas %v, %d member names", lines, schemas, len(names))
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
	for name, file := range map[string]string{"ompscope.dissect/3": "ompscope.dissect.3.json",
		"ompscope.timeline/3": "ompscope.timeline.3.json", "ompscope.summary/3": "ompscope.summary.3.json",
		"ompscope.tables/2": "ompscope.tables.2.json", "ompscope.diff/2": "ompscope.diff.2.json"} {
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
	old := `{"schema":"ompscope.dissect/3","ts":"2026-01-01T00:00:00.000000000Z","frame":1,"src":"a","dst":"b","transport":"dtls",` +
		`"omp":[{"type":"UPDATE","attributes":[{"code":4,"name":"PREFERENCE","flags":64,"value":100}]}]}`
	v, _ := jsonschema.UnmarshalJSON(strings.NewReader(old))
	if schemas["ompscope.dissect/3"].Validate(v) == nil {
		t.Error("an attribute with a value member validates")
	}
	t.Logf("%d lines validated", n)
}

// schemaProp is a named member a JSON Schema of docs/schemas defines.
type schemaProp struct {
	name, kind string // kind: "string", "integer", "number", "boolean", "object", the items' kind for an array
	array      bool
	dateTime   bool   // format date-time
	where      string // file and path in it
}

// schemaProperties lists every named member of every schema in
// docs/schemas (references resolved; an array by its items' kind).
func schemaProperties(t *testing.T) []schemaProp {
	files, _ := filepath.Glob("../../docs/schemas/*.json")
	if len(files) < 5 {
		t.Fatalf("schemas: %v", files)
	}
	docs := map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		docs[filepath.Base(f)] = v
	}
	resolve := func(file, ref string) (string, any) {
		target, ptr, _ := strings.Cut(ref, "#")
		if target == "" {
			target = file
		}
		node := docs[target]
		if node == nil {
			t.Fatalf("%s: $ref %s: no such file", file, ref)
		}
		for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
			if seg == "" {
				continue
			}
			m, _ := node.(map[string]any)
			if node = m[seg]; node == nil {
				t.Fatalf("%s: $ref %s: no %s", file, ref, seg)
			}
		}
		return target, node
	}
	var kindOf func(file string, s map[string]any, depth int) (kind string, array, dateTime bool)
	kindOf = func(file string, s map[string]any, depth int) (string, bool, bool) {
		if depth > 8 {
			t.Fatalf("%s: $ref loop", file)
		}
		if ref, ok := s["$ref"].(string); ok {
			f2, n := resolve(file, ref)
			m, _ := n.(map[string]any)
			return kindOf(f2, m, depth+1)
		}
		var ks []string
		switch ty := s["type"].(type) {
		case string:
			ks = append(ks, ty)
		case []any:
			for _, x := range ty {
				if x != "null" {
					ks = append(ks, x.(string))
				}
			}
		}
		var vals []any
		if c, ok := s["const"]; ok {
			vals = append(vals, c)
		}
		if e, ok := s["enum"].([]any); ok {
			vals = append(vals, e...)
		}
		for _, v := range vals {
			k := jsonKind(v)
			if f, ok := v.(float64); ok && f == math.Trunc(f) {
				k = "integer"
			}
			ks = append(ks, k)
		}
		ks = slices.Compact(slices.Sorted(slices.Values(ks)))
		if len(ks) != 1 {
			return strings.Join(ks, "|"), false, false
		}
		if ks[0] == "array" {
			items, _ := s["items"].(map[string]any)
			if items == nil {
				return "array of anything", true, false
			}
			k, _, dt := kindOf(file, items, depth+1)
			return k, true, dt
		}
		return ks[0], false, s["format"] == "date-time"
	}
	var out []schemaProp
	var walk func(file string, node any, where string)
	walk = func(file string, node any, where string) {
		switch x := node.(type) {
		case map[string]any:
			keys := slices.Sorted(maps.Keys(x))
			for _, k := range keys {
				if k == "properties" {
					props, _ := x[k].(map[string]any)
					for _, name := range slices.Sorted(maps.Keys(props)) {
						p, _ := props[name].(map[string]any)
						kind, array, dt := kindOf(file, p, 0)
						out = append(out, schemaProp{name: name, kind: kind, array: array, dateTime: dt, where: file + ":" + where + "." + name})
						walk(file, p, where+"."+name)
					}
					continue
				}
				walk(file, x[k], where+"/"+k)
			}
		case []any:
			for _, v := range x {
				walk(file, v, where)
			}
		}
	}
	for _, f := range slices.Sorted(maps.Keys(docs)) {
		walk(f, docs[f], "")
	}
	return out
}

// TestJSONSchemaNames: in the JSON Schemas of every output (which define
// every member, not only those the samples happen to show), each member
// name has one JSON type, integer and fraction counting as one (a number),
// and one format: a name that is a time is a time everywhere.
func TestJSONSchemaNames(t *testing.T) {
	type seen struct {
		kind  string
		dt    bool
		array bool
		where string
	}
	names := map[string]seen{}
	props := schemaProperties(t)
	for _, p := range props {
		kind := p.kind
		if kind == "integer" {
			kind = "number"
		}
		if strings.Contains(kind, "|") || kind == "" || kind == "array of anything" {
			if p.name != "body" || !strings.Contains(p.where, "vdaemon") { // the vdaemon body: an object, or null
				t.Errorf("%s: type %q: not one JSON type", p.where, p.kind)
			}
			continue
		}
		s := seen{kind, p.dateTime, p.array, p.where}
		if old, ok := names[p.name]; ok && (old.kind != s.kind || old.dt != s.dt || old.array != s.array) {
			t.Errorf("%q is %s (date-time %v, array %v) at %s, %s (date-time %v, array %v) at %s",
				p.name, s.kind, s.dt, s.array, s.where, old.kind, old.dt, old.array, old.where)
			continue
		}
		names[p.name] = s
	}
	if len(names) < 150 {
		t.Errorf("only %d member names in the schemas", len(names))
	}
	t.Logf("%d members, %d names", len(props), len(names))
}
