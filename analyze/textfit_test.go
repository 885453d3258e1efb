package analyze

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTextTableFits(t *testing.T) {
	tt := &textTable{flex: []int{3}, keep: map[int]int{0: 8}}
	tt.row("NAME", "STATE", "COUNT →/←", "NOTE")
	tt.row("10.255.1.195 (vEdge site 550)", "up", "100/4900", "")
	tt.row("1.1.1.3 (vSmart site 1000)", "down", "0/0", strings.Repeat("torn down by the peer ", 5))
	for _, width := range []int{0, 200, 70, 40, 30} {
		var b strings.Builder
		if err := tt.write(&b, width); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("width %d: %d lines", width, len(lines))
		}
		for _, l := range lines {
			n := utf8.RuneCountInString(l)
			if width > 0 && n > width {
				t.Errorf("width %d: line of %d columns: %q", width, n, l)
			}
			if strings.HasSuffix(l, " ") {
				t.Errorf("width %d: trailing spaces: %q", width, l)
			}
		}
		switch width {
		case 0, 200:
			if !strings.Contains(b.String(), "10.255.1.195 (vEdge site 550)") || strings.Contains(b.String(), "…") {
				t.Errorf("width %d: cells were cut:\n%s", width, b.String())
			}
		case 70:
			// the free-text column gives way first; the name stays whole
			if !strings.Contains(b.String(), "10.255.1.195 (vEdge site 550)") || !strings.Contains(lines[2], "…") {
				t.Errorf("width 70: the note should be cut, the name kept:\n%s", b.String())
			}
		case 30:
			if !strings.HasPrefix(lines[1], "10.255.…") {
				t.Errorf("width 30: the name keeps its 8 columns:\n%s", b.String())
			}
		}
	}
	if got := cut("abcdef", 4); got != "abc…" {
		t.Errorf("cut: %q", got)
	}
	if got := cut("ab→/←cd", 5); got != "ab→/…" {
		t.Errorf("cut counts runes: %q", got)
	}
}
