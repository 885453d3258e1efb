package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestExitCodes: 0 ok, 2 usage, 3 anomalies at or above --fail-on, 4 not
// one record of the capture's control connections could be read (with a
// hint naming the ways to give keys).
func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"analyze", "-r", "../../pcaps/baseline.pcapng", "-T", "json", "--fail-on", "warning"}, 0, ""},
		{[]string{"analyze", "-r", "../../pcaps/route-flap.pcapng", "-T", "json", "--fail-on", "warning"}, 3, ""},
		{[]string{"analyze", "-r", "../../pcaps/route-flap.pcapng", "-T", "json", "--fail-on", "error"}, 0, ""},
		{[]string{"analyze", "-r", "../../pcaps/route-flap.pcapng", "--fail-on", "bad"}, 2, "want info, warning, error or critical"},
		{[]string{"analyze", "-r", "../../pcaps/baseline.pcap", "-T", "json"}, 4, "--keylog FILE"},
		{[]string{"dissect", "-r", "../../pcaps/baseline.pcap", "-q"}, 4, "editcap --inject-secrets"},
		{[]string{"dissect", "-r", "../../pcaps/missing-keys.pcapng", "-q"}, 0, "the keys given do not include theirs"},
		{[]string{"analyze", "-r", "../../pcaps/baseline.pcap", "--keylog", "../../pcaps/baseline.keys", "-T", "json"}, 0, ""},
	} {
		code, _, errs := runCmd(t, "", c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, c.code, errs)
		}
		if c.err != "" && !strings.Contains(errs, c.err) {
			t.Errorf("%v: stderr %q lacks %q", c.args, errs, c.err)
		}
		if c.err == "" && strings.Contains(errs, "could not be decrypted") {
			t.Errorf("%v: a key hint without reason: %s", c.args, errs)
		}
	}
}

// TestDissectTextFramesAndCount: text lines start with the frame number
// (anomalies cite frames), and -c stops after N packets.
func TestDissectTextFramesAndCount(t *testing.T) {
	code, out, errs := runCmd(t, "", "dissect", "-r", "../../pcaps/baseline.pcapng", "-T", "text", "-c", "14")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "10 ") {
		t.Fatalf("first line %q: want frame 10 first (the first CHALLENGE)", lines[0])
	}
	for _, l := range lines {
		var f int
		if _, err := fmtSscan(l, &f); err != nil || f < 1 || f > 14 {
			t.Errorf("line %q: not a frame of the first 14", l)
		}
	}
}

func fmtSscan(s string, f *int) (int, error) { return fmt.Sscan(strings.Fields(s)[0], f) }

// TestAtRepeatedWithDiff: every --at instant gets its section (one JSON
// line each), and --diff is printed as well, in one pass.
func TestAtRepeatedWithDiff(t *testing.T) {
	code, out, errs := runCmd(t, "", "analyze", "-r", "../../pcaps/route-flap.pcapng", "-T", "json",
		"--at", "10", "--at", "end", "--diff", "10,end")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"at"`) || !strings.Contains(lines[1], `"at"`) ||
		!strings.Contains(lines[2], `"added"`) || lines[0] == lines[1] {
		t.Fatalf("%d lines: %.300s", len(lines), out)
	}
	code, out, _ = runCmd(t, "", "analyze", "-r", "../../pcaps/route-flap.pcapng", "-T", "text", "--at", "10", "--at", "end", "--diff", "10,end")
	if code != 0 || strings.Count(out, "OMP tables at ") != 2 || !strings.Contains(out, "OMP table changes from") {
		t.Errorf("text: %d %.400s", code, out)
	}
}

// TestProgress: --progress shows bytes, rate and time left on stderr and
// clears its line at the end; without it (stderr not a terminal) nothing.
func TestProgress(t *testing.T) {
	_, _, errs := runCmd(t, "", "analyze", "-r", "../../pcaps/edge-reboot-gr.pcapng", "-T", "json", "--progress")
	if !strings.Contains(errs, "packets, 0 of 0 MB") && !strings.Contains(errs, "MB/s") {
		t.Errorf("progress: %q", errs)
	}
	if !strings.HasSuffix(errs, "\r") {
		t.Errorf("the progress line is not cleared: %q", errs)
	}
	if _, _, errs := runCmd(t, "", "analyze", "-r", "../../pcaps/edge-reboot-gr.pcapng", "-T", "json"); errs != "" {
		t.Errorf("progress without a terminal: %q", errs)
	}
	if _, _, errs := runCmd(t, "", "dissect", "-r", "../../pcaps/edge-reboot-gr.pcapng", "-q", "--progress"); errs != "" {
		t.Errorf("dissect -q is silent: %q", errs)
	}
}

// TestFiltersApplyEverywhere: --vpn, --peer (and the others) filter the
// timeline and the summary, not only --at and --diff.
func TestFiltersApplyEverywhere(t *testing.T) {
	code, out, errs := runCmd(t, "", "analyze", "-r", "../../pcaps/route-flap.pcapng", "--timeline", "-", "--vpn", "10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	routes := 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			Type string `json:"type"`
			VPN  *int   `json:"vpn"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(e.Type, "tloc."):
			t.Errorf("--vpn 10 kept a TLOC event: %s", l)
		case strings.HasPrefix(e.Type, "route."):
			routes++
			if e.VPN == nil || *e.VPN != 10 {
				t.Errorf("--vpn 10 kept %s", l)
			}
		}
	}
	if routes == 0 {
		t.Error("--vpn 10: no route event left")
	}
	_, all, _ := runCmd(t, "", "analyze", "-r", "../../pcaps/route-flap.pcapng", "-T", "json")
	_, one, _ := runCmd(t, "", "analyze", "-r", "../../pcaps/route-flap.pcapng", "-T", "json", "--peer", "10.255.0.2")
	var sa, so struct {
		Peers []struct {
			Client struct {
				SystemIP string `json:"system_ip"`
			} `json:"client"`
		} `json:"peers"`
	}
	if json.Unmarshal([]byte(all), &sa) != nil || json.Unmarshal([]byte(one), &so) != nil {
		t.Fatal("summaries do not parse")
	}
	if len(so.Peers) == 0 || len(so.Peers) >= len(sa.Peers) {
		t.Fatalf("--peer: %d of %d sessions", len(so.Peers), len(sa.Peers))
	}
	for _, p := range so.Peers {
		if p.Client.SystemIP != "10.255.0.2" {
			t.Errorf("--peer 10.255.0.2 kept a session of %s", p.Client.SystemIP)
		}
	}
	if _, _, errs := runCmd(t, "", "analyze", "-r", "../../pcaps/route-flap.pcapng", "-T", "json", "--peer", "192.0.2.99"); !strings.Contains(errs, "no session of the capture has that end") {
		t.Errorf("--peer unknown: no warning: %q", errs)
	}
}

// TestDisplayFilter: -Y keeps the records (dissect) and timeline events
// (analyze) it matches; a bad expression is a usage error that points at
// the position.
func TestDisplayFilter(t *testing.T) {
	code, out, errs := runCmd(t, "", "dissect", "-r", "../../pcaps/route-flap.pcapng", "-T", "json", "-Y", `omp.type == UPDATE && prefix << 10.0.9.0/24`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	_, all, _ := runCmd(t, "", "dissect", "-r", "../../pcaps/route-flap.pcapng", "-T", "json")
	if len(lines) == 0 || len(lines) >= strings.Count(all, "\n") {
		t.Fatalf("-Y kept %d of %d records", len(lines), strings.Count(all, "\n"))
	}
	for _, l := range lines {
		if !strings.Contains(l, `"10.0.9.0/24"`) || !strings.Contains(l, `"UPDATE"`) {
			t.Errorf("kept: %.200s", l)
		}
	}
	code, out, _ = runCmd(t, "", "analyze", "-r", "../../pcaps/route-flap.pcapng", "--timeline", "-", "-Y", `type == "anomaly.start"`)
	tl := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(tl) != 2 || !strings.Contains(tl[0], "timeline.start") || !strings.Contains(tl[1], "route-flap") {
		t.Errorf("timeline -Y: %d, %d lines: %.300s", code, len(tl), out)
	}
	code, _, errs = runCmd(t, "", "dissect", "-r", "../../pcaps/route-flap.pcapng", "-Y", "frame >")
	if code != exitUsage || !strings.Contains(errs, "at 8: expected a value") || !strings.Contains(errs, "^") {
		t.Errorf("bad -Y: %d %q", code, errs)
	}
}

// TestDisplayOnDissectOutput: on real dissect output, a TLOC's color and
// system-ip select the UPDATEs whose TLOC attribute carries them (the
// attribute's tloc is the string "system-ip/color/encap"): exactly the
// records that have such an attribute (or NLRI, or, for the system-ip, a
// HANDSHAKE from it: fields are looked up at any depth).
func TestDisplayOnDissectOutput(t *testing.T) {
	const f = "../../pcaps/baseline.pcapng"
	_, all, _ := runCmd(t, "", "dissect", "-r", f, "-T", "json")
	for _, c := range []struct{ expr, color, sys string }{
		{`omp.type == UPDATE && color == "public-internet"`, "public-internet", ""},
		{`omp.type == UPDATE && !(color == "public-internet")`, "!public-internet", ""},
		{`omp.tloc.system_ip == 10.255.0.2`, "", "10.255.0.2"},
	} {
		var want []string
		for _, l := range strings.Split(strings.TrimSpace(all), "\n") {
			var rec struct {
				OMP []struct {
					Type      string
					SystemIP  string `json:"system_ip"` // a HANDSHAKE's
					Reachable []struct {
						SystemIP string `json:"system_ip"`
						Color    string
					}
					Withdrawn []struct {
						SystemIP string `json:"system_ip"`
						Color    string
					}
					Attributes []struct{ TLOC string }
				}
			}
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatal(err)
			}
			colors, sys := map[string]bool{}, map[string]bool{}
			update := false
			for _, m := range rec.OMP {
				update = update || m.Type == "UPDATE"
				sys[m.SystemIP] = true
				for _, n := range append(m.Reachable, m.Withdrawn...) {
					colors[n.Color], sys[n.SystemIP] = true, true
				}
				for _, a := range m.Attributes {
					if p := strings.Split(a.TLOC, "/"); len(p) == 3 {
						sys[p[0]], colors[p[1]] = true, true
					}
				}
			}
			var keep bool
			switch {
			case c.sys != "":
				keep = sys[c.sys]
			case strings.HasPrefix(c.color, "!"):
				keep = update && !colors[c.color[1:]]
			default:
				keep = update && colors[c.color]
			}
			if keep {
				want = append(want, l)
			}
		}
		code, out, errs := runCmd(t, "", "dissect", "-r", f, "-T", "json", "-Y", c.expr)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.expr, code, errs)
		}
		got := strings.Split(strings.TrimSpace(out), "\n")
		if out == "" {
			got = nil
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: -Y kept %d records, %d have it", c.expr, len(got), len(want))
		}
	}
}

// TestAtCSV: -T csv writes the --at tables as CSV, one header, one row a
// path of every table, for every instant asked; without --at it refuses.
func TestAtCSV(t *testing.T) {
	code, out, errs := runCmd(t, "", "analyze", "-r", "../../pcaps/route-flap.pcapng", "-T", "csv", "--at", "end", "--at", "10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 100 || recs[0][0] != "at" || recs[0][1] != "kind" {
		t.Fatalf("%d records, header %v", len(recs), recs[0])
	}
	kinds, ats := map[string]int{}, map[string]bool{}
	for _, r := range recs[1:] {
		kinds[r[1]]++
		ats[r[0]] = true
		if r[1] == "route" && (r[5] == "" || r[6] == "") {
			t.Errorf("a route without prefix or TLOC: %v", r)
		}
	}
	if kinds["route"] == 0 || kinds["tloc"] == 0 || kinds["service"] == 0 || len(ats) != 2 {
		t.Errorf("kinds %v, instants %v", kinds, ats)
	}
	if code, _, _ := runCmd(t, "", "analyze", "-r", "../../pcaps/route-flap.pcapng", "-T", "csv"); code != exitUsage {
		t.Errorf("-T csv without --at: exit %d", code)
	}
}

// TestNewFlagsRefuseBadValues: the flags of this change refuse bad values
// before anything is read (the capture named does not exist).
func TestNewFlagsRefuseBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"analyze", "-r", "/nonexistent.pcap", "--width", "-1"},
		{"analyze", "-r", "/nonexistent.pcap", "--top", "-3"},
		{"analyze", "-r", "/nonexistent.pcap", "-j", "0"},
		{"dissect", "-r", "/nonexistent.pcap", "-j", "300"},
		{"analyze", "-r", "/nonexistent.pcap", "-T", "csv"},
		{"analyze", "-r", "/nonexistent.pcap", "-Y", "(frame"},
		{"dissect", "-r", "/nonexistent.pcap", "-T", "yaml"},
		{"analyze", "-r", "/nonexistent.pcap", "--max-sessions", "8"},
		{"dissect", "-r", "/nonexistent.pcap", "--max-sessions", "9223372036854775807"},
	} {
		code, _, errs := runCmd(t, "", args...)
		if code != exitUsage || strings.Contains(errs, "nonexistent") {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
	}
}
