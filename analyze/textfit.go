package analyze

import (
	"io"
	"strings"
	"unicode/utf8"
)

// textTable lays rows of cells out in columns that fit a width: a column
// as wide as its widest cell, unless the table would be wider than the
// width; then the widest columns are narrowed, all to the same cap, until
// it fits, and the cells longer than their column are cut with an ellipsis
// (not lines chopped at the margin). text/tabwriter, which it replaces,
// pads every row to the widest cell: a vSmart with 2 000 peers made every
// FABRIC line 6 351 columns wide.
type textTable struct {
	rows [][]string
	flex []int       // columns of free text, narrowed first (down to minFlex)
	keep map[int]int // columns that keep at least this width (who a line is about)
}

const (
	colGap    = 2
	minColumn = 4  // narrower, a cut cell says nothing
	minFlex   = 16 // a free-text column keeps this much before the others give way
)

func (t *textTable) row(cells ...string) { t.rows = append(t.rows, cells) }

// write writes the table; width 0 means no limit.
func (t *textTable) write(w io.Writer, width int) error {
	n := 0
	for _, r := range t.rows {
		n = max(n, len(r))
	}
	if n == 0 {
		return nil
	}
	cols := make([]int, n)
	for _, r := range t.rows {
		for i, c := range r {
			cols[i] = max(cols[i], utf8.RuneCountInString(c))
		}
	}
	if width > 0 {
		room := width - colGap*(n-1)
		sum := 0
		for _, c := range cols {
			sum += c
		}
		for _, i := range t.flex {
			if i < n && sum > room && cols[i] > minFlex {
				d := min(sum-room, cols[i]-minFlex)
				cols[i] -= d
				sum -= d
			}
		}
		mins := make([]int, n)
		total := 0
		for i := range mins {
			mins[i] = min(max(minColumn, t.keep[i]), cols[i])
			total += mins[i]
		}
		if total > room { // too narrow to keep who each line is about whole
			for i := range mins {
				mins[i] = min(minColumn, cols[i])
			}
		}
		fit(cols, mins, room)
	}
	var b strings.Builder
	for _, r := range t.rows {
		b.Reset()
		for i, c := range r {
			c = cut(c, cols[i])
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", cols[i]-utf8.RuneCountInString(c)+colGap))
			}
		}
		line := strings.TrimRight(b.String(), " ") + "\n"
		if _, err := io.WriteString(w, line); err != nil {
			return err
		}
	}
	return nil
}

// fit lowers the widest columns to one cap, none below its minimum, so
// that they sum to at most room if they can.
func fit(cols, mins []int, room int) {
	sum := 0
	for _, c := range cols {
		sum += c
	}
	if sum <= room {
		return
	}
	width := func(i, c int) int { return max(mins[i], min(cols[i], c)) }
	lo, hi := 0, 0 // the cap: the largest that fits
	for _, c := range cols {
		hi = max(hi, c)
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		s := 0
		for i := range cols {
			s += width(i, mid)
		}
		if s <= room {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	for i := range cols {
		cols[i] = width(i, lo)
	}
}

// cut shortens s to n runes, the last one an ellipsis when it was longer.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	i, k := 0, 0
	for j := range s {
		if k == n-1 {
			i = j
			break
		}
		k++
	}
	return s[:i] + "…"
}

// tabRows collects tab-separated lines, as text/tabwriter does, and writes
// them as a textTable fitted to width at Flush.
type tabRows struct {
	w       io.Writer
	width   int
	t       textTable
	partial []byte
}

func (r *tabRows) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := strings.IndexByte(string(p), '\n')
		if i < 0 {
			r.partial = append(r.partial, p...)
			break
		}
		line := string(append(r.partial, p[:i]...))
		r.partial = r.partial[:0]
		r.t.row(strings.Split(line, "\t")...)
		p = p[i+1:]
	}
	return n, nil
}

// Flush writes the rows collected and starts a new table.
func (r *tabRows) Flush() error {
	err := r.t.write(r.w, r.width)
	r.t.rows = r.t.rows[:0]
	return err
}

// para writes text word-wrapped to width (0: one line), each line after
// the first indented like the first.
func para(w io.Writer, width int, indent, text string) { hang(w, width, indent, indent, text) }

// hang is para with the lines after the first indented by rest.
func hang(w io.Writer, width int, indent, rest, text string) {
	if width <= 0 || utf8.RuneCountInString(indent+text) <= width {
		io.WriteString(w, indent+text+"\n")
		return
	}
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(text) {
		wl := utf8.RuneCountInString(word)
		if i > 0 && n+1+wl > width {
			b.WriteByte('\n')
			n = 0
			indent = rest
		}
		if n == 0 {
			b.WriteString(indent)
			n = utf8.RuneCountInString(indent)
		} else {
			b.WriteByte(' ')
			n++
		}
		if room := width - n; wl > room && room >= minColumn {
			word, wl = cut(word, room), room // a word longer than a line
		}
		b.WriteString(word)
		n += wl
	}
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}
