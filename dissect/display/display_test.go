package display

import (
	"strings"
	"testing"
)

const (
	// in the shape of ompscope.dissect/3 (TestDisplayOnDissectOutput runs
	// the same kind of filters on real output)
	hello  = `{"schema":"ompscope.dissect/3","frame":12,"src":"10.0.0.1:12346","dst":"10.0.0.2:12346","transport":"dtls","direction":"client","vdaemon":{"header":{"type":"HELLO","device_type":"vEdge","site_id":100}}}`
	update = `{"schema":"ompscope.dissect/3","frame":1500,"transport":"tls","vdaemon":{"header":{"type":"DATA","site_id":100}},"omp":[{"type":"HELLO"},{"type":"UPDATE","family":"route-ipv4","withdrawn":[],"reachable":[{"path_id":1,"vpn":10,"prefix":"10.1.2.0/24"},{"path_id":1,"vpn":20,"prefix":"192.168.0.0/16"}],"attributes":[{"code":2,"name":"TLOC","flags":64,"tloc":"1.1.1.9/mpls/ipsec"}]}]}`
	anom   = `{"time":"2026-01-01T10:00:00Z","type":"anomaly.start","frame":77,"anomaly":{"kind":"route-flap","severity":"warning","subject":"route vpn=10"}}`
	state  = `{"time":"2026-01-01T10:00:01Z","type":"peer.state","client_system_ip":"10.255.0.2","server_system_ip":"1.1.1.3","new":"down"}`
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		expr string
		want [4]bool // hello, update, anom, state
	}{
		{`vdaemon.type == "HELLO"`, [4]bool{true, false, false, false}},
		{`vdaemon.type == HELLO && frame > 10`, [4]bool{true, false, false, false}},
		{`frame >= 1000 || type == "peer.state"`, [4]bool{false, true, false, true}},
		{`omp.type == UPDATE && prefix << 10.0.0.0/8`, [4]bool{false, true, false, false}},
		{`prefix << 172.16.0.0/12`, [4]bool{false, false, false, false}},
		{`vpn == 20`, [4]bool{false, true, false, false}},
		{`!(color == mpls) && omp`, [4]bool{false, false, false, false}},
		{`color == "mpls"`, [4]bool{false, true, false, false}},
		{`severity >= warning`, [4]bool{false, false, true, false}},
		{`severity > warning`, [4]bool{false, false, false, false}},
		{`kind contains flap`, [4]bool{false, false, true, false}},
		{`peer == 1.1.1.3`, [4]bool{false, false, false, true}},
		{`peer == 1.1.1.9`, [4]bool{false, true, false, false}},
		{`src << 10.0.0.0/24`, [4]bool{true, false, false, false}},
		{`site == 100 and not transport == tls`, [4]bool{true, false, false, false}},
		{`omp`, [4]bool{false, true, false, false}},
		{`frame != 12`, [4]bool{false, true, true, false}},
	} {
		f, err := Parse(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		for i, line := range []string{hello, update, anom, state} {
			if got := f.MatchJSON([]byte(line)); got != c.want[i] {
				t.Errorf("%s on record %d: %v, want %v", c.expr, i, got, c.want[i])
			}
		}
	}
	f, _ := Parse("frame > 1")
	if f.MatchJSON([]byte("not json")) || f.MatchJSON([]byte(`[1,2]`)) {
		t.Error("a line that is not an object matched")
	}
}

func TestErrorsPointAtThePosition(t *testing.T) {
	for _, c := range []struct {
		expr string
		pos  int
		msg  string
	}{
		{`frame >`, 7, "expected a value"},
		{`frame > 1 &&`, 12, "ends too early"},
		{`(frame > 1`, 10, "expected ')'"},
		{`frame = 1`, 6, "unknown operator"},
		{`frame > 1 )`, 10, "unexpected"},
		{`prefix << banana`, 10, "not a prefix"},
		{`severity == bad`, 12, "severity"},
		{`kind == "open`, 8, "unterminated"},
		{strings.Repeat("(", 100) + "frame" + strings.Repeat(")", 100), 65, "nested"},
	} {
		_, err := Parse(c.expr)
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("%q: %v, want a syntax error", c.expr, err)
			continue
		}
		if e.Pos != c.pos || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%q: at %d %q, want at %d %q", c.expr, e.Pos, e.Msg, c.pos, c.msg)
		}
		if !strings.Contains(e.Error(), "^") {
			t.Errorf("%q: the message does not point: %s", c.expr, e.Error())
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`vdaemon.type == "HELLO" && frame > 10`, `!(a || b) && prefix << 10.0.0.0/8`, `kind contains "x\"y"`, `((((`} {
		f.Add(s, update)
	}
	f.Fuzz(func(t *testing.T, expr, line string) {
		flt, err := Parse(expr)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("%q: error of type %T", expr, err)
			}
			return
		}
		flt.MatchJSON([]byte(line)) // never panics
	})
}

// TestWiresharkFieldNames: the Wireshark dissector's field names select
// what ompscope's own names do (one list, docs/wireshark.md).
func TestWiresharkFieldNames(t *testing.T) {
	js := []byte(`{"schema":"ompscope.dissect/3","frame":7,"vdaemon":{"header":{"type":"DATA","device_type":"vEdge","domain_id":1,"site_id":100}},` +
		`"omp":[{"type":"UPDATE","family":"route-ipv4","reachable":[{"path_id":3,"vpn":10,"prefix":"10.0.1.0/24"}],` +
		`"attributes":[{"code":1,"name":"ORIGINATOR","flags":64,"address":"10.255.0.1"}]}]}`)
	for _, c := range [][2]string{
		{`omp.update.prefix << 10.0.0.0/16`, `prefix << 10.0.0.0/16`},
		{`vdaemon.device_type == "vEdge"`, `device == "vEdge"`},
		{`vdaemon.site_id == 100`, `site == 100`},
		{`omp.update.vpn == 10`, `vpn == 10`},
		{`omp.update.path_id == 3`, `path_id == 3`},
		{`omp.update.family == "route-ipv4"`, `family == "route-ipv4"`},
		{`omp.update.prefix << 192.168.0.0/16`, `prefix << 192.168.0.0/16`},
	} {
		a, err := Parse(c[0])
		if err != nil {
			t.Fatalf("%s: %v", c[0], err)
		}
		b, err := Parse(c[1])
		if err != nil {
			t.Fatalf("%s: %v", c[1], err)
		}
		if a.MatchJSON(js) != b.MatchJSON(js) {
			t.Errorf("%s and %s disagree", c[0], c[1])
		}
	}
	if f, _ := Parse(`omp.update.prefix << 10.0.0.0/16 && vdaemon.device_type == "vEdge"`); !f.MatchJSON(js) {
		t.Error("the Wireshark names select nothing")
	}
}
