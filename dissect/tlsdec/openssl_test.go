package tlsdec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// OpenSSL recordings: real DTLS 1.2 / TLS 1.2 sessions between the openssl
// s_client and s_server programs (OpenSSL is the stack SD-WAN devices use),
// recorded through a loopback proxy by TestRecordOpenSSL (run with
// TLSDEC_RECORD_OPENSSL=1) and stored in testdata/openssl. They exercise
// what pion and crypto/tls do not: encrypt-then-MAC (OpenSSL's default for
// CBC suites), several records per datagram, OpenSSL's cookie exchange,
// session resumption (abbreviated handshake), DHE, static RSA over DTLS.

const osslDir = "testdata/openssl"

type osslRecording struct {
	Name      string      `json:"name"`
	Transport string      `json:"transport"` // "dtls" or "tls"
	Cipher    string      `json:"cipher"`    // OpenSSL name
	Keys      string      `json:"keys"`      // "keylog", "rsa" or "psk"
	ETM       bool        `json:"etm"`
	Resumed   bool        `json:"resumed"` // the last connection resumes the first
	Keylog    string      `json:"keylog"`
	Chunks    []osslChunk `json:"chunks"`
	Sent      [2][]string `json:"sent"` // per connection order: client lines, server lines
	Conns     int         `json:"conns"`
}

type osslChunk struct {
	FromClient bool   `json:"c"`
	Conn       int    `json:"n"` // connection index (client port offset)
	Data       string `json:"d"` // base64
}

const osslPSK = "0123456789abcdef0123456789abcdef"

type osslCase struct {
	name, transport, cipher, keys string
	etm, resumed                  bool
	extraC, extraS                []string
	version                       string // s_client/s_server version flag override
	null                          bool   // NULL-cipher suite: plaintext on the wire
	legacy                        bool   // version below 1.2: not decrypted, reported
}

var osslCases = []osslCase{
	{name: "dtls-ecdhe-rsa-aes256gcm", transport: "dtls", cipher: "ECDHE-RSA-AES256-GCM-SHA384", keys: "keylog"},
	{name: "dtls-ecdhe-rsa-aes128cbc-etm", transport: "dtls", cipher: "ECDHE-RSA-AES128-SHA", keys: "keylog", etm: true},
	{name: "dtls-ecdhe-rsa-aes128cbc-noetm", transport: "dtls", cipher: "ECDHE-RSA-AES128-SHA", keys: "keylog", extraC: []string{"-no_etm"}},
	{name: "dtls-rsa-aes256sha256-etm", transport: "dtls", cipher: "AES256-SHA256", keys: "rsa", etm: true},
	{name: "dtls-rsa-aes128ccm", transport: "dtls", cipher: "AES128-CCM", keys: "rsa"},
	{name: "dtls-dhe-rsa-aes128gcm", transport: "dtls", cipher: "DHE-RSA-AES128-GCM-SHA256", keys: "keylog"},
	{name: "dtls-ecdhe-rsa-chacha20", transport: "dtls", cipher: "ECDHE-RSA-CHACHA20-POLY1305", keys: "keylog"},
	{name: "dtls-psk-aes256cbc-sha384-etm", transport: "dtls", cipher: "PSK-AES256-CBC-SHA384", keys: "psk", etm: true},
	{name: "dtls-psk-aes128ccm8", transport: "dtls", cipher: "PSK-AES128-CCM8", keys: "psk"},
	{name: "dtls-ecdhe-rsa-aes128gcm-mtu", transport: "dtls", cipher: "ECDHE-RSA-AES128-GCM-SHA256", keys: "keylog", extraC: []string{"-mtu", "300"}, extraS: []string{"-mtu", "300"}},
	{name: "tls-ecdhe-rsa-aes128sha256-etm", transport: "tls", cipher: "ECDHE-RSA-AES128-SHA256", keys: "keylog", etm: true},
	{name: "tls-rsa-aes256sha-etm", transport: "tls", cipher: "AES256-SHA", keys: "rsa", etm: true},
	{name: "tls-rsa-aes128gcm", transport: "tls", cipher: "AES128-GCM-SHA256", keys: "rsa"},
	{name: "tls-psk-chacha20", transport: "tls", cipher: "PSK-CHACHA20-POLY1305", keys: "psk"},
	{name: "tls-resumed", transport: "tls", cipher: "ECDHE-RSA-AES256-GCM-SHA384", keys: "keylog", resumed: true},
	{name: "tls-ecdhe-rsa-null-sha", transport: "tls", cipher: "ECDHE-RSA-NULL-SHA", keys: "keylog", null: true},
	{name: "dtls-psk-null-sha256", transport: "dtls", cipher: "PSK-NULL-SHA256", keys: "psk", null: true},
	{name: "tls11-legacy", transport: "tls", cipher: "ECDHE-RSA-AES128-SHA", keys: "keylog", version: "-tls1_1", legacy: true},
	{name: "dtls10-legacy", transport: "dtls", cipher: "ECDHE-RSA-AES128-SHA", keys: "keylog", version: "-dtls1", legacy: true},
}

// TestOpenSSLRecordings decrypts the stored OpenSSL sessions.
func TestOpenSSLRecordings(t *testing.T) {
	for _, c := range osslCases {
		if c.legacy || c.null {
			continue // TestOpenSSLNullAndLegacy
		}
		t.Run(c.name, func(t *testing.T) {
			var got [2][]string
			emit := func(r *Record) {
				if r.ContentType == ContentApplicationData {
					if !r.Decrypted {
						t.Fatal("application data not decrypted")
					}
					got[r.Dir-1] = append(got[r.Dir-1], string(r.Plaintext))
				}
			}
			tr, rec := loadOSSL(t, c.name, true, emit)
			for d := 0; d < 2; d++ {
				if strings.Join(got[d], "|") != strings.Join(rec.Sent[d], "|") {
					t.Errorf("direction %d: got %q, want %q", d, got[d], rec.Sent[d])
				}
			}
			ss := tr.Sessions()
			if len(ss) != rec.Conns {
				t.Fatalf("%d sessions, want %d", len(ss), rec.Conns)
			}
			for i, s := range ss {
				if !s.ClientFinishedOK || !s.ServerFinishedOK || s.TotalFailures() != 0 {
					t.Errorf("session %d: finished %v/%v; %v", i, s.ClientFinishedOK, s.ServerFinishedOK, s.Diagnostics())
				}
				if s.EncryptThenMAC != rec.ETM {
					t.Errorf("session %d: encrypt-then-MAC %v, want %v", i, s.EncryptThenMAC, rec.ETM)
				}
				if !s.ExtendedMasterSecret {
					t.Errorf("session %d: OpenSSL negotiates extended master secret", i)
				}
				if want := rec.Resumed && i == len(ss)-1; s.Resumed != want {
					t.Errorf("session %d: resumed %v, want %v", i, s.Resumed, want)
				}
				if rec.Transport == "dtls" && !s.HelloVerify {
					t.Errorf("session %d: s_server -listen does the cookie exchange; not seen", i)
				}
				want := "keylog:openssl.keylog"
				if rec.Keys != "keylog" {
					want = rec.Keys
				}
				if s.KeySource != want {
					t.Errorf("session %d: key source %q, want %q", i, s.KeySource, want)
				}
			}
		})
	}
}

// loadOSSL reads a recording and feeds it to a new tracker with the
// recording's keys (or none).
func loadOSSL(t *testing.T, name string, withKeys bool, emit func(*Record)) (*Tracker, osslRecording) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(osslDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec osslRecording
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	ks := NewKeyStore()
	if withKeys {
		switch rec.Keys {
		case "keylog":
			if n, errs := ks.LoadKeyLog(strings.NewReader(rec.Keylog), "openssl.keylog"); n == 0 || errs != nil {
				t.Fatalf("key log: %d %v", n, errs)
			}
		case "psk":
			ks.AddPSK("ompscope", mustHex(osslPSK))
		case "rsa":
			keyPEM, err := os.ReadFile(filepath.Join(osslDir, "server-key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			if err := ks.AddRSAKey(keyPEM); err != nil {
				t.Fatal(err)
			}
		}
	}
	tr := NewTracker(ks, Options{})
	for i, ch := range rec.Chunks {
		data, err := base64.StdEncoding.DecodeString(ch.Data)
		if err != nil {
			t.Fatal(err)
		}
		cli := netip.AddrPortFrom(cliAddr.Addr(), cliAddr.Port()+uint16(ch.Conn))
		src, dst := cli, srvAddr
		if !ch.FromClient {
			src, dst = srvAddr, cli
		}
		if rec.Transport == "dtls" {
			tr.DTLSDatagram(src, dst, t0, uint64(i+1), data, emit)
		} else {
			tr.TLSData(src, dst, t0, uint64(i+1), data, 0, RoleUnknown, emit)
		}
	}
	return tr, rec
}

// TestOpenSSLNullAndLegacy: NULL-cipher sessions are flagged and their
// (cleartext) application data is emitted, MAC-checked when the key is
// known; sessions below version 1.2 are flagged and not decrypted.
func TestOpenSSLNullAndLegacy(t *testing.T) {
	for _, c := range osslCases {
		if !c.null && !c.legacy {
			continue
		}
		for _, withKeys := range []bool{true, false} {
			var got [2][]string
			var authenticated int
			emit := func(r *Record) {
				if r.ContentType == ContentApplicationData {
					got[r.Dir-1] = append(got[r.Dir-1], string(r.Plaintext))
					if r.Decrypted {
						authenticated++
					}
				}
			}
			tr, rec := loadOSSL(t, c.name, withKeys, emit)
			s := onlySession(t, tr)
			diag := strings.Join(s.Diagnostics(), "\n")
			if c.null {
				if !s.NullCipher() || !strings.Contains(diag, "NULL cipher") {
					t.Errorf("%s: NULL cipher not reported: %s", c.name, diag)
				}
				for d := 0; d < 2; d++ {
					if strings.Join(got[d], "|") != strings.Join(rec.Sent[d], "|") {
						t.Errorf("%s keys=%v: direction %d: got %q, want %q", c.name, withKeys, d, got[d], rec.Sent[d])
					}
				}
				if withKeys && (authenticated != 6 || !s.ClientFinishedOK || !s.ServerFinishedOK || s.TotalFailures() != 0) {
					t.Errorf("%s: %d authenticated; %s", c.name, authenticated, diag)
				}
				if !withKeys && authenticated != 0 {
					t.Errorf("%s: records marked authenticated without a key", c.name)
				}
			}
			if c.legacy {
				if !s.Legacy() || !strings.Contains(diag, "legacy protocol version") || s.Failures(ReasonUnsupportedVersion) == 0 {
					t.Errorf("%s: legacy version not reported (%s): %s", c.name, s.VersionName(), diag)
				}
				if len(got[0])+len(got[1]) != 0 || s.Decrypted != 0 {
					t.Errorf("%s: records emitted from a legacy session", c.name)
				}
			}
		}
	}
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		fmt.Sscanf(s[2*i:2*i+2], "%02x", &b[i])
	}
	return b
}

// --- recording (TLSDEC_RECORD_OPENSSL=1) ---

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, buf *syncBuf, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %q in %s output:\n%s", s, what, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func freePort(t *testing.T, udp bool) int {
	if udp {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// recordProxy forwards between clients and the server, recording chunks.
type recordProxy struct {
	mu     sync.Mutex
	chunks []osslChunk
	conns  map[string]int
}

func (p *recordProxy) add(fromClient bool, conn int, b []byte) {
	p.mu.Lock()
	p.chunks = append(p.chunks, osslChunk{fromClient, conn, base64.StdEncoding.EncodeToString(b)})
	p.mu.Unlock()
}

func (p *recordProxy) connIndex(key string) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n, ok := p.conns[key]; ok {
		return n, false
	}
	n := len(p.conns)
	p.conns[key] = n
	return n, true
}

func startUDPProxy(t *testing.T, listen, server int) *recordProxy {
	p := &recordProxy{conns: map[string]int{}}
	l, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	up := map[string]net.Conn{}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := l.ReadFrom(buf)
			if err != nil {
				return
			}
			idx, isNew := p.connIndex(from.String())
			if isNew {
				u, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", server))
				if err != nil {
					return
				}
				up[from.String()] = u
				go func(u net.Conn, from net.Addr, idx int) {
					b := make([]byte, 65536)
					for {
						n, err := u.Read(b)
						if err != nil {
							return
						}
						p.add(false, idx, b[:n])
						l.WriteTo(b[:n], from)
					}
				}(u, from, idx)
				t.Cleanup(func() { u.Close() })
			}
			p.add(true, idx, buf[:n])
			up[from.String()].Write(buf[:n])
		}
	}()
	return p
}

func startTCPProxy(t *testing.T, listen, server int) *recordProxy {
	p := &recordProxy{conns: map[string]int{}}
	l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			idx, _ := p.connIndex(c.RemoteAddr().String())
			u, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", server))
			if err != nil {
				c.Close()
				return
			}
			pipe := func(dst, src net.Conn, fromClient bool) {
				b := make([]byte, 65536)
				for {
					n, err := src.Read(b)
					if n > 0 {
						p.add(fromClient, idx, b[:n])
						dst.Write(b[:n])
					}
					if err != nil {
						if tc, ok := dst.(*net.TCPConn); ok {
							tc.CloseWrite()
						}
						return
					}
				}
			}
			go pipe(u, c, true)
			go pipe(c, u, false)
		}
	}()
	return p
}

// TestRecordOpenSSL records the OpenSSL sessions into testdata/openssl.
func TestRecordOpenSSL(t *testing.T) {
	if os.Getenv("TLSDEC_RECORD_OPENSSL") != "1" {
		t.Skip("set TLSDEC_RECORD_OPENSSL=1 to record the OpenSSL sessions (needs the openssl program)")
	}
	dir, _ := filepath.Abs(osslDir)
	os.MkdirAll(dir, 0o755)
	cert, key := filepath.Join(dir, "server-cert.pem"), filepath.Join(dir, "server-key.pem")
	if _, err := os.Stat(key); err != nil {
		out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
			"-days", "36500", "-subj", "/CN=vsmart-test").CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	for _, c := range osslCases {
		t.Run(c.name, func(t *testing.T) { recordOne(t, dir, cert, key, c) })
	}
}

func recordOne(t *testing.T, dir, cert, key string, c osslCase) {
	udp := c.transport == "dtls"
	sport, pport := freePort(t, udp), freePort(t, udp)
	var proxy *recordProxy
	if udp {
		proxy = startUDPProxy(t, pport, sport)
	} else {
		proxy = startTCPProxy(t, pport, sport)
	}
	ver := "-tls1_2"
	if udp {
		ver = "-dtls1_2"
	}
	if c.version != "" {
		ver = c.version
	}
	cipher := c.cipher + ":@SECLEVEL=0"
	conns := 1
	if c.resumed {
		conns = 2
	}
	sargs := []string{"s_server", ver, "-accept", fmt.Sprintf("127.0.0.1:%d", sport), "-cipher", cipher, "-naccept", fmt.Sprint(conns)}
	cargs := []string{"s_client", ver, "-connect", fmt.Sprintf("127.0.0.1:%d", pport), "-cipher", cipher, "-no_ign_eof"}
	if udp {
		sargs = append(sargs, "-listen")
	}
	if c.keys == "psk" {
		sargs = append(sargs, "-nocert", "-psk", osslPSK, "-psk_identity", "ompscope")
		cargs = append(cargs, "-psk", osslPSK, "-psk_identity", "ompscope")
	} else {
		sargs = append(sargs, "-cert", cert, "-key", key)
	}
	sargs = append(sargs, c.extraS...)
	cargs = append(cargs, c.extraC...)
	srv := exec.Command("openssl", sargs...)
	var sout syncBuf
	srv.Stdout, srv.Stderr = &sout, &sout
	sin, _ := srv.StdinPipe()
	if err := srv.Start(); err != nil {
		t.Skipf("openssl: %v", err)
	}
	defer srv.Process.Kill()
	waitFor(t, "server", &sout, "ACCEPT")
	klFile := filepath.Join(t.TempDir(), "keylog")
	var rec osslRecording
	rec.Name, rec.Transport, rec.Cipher, rec.Keys, rec.ETM, rec.Resumed, rec.Conns = c.name, c.transport, c.cipher, c.keys, c.etm, c.resumed, conns
	sessFile := filepath.Join(t.TempDir(), "sess")
	for conn := 0; conn < conns; conn++ {
		args := append([]string(nil), cargs...)
		args = append(args, "-keylogfile", klFile)
		if c.resumed && conn == 0 {
			args = append(args, "-sess_out", sessFile)
		}
		if c.resumed && conn == 1 {
			args = append(args, "-sess_in", sessFile)
		}
		cli := exec.Command("openssl", args...)
		var cout syncBuf
		cli.Stdout, cli.Stderr = &cout, &cout
		cin, _ := cli.StdinPipe()
		if err := cli.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "client", &cout, "Verify return code")
		for i := 0; i < 3; i++ {
			cl := fmt.Sprintf("client line %d of %s conn %d\n", i, c.name, conn)
			io.WriteString(cin, cl)
			waitFor(t, "server", &sout, cl)
			sl := fmt.Sprintf("server reply %d conn %d\n", i, conn)
			io.WriteString(sin, sl)
			waitFor(t, "client", &cout, sl)
			rec.Sent[0] = append(rec.Sent[0], cl)
			rec.Sent[1] = append(rec.Sent[1], sl)
		}
		cin.Close()
		done := make(chan error, 1)
		go func() { done <- cli.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cli.Process.Kill()
		}
		if c.resumed && conn == 1 && !strings.Contains(cout.String(), "Reused") {
			t.Fatalf("second connection not resumed:\n%s", cout.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	kl, _ := os.ReadFile(klFile)
	rec.Keylog = string(kl)
	proxy.mu.Lock()
	rec.Chunks = append([]osslChunk(nil), proxy.chunks...)
	proxy.mu.Unlock()
	b, _ := json.MarshalIndent(rec, "", " ")
	if err := os.WriteFile(filepath.Join(dir, c.name+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
