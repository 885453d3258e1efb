package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAttackCertificateRaisedAtHandshake: the attacker's session that no
// key decrypts is reported by its certificate when the handshake shows
// it, not when the capture ends, with one worker or several; the whole
// run finds only the attack's anomalies.
func TestAttackCertificateRaisedAtHandshake(t *testing.T) {
	for _, j := range []string{"1", "2"} {
		code, out, errs := runCmd(t, "", "analyze", "-r", "../../pcaps/attack-cve-2026-20182.pcapng", "-T", "json", "-j", j)
		if code != 0 {
			t.Fatalf("-j %s: exit %d: %s", j, code, errs)
		}
		var sum struct {
			Anomalies []struct {
				Kind, Subject, Start, Raised, Explanation string
				Severity                                  string
			}
		}
		if err := json.Unmarshal([]byte(out), &sum); err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, a := range sum.Anomalies {
			kinds[a.Kind]++
			if a.Kind == "rogue-certificate" && strings.Contains(a.Explanation, "could not be decrypted") {
				if a.Raised != a.Start || a.Severity != "critical" {
					t.Errorf("-j %s: undecryptable attacker raised %s, its certificate at %s", j, a.Raised, a.Start)
				}
			}
		}
		want := map[string]int{"rogue-certificate": 2, "cve-2026-20182-vhub-bypass": 1, "ssh-key-injection": 1, "decryption-gap": 1}
		for k, n := range want {
			if kinds[k] != n {
				t.Errorf("-j %s: %d %s, want %d (all: %v)", j, kinds[k], k, n, kinds)
			}
		}
		if len(kinds) != len(want) {
			t.Errorf("-j %s: kinds %v", j, kinds)
		}
	}
}
