// Package linediff finds where two lists of lines part, for the tests (of
// dissect and cmd) that compare two runs' outputs line by line.
package linediff

// First returns the first index where want and got differ and the line of
// each there ("(none)" past its end); ok is false when they are equal.
func First(want, got []string) (i int, w, g string, ok bool) {
	for i = range max(len(want), len(got)) {
		if i >= len(want) || i >= len(got) || want[i] != got[i] {
			w, g = "(none)", "(none)"
			if i < len(want) {
				w = want[i]
			}
			if i < len(got) {
				g = got[i]
			}
			return i, w, g, true
		}
	}
	return 0, "", "", false
}
