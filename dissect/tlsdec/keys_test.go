package tlsdec

import (
	"bytes"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
)

const (
	cr1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	ms1 = "916abf9da55973e13614ae0a3f5d3f37b023ba129aee02cc9134338127cd7049781c8e19fc1eb2a7387ac06ae237344c"
)

func TestLoadKeyLog(t *testing.T) {
	in := strings.Join([]string{
		"# a comment",
		"",
		"CLIENT_RANDOM " + cr1 + " " + ms1,
		"CLIENT_RANDOM " + strings.ToUpper(strings.Repeat("ab", 32)) + " " + strings.ToUpper(ms1), // upper case hex
		"CLIENT_HANDSHAKE_TRAFFIC_SECRET " + cr1 + " " + strings.Repeat("00", 32),                 // TLS 1.3: ignored, counted
		"SERVER_TRAFFIC_SECRET_0 " + cr1 + " " + strings.Repeat("00", 48),                         // ignored, counted
		"CLIENT_RANDOM " + cr1[:62] + " " + ms1,                                                   // line 7: short random
		"CLIENT_RANDOM " + cr1 + " " + ms1[:94] + "zz",                                            // line 8: bad hex
		"CLIENT_RANDOM " + cr1, // line 9: 2 fields
		"garbage line here",    // line 10
		"CLIENT_RANDOM " + strings.Repeat("cd", 32) + " " + ms1 + "\r",        // CRLF
		"   CLIENT_RANDOM   " + strings.Repeat("ef", 32) + "\t" + ms1 + "   ", // spacing
		strings.Repeat("x", 5000),                               // line 13: too long
		"CLIENT_RANDOM " + strings.Repeat("01", 32) + " " + ms1, // after the long line
	}, "\n")
	ks := NewKeyStore()
	g0 := ks.Generation()
	n, errs := ks.LoadKeyLog(strings.NewReader(in), "keys.log")
	if n != 5 {
		t.Fatalf("n = %d, want 5; errs %v", n, errs)
	}
	wantLines := []string{"keys.log:7:", "keys.log:8:", "keys.log:9:", "keys.log:10:", "keys.log:13:"}
	if len(errs) != len(wantLines) {
		t.Fatalf("errors %v", errs)
	}
	for i, e := range errs {
		if !strings.HasPrefix(e.Error(), wantLines[i]) {
			t.Errorf("error %d = %q, want prefix %q", i, e, wantLines[i])
		}
	}
	if !strings.Contains(errs[0].Error(), "62 hex digits") || !strings.Contains(errs[1].Error(), "master secret") {
		t.Errorf("errors not specific: %v", errs)
	}
	c := ks.Counts()
	if c.MasterSecrets != 5 || c.IgnoredLines != 2 {
		t.Errorf("counts %+v", c)
	}
	if ks.Generation() == g0 {
		t.Error("generation unchanged")
	}
	var cr [32]byte
	hex.Decode(cr[:], []byte(cr1))
	e, ok := ks.master(&cr, 0)
	if !ok || hex.EncodeToString(e.secret) != ms1 || e.source != "keylog:keys.log" {
		t.Fatalf("lookup: %v %x %q", ok, e.secret, e.source)
	}
	// Upper-case hex decoded.
	b, _ := hex.DecodeString(strings.Repeat("ab", 32))
	copy(cr[:], b)
	if _, ok := ks.master(&cr, 0); !ok {
		t.Error("upper-case entry missing")
	}
}

func TestLoadKeyLogErrorCap(t *testing.T) {
	in := strings.Repeat("bad\n", 250)
	n, errs := NewKeyStore().LoadKeyLog(strings.NewReader(in), "f")
	if n != 0 || len(errs) != maxKeyLogErrs+1 || !strings.Contains(errs[maxKeyLogErrs].Error(), "150 more") {
		t.Fatalf("n %d, %d errs, last %v", n, len(errs), errs[len(errs)-1])
	}
}

func TestLoadDSB(t *testing.T) {
	ks := NewKeyStore()
	n, errs := ks.LoadDSB([]byte("CLIENT_RANDOM " + cr1 + " " + ms1 + "\n"))
	if n != 1 || errs != nil {
		t.Fatal(n, errs)
	}
	var cr [32]byte
	hex.Decode(cr[:], []byte(cr1))
	if e, _ := ks.master(&cr, 0); e.source != "dsb" {
		t.Fatalf("source %q", e.source)
	}
}

func TestKeyStoreAdds(t *testing.T) {
	ks := NewKeyStore()
	if err := ks.AddMasterSecret(make([]byte, 31), make([]byte, 48), "x"); err == nil {
		t.Error("short client random accepted")
	}
	if err := ks.AddMasterSecret(make([]byte, 32), make([]byte, 47), "x"); err == nil {
		t.Error("short master secret accepted")
	}
	if err := ks.AddPSK("id", nil); err == nil {
		t.Error("empty PSK accepted")
	}
	if err := ks.AddPSK(strings.Repeat("i", 2000), []byte{1}); err == nil {
		t.Error("huge identity accepted")
	}
	if err := ks.AddRSAKey([]byte("not pem")); err == nil {
		t.Error("garbage RSA key accepted")
	}
	if err := ks.AddRSAKey(ecdsaPEM(t)); err == nil || !strings.Contains(err.Error(), "not an RSA key") {
		t.Errorf("ECDSA key: %v", err)
	}
	if err := ks.AddRSAKey([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")); err == nil {
		t.Error("broken RSA key accepted")
	}
	if err := ks.AddRSAKey(rsaPEM(t)); err != nil {
		t.Fatal(err)
	}
	ks.AddPSK("", []byte("default"))
	ks.AddPSK("a", []byte("for a"))
	if e, _ := ks.psk("a", 0); string(e.secret) != "for a" {
		t.Error("identity lookup")
	}
	if e, _ := ks.psk("zzz", 0); string(e.secret) != "default" {
		t.Error("default lookup")
	}
	if c := ks.Counts(); c.PSKs != 2 || c.RSAKeys != 1 {
		t.Errorf("counts %+v", c)
	}
}

// TestKeyStoreConcurrent adds keys while another goroutine reads (run with
// -race).
func TestKeyStoreConcurrent(t *testing.T) {
	ks := NewKeyStore()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			line := "CLIENT_RANDOM " + strings.Repeat(hex.EncodeToString([]byte{byte(i)}), 32) + " " + ms1 + "\n"
			ks.LoadKeyLog(bytes.NewReader([]byte(line)), "live")
		}
	}()
	go func() {
		defer wg.Done()
		var cr [32]byte
		for i := 0; i < 200; i++ {
			ks.master(&cr, 0)
			ks.psk("x", 0)
			ks.Generation()
		}
	}()
	wg.Wait()
	if ks.Counts().MasterSecrets != 200 {
		t.Fatal(ks.Counts())
	}
}

func TestSuiteNames(t *testing.T) {
	for id, want := range map[uint16]string{
		0xc02b: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
		0xc0ae: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
		0x00ae: "TLS_PSK_WITH_AES_128_CBC_SHA256",
		0x1301: "TLS_AES_128_GCM_SHA256", // from crypto/tls
		0xfafa: "0xFAFA",
	} {
		if got := SuiteName(id); got != want {
			t.Errorf("SuiteName(%#x) = %q, want %q", id, got, want)
		}
	}
	if SuiteSupported(0x0005) || !SuiteSupported(0xc02f) || SuiteSupported(0xfafa) {
		t.Error("SuiteSupported")
	}
}

// TestKeyLimit: a view limited to a generation sees the keys as they were
// then, including one replaced since (a worker of a parallel run reads
// its packets with the keys that had arrived when they were read).
func TestKeyLimit(t *testing.T) {
	ks := NewKeyStore()
	var cr, cr2 [32]byte
	cr[0], cr2[0] = 1, 2
	m1, m2 := bytes.Repeat([]byte{1}, 48), bytes.Repeat([]byte{2}, 48)
	if err := ks.AddMasterSecret(cr[:], m1, "a"); err != nil {
		t.Fatal(err)
	}
	g1 := ks.Generation()
	if err := ks.AddMasterSecret(cr[:], m2, "b"); err != nil {
		t.Fatal(err)
	}
	if err := ks.AddMasterSecret(cr2[:], m2, "b"); err != nil {
		t.Fatal(err)
	}
	if err := ks.AddPSK("", []byte("late")); err != nil {
		t.Fatal(err)
	}
	if e, ok := ks.master(&cr, g1); !ok || !bytes.Equal(e.secret, m1) || e.source != "a" {
		t.Errorf("at generation %d: %v %q, want the first secret", g1, ok, e.source)
	}
	if e, ok := ks.master(&cr, 0); !ok || !bytes.Equal(e.secret, m2) {
		t.Errorf("unlimited: %v, want the second secret", ok)
	}
	if _, ok := ks.master(&cr2, g1); ok {
		t.Error("a key added after the limit is seen")
	}
	if _, ok := ks.psk("x", g1); ok {
		t.Error("a PSK added after the limit is seen")
	}
	if _, ok := ks.psk("x", 0); !ok {
		t.Error("the default PSK is not seen without a limit")
	}
	tr := NewTracker(ks, Options{})
	tr.SetKeyLimit(g1)
	if g := tr.keyGeneration(); g != g1 {
		t.Errorf("limited tracker sees generation %d, want %d", g, g1)
	}
}

// TestKeyReaddedNotChained: a key log read again (a rewritten or rotated
// file) does not lengthen the entries' history.
func TestKeyReaddedNotChained(t *testing.T) {
	ks := NewKeyStore()
	var cr [32]byte
	m := bytes.Repeat([]byte{7}, 48)
	for i := 0; i < 100; i++ {
		ks.AddMasterSecret(cr[:], m, "a")
	}
	e := ks.masters[cr]
	if e.prev != nil {
		t.Error("an identical key was chained")
	}
}
