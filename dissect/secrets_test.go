package dissect

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// TestSecretsFlood (issue 18, item 3): two hundred thousand Decryption
// Secrets Blocks that are not a TLS key log are counted per type, one line
// in the statistics, not one error each; bad key-log lines past
// MaxSecretErrors are counted.
func TestSecretsFlood(t *testing.T) {
	d := New(Config{Keys: tlsdec.NewKeyStore()}, func(*Event) {})
	for i := 0; i < 200_000; i++ {
		d.Secrets(0x12345678, []byte("ssh"))
	}
	for i := 0; i < 300; i++ {
		d.Secrets(0x544c534b, []byte("CLIENT_RANDOM zz\n")) // a TLS key log with a bad line
	}
	c := d.Counters
	if c.Secrets != 200_300 || c.OtherSecrets[0x12345678] != 200_000 || len(c.SecretErrors) != MaxSecretErrors || c.SecretErrorsMore != 200 {
		t.Fatalf("secrets %d, other %v, errors %d (+%d)", c.Secrets, c.OtherSecrets, len(c.SecretErrors), c.SecretErrorsMore)
	}
	var w bytes.Buffer
	d.Finish()
	d.WriteStats(&w)
	if n := strings.Count(w.String(), "key material:"); n != MaxSecretErrors+2 || !strings.Contains(w.String(), "200000 decryption secrets block(s) of type 0x12345678") {
		t.Errorf("%d key-material lines:\n%.600s", n, w.String())
	}
}
