// Package display is the display filter (-Y) of dissect, sniff and the
// analyzer's timeline: an expression over the fields of the records
// ompscope prints, as Wireshark's display filters are over a packet's.
//
//	vdaemon.type == "HELLO" && frame > 1000
//	omp.type == "UPDATE" && prefix << 10.0.0.0/8 && !(color == "mpls")
//	type == "anomaly.start" && severity >= warning
//
// A filter is evaluated on the JSON object of a record (a dissect event, a
// timeline line): a field names one or more JSON keys, looked up at any
// depth (an UPDATE's NLRI, a TLOC attribute, a state change; system_ip,
// color and encap also the parts of a TLOC written "system-ip/color/encap"), and a
// comparison is true when any value found satisfies it, as in Wireshark.
// Fields: frame, time (RFC 3339 text compares as text; seconds since the
// epoch as a number), session, src, dst, transport, direction, type (a
// timeline event), kind, severity, vdaemon.type, omp.type, device, site,
// peer (any system-ip: system_ip, from, to, originator, the ends of a
// state change), system_ip, vpn, prefix, color, originator, tloc. Any
// other name is taken as a JSON key. Operators: == != < <= > >= (numbers
// as numbers, severities in their order, text as text), << (a prefix or
// address inside a prefix), contains (text), && || ! and parentheses; a
// field alone is true when the record has it. Values: numbers, "quoted
// text", or bare words (addresses, prefixes, names).
package display

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Filter is a compiled display filter.
type Filter struct {
	src  string
	root node
}

// Error is a syntax error at a position of the expression.
type Error struct {
	Expr string
	Pos  int // byte offset
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("at %d: %s\n  %s\n  %s^", e.Pos+1, e.Msg, e.Expr, strings.Repeat(" ", e.Pos))
}

// maxDepth bounds the nesting of an expression (a crafted one cannot
// exhaust the stack).
const maxDepth = 64

// Parse compiles an expression.
func Parse(expr string) (*Filter, error) {
	p := &parser{src: expr}
	p.next()
	n, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.errf("unexpected %q", p.tok.text)
	}
	return &Filter{src: expr, root: n}, nil
}

// String is the expression.
func (f *Filter) String() string { return f.src }

// MatchJSON evaluates the filter on one JSON object (a record as ompscope
// prints it). A line that is not a JSON object matches nothing.
func (f *Filter) MatchJSON(line []byte) bool {
	var v any
	d := json.NewDecoder(strings.NewReader(string(line)))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return false
	}
	o, ok := v.(map[string]any)
	return ok && f.root.eval(o)
}

// ---- evaluation

type node interface{ eval(o map[string]any) bool }

type orNode struct{ a, b node }
type andNode struct{ a, b node }
type notNode struct{ a node }
type hasNode struct{ f field }
type cmpNode struct {
	f   field
	op  string
	val value
}

func (n orNode) eval(o map[string]any) bool  { return n.a.eval(o) || n.b.eval(o) }
func (n andNode) eval(o map[string]any) bool { return n.a.eval(o) && n.b.eval(o) }
func (n notNode) eval(o map[string]any) bool { return !n.a.eval(o) }
func (n hasNode) eval(o map[string]any) bool {
	found := false
	n.f.each(o, func(any) bool { found = true; return false })
	return found
}
func (n cmpNode) eval(o map[string]any) bool {
	match := false
	n.f.each(o, func(v any) bool {
		if n.val.compare(n.op, v) {
			match = true
			return false
		}
		return true
	})
	return match
}

// field is where a name's values are: keys looked up at any depth, or a
// path from the top.
type field struct {
	keys []string // any of these keys, at any depth
	path []string // else: this path from the top (a.b.c)
	kind string   // "severity": compare in severity order
}

// fields maps names to where their values are.
var fields = map[string]field{
	"frame":        {path: []string{"frame"}},
	"time":         {keys: []string{"time", "ts"}},
	"session":      {path: []string{"session"}},
	"src":          {path: []string{"src"}},
	"dst":          {path: []string{"dst"}},
	"transport":    {path: []string{"transport"}},
	"direction":    {path: []string{"direction"}},
	"type":         {path: []string{"type"}},
	"kind":         {keys: []string{"kind"}},
	"severity":     {keys: []string{"severity"}, kind: "severity"},
	"vdaemon.type": {path: []string{"vdaemon", "header", "type"}},
	"omp.type":     {keys: []string{"omp"}},
	"device":       {keys: []string{"device_type"}},
	"site":         {keys: []string{"site_id"}},
	"peer": {keys: []string{"system_ip", "from", "to", "originator", "client_system_ip", "server_system_ip",
		"peer"}},
	"system_ip":  {keys: []string{"system_ip", "client_system_ip", "server_system_ip"}},
	"vpn":        {keys: []string{"vpn"}},
	"prefix":     {keys: []string{"prefix"}},
	"color":      {keys: []string{"color"}},
	"originator": {keys: []string{"originator"}},
	"tloc":       {keys: []string{"tloc"}},
	// the names of the Wireshark dissector's fields (docs/wireshark.md),
	// one list with ompscope's
	"vdaemon.device_type": {keys: []string{"device_type"}},
	"vdaemon.domain_id":   {keys: []string{"domain_id"}},
	"vdaemon.site_id":     {keys: []string{"site_id"}},
	"omp.update.prefix":   {keys: []string{"prefix"}},
	"omp.update.prefix6":  {keys: []string{"prefix"}},
	"omp.update.vpn":      {keys: []string{"vpn"}},
	"omp.update.path_id":  {keys: []string{"path_id"}},
	"omp.update.family":   {keys: []string{"family"}},
	"omp.tloc.color":      {keys: []string{"color"}},
	"omp.tloc.system_ip":  {keys: []string{"system_ip"}},
	"omp.attr.originator": {keys: []string{"originator"}},
	"omp.attr.preference": {keys: []string{"preference"}},
	"omp.attr.site_id":    {keys: []string{"site_id"}},
}

func fieldOf(name string) field {
	if f, ok := fields[name]; ok {
		return f
	}
	return field{keys: []string{name}}
}

// each calls fn with every value of the field (false from fn stops).
func (f field) each(o map[string]any, fn func(any) bool) {
	if f.path != nil {
		var v any = o
		for _, k := range f.path {
			m, ok := v.(map[string]any)
			if !ok {
				return
			}
			if v, ok = m[k]; !ok {
				return
			}
		}
		fn(v)
		return
	}
	if len(f.keys) == 1 && f.keys[0] == "omp" {
		// omp.type: the type of each OMP message of a record
		if l, ok := o["omp"].([]any); ok {
			for _, m := range l {
				if mm, ok := m.(map[string]any); ok {
					if t, ok := mm["type"]; ok && !fn(t) {
						return
					}
				}
			}
		}
		return
	}
	walk(o, f.keys, fn)
}

// tlocParts says which part of a TLOC written as "system-ip/color/encap"
// (a TLOC attribute's `tloc`, ULTIMATE_TLOC's, a timeline row's) a key
// selects: its system-ip, color and encap are the TLOC's fields.
var tlocParts = map[string]int{"system_ip": 0, "color": 1, "encap": 2}

// walk finds the keys at any depth; it stops when fn says so.
func walk(v any, keys []string, fn func(any) bool) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range keys {
			if w, ok := x[k]; ok {
				if !each(w, fn) {
					return false
				}
			}
			if part, ok := tlocParts[k]; ok {
				for _, tk := range [...]string{"tloc", "ultimate_tloc"} {
					if t, ok := x[tk].(string); ok {
						if f := strings.Split(t, "/"); len(f) == 3 && !fn(f[part]) {
							return false
						}
					}
				}
			}
		}
		for _, w := range x {
			if !walk(w, keys, fn) {
				return false
			}
		}
	case []any:
		for _, w := range x {
			if !walk(w, keys, fn) {
				return false
			}
		}
	}
	return true
}

// each gives fn a value, or each element of a list of plain values.
func each(v any, fn func(any) bool) bool {
	if l, ok := v.([]any); ok {
		for _, w := range l {
			if _, nested := w.(map[string]any); !nested && !fn(w) {
				return false
			}
		}
		return true
	}
	if _, nested := v.(map[string]any); nested {
		return true // an object is not a value (its keys are looked at by walk)
	}
	return fn(v)
}

// value is a literal of the expression.
type value struct {
	text   string
	num    float64
	isNum  bool
	prefix netip.Prefix
	sev    int // with field kind severity: 0 info, 1 warning, 2 error; -1 none
}

var severities = map[string]int{"info": 0, "warning": 1, "error": 2, "critical": 3}

func (val value) compare(op string, v any) bool {
	var s string
	isNum := false
	var num float64
	switch x := v.(type) {
	case json.Number:
		s = x.String()
		if f, err := x.Float64(); err == nil {
			num, isNum = f, true
		}
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	case nil:
		return false
	default:
		s = fmt.Sprint(x)
	}
	switch op {
	case "contains":
		return strings.Contains(s, val.text)
	case "<<":
		if !val.prefix.IsValid() {
			return false
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			return p.Bits() >= val.prefix.Bits() && val.prefix.Contains(p.Addr())
		}
		if a, err := netip.ParseAddr(s); err == nil {
			return val.prefix.Contains(a)
		}
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return val.prefix.Contains(ap.Addr())
		}
		return false
	}
	var c int
	switch {
	case val.sev >= 0:
		sv, ok := severities[s]
		if !ok {
			return false
		}
		c = sv - val.sev
	case val.isNum && isNum:
		switch {
		case num < val.num:
			c = -1
		case num > val.num:
			c = 1
		}
	default:
		c = strings.Compare(s, val.text)
	}
	switch op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

// ---- parsing

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tString
	tOp
	tLParen
	tRParen
	tAnd
	tOr
	tNot
)

type token struct {
	kind tokKind
	text string
	pos  int
}

// unterminated stands for a string without its closing quote.
const unterminated = "\x00unterminated"

type parser struct {
	src string
	off int
	tok token
}

func (p *parser) errf(format string, args ...any) error {
	return &Error{Expr: p.src, Pos: p.tok.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) next() {
	s := p.src
	for p.off < len(s) && (s[p.off] == ' ' || s[p.off] == '\t') {
		p.off++
	}
	start := p.off
	if p.off >= len(s) {
		p.tok = token{kind: tEOF, pos: start}
		return
	}
	two := ""
	if p.off+1 < len(s) {
		two = s[p.off : p.off+2]
	}
	switch {
	case two == "&&":
		p.off += 2
		p.tok = token{tAnd, two, start}
	case two == "||":
		p.off += 2
		p.tok = token{tOr, two, start}
	case two == "==" || two == "!=" || two == "<=" || two == ">=" || two == "<<":
		p.off += 2
		p.tok = token{tOp, two, start}
	case s[p.off] == '<' || s[p.off] == '>':
		p.off++
		p.tok = token{tOp, s[start:p.off], start}
	case s[p.off] == '!':
		p.off++
		p.tok = token{tNot, "!", start}
	case s[p.off] == '(':
		p.off++
		p.tok = token{tLParen, "(", start}
	case s[p.off] == ')':
		p.off++
		p.tok = token{tRParen, ")", start}
	case s[p.off] == '"':
		p.off++
		var b strings.Builder
		for p.off < len(s) && s[p.off] != '"' {
			if s[p.off] == '\\' && p.off+1 < len(s) {
				p.off++
			}
			b.WriteByte(s[p.off])
			p.off++
		}
		if p.off >= len(s) {
			p.tok = token{tString, unterminated, start}
			return
		}
		p.off++
		p.tok = token{tString, b.String(), start}
	default:
		for p.off < len(s) && !strings.ContainsRune(" \t()!&|=<>\"", rune(s[p.off])) {
			p.off++
		}
		if p.off == start { // a lone & | = : an operator half-written
			p.off++
			p.tok = token{tOp, s[start:p.off], start}
			return
		}
		w := s[start:p.off]
		switch w {
		case "and":
			p.tok = token{tAnd, w, start}
		case "or":
			p.tok = token{tOr, w, start}
		case "not":
			p.tok = token{tNot, w, start}
		case "contains", "eq", "ne", "lt", "le", "gt", "ge":
			p.tok = token{tOp, map[string]string{"contains": "contains", "eq": "==", "ne": "!=", "lt": "<", "le": "<=",
				"gt": ">", "ge": ">="}[w], start}
		default:
			p.tok = token{tWord, w, start}
		}
	}
}

func (p *parser) or(depth int) (node, error) {
	a, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOr {
		p.next()
		b, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		a = orNode{a, b}
	}
	return a, nil
}

func (p *parser) and(depth int) (node, error) {
	a, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tAnd {
		p.next()
		b, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		a = andNode{a, b}
	}
	return a, nil
}

func (p *parser) unary(depth int) (node, error) {
	if depth > maxDepth {
		return nil, p.errf("nested more than %d deep", maxDepth)
	}
	switch p.tok.kind {
	case tNot:
		p.next()
		a, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notNode{a}, nil
	case tLParen:
		p.next()
		a, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.errf("expected ')'")
		}
		p.next()
		return a, nil
	case tWord:
		name := p.tok.text
		f := fieldOf(name)
		p.next()
		if p.tok.kind != tOp {
			return hasNode{f}, nil
		}
		op := p.tok.text
		switch op {
		case "==", "!=", "<", "<=", ">", ">=", "<<", "contains":
		default:
			return nil, p.errf("unknown operator %q (==, !=, <, <=, >, >=, <<, contains)", op)
		}
		p.next()
		if p.tok.kind != tWord && p.tok.kind != tString {
			return nil, p.errf("expected a value after %s", op)
		}
		if p.tok.text == unterminated {
			return nil, p.errf("unterminated string")
		}
		v := value{text: p.tok.text, sev: -1}
		if n, err := strconv.ParseFloat(v.text, 64); err == nil && p.tok.kind == tWord {
			v.num, v.isNum = n, true
		}
		if f.kind == "severity" {
			s, ok := severities[v.text]
			if !ok {
				return nil, p.errf("severity %q: info, warning, error or critical", v.text)
			}
			v.sev = s
		}
		if op == "<<" {
			pr, err := netip.ParsePrefix(v.text)
			if err != nil {
				a, aerr := netip.ParseAddr(v.text)
				if aerr != nil {
					return nil, p.errf("%q is not a prefix", v.text)
				}
				pr = netip.PrefixFrom(a, a.BitLen())
			}
			v.prefix = pr.Masked()
		}
		p.next()
		return cmpNode{f, op, v}, nil
	case tEOF:
		return nil, p.errf("expression ends too early")
	}
	return nil, p.errf("unexpected %q", p.tok.text)
}
