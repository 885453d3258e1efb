package filter

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// SupportedForms lists the filter syntax Compile understands;
// it is part of every syntax error.
const SupportedForms = `supported forms: ` +
	`[udp|tcp] [src|dst] port N, [udp|tcp] [src|dst] portrange N-M, ` +
	`[ip|ip6] [src|dst] host ADDR (IPv4 or IPv6 address), [ip|ip6] [src|dst] net ADDR/LEN, ` +
	`udp, tcp, ip, ip6, fragment; ` +
	`"src or dst" and "src and dst" as direction; ` +
	`combined with and/&&, or/||, not/! and parentheses; ` +
	`a bare value repeats the previous primitive's keywords ("port 1 or 2")`

// Error is a filter expression the compiler does not accept. It
// names the offending token and its byte offset in the expression.
type Error struct {
	Expr  string // the whole expression
	Pos   int    // byte offset of Token in Expr
	Token string // the offending token ("" at the end of the expression)
	Msg   string
}

func (e *Error) Error() string {
	tok := "end of expression"
	if e.Token != "" {
		tok = strconv.Quote(e.Token)
	}
	return fmt.Sprintf("filter %q: %s at offset %d: %s (%s)", e.Expr, tok, e.Pos, e.Msg, SupportedForms)
}

// Filter is a parsed capture filter. It is compiled to classic BPF for a
// given link type by Compile. A Filter is immutable and safe for
// concurrent use.
type Filter struct {
	text string
	root *node // nil: everything
}

// String gives the filter as text: the expression it was parsed from, or
// an equivalent expression for Default and WithFragments.
func (f *Filter) String() string { return f.text }

// Parse parses a filter expression (the syntax is listed in
// SupportedForms and in the package documentation). An empty
// expression matches every packet. Errors are *Error.
func Parse(expr string) (*Filter, error) {
	if len(expr) > maxFilterLen {
		return nil, &Error{Expr: expr[:64] + "...", Pos: maxFilterLen, Msg: fmt.Sprintf("expression longer than %d bytes", maxFilterLen)}
	}
	return parseFilter(expr)
}

// parseFilter parses without the length limit (for generated text).
func parseFilter(expr string) (*Filter, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{expr: expr, toks: toks}
	if p.peek().kind == tEOF {
		return &Filter{text: expr}, nil
	}
	root, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		msg := "unexpected token after a complete expression"
		if t.kind == tRParen {
			msg = "unbalanced ')'"
		}
		return nil, p.errAt(t, "%s", msg)
	}
	return &Filter{text: expr, root: mergePorts(root)}, nil
}

// mergePorts (which leaves n unchanged) turns adjacent port primitives with the same protocol and
// direction in a chain of "or" into one port set ("port 1 or 2 or 3"),
// which is tested by binary search. Only neighbours are merged, so the
// program still loads the same fields in the same order and gives the
// same verdict, also on truncated frames.
func mergePorts(n *node) *node {
	if n == nil {
		return nil
	}
	switch n.kind {
	case nAnd:
		c := *n
		c.a, c.b = mergePorts(n.a), mergePorts(n.b)
		return &c
	case nNot:
		c := *n
		c.a = mergePorts(n.a)
		return &c
	case nOr:
		var terms []*node
		var flat func(*node)
		flat = func(m *node) {
			if m.kind == nOr {
				flat(m.a)
				flat(m.b)
				return
			}
			terms = append(terms, mergePorts(m))
		}
		flat(n)
		// Runs of compatible port primitives are collected, then merged
		// once (a long "port 1 or 2 or ..." stays linear).
		var out []*node
		var run []portRange
		flush := func() {
			if k := len(out); k > 0 && run != nil {
				m := *out[k-1]
				m.ports = mergeRanges(run)
				m.isRange = false
				out[k-1] = &m
			}
			run = nil
		}
		for _, t := range terms {
			if k := len(out); k > 0 && t.kind == nPort && out[k-1].kind == nPort &&
				t.proto == out[k-1].proto && t.dir == out[k-1].dir {
				if run == nil {
					run = slices.Clone(out[k-1].ports)
				}
				run = append(run, t.ports...)
				continue
			}
			flush()
			out = append(out, t)
		}
		flush()
		r := out[0]
		for _, t := range out[1:] {
			r = &node{kind: nOr, a: r, b: t}
		}
		return r
	}
	return n
}

// Compile parses expr and compiles it to classic BPF for frames of
// the given link type (layers.LinkTypeEthernet or layers.LinkTypeRaw).
func Compile(expr string, linkType layers.LinkType) ([]bpf.RawInstruction, error) {
	f, err := Parse(expr)
	if err != nil {
		return nil, err
	}
	return f.Compile(linkType)
}

// fragmentClause admits the IP fragments of UDP and TCP datagrams.
const fragmentClause = "((udp or tcp) and fragment)"

// Default is the filter that admits only the control-plane traffic
// ompscope dissects: UDP to or from one of dtlsPorts, TCP to or from one
// of tlsPorts, and every IP fragment of a UDP or TCP datagram (see
// WithFragments). With no ports at all it admits only those fragments.
func Default(dtlsPorts, tlsPorts []uint16) *Filter {
	var b strings.Builder
	list := func(proto string, ps []uint16) {
		prevSingle := false
		for i, p := range portSet(ps) {
			if i > 0 {
				b.WriteString(" or ")
			}
			switch {
			case p.lo != p.hi:
				fmt.Fprintf(&b, "%s portrange %d-%d", proto, p.lo, p.hi)
			case prevSingle:
				fmt.Fprintf(&b, "%d", p.lo) // repeats "proto port"
			default:
				fmt.Fprintf(&b, "%s port %d", proto, p.lo)
			}
			prevSingle = p.lo == p.hi
		}
		if len(ps) > 0 {
			b.WriteString(" or ")
		}
	}
	list("udp", dtlsPorts)
	list("tcp", tlsPorts)
	b.WriteString(fragmentClause)
	f, err := parseFilter(b.String())
	if err != nil {
		// The text is generated from port numbers; it always parses.
		panic("filter: default filter does not parse: " + err.Error())
	}
	return f
}

// WithFragments returns a filter that admits what f admits and also every
// IP fragment of a UDP or TCP datagram: IPv4 packets with the
// more-fragments flag or a non-zero offset, IPv6 packets whose next header
// is a Fragment header. Like tcpdump, port primitives only match
// unfragmented packets and first fragments (later fragments carry no
// ports), so "udp port 12346" alone would lose the rest of a fragmented
// datagram and the dissector could not reassemble it. For the empty filter
// (everything) it returns f.
func (f *Filter) WithFragments() *Filter {
	if f.root == nil {
		return f
	}
	fr, err := parseFilter(fragmentClause)
	if err != nil {
		panic("filter: " + err.Error()) // a constant
	}
	return &Filter{text: "(" + f.text + ") or " + fragmentClause, root: mergePorts(&node{kind: nOr, a: f.root, b: fr.root})}
}

func portSet(ps []uint16) []portRange {
	rs := make([]portRange, len(ps))
	for i, p := range ps {
		rs[i] = portRange{p, p}
	}
	return mergeRanges(rs)
}

// mergeRanges sorts port ranges and joins the overlapping and adjacent
// ones.
func mergeRanges(rs []portRange) []portRange {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b portRange) int { return int(a.lo) - int(b.lo) })
	var out []portRange
	for _, r := range rs {
		if n := len(out); n > 0 && uint32(out[n-1].hi)+1 >= uint32(r.lo) {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// The syntax tree.

type nodeKind uint8

const (
	nAnd nodeKind = iota
	nOr
	nNot
	nIP       // ip: IPv4 EtherType
	nIP6      // ip6
	nProto    // udp, tcp (proto)
	nFragment // fragment
	nHost     // host / net (prefix)
	nPort     // port / portrange / port set
)

const (
	protoAny uint8 = 0 // TCP or UDP
	protoTCP uint8 = 6
	protoUDP uint8 = 17
)

type family uint8

const (
	famAny family = iota
	fam4
	fam6
)

type direction uint8

const (
	dirEither direction = iota // src or dst
	dirSrc
	dirDst
	dirBoth // src and dst
)

type portRange struct{ lo, hi uint16 }

type node struct {
	kind    nodeKind
	a, b    *node
	proto   uint8
	fam     family // nHost: explicit ip/ip6 qualifier (the prefix decides anyway)
	dir     direction
	prefix  netip.Prefix
	isNet   bool // nHost written as net
	isRange bool // nPort written as portrange
	ports   []portRange
}

func (d direction) String() string {
	switch d {
	case dirSrc:
		return "src "
	case dirDst:
		return "dst "
	case dirBoth:
		return "src and dst "
	}
	return ""
}

func protoName(p uint8) string {
	switch p {
	case protoTCP:
		return "tcp "
	case protoUDP:
		return "udp "
	}
	return ""
}

// String renders the node in the filter syntax (it parses back to an
// equivalent node).
func (n *node) String() string {
	switch n.kind {
	case nAnd:
		return "(" + n.a.String() + " and " + n.b.String() + ")"
	case nOr:
		return "(" + n.a.String() + " or " + n.b.String() + ")"
	case nNot:
		return "not " + n.a.String()
	case nIP:
		return "ip"
	case nIP6:
		return "ip6"
	case nProto:
		return strings.TrimSpace(protoName(n.proto))
	case nFragment:
		return "fragment"
	case nHost:
		q := ""
		switch n.fam {
		case fam4:
			q = "ip "
		case fam6:
			q = "ip6 "
		}
		if n.isNet {
			return q + n.dir.String() + "net " + n.prefix.String()
		}
		return q + n.dir.String() + "host " + n.prefix.Addr().String()
	case nPort:
		var b strings.Builder
		if len(n.ports) > 1 {
			b.WriteByte('(')
		}
		for i, r := range n.ports {
			if i > 0 {
				b.WriteString(" or ")
			}
			b.WriteString(protoName(n.proto) + n.dir.String())
			if r.lo == r.hi {
				fmt.Fprintf(&b, "port %d", r.lo)
			} else {
				fmt.Fprintf(&b, "portrange %d-%d", r.lo, r.hi)
			}
		}
		if len(n.ports) > 1 {
			b.WriteByte(')')
		}
		return b.String()
	}
	return "?"
}

// The lexer.

type tokKind uint8

const (
	tEOF tokKind = iota
	tWord
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

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == ':' || c == '/' || c == '-' || c == '_'
}

// maxFilterLen bounds the expression, so that neither the parser's
// recursion nor the generated program can grow without bound.
const maxFilterLen = 16 << 10

func lex(expr string) ([]token, error) {
	var toks []token
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == '!' && (i+1 >= len(expr) || expr[i+1] != '='):
			toks = append(toks, token{tNot, "!", i})
			i++
		case c == '&' && i+1 < len(expr) && expr[i+1] == '&':
			toks = append(toks, token{tAnd, "&&", i})
			i += 2
		case c == '|' && i+1 < len(expr) && expr[i+1] == '|':
			toks = append(toks, token{tOr, "||", i})
			i += 2
		case isWordByte(c):
			j := i
			for j < len(expr) && isWordByte(expr[j]) {
				j++
			}
			w := expr[i:j]
			k := tWord
			switch strings.ToLower(w) {
			case "and":
				k = tAnd
			case "or":
				k = tOr
			case "not":
				k = tNot
			}
			toks = append(toks, token{k, w, i})
			i = j
		default:
			j := i + 1
			for j < len(expr) && j < i+4 && !isWordByte(expr[j]) && expr[j] != ' ' && expr[j] != '(' && expr[j] != ')' {
				j++
			}
			msg := "unsupported character"
			switch c {
			case '[', ']':
				msg = "byte-offset expressions such as ip[6:2] are not supported"
			case '=', '<', '>', '!':
				msg = "comparisons are not supported"
			case '&', '|':
				msg = "bitwise operators are not supported (use && or || for and/or)"
			}
			return nil, &Error{Expr: expr, Pos: i, Token: expr[i:j], Msg: msg}
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(expr)})
	return toks, nil
}

// The parser.

// maxDepth bounds the nesting of parentheses and not.
const maxDepth = 100

type parser struct {
	expr string
	toks []token
	i    int
	// last is the previous host/net/port/portrange primitive, whose
	// keywords a bare value repeats.
	last *node
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return &Error{Expr: p.expr, Pos: t.pos, Token: t.text, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parseOr(depth int) (*node, error) {
	l, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tOr {
		p.next()
		r, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		l = &node{kind: nOr, a: l, b: r}
	}
	return l, nil
}

func (p *parser) parseAnd(depth int) (*node, error) {
	l, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tAnd {
		p.next()
		r, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		l = &node{kind: nAnd, a: l, b: r}
	}
	return l, nil
}

func (p *parser) parseUnary(depth int) (*node, error) {
	t := p.peek()
	if depth > maxDepth {
		return nil, p.errAt(t, "nested more than %d levels deep", maxDepth)
	}
	switch t.kind {
	case tNot:
		p.next()
		a, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &node{kind: nNot, a: a}, nil
	case tLParen:
		p.next()
		e, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tRParen {
			return nil, p.errAt(c, "missing ')' to close the '(' at offset %d", t.pos)
		}
		p.next()
		return e, nil
	case tWord:
		return p.parsePrimitive()
	case tEOF:
		return nil, p.errAt(t, "expression ends where a primitive was expected")
	}
	return nil, p.errAt(t, "a primitive was expected")
}

func isValue(w string) bool {
	if w == "" {
		return false
	}
	c := w[0]
	return c >= '0' && c <= '9' || strings.ContainsRune(w, ':')
}

func (p *parser) parsePrimitive() (*node, error) {
	first := p.peek()
	w := strings.ToLower(first.text)

	// A bare value repeats the previous primitive's keywords.
	if isValue(first.text) {
		if p.last == nil {
			return nil, p.errAt(first, "a value needs a keyword before it (host, net, port or portrange)")
		}
		p.next()
		n := *p.last
		if err := p.value(&n, first); err != nil {
			return nil, err
		}
		return &n, nil
	}

	n := &node{}
	// Protocol qualifier.
	var protoTok token
	qual := ""
	switch w {
	case "ip", "ip6", "udp", "tcp":
		protoTok = p.next()
		qual = w
	case "fragment":
		p.next()
		return &node{kind: nFragment}, nil
	}
	// Direction qualifier.
	var dirTok token
	haveDir := false
	if k := strings.ToLower(p.peek().text); p.peek().kind == tWord && (k == "src" || k == "dst") {
		dirTok = p.next()
		haveDir = true
		n.dir = dirSrc
		if k == "dst" {
			n.dir = dirDst
		}
		op, other := p.peek(), strings.ToLower(p.peekAt(1).text)
		if (op.kind == tOr || op.kind == tAnd) && p.peekAt(1).kind == tWord && (other == "src" || other == "dst") && other != k {
			p.next()
			p.next()
			n.dir = dirEither
			if op.kind == tAnd {
				n.dir = dirBoth
			}
		}
	}
	kt := p.peek()
	kw := strings.ToLower(kt.text)
	if kt.kind != tWord {
		if haveDir {
			return nil, p.errAt(kt, "%q must be followed by host, net, port or portrange", dirTok.text)
		}
		// A bare protocol keyword.
		switch qual {
		case "ip":
			return &node{kind: nIP}, nil
		case "ip6":
			return &node{kind: nIP6}, nil
		case "udp":
			return &node{kind: nProto, proto: protoUDP}, nil
		case "tcp":
			return &node{kind: nProto, proto: protoTCP}, nil
		}
		return nil, p.errAt(kt, "a primitive was expected")
	}
	switch kw {
	case "host", "net":
		if qual == "udp" || qual == "tcp" {
			return nil, p.errAt(protoTok, "%q cannot qualify %s (write \"%s and %s ...\")", protoTok.text, kw, qual, kw)
		}
		n.kind = nHost
		n.isNet = kw == "net"
		switch qual {
		case "ip":
			n.fam = fam4
		case "ip6":
			n.fam = fam6
		}
	case "port", "portrange":
		if qual == "ip" || qual == "ip6" {
			return nil, p.errAt(protoTok, "%q cannot qualify %s (use udp or tcp, or write \"%s and %s ...\")", protoTok.text, kw, qual, kw)
		}
		n.kind = nPort
		switch qual {
		case "udp":
			n.proto = protoUDP
		case "tcp":
			n.proto = protoTCP
		}
		n.isRange = kw == "portrange"
	default:
		if haveDir && qual == "" && isValue(kt.text) {
			// "src 10.0.0.1" means "src host 10.0.0.1".
			n.kind = nHost
			break
		}
		if haveDir {
			return nil, p.errAt(kt, "%q must be followed by host, net, port or portrange", dirTok.text)
		}
		if qual != "" {
			return nil, p.errAt(kt, "unknown keyword after %q", protoTok.text)
		}
		switch kw {
		case "vlan", "mpls", "pppoes", "geneve":
			return nil, p.errAt(kt, "%s is not supported: frames with one 802.1Q or 802.1ad tag are matched without it (the kernel strips the tag on receive)", kw)
		case "icmp", "icmp6", "arp", "rarp", "sctp", "ether", "proto", "less", "greater", "broadcast", "multicast", "gateway", "len", "inbound", "outbound", "ifname", "igmp":
			return nil, p.errAt(kt, "keyword %q is not supported", kt.text)
		}
		return nil, p.errAt(kt, "unknown keyword (host names and service names are not resolved)")
	}
	if kt.kind == tWord && (kw == "host" || kw == "net" || kw == "port" || kw == "portrange") {
		p.next()
	}
	vt := p.peek()
	if vt.kind != tWord {
		return nil, p.errAt(vt, "%s needs a value", kt.text)
	}
	p.next()
	if err := p.value(n, vt); err != nil {
		return nil, err
	}
	tmpl := *n
	p.last = &tmpl
	return n, nil
}

// value fills in the value of a host/net/port/portrange primitive.
func (p *parser) value(n *node, vt token) error {
	switch n.kind {
	case nHost:
		if n.isNet {
			pfx, err := netip.ParsePrefix(vt.text)
			if err != nil {
				return p.errAt(vt, "not an address/length prefix")
			}
			if pfx.Addr().Zone() != "" {
				return p.errAt(vt, "zoned addresses are not supported")
			}
			if pfx.Masked() != pfx {
				return p.errAt(vt, "non-network bits set (did you mean %s?)", pfx.Masked())
			}
			n.prefix = pfx
		} else {
			a, err := netip.ParseAddr(vt.text)
			if err != nil {
				if strings.ContainsRune(vt.text, '/') {
					return p.errAt(vt, "a prefix needs the net keyword")
				}
				return p.errAt(vt, "not an IPv4 or IPv6 address (host names are not resolved)")
			}
			if a.Zone() != "" {
				return p.errAt(vt, "zoned addresses are not supported")
			}
			n.prefix = netip.PrefixFrom(a, a.BitLen())
		}
		if n.fam == fam4 && !n.prefix.Addr().Is4() {
			return p.errAt(vt, "ip qualifies an IPv6 address")
		}
		if n.fam == fam6 && !n.prefix.Addr().Is6() {
			return p.errAt(vt, "ip6 qualifies an IPv4 address")
		}
	case nPort:
		if n.isRange {
			lo, hi, ok := strings.Cut(vt.text, "-")
			if !ok {
				return p.errAt(vt, "portrange needs N-M")
			}
			a, err1 := parsePort(lo)
			b, err2 := parsePort(hi)
			if err1 != nil || err2 != nil {
				return p.errAt(vt, "not a port range N-M with numbers 0..65535")
			}
			if a > b {
				a, b = b, a
			}
			n.ports = []portRange{{a, b}}
			return nil
		}
		v, err := parsePort(vt.text)
		if err != nil {
			if strings.ContainsRune(vt.text, '-') {
				return p.errAt(vt, "a port range needs the portrange keyword")
			}
			return p.errAt(vt, "not a port number 0..65535 (service names are not resolved)")
		}
		n.ports = []portRange{{v, v}}
	}
	return nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	v, err := strconv.ParseUint(s, 10, 16)
	return uint16(v), err
}
