package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestSameInputSameOutput runs every output of analyze and dissect twice on
// every sample (pcapng with its own keys, pcap with its key file, and pcap
// with no keys at all) and wants byte-identical output: no map order,
// pointer or clock may leak into what is printed.
func TestSameInputSameOutput(t *testing.T) {
	files, _ := filepath.Glob("../../pcaps/*.pcapng")
	if len(files) < 14 {
		t.Fatalf("%d samples, want at least 14", len(files))
	}
	const runs = 2
	for _, ng := range files {
		base := strings.TrimSuffix(ng, ".pcapng")
		name := filepath.Base(base)
		inputs := [][]string{
			{"-r", ng},
			{"-r", base + ".pcap", "--keylog", base + ".keys"},
			{"-r", base + ".pcap"}, // keyless: gaps, evictions of waiting records, no tables
		}
		modes := [][]string{
			{"analyze", "-T", "json"},
			{"analyze", "-T", "text"},
			{"analyze", "--timeline", "-"},
			{"analyze", "--at", "end", "-T", "json"},
			{"analyze", "--diff", "0,end", "-T", "text"},
			{"dissect", "-T", "json", "--stats"},
			{"dissect", "-T", "text", "-V"},
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, in := range inputs {
				for _, m := range modes {
					args := append(append([]string(nil), m...), in...)
					var first string
					for i := 0; i < runs; i++ {
						code, out, errs := runCmd(t, "", args...)
						got := fmt.Sprintf("exit %d\n%s\n--- stderr\n%s", code, out, errs)
						if i == 0 {
							first = got
							if len(out) == 0 && m[0] == "analyze" {
								t.Errorf("%v: no output", args)
							}
							continue
						}
						if got != first {
							t.Errorf("%v: run %d differs from run 1 at byte %d", args, i+1, firstDiff(first, got))
						}
					}
				}
			}
		})
	}
}

func firstDiff(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
