package main

import (
	"encoding/json"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// The index templates of docs/ek-templates.json map ompscope's output by
// member name (dynamic templates), which works because every member name
// has one JSON type in every output (TestJSONTypeStable,
// TestJSONSchemaNames). No Elasticsearch runs here, so these tests apply
// the templates the way Elasticsearch documents dynamic templates are
// chosen (the first whose `match`/`match_mapping_type` fit the field,
// else the default dynamic mapping) to every member the JSON Schemas
// define and to every member of every document the samples give, and
// check that the chosen type takes the value.

// esTemplate is one dynamic template.
type esTemplate struct {
	name      string
	match     func(string) bool
	matchType string // "" any
	typ       string
}

// ekTemplates are the index templates: each one's dynamic templates and
// index patterns.
type ekTemplates struct {
	dyn      map[string][]esTemplate
	patterns map[string][]string
}

// templateFor is the template whose index_patterns match index: exactly
// one must, as Elasticsearch picks one template per index.
func (e *ekTemplates) templateFor(t *testing.T, index string) string {
	var names []string
	for name, pats := range e.patterns {
		for _, p := range pats {
			if ok, _ := path.Match(p, index); ok {
				names = append(names, name)
				break
			}
		}
	}
	if len(names) != 1 {
		t.Fatalf("index %s: templates %v match it, want one", index, names)
	}
	return names[0]
}

// loadEKTemplates reads the three index templates.
func loadEKTemplates(t *testing.T) *ekTemplates {
	raw, err := os.ReadFile("../../docs/ek-templates.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Mappings struct {
				Dynamic          any                          `json:"dynamic"`
				DateDetection    *bool                        `json:"date_detection"`
				NumericDetection *bool                        `json:"numeric_detection"`
				DynamicTemplates []map[string]json.RawMessage `json:"dynamic_templates"`
				Properties       map[string]any               `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/ek-templates.json: %v", err)
	}
	out, patterns := map[string][]esTemplate{}, map[string][]string{}
	for index, it := range doc {
		patterns[index] = it.IndexPatterns
		m := it.Template.Mappings
		if m.Dynamic != true || m.DateDetection == nil || *m.DateDetection || m.NumericDetection == nil || *m.NumericDetection {
			t.Errorf("%s: want dynamic true, date and numeric detection off", index)
		}
		if len(m.Properties) != 0 {
			t.Errorf("%s: properties given by hand: every member is mapped by its name", index)
		}
		var tpls []esTemplate
		for _, dt := range m.DynamicTemplates {
			if len(dt) != 1 {
				t.Fatalf("%s: a dynamic template with %d names", index, len(dt))
			}
			for name, body := range dt {
				var b struct {
					MatchPattern     string         `json:"match_pattern"`
					Match            string         `json:"match"`
					MatchMappingType string         `json:"match_mapping_type"`
					Mapping          map[string]any `json:"mapping"`
				}
				if err := json.Unmarshal(body, &b); err != nil {
					t.Fatalf("%s/%s: %v", index, name, err)
				}
				tp := esTemplate{name: name, matchType: b.MatchMappingType}
				tp.typ, _ = b.Mapping["type"].(string)
				switch {
				case b.Match == "":
				case b.MatchPattern == "regex":
					re := regexp.MustCompile(b.Match)
					tp.match = re.MatchString
				default:
					glob := b.Match
					tp.match = func(s string) bool { ok, _ := path.Match(glob, s); return ok }
				}
				if tp.typ == "" {
					t.Fatalf("%s/%s: no mapping type", index, name)
				}
				tpls = append(tpls, tp)
			}
		}
		out[index] = tpls
	}
	for _, want := range []string{"ompscope-dissect", "ompscope-timeline", "ompscope-summary"} {
		if out[want] == nil {
			t.Fatalf("no template %s", want)
		}
	}
	return &ekTemplates{dyn: out, patterns: patterns}
}

// esDetected is the type Elasticsearch's dynamic mapping detects for a
// JSON value of kind ("string", "integer", "number", "boolean", "object").
func esDetected(kind string) string {
	switch kind {
	case "integer":
		return "long"
	case "number":
		return "double"
	}
	return kind
}

// esMap gives the field type the templates choose for a member.
func esMap(tpls []esTemplate, name, kind string) (typ, by string) {
	det := esDetected(kind)
	for _, tp := range tpls {
		if tp.match != nil && !tp.match(name) {
			continue
		}
		if tp.matchType != "" && tp.matchType != det {
			continue
		}
		return tp.typ, tp.name
	}
	switch det {
	case "string":
		return "text", "default"
	case "double":
		return "float", "default"
	}
	return det, "default"
}

// esTakes reports whether a field of type typ takes a value of kind (for
// a string, isTime says it is an RFC 3339 time).
func esTakes(typ, kind string, isTime bool) bool {
	switch typ {
	case "date_nanos", "date":
		return kind == "string" && isTime
	case "double":
		return kind == "integer" || kind == "number"
	case "long":
		return kind == "integer"
	case "keyword", "text":
		return kind == "string"
	case "boolean":
		return kind == "boolean"
	case "object":
		return kind == "object"
	}
	return false
}

// TestEKTemplatesMapSchemas: every member every JSON Schema defines gets,
// from the templates of every index, a field type that takes its values:
// times (format date-time, and nothing else) date_nanos, fractional
// numbers double, integers long, strings keyword (text for explanations),
// hex bytes stored but not indexed; never the default text/float that
// dynamic mapping would pick unasked.
func TestEKTemplatesMapSchemas(t *testing.T) {
	tpls := loadEKTemplates(t)
	props := schemaProperties(t)
	n := 0
	for _, p := range props {
		for index, tl := range tpls.dyn {
			typ, by := esMap(tl, p.name, p.kind)
			if by == "default" && (typ == "text" || typ == "float") {
				t.Errorf("%s: %s (%s, %s) falls to the default mapping %s", index, p.name, p.kind, p.where, typ)
			}
			if !esTakes(typ, p.kind, p.dateTime) {
				t.Errorf("%s: %s (%s, %s) is mapped %s by %s", index, p.name, p.kind, p.where, typ, by)
			}
			if (typ == "date_nanos") != p.dateTime {
				t.Errorf("%s: %s (%s): date-time %v, mapped %s", index, p.name, p.where, p.dateTime, typ)
			}
			n++
		}
	}
	if n < 300 {
		t.Errorf("only %d members checked", n)
	}
}

// TestEKOutput: -T ek writes an action line before every document, and
// every member of every document of the samples (dissect, timeline,
// summary, snapshot, diff) is given by its index's templates a type that
// takes its value; no index gets near Elasticsearch's default limit of
// 1 000 fields.
func TestEKOutput(t *testing.T) {
	tpls := loadEKTemplates(t)
	files, _ := filepath.Glob("../../pcaps/*.pcapng")
	if len(files) == 0 {
		t.Fatal("no samples")
	}
	fields := map[string]map[string]string{} // index → path → type
	docs := 0
	for _, f := range files {
		for _, c := range []struct {
			args  []string
			index string
		}{
			{[]string{"dissect", "-r", f, "-T", "ek"}, "ompscope-dissect"},
			{[]string{"analyze", "-r", f, "-T", "ek", "--timeline", "-"}, "ompscope-timeline"},
			{[]string{"analyze", "-r", f, "-T", "ek"}, "ompscope-summary"},
			{[]string{"analyze", "-r", f, "-T", "ek", "--at", "end"}, "ompscope-snapshot"},
			{[]string{"analyze", "-r", f, "-T", "ek", "--diff", "start,end"}, "ompscope-diff"},
		} {
			code, out, errs := runCmd(t, "", c.args...)
			if code != 0 && code != 3 && code != 4 {
				t.Fatalf("%v: exit %d: %s", c.args, code, errs)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) < 2 || len(lines)%2 != 0 {
				t.Fatalf("%v: %d lines", c.args, len(lines))
			}
			tplName := tpls.templateFor(t, c.index) // summary, snapshot and diff share one
			if fields[tplName] == nil {
				fields[tplName] = map[string]string{}
			}
			for i := 0; i < len(lines); i += 2 {
				if lines[i] != `{"index":{"_index":"`+c.index+`"}}` {
					t.Fatalf("%v: line %d: %q, want the action line", c.args, i, lines[i])
				}
				var doc map[string]any
				if err := json.Unmarshal([]byte(lines[i+1]), &doc); err != nil {
					t.Fatalf("%v: document %d: %v", c.args, i/2, err)
				}
				esCheckDoc(t, tpls.dyn[tplName], doc, "", fields[tplName], filepath.Base(f)+" "+c.index)
				docs++
			}
		}
	}
	for index, fs := range fields {
		if len(fs) > 500 {
			t.Errorf("%s: %d fields, near the default limit of 1000", index, len(fs))
		}
		t.Logf("%s: %d fields", index, len(fs))
	}
	t.Logf("%d documents", docs)
}

// esCheckDoc maps every member of an object as Elasticsearch would (one
// type per field path, fixed by the first document) and checks its value.
func esCheckDoc(t *testing.T, tpls []esTemplate, o map[string]any, prefix string, fields map[string]string, where string) {
	names := make([]string, 0, len(o))
	for k := range o {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		p := prefix + name
		var vals []any
		if l, ok := o[name].([]any); ok {
			vals = l // an array is its elements, each of the field's type
		} else {
			vals = []any{o[name]}
		}
		for _, v := range vals {
			kind, isTime := "", false
			switch x := v.(type) {
			case nil:
				continue
			case bool:
				kind = "boolean"
			case float64:
				kind = "number"
				if x == math.Trunc(x) {
					kind = "integer"
				}
			case string:
				kind = "string"
				_, err := time.Parse(time.RFC3339Nano, x)
				isTime = err == nil && len(x) >= 20
			case map[string]any:
				kind = "object"
			default:
				t.Errorf("%s: %s: an array in an array", where, p)
				continue
			}
			typ, by := esMap(tpls, name, kind)
			if old, ok := fields[p]; ok && old != typ && !(old == "double" && typ == "long") && !(old == "long" && typ == "double") {
				t.Errorf("%s: %s mapped %s, then %s", where, p, old, typ)
			}
			if _, ok := fields[p]; !ok {
				fields[p] = typ
			}
			if !esTakes(fields[p], kind, isTime) {
				t.Errorf("%s: %s = %.60v (%s) refused by its %s field (%s)", where, p, v, kind, fields[p], by)
			}
			if isTime && fields[p] != "date_nanos" {
				t.Errorf("%s: %s = %v, a time, mapped %s (%s)", where, p, v, fields[p], by)
			}
			if m, ok := v.(map[string]any); ok {
				esCheckDoc(t, tpls, m, p+".", fields, where)
			}
		}
	}
}
