package linediff

import "testing"

func TestFirst(t *testing.T) {
	for _, c := range []struct {
		want, got []string
		i         int
		w, g      string
		differ    bool
	}{
		{nil, nil, 0, "", "", false},
		{[]string{"a", "b"}, []string{"a", "b"}, 0, "", "", false},
		{[]string{"a", "b"}, []string{"a", "c"}, 1, "b", "c", true},
		{[]string{"a"}, []string{"a", "c"}, 1, "(none)", "c", true},
		{[]string{"a", "b"}, []string{"a"}, 1, "b", "(none)", true},
	} {
		i, w, g, differ := First(c.want, c.got)
		if i != c.i || w != c.w || g != c.g || differ != c.differ {
			t.Errorf("First(%q, %q) = %d %q %q %v", c.want, c.got, i, w, g, differ)
		}
	}
}
