package analyze

import "strings"

type explainText struct {
	sev      string
	subject  string
	meaning  string
	matters  string
	check    string
	settings string
}

// Explain returns the --explain text of a kind: what it means, why it
// matters, what to check on the devices, its subject form and settings.
func Explain(k Kind) (string, bool) {
	var e explainText
	ok := false
	for _, d := range kindDefs {
		if d.kind == k {
			e, ok = d.explainText, true
		}
	}
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.WriteString(string(k) + " (severity " + e.sev + ")\n\n")
	b.WriteString("Subject: " + e.subject + "\n\n")
	b.WriteString("What it means:\n" + wrap(e.meaning, 76, "  ") + "\n")
	b.WriteString("Why it matters:\n" + wrap(e.matters, 76, "  ") + "\n")
	b.WriteString("What to check on the devices:\n" + wrap(e.check, 76, "  ") + "\n")
	b.WriteString("Settings:\n" + wrap(e.settings, 76, "  "))
	return b.String(), true
}

func wrap(s string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, w := range strings.Fields(s) {
		if len(line) > len(indent) && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += w
	}
	if len(line) > len(indent) {
		b.WriteString(line + "\n")
	}
	return b.String()
}
