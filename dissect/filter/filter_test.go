package filter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/ompscope/ompscope/dissect"
)

func newVM(t testing.TB, prog []bpf.RawInstruction) *bpf.VM {
	t.Helper()
	ins := make([]bpf.Instruction, len(prog))
	for i, r := range prog {
		ins[i] = r.Disassemble()
		if _, ok := ins[i].(bpf.RawInstruction); ok {
			t.Fatalf("instruction %d (%+v) does not disassemble", i, r)
		}
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("bpf.NewVM: %v", err)
	}
	return vm
}

func accepts(t testing.TB, vm *bpf.VM, pkt []byte) bool {
	t.Helper()
	n, err := vm.Run(pkt)
	if err != nil {
		t.Fatalf("vm.Run: %v", err)
	}
	return n > 0
}

// TestFilterHandCases checks expressions against packets with the
// expected verdicts written out by hand.
func TestFilterHandCases(t *testing.T) {
	pkts := testPackets()
	byName := map[string][]byte{}
	for _, s := range pkts {
		byName[s.name] = build(t, s)
	}
	v4all := []string{
		"v4 udp 12346->40000", "v4 udp 40000->12366", "v4 udp 53->53", "v4 udp 12345->12347",
		"v4 udp 13126->1", "v4 udp 13127->1", "v4 tcp 23456->50000", "v4 tcp 50000->12346",
		"v4 tcp 443->80", "v4 icmp", "v4 udp options 12346", "v4 udp first frag 12346",
		"v4 udp later frag", "v4 udp last frag", "v4 tcp later frag", "v4 icmp later frag",
		"v4 udp vlan 12346", "v4 tcp qinq-tpid 23456", "v4 udp vlan later frag", "v4 udp truncated in ports",
	}
	v6all := []string{
		"v6 udp 12346->5000", "v6 udp 5000->12446", "v6 tcp 23456->6000", "v6 tcp 80->6000",
		"v6 icmp", "v6 udp first frag 12346", "v6 udp later frag", "v6 vlan udp 12346",
	}
	udp12346 := []string{
		"v4 udp 12346->40000", "v4 udp options 12346", "v4 udp first frag 12346",
		"v4 udp vlan 12346", "v6 udp 12346->5000", "v6 vlan udp 12346",
	}
	cases := []struct {
		expr string
		want []string
	}{
		{"udp port 12346", udp12346},
		{"UDP PORT 12346", udp12346},
		{"tcp port 23456", []string{"v4 tcp 23456->50000", "v4 tcp qinq-tpid 23456", "v6 tcp 23456->6000"}},
		{"port 12346", append(slices.Clone(udp12346), "v4 tcp 50000->12346")},
		{"udp dst port 12346", []string{"v4 udp options 12346", "v4 udp first frag 12346", "v4 udp vlan 12346", "v6 vlan udp 12346"}},
		{"src port 12346", []string{"v4 udp 12346->40000", "v4 udp first frag 12346", "v6 udp 12346->5000", "v6 vlan udp 12346"}},
		{"udp src and dst port 12346", []string{"v4 udp first frag 12346", "v6 vlan udp 12346"}},
		{"udp src or dst port 12346", udp12346},
		{"port 53 or 443", []string{"v4 udp 53->53", "v4 tcp 443->80"}},
		{"src port 40000 || dst port 80", []string{"v4 udp 40000->12366", "v4 tcp 443->80"}},
		{"portrange 12346-13126", []string{
			"v4 udp 12346->40000", "v4 udp 40000->12366", "v4 udp 12345->12347", "v4 udp 13126->1",
			"v4 tcp 50000->12346", "v4 udp options 12346", "v4 udp first frag 12346", "v4 udp vlan 12346",
			"v6 udp 12346->5000", "v6 udp 5000->12446", "v6 vlan udp 12346"}},
		{"tcp portrange 13126-12346", []string{"v4 tcp 50000->12346"}},
		{"udp", []string{
			"v4 udp 12346->40000", "v4 udp 40000->12366", "v4 udp 53->53", "v4 udp 12345->12347",
			"v4 udp 13126->1", "v4 udp 13127->1", "v4 udp options 12346", "v4 udp first frag 12346",
			"v4 udp later frag", "v4 udp last frag", "v4 udp vlan 12346", "v4 udp vlan later frag",
			"v4 udp truncated in ports",
			"v6 udp 12346->5000", "v6 udp 5000->12446", "v6 udp first frag 12346", "v6 udp later frag", "v6 vlan udp 12346"}},
		{"ip6 and tcp", []string{"v6 tcp 23456->6000", "v6 tcp 80->6000"}},
		{"fragment", []string{
			"v4 udp first frag 12346", "v4 udp later frag", "v4 udp last frag", "v4 tcp later frag",
			"v4 icmp later frag", "v4 udp vlan later frag", "v6 udp first frag 12346", "v6 udp later frag"}},
		{"ip", v4all},
		{"ip6", v6all},
		{"host 10.1.1.1", v4all},
		{"net 192.168.0.0/16", v4all},
		{"ip host 10.1.1.1 and not ip6", v4all},
		{"src host 10.1.1.1 and tcp", []string{"v4 tcp 23456->50000", "v4 tcp 443->80", "v4 tcp later frag"}},
		{"dst 10.1.1.1", []string{"v4 udp 40000->12366", "v4 tcp 50000->12346", "v4 udp last frag", "v4 tcp qinq-tpid 23456"}},
		{"src and dst host 10.1.1.1", nil},
		{"host 2001:db8::1", v6all},
		{"ip6 src host 2001:db8::1 and icmp_is_not_a_keyword_test", nil}, // replaced below
		{"dst host fe80::1234:5678", []string{"v6 udp 12346->5000", "v6 tcp 23456->6000", "v6 icmp", "v6 udp first frag 12346", "v6 udp later frag"}},
		{"src net fe80::/10", []string{"v6 udp 5000->12446", "v6 tcp 80->6000", "v6 vlan udp 12346"}},
		{"net ::/0", v6all},
		{"net 2001:db8::/32 and udp port 12446", []string{"v6 udp 5000->12446"}},
		{"net 0.0.0.0/0", v4all},
		{"not udp and not tcp", []string{"v4 icmp", "v4 icmp later frag", "v6 icmp", "arp"}},
		{"!(udp || tcp) && ip", []string{"v4 icmp", "v4 icmp later frag"}},
		{"udp and not port 53 and not portrange 12000-13200 and not fragment", nil}, // the truncated frame is rejected: a load past its end stops the program, even under not
		{"udp and not fragment and not tcp", []string{
			"v4 udp 12346->40000", "v4 udp 40000->12366", "v4 udp 53->53", "v4 udp 12345->12347",
			"v4 udp 13126->1", "v4 udp 13127->1", "v4 udp options 12346", "v4 udp vlan 12346",
			"v4 udp truncated in ports", "v6 udp 12346->5000", "v6 udp 5000->12446", "v6 vlan udp 12346"}},
		{"", nil}, // everything; checked below
	}
	for _, c := range cases {
		if strings.Contains(c.expr, "icmp_is_not") {
			continue
		}
		for _, lt := range []layers.LinkType{layers.LinkTypeEthernet} {
			prog, err := Compile(c.expr, lt)
			if err != nil {
				t.Fatalf("%q: %v", c.expr, err)
			}
			vm := newVM(t, prog)
			want := map[string]bool{}
			for _, n := range c.want {
				if _, ok := byName[n]; !ok {
					t.Fatalf("unknown packet %q", n)
				}
				want[n] = true
			}
			for _, s := range pkts {
				w := want[s.name]
				if c.expr == "" {
					w = true
				}
				if got := accepts(t, vm, byName[s.name]); got != w {
					t.Errorf("%q on %q: accepted=%v, want %v", c.expr, s.name, got, w)
				}
			}
		}
	}
}

// filterExprs are the expressions cross-checked against the reference
// evaluator (and tcpdump when present).
var filterExprs = []string{
	"udp port 12346", "tcp port 23456", "port 12346", "port 53 or 443 or 12366",
	"udp src port 12346", "tcp dst port 80", "src port 40000", "dst port 53",
	"portrange 12346-13126", "udp portrange 1-100", "tcp dst portrange 0-1024",
	"udp", "tcp", "ip", "ip6", "not ip", "udp and ip6", "tcp or udp",
	"host 10.1.1.1", "src host 10.1.1.1", "dst host 192.168.7.20", "host 10.9.9.9",
	"host 2001:db8::1", "src host fe80::1234:5678", "dst host 2001:db8::1",
	"net 10.0.0.0/8", "src net 192.168.0.0/16", "dst net 10.1.1.0/24", "net 2001:db8::/32", "net fe80::/10",
	"net 2001:db8::/127", "net 2001:db8::/64",
	"host 10.1.1.1 and udp port 12346", "host 10.1.1.1 and (port 53 or port 80)",
	"not (udp port 12346 or tcp port 23456)", "not host 10.1.1.1", "not not udp",
	"udp and not port 53", "(ip and udp) or (ip6 and tcp)", "tcp and src port 443 and dst port 80",
	"ip host 10.1.1.1 or ip6 host 2001:db8::1",
}

// tcpdumpOnly lists expressions using ompscope-only forms, checked only
// against the reference evaluator.
var ompscopeOnlyExprs = []string{
	"fragment", "udp and fragment", "not fragment",
	"udp src and dst port 12346", "src and dst host 10.1.1.1",
	"src 10.1.1.1", "dst fe80::1234:5678", "port 12346 and not 12366",
	"tcp src or dst port 23456",
}

func TestFilterMatchesReference(t *testing.T) {
	sets := []struct {
		lt   layers.LinkType
		pkts []pktSpec
	}{
		{layers.LinkTypeEthernet, testPackets()},
		{layers.LinkTypeRaw, rawTestPackets()},
	}
	exprs := append(slices.Clone(filterExprs), ompscopeOnlyExprs...)
	checked := 0
	for _, set := range sets {
		frames := make([][]byte, len(set.pkts))
		for i, s := range set.pkts {
			frames[i] = build(t, s)
		}
		for _, e := range exprs {
			f, err := Parse(e)
			if err != nil {
				t.Fatalf("%q: %v", e, err)
			}
			for _, ff := range []*Filter{f, f.WithFragments()} {
				prog, err := ff.Compile(set.lt)
				if err != nil {
					t.Fatalf("%q: %v", ff, err)
				}
				vm := newVM(t, prog)
				nAcc := 0
				for i, fr := range frames {
					got, want := accepts(t, vm, fr), refMatch(ff, set.lt, fr)
					if got != want {
						t.Errorf("%v %q on %q: BPF accepted=%v, reference %v", set.lt, ff, set.pkts[i].name, got, want)
					}
					if got {
						nAcc++
					}
					checked++
				}
				if nAcc == 0 && ff == f && !strings.Contains(e, "10.9.9.9") && !strings.Contains(e, "src and dst host") {
					t.Errorf("%v %q accepts none of the test packets", set.lt, e)
				}
			}
		}
	}
	t.Logf("%d expression/packet pairs checked", checked)
}

func TestDefaultFilter(t *testing.T) {
	f := Default(dissect.ControllerDTLSPorts(), []uint16{dissect.DefaultTLSPort})
	for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw} {
		prog, err := f.Compile(lt)
		if err != nil {
			t.Fatal(err)
		}
		vm := newVM(t, prog)
		t.Logf("%v: %d instructions", lt, len(prog))
		want := map[string]bool{
			// controller DTLS ports over UDP
			"v4 udp 12346->40000": true, "v4 udp 40000->12366": true, "v4 udp options 12346": true,
			"v4 udp first frag 12346": true, "v4 udp vlan 12346": true, "v4 udp 13126->1": true,
			// port offset 1 (12347); core 7, offset 1, hop +80 (13127)
			"v4 udp 12345->12347": true, "v4 udp 13127->1": true,
			"v6 udp 12346->5000": true, "v6 udp 5000->12446": true, "v6 vlan udp 12346": true,
			// TLS over TCP
			"v4 tcp 23456->50000": true, "v4 tcp qinq-tpid 23456": true, "v6 tcp 23456->6000": true,
			// fragments without ports
			"v4 udp later frag": true, "v4 udp last frag": true, "v4 tcp later frag": true,
			"v4 udp vlan later frag": true, "v6 udp first frag 12346": true, "v6 udp later frag": true,
		}
		pkts := testPackets()
		if lt == layers.LinkTypeRaw {
			pkts = rawTestPackets()
		}
		for _, s := range pkts {
			fr := build(t, s)
			name := strings.TrimPrefix(s.name, "raw ")
			if got := accepts(t, vm, fr); got != want[name] {
				t.Errorf("%v default filter on %q: accepted=%v, want %v", lt, s.name, got, want[name])
			}
			if got, ref := accepts(t, vm, fr), refMatch(f, lt, fr); got != ref {
				t.Errorf("%v default filter on %q: BPF %v, reference %v", lt, s.name, got, ref)
			}
		}
		// Every controller port, both directions, and the neighbours.
		ctl := map[uint16]bool{}
		for _, p := range dissect.ControllerDTLSPorts() {
			ctl[p] = true
		}
		for _, p := range dissect.ControllerDTLSPorts() {
			for _, d := range []struct {
				port uint16
				want bool
			}{{p, true}, {p - 1, false}, {p + 1, false}} {
				if !d.want && ctl[d.port] { // a neighbour that is a controller port itself
					continue
				}
				for _, dir := range []bool{false, true} {
					s := pktSpec{name: "port", src: "10.0.0.1", dst: "10.0.0.2", proto: "udp", sport: 40000, dport: d.port, raw: lt == layers.LinkTypeRaw}
					if dir {
						s.sport, s.dport = d.port, 40000
					}
					if got := accepts(t, vm, build(t, s)); got != d.want {
						t.Errorf("%v udp port %d (src=%v): accepted=%v, want %v", lt, d.port, dir, got, d.want)
					}
					s.proto = "tcp"
					if got := accepts(t, vm, build(t, s)); got {
						t.Errorf("%v tcp port %d accepted by the default filter", lt, d.port)
					}
				}
			}
		}
	}
	// The text form parses back to the same program.
	g, err := Parse(f.String())
	if err != nil {
		t.Fatalf("default filter text %q does not parse: %v", f, err)
	}
	p1, _ := f.Compile(layers.LinkTypeEthernet)
	p2, _ := g.Compile(layers.LinkTypeEthernet)
	if !slices.Equal(p1, p2) {
		t.Errorf("default filter text %q compiles to another program", f)
	}
	t.Logf("default filter: %s", f)
}

func TestDefaultFilterOtherPorts(t *testing.T) {
	f := Default([]uint16{102, 100, 101, 200, 300, 300}, []uint16{443, 8443})
	if want := "udp portrange 100-102 or udp port 200 or 300 or tcp port 443 or 8443 or ((udp or tcp) and fragment)"; f.String() != want {
		t.Errorf("text %q, want %q", f, want)
	}
	prog, err := f.Compile(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	vm := newVM(t, prog)
	for _, c := range []struct {
		proto string
		port  uint16
		want  bool
	}{
		{"udp", 99, false}, {"udp", 100, true}, {"udp", 101, true}, {"udp", 102, true}, {"udp", 103, false},
		{"udp", 200, true}, {"udp", 300, true}, {"udp", 443, false},
		{"tcp", 101, false}, {"tcp", 443, true}, {"tcp", 8443, true}, {"tcp", 8444, false},
	} {
		fr := build(t, pktSpec{src: "10.0.0.1", dst: "10.0.0.2", proto: c.proto, sport: 60000, dport: c.port})
		if got := accepts(t, vm, fr); got != c.want {
			t.Errorf("%s port %d: accepted=%v, want %v", c.proto, c.port, got, c.want)
		}
	}
}

// TestFilterLimits: generated filters have no length limit, and
// WithFragments works on any parsed filter.
func TestFilterLimits(t *testing.T) {
	var many []uint16
	for p := 1; p < 60000; p += 3 {
		many = append(many, uint16(p))
	}
	f := Default(many, many[:100])
	if len(f.String()) <= maxFilterLen {
		t.Fatalf("text only %d bytes", len(f.String()))
	}
	if _, err := f.Compile(layers.LinkTypeEthernet); err == nil || !strings.Contains(err.Error(), "at most 4096") {
		t.Errorf("20000 separate ports: %v", err)
	}
	deep := strings.Repeat("(", maxDepth) + "udp" + strings.Repeat(")", maxDepth)
	g, err := Parse(deep)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := g.WithFragments().Compile(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	vm := newVM(t, prog)
	if !accepts(t, vm, build(t, pktSpec{src: "10.0.0.1", dst: "10.0.0.2", proto: "tcp", fragOff: 3})) {
		t.Error("WithFragments does not admit a TCP fragment")
	}
	long := "udp or " + strings.Repeat(" ", maxFilterLen)
	if _, err := Parse(long); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("over-long expression: %v", err)
	}
	if h := ParseFilterMust(t, ""); h.WithFragments() != h {
		t.Error("WithFragments of the empty filter is not itself")
	}
}

func ParseFilterMust(t *testing.T, e string) *Filter {
	t.Helper()
	f, err := Parse(e)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDefaultFilterNoPorts(t *testing.T) {
	prog, err := Default(nil, nil).Compile(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	vm := newVM(t, prog)
	for _, s := range testPackets() {
		want := (s.fragOff != 0 || s.mf) && s.proto != "icmp" || s.v6frag
		if got := accepts(t, vm, build(t, s)); got != want {
			t.Errorf("%q: accepted=%v, want %v", s.name, got, want)
		}
	}
}

// TestFilterStringRoundTrip checks that String gives an expression that
// compiles to the same program.
func TestFilterStringRoundTrip(t *testing.T) {
	exprs := append(slices.Clone(filterExprs), ompscopeOnlyExprs...)
	for _, e := range exprs {
		f, err := Parse(e)
		if err != nil {
			t.Fatal(err)
		}
		if f.String() != e {
			t.Errorf("String() = %q, want the expression %q", f.String(), e)
		}
		canon := f.root.String()
		g, err := Parse(canon)
		if err != nil {
			t.Fatalf("%q: canonical form %q does not parse: %v", e, canon, err)
		}
		p1, err1 := f.Compile(layers.LinkTypeEthernet)
		p2, err2 := g.Compile(layers.LinkTypeEthernet)
		if err1 != nil || err2 != nil || !slices.Equal(p1, p2) {
			t.Errorf("%q and its canonical form %q compile differently (%v, %v)", e, canon, err1, err2)
		}
	}
}

// TestFilterLong checks programs longer than a conditional jump reaches
// (255 instructions), which need trampolines.
func TestFilterLong(t *testing.T) {
	var parts []string
	for p := 1000; p < 1400; p += 2 { // 200 single ports: no ranges merge
		parts = append(parts, fmt.Sprint(p))
	}
	expr := "host 10.1.1.1 and not (port " + strings.Join(parts, " or ") + ") or host 2001:db8::1"
	f, err := Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := f.Compile(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) < 1000 {
		t.Fatalf("program has %d instructions; the test needs far jumps", len(prog))
	}
	vm := newVM(t, prog)
	for _, port := range []uint16{999, 1000, 1001, 1002, 1200, 1398, 1399, 1400, 5} {
		for _, src := range []string{"10.1.1.1", "10.2.2.2"} {
			s := pktSpec{src: src, dst: "10.3.3.3", proto: "udp", sport: 7, dport: port}
			fr := build(t, s)
			want := src == "10.1.1.1" && !(port >= 1000 && port < 1400 && port%2 == 0)
			if got := accepts(t, vm, fr); got != want || refMatch(f, layers.LinkTypeEthernet, fr) != want {
				t.Errorf("port %d src %s: accepted=%v, want %v", port, src, got, want)
			}
		}
	}
	fr := build(t, pktSpec{src: "2001:db8::1", dst: "2001:db8::2", proto: "tcp", sport: 1000, dport: 1000})
	if !accepts(t, vm, fr) {
		t.Error("the alternative after the long port set is not reached")
	}
	// Past the kernel's limit: a clear error.
	big := strings.Repeat("ip6 host ::1 or ", 700) + "udp"
	if _, err := Compile(big, layers.LinkTypeEthernet); err == nil || !strings.Contains(err.Error(), "at most 4096") {
		t.Errorf("a too long program: err = %v", err)
	}
}

func TestFilterErrors(t *testing.T) {
	cases := []struct {
		expr, token, msg string
	}{
		{"udp porta 12346", "porta", "unknown keyword"},
		{"udp port", "", "needs a value"},
		{"udp port 70000", "70000", "not a port number"},
		{"port domain", "domain", "service names"},
		{"host example.com", "example.com", "not an IPv4 or IPv6 address"},
		{"host 10.0.0.0/8", "10.0.0.0/8", "net keyword"},
		{"net 10.0.0.1/8", "10.0.0.1/8", "non-network bits"},
		{"net 10", "10", "not an address/length prefix"},
		{"ip[6:2] & 0x1fff != 0", "[", "byte-offset"},
		{"len > 100", ">", "comparisons"},
		{"vlan 100", "vlan", "not supported"},
		{"icmp", "icmp", "not supported"},
		{"ether host 1:2:3:4:5:6", "ether", "not supported"},
		{"udp and", "", "primitive was expected"},
		{"(udp port 1", "", "missing ')'"},
		{"udp port 1)", ")", "unbalanced"},
		{"udp port 1 tcp", "tcp", "unexpected token"},
		{"tcp host 10.0.0.1", "tcp", "cannot qualify host"},
		{"ip port 53", "ip", "cannot qualify port"},
		{"ip6 host 10.0.0.1", "10.0.0.1", "ip6 qualifies an IPv4"},
		{"ip host ::1", "::1", "ip qualifies an IPv6"},
		{"src udp", "udp", "must be followed by"},
		{"12346", "12346", "needs a keyword"},
		{"portrange 5", "5", "N-M"},
		{"port 1-5", "1-5", "portrange keyword"},
		{"host fe80::1%eth0", "%", "unsupported character"},
		{"udp & tcp", "&", "bitwise"},
		{strings.Repeat("(", 200) + "udp" + strings.Repeat(")", 200), "(", "nested more than"},
	}
	for _, c := range cases {
		_, err := Compile(c.expr, layers.LinkTypeEthernet)
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("%q: err = %v, want a *Error", c.expr, err)
			continue
		}
		if fe.Token != c.token || !strings.Contains(fe.Msg, c.msg) {
			t.Errorf("%q: token %q msg %q; want token %q, msg containing %q", c.expr, fe.Token, fe.Msg, c.token, c.msg)
		}
		if fe.Token != "" && !strings.HasPrefix(c.expr[fe.Pos:], fe.Token) {
			t.Errorf("%q: offset %d does not point at %q", c.expr, fe.Pos, fe.Token)
		}
		if !strings.Contains(err.Error(), "supported forms: ") {
			t.Errorf("%q: error does not list the supported forms: %v", c.expr, err)
		}
	}
	if _, err := Compile("udp", layers.LinkTypeLinuxSLL); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("unsupported link type: err = %v", err)
	}
}

func FuzzCompileFilter(f *testing.F) {
	for _, e := range append(slices.Clone(filterExprs), ompscopeOnlyExprs...) {
		f.Add(e, true)
	}
	f.Add("port 1 or 2 and not (3 or portrange 4-5)", false)
	f.Add("src or dst net ::/0 || !fragment", false)
	pkts := testPackets()
	frames := make([][]byte, len(pkts))
	for i, s := range pkts {
		frames[i] = build(f, s)
	}
	raws := rawTestPackets()
	rawFrames := make([][]byte, len(raws))
	for i, s := range raws {
		rawFrames[i] = build(f, s)
	}
	f.Fuzz(func(t *testing.T, expr string, eth bool) {
		fl, err := Parse(expr)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("%q: error %v is not a *Error", expr, err)
			}
			return
		}
		lt, fr := layers.LinkTypeEthernet, frames
		if !eth {
			lt, fr = layers.LinkTypeRaw, rawFrames
		}
		prog, err := fl.Compile(lt)
		if err != nil {
			if strings.Contains(err.Error(), "at most") {
				return
			}
			t.Fatalf("%q parses but does not compile: %v", expr, err)
		}
		vm := newVM(t, prog)
		for i, b := range fr {
			if got, want := accepts(t, vm, b), refMatch(fl, lt, b); got != want {
				t.Fatalf("%q on frame %d: BPF %v, reference %v", expr, i, got, want)
			}
		}
	})
}
