package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
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

// TestSynthLive runs a short live replay over loopback sockets (as fast as
// possible): the files of -o are those of the offline run with the same
// flags (the manifest byte for byte, the same key lines), plus the live
// details; the key log went to --keylog, appended to.
func TestSynthLive(t *testing.T) {
	dir, off := t.TempDir(), t.TempDir()
	keylog := filepath.Join(t.TempDir(), "live.keys")
	if err := os.WriteFile(keylog, []byte("# an earlier line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"synth", "-s", "baseline", "--edges", "2", "--seed", "3", "--tls", "0.5", "--ipv6", "0.5", "--duration", "30s", "-q"}
	var out, errb bytes.Buffer
	args := append(append([]string{}, common...), "--live", "--to", "127.76.0.1", "--speed", "0", "--keylog", keylog, "-o", dir)
	if code := run(args, nil, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if errb.Len() != 0 {
		t.Errorf("-q, yet stderr says %q", errb.String())
	}
	if !strings.HasPrefix(out.String(), "live baseline: sent ") || !strings.Contains(out.String(), ".live.json") {
		t.Errorf("stdout: %q", out.String())
	}
	var out2, errb2 bytes.Buffer
	if code := run(append(append([]string{}, common...), "-o", off), nil, &out2, &errb2); code != exitOK {
		t.Fatalf("offline: exit %d: %s", code, errb2.String())
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(read(filepath.Join(dir, "baseline.manifest.json")), read(filepath.Join(off, "baseline.manifest.json"))) {
		t.Error("the live run's manifest differs from the offline one")
	}
	m, err := manifest.Read(filepath.Join(dir, "baseline.manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".pcapng", ".pcap", ".keys"} {
		if fi, err := os.Stat(filepath.Join(dir, "baseline"+ext)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", ext, err)
		}
	}
	lines := func(b []byte) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if strings.HasPrefix(l, "CLIENT_RANDOM ") {
				m[l] = true
			}
		}
		return m
	}
	live, offKeys, dirKeys := lines(read(keylog)), lines(read(filepath.Join(off, "baseline.keys"))), lines(read(filepath.Join(dir, "baseline.keys")))
	if len(live) != len(m.Sessions) || len(dirKeys) != len(m.Sessions) || len(offKeys) != len(m.Sessions) {
		t.Errorf("key lines: live %d, -o %d, offline %d; %d sessions", len(live), len(dirKeys), len(offKeys), len(m.Sessions))
	}
	for l := range live {
		if !dirKeys[l] {
			t.Errorf("live key line %q is not in the run's own key log", l)
		}
	}
	if !strings.HasPrefix(string(read(keylog)), "# an earlier line\n") {
		t.Error("--keylog was not appended to")
	}
	var info synth.LiveInfo
	if err := json.Unmarshal(read(filepath.Join(dir, "baseline.live.json")), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Sessions) != len(m.Sessions) || info.Stats.Packets == 0 || info.Stats.KeyedSessions != len(m.Sessions) || info.Speed != 0 {
		t.Fatalf("live.json: %d sessions, stats %+v", len(info.Sessions), info.Stats)
	}
	for i, s := range info.Sessions {
		ms := m.Sessions[i]
		if s.Client.String() != ms.Client || s.Server.String() != ms.Server {
			t.Errorf("session %d: %s > %s in live.json, %s > %s in the manifest", i, s.Client, s.Server, ms.Client, ms.Server)
		}
		for _, ap := range []netip.AddrPort{s.LiveClient, s.LiveServer} {
			if b := ap.Addr().As4(); b[0] != 127 || b[1] != 76 {
				t.Errorf("session %d: live address %s", i, ap)
			}
		}
		if v, ok := info.Virtual(s.LiveServer); !ok || v != s.Server {
			t.Errorf("session %d: %s maps back to %v", i, s.LiveServer, v)
		}
	}
}

func TestSynthLiveUsageErrors(t *testing.T) {
	dir := t.TempDir()
	base := []string{"synth", "-s", "baseline", "--edges", "2", "-o", dir}
	for _, extra := range [][]string{
		{"--live", "--to", "10.0.0.1"},
		{"--live", "--to", "::1"},
		{"--live", "--to", "localhost"},
		{"--live", "--speed", "-1"},
		{"--live", "--key-lead", "-1s"},
		{"--speed", "2"},
		{"--to", "127.0.0.1"},
		{"--keylog", "x.keys"},
		{"--hold"},
	} {
		var out, errb bytes.Buffer
		args := append(append([]string{}, base...), extra...)
		if code := run(args, nil, &out, &errb); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", extra, code, exitUsage, errb.String())
		}
		if errb.Len() == 0 {
			t.Errorf("%v: nothing on stderr", extra)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"synth", "-s", "baseline", "--live"}, nil, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "--keylog") {
		t.Errorf("--live without --keylog or -o: exit %d, %q", code, errb.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors wrote files: %v", entries)
	}
}
