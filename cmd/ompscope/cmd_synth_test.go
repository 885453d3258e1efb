package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/pcaps/manifest"
	"github.com/ompscope/ompscope/pcaps/synth"
)

func TestSynthList(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"synth", "--list"}, nil, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, sc := range synth.Scenarios() {
		if !strings.Contains(out.String(), sc.Name+" ") {
			t.Errorf("--list lacks %s:\n%s", sc.Name, out.String())
		}
	}
	if n := strings.Count(out.String(), "\n"); n != len(synth.Scenarios()) {
		t.Errorf("--list printed %d lines for %d scenarios", n, len(synth.Scenarios()))
	}
}

func TestSynthWrites(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run([]string{"synth", "--scenario", "route-flap", "-o", dir, "--edges", "3", "--seed", "9", "--suites",
		"TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,TLS_PSK_WITH_AES_128_CCM", "-q"},
		nil, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if errb.Len() != 0 {
		t.Errorf("-q, yet stderr says %q", errb.String())
	}
	for _, ext := range []string{".pcapng", ".pcap", ".keys", ".manifest.json"} {
		fi, err := os.Stat(filepath.Join(dir, "route-flap"+ext))
		if err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v", ext, err)
		}
	}
	m, err := manifest.Read(filepath.Join(dir, "route-flap.manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Scenario != "route-flap" || m.Seed != 9 || len(m.Anomalies) != 1 || m.Anomalies[0].Kind != "route-flap" {
		t.Errorf("manifest: %s seed %d anomalies %+v", m.Scenario, m.Seed, m.Anomalies)
	}
	suites := map[string]bool{}
	for _, s := range m.Sessions {
		suites[s.Suite] = true
	}
	for _, want := range []string{"TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "TLS_PSK_WITH_AES_128_CCM"} {
		if !suites[want] {
			t.Errorf("no session uses %s: %v", want, suites)
		}
	}
	if !strings.Contains(out.String(), "wrote ") {
		t.Errorf("stdout: %q", out.String())
	}
	keys, _ := os.ReadFile(filepath.Join(dir, "route-flap.keys"))
	if got := strings.Count(string(keys), "CLIENT_RANDOM "); got != len(m.Sessions) {
		t.Errorf("%d key log lines for %d sessions", got, len(m.Sessions))
	}
}

func TestSynthUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"synth", "--no-such-flag"},
		{"synth", "-o", dir},
		{"synth", "--scenario", "nope", "-o", dir},
		{"synth", "--scenario", "baseline"},
		{"synth", "--scenario", "baseline", "-o", dir, "--edges", "x"},
		{"synth", "--scenario", "baseline", "-o", dir, "--edges", "1"},
		{"synth", "--scenario", "baseline", "-o", dir, "--tls", "2"},
		{"synth", "--scenario", "baseline", "-o", dir, "--duration", "5s"},
		{"synth", "--scenario", "baseline", "-o", dir, "--suites", "TLS_NOPE"},
		{"synth", "--scenario", "baseline", "-o", dir, "--tables", "counts"},
		{"synth", "--scenario", "baseline", "-o", dir, "extra"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, nil, &out, &errb); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, errb.String())
		}
		if errb.Len() == 0 {
			t.Errorf("%v: nothing on stderr", args)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors wrote files: %v", entries)
	}
}
