package main

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ompscope/ompscope/pcaps/synth"
)

// TestSummaryFitsAt500Edges: the text summary of a 500-edge fabric (2 001
// sessions, 502 devices) fits 120 columns (or --width), lists the top
// sessions and devices and counts the rest, and --top 0 lists them all.
func TestSummaryFitsAt500Edges(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 500-edge capture")
	}
	dir := t.TempDir()
	if _, _, err := synth.WriteFiles(synth.Options{Scenario: "scale", Seed: 1, Edges: 500, Routes: 5000}, dir); err != nil {
		t.Fatal(err)
	}
	capf := filepath.Join(dir, "scale.pcapng")
	check := func(width int, args ...string) []string {
		code, out, errs := runCmd(t, "", append([]string{"analyze", "-j", "2", "-r", capf, "-T", "text"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > width {
				t.Errorf("%v: a line of %d columns (limit %d): %q", args, n, width, l)
				break
			}
		}
		return lines
	}
	lines := check(120)
	out := strings.Join(lines, "\n")
	for _, want := range []string{"2001 sessions: ", "… and 1981 more sessions", "502 devices: 500 vEdge; 2 vSmart", "… and 482 more devices", "501: "} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
	if len(lines) > 80 {
		t.Errorf("%d lines for the default summary", len(lines))
	}
	narrow := check(80, "--width", "80", "--top", "5")
	if !strings.Contains(strings.Join(narrow, "\n"), "… and 1996 more sessions") {
		t.Errorf("--top 5: %s", strings.Join(narrow, "\n"))
	}
	all := check(160, "--width", "160", "--top", "0")
	if len(all) < 2001+502 {
		t.Errorf("--top 0: %d lines, want every session and device", len(all))
	}
}
