package vdaemon

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ompscope/ompscope/dissect/internal/hexvec"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// TestPublicVectors decodes the messages of the public exploit modules for
// CVE-2026-20127 and CVE-2026-20182 and a CHALLENGE of the size seen on
// 20.12.6.1 and 20.15.3 (testdata/public-vectors.hex, sources in
// testdata/LICENSE-public-vectors.md): every field, and re-encoding byte
// for byte.
func TestPublicVectors(t *testing.T) {
	vecs, err := hexvec.Map("testdata/public-vectors.hex")
	if err != nil {
		t.Fatal(err)
	}
	dec := func(name string, size int, typ MsgType, dev sdwan.DeviceType) *Message {
		t.Helper()
		b := vecs[name]
		if len(b) != size {
			t.Fatalf("%s: %d bytes, want %d", name, len(b), size)
		}
		m, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h := m.Header
		if h.Version != 0 || h.Type != typ || h.Device != dev || h.Flags != 0xa0 || h.DomainID != 1 {
			t.Errorf("%s: header %+v", name, h)
		}
		out, err := Marshal(m)
		if err != nil || !bytes.Equal(out, b) {
			t.Errorf("%s: re-encode %v\n got %x\nwant %x", name, err, out, b)
		}
		if j := AppendJSON(nil, m); !json.Valid(j) {
			t.Errorf("%s: invalid JSON %s", name, j)
		}
		return m
	}

	m := dec("challenge-592", 592, TypeChallenge, sdwan.DeviceVSmart)
	ch := m.Body.(*Challenge)
	if ch.Random[0] != 0x03 || ch.Random[255] != 0xfc || len(ch.TLVs) != 6 || len(ch.Extra) != 0 {
		t.Errorf("challenge: random %x…%x, %d TLVs, extra %x", ch.Random[0], ch.Random[255], len(ch.TLVs), ch.Extra)
	}
	if k, ok := FindTLV(ch.TLVs, TLVServerKey); !ok || len(k.Raw) != 32 || k.UnexpectedLength {
		t.Errorf("challenge server key %+v", k)
	}
	if k, ok := FindTLV(ch.TLVs, 0x0040); !ok || len(k.Raw) != 256 {
		t.Errorf("challenge modulus TLV %+v", k)
	}

	m = dec("cve-2026-20127-challenge-ack-ack", 14, TypeChallengeAckAck, sdwan.DeviceVSmart)
	if b := m.Body.(*ChallengeAckAck); b.VerifyStatus != 1 || b.Reserved != 0 {
		t.Errorf("ack-ack %+v", b)
	}

	m = dec("cve-2026-20182-challenge-ack", 113, TypeChallengeAck, sdwan.DeviceVHub)
	ack := m.Body.(*ChallengeAck)
	if ack.Verified != 0 || ack.HardwareFlag != 0 || len(ack.TLVs) != 6 {
		t.Errorf("challenge-ack %+v", ack)
	}
	want := []TLV{{Type: TLVInstanceID}, {Type: TLVMaxInstances, Value: 1}, {Type: TLVFlags18, Value: 1},
		{Type: TLVFlags19}, {Type: TLVUUID, Text: "01234567-89ab-cdef-0123-456789abcdef"},
		{Type: TLVServerKey, Raw: []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef")}}
	for i, w := range want {
		if i < len(ack.TLVs) {
			g := ack.TLVs[i]
			if g.Type != w.Type || g.Value != w.Value || g.Text != w.Text || !bytes.Equal(g.Raw, w.Raw) || g.UnexpectedLength {
				t.Errorf("challenge-ack TLV %d: %+v, want %+v", i, g, w)
			}
		}
	}

	m = dec("exploit-hello-vhub", 67, TypeHello, sdwan.DeviceVHub)
	if h := m.Body.(*Hello); h.Addr.String() != "192.0.2.10" || h.Port != 12346 || h.Color != 1 ||
		h.IntervalMS != 10000 || h.ToleranceMS != 60000 || len(h.TLVs) != 2 {
		t.Errorf("hello %+v", h)
	}

	for _, c := range []struct {
		name    string
		dev     sdwan.DeviceType
		typ     string
		fp      string
		comment string
	}{
		{"cve-2026-20182-vmanage-to-peer", sdwan.DeviceVHub, "ssh-rsa", "SHA256:1x/NjWi+uRlWDt9yg7EU8df9p7LxkSeb/RR5JDhUnqI", ""},
		{"cve-2026-20127-vmanage-to-peer", sdwan.DeviceVSmart, "ssh-ed25519", "SHA256:ZkAslGjFiUHdGf/WUL8rQvkib4PTvQatUV0OUQSncCA", "attacker@kali"},
	} {
		m = dec(c.name, 781, TypeVManageToPeer, c.dev)
		v := m.Body.(*VManageToPeer)
		if len(v.Buffer) != AuthorizedKeysLen || v.Short || len(v.TLVs) != 0 || len(v.Extra) != 0 {
			t.Errorf("%s: buffer %d short %v TLVs %d extra %d", c.name, len(v.Buffer), v.Short, len(v.TLVs), len(v.Extra))
		}
		keys := v.Keys()
		if len(keys) != 1 || keys[0].Type != c.typ || keys[0].Fingerprint != c.fp || keys[0].Comment != c.comment ||
			keys[0].BadBase64 || keys[0].BlobType != c.typ || keys[0].Offset != 1 {
			t.Fatalf("%s: keys %+v", c.name, keys)
		}
		// the key itself is never printed: not in JSON, not in text
		blob := strings.Fields(string(v.Text()))[1]
		j := string(AppendJSON(nil, m))
		var tb strings.Builder
		WriteText(&tb, m, "")
		for what, out := range map[string]string{"JSON": j, "text": tb.String(), "summary": Summary(m)} {
			if strings.Contains(out, blob[:24]) {
				t.Errorf("%s: %s prints the key: %s", c.name, what, out)
			}
			if !strings.Contains(out, c.fp) {
				t.Errorf("%s: %s lacks the fingerprint: %s", c.name, what, out)
			}
		}
	}
}

// TestFindSSHKeys covers key text the modules do not send: options before
// the key, several keys, bad base64, a blob that names another algorithm.
func TestFindSSHKeys(t *testing.T) {
	text := []byte("from=\"10.0.0.1\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f a@b\n" +
		"ssh-rsa !!!notbase64 x\n" +
		"ecdsa-sha2-nistp256 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n" +
		"xssh-rsa AAAA notakey\n")
	keys := FindSSHKeys(text)
	if len(keys) != 3 {
		t.Fatalf("keys %+v", keys)
	}
	if keys[0].Type != "ssh-ed25519" || keys[0].Comment != "a@b" || keys[0].BadBase64 || keys[0].Offset != 16 {
		t.Errorf("key 0 %+v", keys[0])
	}
	if keys[1].Type != "ssh-rsa" || !keys[1].BadBase64 || keys[1].Comment != "x" {
		t.Errorf("key 1 %+v", keys[1])
	}
	if keys[2].Type != "ecdsa-sha2-nistp256" || keys[2].BlobType != "ssh-ed25519" || keys[2].Comment != "" {
		t.Errorf("key 2 %+v", keys[2])
	}
	if !strings.Contains(keys[2].Describe(), `blob says "ssh-ed25519"`) {
		t.Errorf("describe %s", keys[2].Describe())
	}
	// bounded: a buffer of keys stops at 16
	var many []byte
	for i := 0; i < 40; i++ {
		many = append(many, "ssh-rsa AAAA c\n"...)
	}
	if n := len(FindSSHKeys(many)); n != maxSSHKeys {
		t.Errorf("%d keys from 40, want %d", n, maxSSHKeys)
	}
}

// TestVManageToPeerBadTLVs: malformed bytes after the buffer do not hide
// the key (a controller reads only the buffer).
func TestVManageToPeerBadTLVs(t *testing.T) {
	vecs, err := hexvec.Map("testdata/public-vectors.hex")
	if err != nil {
		t.Fatal(err)
	}
	b := append(append([]byte(nil), vecs["cve-2026-20127-vmanage-to-peer"][:12+AuthorizedKeysLen]...), 5, 0)
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Body.(*VManageToPeer)
	if !v.BadTLVs || !bytes.Equal(v.Extra, []byte{5, 0}) || len(v.Keys()) != 1 || v.Keys()[0].Comment != "attacker@kali" {
		t.Errorf("%+v", v)
	}
	if out, err := Marshal(m); err != nil || !bytes.Equal(out, b) {
		t.Errorf("re-encode %v", err)
	}
	if j := string(AppendJSON(nil, m)); !strings.Contains(j, `"bad_tlvs":true,"extra":"0500"`) {
		t.Errorf("%s", j)
	}
	// a long comment is cut on a character boundary
	keys := FindSSHKeys([]byte("ssh-rsa AAAA " + strings.Repeat("é", 100)))
	if len(keys) != 1 || !utf8.ValidString(keys[0].Comment) || len(keys[0].Comment) > maxCommentLength+len("…") {
		t.Errorf("%q", keys[0].Comment)
	}
}
