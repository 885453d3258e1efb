package main

import (
	"fmt"
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
		{[]string{"analyze", "-r", "../../pcaps/route-flap.pcapng", "--fail-on", "bad"}, 2, "want info, warning or error"},
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
	code, out, errs := runCmd(t, "", "dissect", "-r", "../../pcaps/baseline.pcapng", "-T", "text", "-c", "12")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "7 ") {
		t.Fatalf("first line %q: want frame 7 first", lines[0])
	}
	for _, l := range lines {
		var f int
		if _, err := fmtSscan(l, &f); err != nil || f < 1 || f > 12 {
			t.Errorf("line %q: not a frame of the first 12", l)
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
