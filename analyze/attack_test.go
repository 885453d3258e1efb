package analyze

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// The attack detectors (detect_authbypass.go, detect_cert.go) on
// hand-made sessions: each indicator alone, what the controller answered,
// and the legitimate exchanges that must stay quiet.

func vmanageDev() dev {
	return dev{name: "vmanage", sys: mustAddr("10.0.0.100"), typ: sdwan.DeviceVManage, site: 1000, addr: mustAddr("198.51.100.100")}
}

func attacker(claim sdwan.DeviceType) dev {
	return dev{name: "attacker", typ: claim, site: 100, addr: mustAddr("203.0.113.66")}
}

func (x *sess) send(fromClient bool, t vdaemon.MsgType, body vdaemon.Body) {
	x.f.input(x, fromClient, &vdaemon.Message{Header: x.hdr(fromClient, t), Body: body})
}

func keyBuffer(text string) *vdaemon.VManageToPeer {
	return &vdaemon.VManageToPeer{Buffer: append([]byte("\n"+text+"\n"), 0)}
}

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f evil@example"

func TestChallengeBypassForgedAckAck(t *testing.T) {
	f := newFab(t, Config{})
	f.manual = true
	v1 := vsmart(1)
	x := f.session(attacker(sdwan.DeviceVSmart), v1)
	x.send(false, vdaemon.TypeChallenge, &vdaemon.Challenge{})
	f.at(0.01)
	x.send(true, vdaemon.TypeChallengeAckAck, &vdaemon.ChallengeAckAck{VerifyStatus: 1})
	x.hello(false)
	x.hello(true)
	x.hello(false)
	f.at(0.05)
	x.send(true, vdaemon.TypeVManageToPeer, keyBuffer(testKey))
	x.send(false, vdaemon.TypeRegisterToVManage, &vdaemon.Raw{})
	f.finish(10)
	a := f.wantOne(KindChallengeBypass, subj(x))
	for _, want := range []string{"the connecting side, sent CHALLENGE_ACK_ACK (verify-status 1)", "never sent the CHALLENGE_ACK",
		"CVE-2026-20127", "answered with HELLO: it accepted the peer"} {
		if !strings.Contains(a.Explanation, want) {
			t.Errorf("explanation lacks %q: %s", want, a.Explanation)
		}
	}
	if a.Severity != SevCritical || a.Evidence[0] != 2 || !a.Start.Equal(sec(0.01)) {
		t.Errorf("%+v", a)
	}
	k := f.wantOne(KindSSHKeyInjection, subj(x))
	for _, want := range []string{"claims device type vSmart, not vManage", "ssh-ed25519 SHA256:", `"evil@example"`,
		"CVE-2026-20127 and CVE-2026-20182"} {
		if !strings.Contains(k.Explanation, want) {
			t.Errorf("key explanation lacks %q: %s", want, k.Explanation)
		}
	}
	if strings.Contains(k.Explanation, "AAAAC3NzaC1lZDI1NTE5") {
		t.Errorf("the key itself is printed: %s", k.Explanation)
	}
	if n := len(f.a.Anomalies()); n != 2 {
		t.Errorf("%d anomalies, want 2: %+v", n, f.a.Anomalies())
	}
}

func TestChallengeBypassRefused(t *testing.T) {
	f := newFab(t, Config{})
	f.manual = true
	x := f.session(attacker(sdwan.DeviceVSmart), vsmart(2))
	x.send(false, vdaemon.TypeChallenge, &vdaemon.Challenge{})
	x.send(true, vdaemon.TypeChallengeAckAck, &vdaemon.ChallengeAckAck{VerifyStatus: 1})
	x.teardown(false, sdwan.ConnUNMSGBDRG)
	f.finish(5)
	a := f.wantOne(KindChallengeBypass, subj(x))
	if !strings.Contains(a.Explanation, "tore the connection down with UNMSGBDRG") {
		t.Errorf("%s", a.Explanation)
	}
	f.wantOne(KindTeardown, subj(x)) // the vSmart's system-ip is not known on this session
}

// A connection seen from its CHALLENGE that reaches the connecting side's
// HELLO without CHALLENGE_ACK and CHALLENGE_ACK_ACK.
func TestChallengeBypassHelloOutOfOrder(t *testing.T) {
	f := newFab(t, Config{})
	f.manual = true
	x := f.session(attacker(sdwan.DeviceVSmart), vsmart(1))
	x.send(false, vdaemon.TypeChallenge, &vdaemon.Challenge{})
	x.hello(true)
	f.finish(5)
	a := f.wantOne(KindChallengeBypass, subj(x))
	if !strings.Contains(a.Explanation, "without the CHALLENGE → CHALLENGE_ACK → CHALLENGE_ACK_ACK order (no CHALLENGE_ACK, no CHALLENGE_ACK_ACK)") ||
		!strings.Contains(a.Explanation, "does not show the controller's answer") {
		t.Errorf("%s", a.Explanation)
	}
}

func TestVHubBypass(t *testing.T) {
	f := newFab(t, Config{})
	f.manual = true
	x := f.session(attacker(sdwan.DeviceVHub), vsmart(1))
	x.send(false, vdaemon.TypeChallenge, &vdaemon.Challenge{})
	x.send(true, vdaemon.TypeChallengeAck, &vdaemon.ChallengeAck{})
	f.at(10)
	x.hello(true) // no ACK_ACK: explained by the vHub ack, not a second anomaly
	x.hello(false)
	x.send(true, vdaemon.TypeVManageToPeer, keyBuffer(testKey))
	f.finish(15)
	a := f.wantOne(KindVHubBypass, subj(x))
	if !strings.Contains(a.Explanation, "sent a CHALLENGE_ACK whose header claims device type vHub (2)") ||
		!strings.Contains(a.Explanation, "CVE-2026-20182") || !strings.Contains(a.Explanation, "accepted the peer") {
		t.Errorf("%s", a.Explanation)
	}
	f.wantOne(KindSSHKeyInjection, subj(x))
	if n := len(f.a.Anomalies()); n != 2 {
		t.Errorf("%d anomalies, want 2: %+v", n, f.a.Anomalies())
	}
	// a vHub speaking to a controller without a CHALLENGE_ACK seen
	g := newFab(t, Config{})
	g.manual = true
	y := g.session(attacker(sdwan.DeviceVHub), vsmart(1))
	y.hello(false)
	y.hello(true)
	g.finish(5)
	b := g.wantOne(KindVHubBypass, subj(y))
	if !strings.Contains(b.Explanation, "speaks vdaemon to vSmart ?198.51.100.1:12346 claiming device type vHub (2)") {
		t.Errorf("%s", b.Explanation)
	}
}

// An authenticated vManage pushing its keys, and ordinary sessions, are
// normal.
func TestLegitimateExchangesAreQuiet(t *testing.T) {
	f := newFab(t, Config{})
	m, v1, e1 := vmanageDev(), vsmart(1), edge(1, 100)
	x := f.session(m, v1)
	x.challenge()
	x.hello(true)
	x.hello(false)
	x.send(true, vdaemon.TypeVManageToPeer, keyBuffer(testKey))
	f.connect(e1, v1)
	f.at(3)
	f.finish(5)
	f.wantNone()
	// a vManage whose exchange went out of order is not authenticated
	g := newFab(t, Config{})
	g.manual = true
	y := g.session(m, v1)
	y.send(false, vdaemon.TypeChallenge, &vdaemon.Challenge{})
	y.send(true, vdaemon.TypeChallengeAck, &vdaemon.ChallengeAck{})
	y.send(true, vdaemon.TypeVManageToPeer, keyBuffer(testKey))
	g.finish(5)
	k := g.wantOne(KindSSHKeyInjection, subj(y))
	if !strings.Contains(k.Explanation, "challenge exchange was not completed in order (no CHALLENGE_ACK_ACK)") {
		t.Errorf("%s", k.Explanation)
	}
}

func fabricCert(cn string) *Certificate {
	return &Certificate{Time: sec(0), Frame: 1, Subject: "CN=" + cn + ",O=Acme", Issuer: "CN=Acme Root CA,O=Acme", SHA256: "aa"}
}

func TestRogueCertificate(t *testing.T) {
	selfSigned := &Certificate{Time: sec(0.5), Frame: 7, Subject: "O=,C=", Issuer: "O=,C=", SubjectEmpty: true, SelfSigned: true, SHA256: "bb"}
	f := newFab(t, Config{})
	v1, e1, e2 := vsmart(1), edge(1, 100), edge(2, 101)
	good := f.session(e1, v1)
	good.info.ClientCert, good.info.ServerCert = fabricCert("edge1"), fabricCert("vsmart1")
	good.challenge()
	good.hello(true)
	good.hello(false)
	// a hardware edge with its SUDI certificate
	sudi := f.session(e2, v1)
	sudi.info.ClientCert = &Certificate{Subject: "CN=C8K-1234,O=Cisco", Issuer: "CN=High Assurance SUDI CA,O=Cisco", SHA256: "cc"}
	sudi.info.ServerCert = fabricCert("vsmart1")
	sudi.challenge()
	// an attacker that cannot be decrypted: only a gap, at the end
	bad := &SessionInfo{ID: "attacker", Client: netipAP("203.0.113.66:12346"), Server: netipAP("198.51.100.2:12346"),
		Transport: "dtls", ClientCert: selfSigned, ServerCert: fabricCert("vsmart2")}
	// a session from a CA the fabric does not use
	other := f.session(edge(3, 102), v1)
	other.info.ClientCert = &Certificate{Time: sec(1), Frame: 9, Subject: "CN=x", Issuer: "CN=Other CA", SHA256: "dd"}
	other.info.ServerCert = fabricCert("vsmart1")
	other.vmuted = [2]bool{true, true}
	// the controller never verifies it (no CHALLENGE_ACK_ACK)
	other.send(false, vdaemon.TypeChallenge, &vdaemon.Challenge{})
	other.send(true, vdaemon.TypeChallengeAck, &vdaemon.ChallengeAck{})
	f.at(20)
	f.a.Gap(&Gap{Time: sec(20), Frame: 99, Session: bad, Dir: DirUnknown, Reason: "no-key", Records: 5})
	f.finish(20)
	as := f.anomalies(KindRogueCertificate)
	if len(as) != 2 {
		t.Fatalf("%d rogue-certificate anomalies, want 2: %+v", len(as), as)
	}
	var gotBad, gotOther bool
	for _, a := range as {
		switch a.Subject {
		case "session 203.0.113.66:12346 > 198.51.100.2:12346":
			gotBad = true
			if !a.Start.Equal(sec(0.5)) || a.Evidence[0] != 7 || a.Severity != SevCritical ||
				!strings.Contains(a.Explanation, "self-signed certificate and presented a certificate whose subject has no value") ||
				!strings.Contains(a.Explanation, "None of the session's records could be decrypted (no-key)") {
				t.Errorf("attacker: %+v", a)
			}
		case subj(other):
			gotOther = true
			if !strings.Contains(a.Explanation, `issuer outside the fabric's set`) ||
				!strings.Contains(a.Explanation, `the fabric's: "cn=acme root ca,o=acme"`) || !a.Start.Equal(sec(1)) {
				t.Errorf("other CA: %+v", a)
			}
		}
	}
	if !gotBad || !gotOther {
		t.Errorf("anomalies %+v", as)
	}
	// --trusted-issuer takes the other CA as the fabric's
	g := newFab(t, Config{TrustedIssuers: []string{"CN=Other CA"}})
	o := g.session(edge(3, 102), v1)
	o.info.ClientCert = &Certificate{Subject: "CN=x", Issuer: "CN=Other CA", SHA256: "dd"}
	o.info.ServerCert = fabricCert("vsmart1")
	o.challenge()
	g.finish(5)
	g.wantNone()
}

func netipAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func subj(x *sess) string {
	return "session " + x.info.Client.String() + " > " + x.info.Server.String()
}

// Review findings: legitimate exchanges that a lossy or reordering capture
// shows oddly must not look like the bypass, and a vManage that is the
// DTLS server pushing keys is normal.
func TestBypassNotRaisedOnLossOrReorder(t *testing.T) {
	v1, e1, m := vsmart(1), edge(1, 100), vmanageDev()
	// the CHALLENGE_ACK was lost by the capture; the controller's
	// CHALLENGE_ACK_ACK vouches for the peer
	f := newFab(t, Config{})
	f.manual = true
	x := f.session(e1, v1)
	x.send(false, vdaemon.TypeChallenge, &vdaemon.Challenge{})
	x.send(false, vdaemon.TypeChallengeAckAck, &vdaemon.ChallengeAckAck{VerifyStatus: 1})
	x.hello(true)
	x.hello(false)
	// the CHALLENGE_ACK_ACK captured after the client's HELLO
	y := f.session(edge(2, 101), v1)
	y.send(false, vdaemon.TypeChallenge, &vdaemon.Challenge{})
	y.send(true, vdaemon.TypeChallengeAck, &vdaemon.ChallengeAck{})
	y.hello(true)
	y.send(false, vdaemon.TypeChallengeAckAck, &vdaemon.ChallengeAckAck{VerifyStatus: 1})
	y.hello(false)
	// the vManage is the DTLS server: it sends the CHALLENGE to the
	// vSmart, verifies it, then pushes its keys
	z := f.session(v1, m)
	z.challenge()
	z.hello(true)
	z.hello(false)
	z.send(false, vdaemon.TypeVManageToPeer, keyBuffer(testKey))
	f.finish(5)
	f.wantNone()
	// but a HELLO the controller answers with HELLO, no ACK_ACK ever, is
	// the bypass, dated at the HELLO
	g := newFab(t, Config{})
	g.manual = true
	w := g.session(e1, v1)
	w.send(false, vdaemon.TypeChallenge, &vdaemon.Challenge{})
	g.at(1)
	w.hello(true)
	g.at(2)
	w.hello(false)
	g.finish(5)
	a := g.wantOne(KindChallengeBypass, subj(w))
	if !a.Start.Equal(sec(1)) || a.Evidence[0] != 2 || !strings.Contains(a.Explanation, "accepted the peer") {
		t.Errorf("%+v", a)
	}
}

// TestIssuerLearnedFromVerifiedEdges: an edge whose certificate comes from
// another CA than the controllers' is the fabric's once a controller
// verified it; one that skipped the exchange is not.
func TestIssuerLearnedFromVerifiedEdges(t *testing.T) {
	f := newFab(t, Config{})
	v1 := vsmart(1)
	other := &Certificate{Subject: "CN=edge", Issuer: "CN=Edge CA,O=Acme", SHA256: "ee"}
	a := f.session(edge(1, 100), v1)
	a.info.ClientCert, a.info.ServerCert = other, fabricCert("vsmart1")
	a.challenge()
	a.hello(true)
	a.hello(false)
	b := f.session(edge(2, 101), v1)
	b.info.ClientCert, b.info.ServerCert = other, fabricCert("vsmart1")
	b.challenge()
	f.finish(70)
	f.wantNone()
	// the same edge CA on a session that never verified the edge
	g := newFab(t, Config{})
	g.manual = true
	y := g.session(edge(1, 100), v1)
	y.info.ClientCert, y.info.ServerCert = other, fabricCert("vsmart1")
	y.send(false, vdaemon.TypeChallenge, &vdaemon.Challenge{})
	y.send(false, vdaemon.TypeChallengeAckAck, &vdaemon.ChallengeAckAck{VerifyStatus: 1})
	y.hello(true)
	y.hello(false)
	g.finish(70)
	r := g.wantOne(KindRogueCertificate, subj(y))
	if !strings.Contains(r.Explanation, `issuer outside the fabric's set`) {
		t.Errorf("%s", r.Explanation)
	}
}

// TestClientCertificateAfterServer: in a real handshake the server's
// certificate comes first; the client's, checked when it arrives, is still
// reported.
func TestClientCertificateAfterServer(t *testing.T) {
	f := newFab(t, Config{})
	info := &SessionInfo{ID: "s", Client: netipAP("203.0.113.66:12346"), Server: netipAP("198.51.100.1:12346"),
		Transport: "dtls", ServerCert: fabricCert("vsmart1")}
	f.a.SessionSeen(info, sec(0.1), 5)
	info2 := *info
	info2.ClientCert = &Certificate{Time: sec(0.2), Frame: 6, Subject: "O=,C=", Issuer: "O=,C=", SubjectEmpty: true, SelfSigned: true, SHA256: "bb"}
	f.a.SessionSeen(&info2, sec(0.2), 6)
	f.finish(5)
	a := f.wantOne(KindRogueCertificate, "session 203.0.113.66:12346 > 198.51.100.1:12346")
	if a.Evidence[0] != 6 || !strings.Contains(a.Explanation, "(the DTLS/TLS client) presented a self-signed certificate") {
		t.Errorf("%+v", a)
	}
}

// TestVHubHeaderOfBrokenBody: a vHub CHALLENGE_ACK whose body does not
// decode is still the vHub bypass (its header decoded).
func TestVHubHeaderOfBrokenBody(t *testing.T) {
	f := newFab(t, Config{})
	f.manual = true
	x := f.session(attacker(sdwan.DeviceVHub), vsmart(1))
	x.send(false, vdaemon.TypeChallenge, &vdaemon.Challenge{})
	h := x.hdr(true, vdaemon.TypeChallengeAck)
	f.frame++
	f.a.Message(&Input{Time: f.now, Frame: f.frame, Session: x.info, FromClient: true, Header: &h, Err: errString("vdaemon challenge-ack: tlv count")})
	f.finish(5)
	a := f.wantOne(KindVHubBypass, subj(x))
	if !strings.Contains(a.Explanation, "(its body could not be decoded)") || a.Evidence[0] != 2 {
		t.Errorf("%+v", a)
	}
}
