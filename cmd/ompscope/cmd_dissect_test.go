package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/tlsdec"
	"github.com/ompscope/ompscope/pcaps/manifest"
)

func TestDissectCommand(t *testing.T) {
	m, err := manifest.Read("../../pcaps/baseline.manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "", "dissect", "-r", "../../pcaps/baseline.pcapng", "-T", "json", "--payload")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != m.DecryptableRecords {
		t.Errorf("%d objects, the manifest has %d decryptable records", len(lines), m.DecryptableRecords)
	}
	var o map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)/2]), &o); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema", "ts", "frame", "src", "dst", "transport", "session", "direction", "vdaemon", "payload"} {
		if _, ok := o[k]; !ok {
			t.Errorf("object lacks %q: %v", k, o)
		}
	}
	code, out, errs = runCmd(t, "", "dissect", "-r", "../../pcaps/baseline.pcapng", "-T", "text", "-V")
	if code != 0 || !strings.Contains(out, "OMP UPDATE") || !strings.Contains(out, "    vdaemon DATA") || !strings.Contains(errs, "sessions") {
		t.Errorf("text: %d %.300s / %.300s", code, out, errs)
	}
	// the pcap without its keys: nothing decrypted, every session says
	// why, and the exit status says nothing could be read
	code, out, errs = runCmd(t, "", "dissect", "-r", "../../pcaps/baseline.pcap", "-q", "--stats")
	if code != exitUnread || out != "" || !strings.Contains(errs, "no-key") {
		t.Errorf("no keys: %d %q %.400s", code, out, errs)
	}
	if code, _, _ := runCmd(t, "", "dissect"); code != exitUsage {
		t.Errorf("no -r: %d", code)
	}
	if code, _, _ := runCmd(t, "", "dissect", "-r", "../../pcaps/baseline.pcap", "--keylog", "/nonexistent"); code != exitRuntime {
		t.Errorf("missing key log: %d", code)
	}
	if code, _, _ := runCmd(t, "", "dissect", "-r", "../../pcaps/baseline.pcap", "--tls-port", "70000"); code != exitUsage {
		t.Errorf("bad port: %d", code)
	}
}

// TestDissectStatsOlderSecretsDropped: a key log that re-keys one client
// random more often than the key store keeps (the current secret and 8
// older ones) decrypts the capture as before, and --stats says how many
// older secrets were dropped, without printing any secret.
func TestDissectStatsOlderSecretsDropped(t *testing.T) {
	keys, err := os.ReadFile("../../pcaps/baseline.keys")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.Write(keys)
	cr := strings.Repeat("ab", 32)
	for i := range 11 {
		fmt.Fprintf(&b, "CLIENT_RANDOM %s %s\n", cr, strings.Repeat(fmt.Sprintf("%02x", 0x10+i), 48))
	}
	kl := filepath.Join(t.TempDir(), "rekeyed.keys")
	if err := os.WriteFile(kl, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCmd(t, "", "dissect", "-r", "../../pcaps/baseline.pcap", "--keylog", kl, "-q", "--stats")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "key material: 0 key(s) refused (the store held its maximum), 2 older secret(s) of re-keyed client randoms or PSK identities dropped (8 kept each)") {
		t.Errorf("stats do not tell the dropped secrets:\n%s", errs)
	}
	for i := range 11 {
		if strings.Contains(errs, strings.Repeat(fmt.Sprintf("%02x", 0x10+i), 8)) {
			t.Fatalf("a secret is printed:\n%s", errs)
		}
	}
}

// TestRefusedKeysHint: keys the key store refused at its caps (4 M master
// secrets: too many to make in a test) are told with the caps and what
// they cost; none refused, nothing is said.
func TestRefusedKeysHint(t *testing.T) {
	if h := refusedKeysHint("analyze", tlsdec.KeyCounts{MasterSecrets: 3}); h != "" {
		t.Errorf("no key refused: %q", h)
	}
	want := "ompscope analyze: 2 key(s) were refused: the key store held its maximum (4194304 master secrets, 65536 PSK identities); " +
		"the records of their sessions stay encrypted (dissect --stats counts them).\n"
	if h := refusedKeysHint("analyze", tlsdec.KeyCounts{MasterSecrets: tlsdec.MaxMasterSecrets, Refused: 2}); h != want {
		t.Errorf("hint %q, want %q", h, want)
	}
}
