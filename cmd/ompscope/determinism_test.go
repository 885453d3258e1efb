package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestSameInputSameOutput runs every output of analyze and dissect on
// every sample (pcapng with its own keys, pcap with its key file, and pcap
// with no keys at all) with one, two and three workers (--jobs) and wants
// byte-identical output: no map order, pointer or clock may leak into what
// is printed, and sharding the sessions must not change it.
func TestSameInputSameOutput(t *testing.T) {
	files, _ := filepath.Glob("../../pcaps/*.pcapng")
	if len(files) < 14 {
		t.Fatalf("%d samples, want at least 14", len(files))
	}
	jobs := []string{"1", "2", "3"}
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
					for i, j := range jobs {
						code, out, errs := runCmd(t, "", append([]string{args[0], "-j", j}, args[1:]...)...)
						got := fmt.Sprintf("exit %d\n%s\n--- stderr\n%s", code, out, errs)
						if i == 0 {
							first = got
							if len(out) == 0 && m[0] == "analyze" {
								t.Errorf("%v: no output", args)
							}
							continue
						}
						if got != first {
							t.Errorf("%v: with -j %s differs from -j 1 at byte %d:\n%s", args, j, firstDiff(first, got), around(got, firstDiff(first, got)))
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

func around(s string, i int) string {
	return s[max(0, i-200):min(len(s), i+200)]
}
