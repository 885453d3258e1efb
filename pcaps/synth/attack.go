package synth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
	"github.com/ompscope/ompscope/pcaps/manifest"
)

// The attack scenarios replay the public exploit modules for the 2026
// vdaemon authentication bypasses over real DTLS (pion), from a host
// outside the fabric with a self-signed certificate whose subject is
// empty, as the modules make it (rapid7/metasploit-framework,
// modules/auxiliary/admin/networking/cisco_sdwan_auth_bypass.rb for
// CVE-2026-20127 and cisco_sdwan_vhub_auth_bypass.rb for CVE-2026-20182):
// the same messages, bodies and pauses. The attacker hits both vSmarts:
// vSmart 1 is vulnerable and accepts it (HELLO, then REGISTER_TO_VMANAGE
// after the injected SSH key), vSmart 2 is patched and tears the
// connection down. No public source gives the TEAR_DOWN code a patched
// controller sends: the simulator uses UNMSGBDRG for the forged
// CHALLENGE_ACK_ACK and CRTVERFL for the vHub CHALLENGE_ACK.

const kindAttack = "attack"

// attackPlan is what one attack session does and when it did it.
type attackPlan struct {
	cve        int // 20127 or 20182
	vulnerable bool
	forgedAt   vt // the forged CHALLENGE_ACK_ACK / vHub CHALLENGE_ACK
	keyAt      vt // VMANAGE_TO_PEER (-1: not sent)
	tearAt     vt // the controller's TEAR_DOWN (-1: none)
}

// AttackerKeyComment is the comment of the SSH key the attacker injects.
const AttackerKeyComment = "ompscope-synth-attacker@203.0.113.66"

// attackerKey is the injected public key: a synthetic ssh-ed25519 key
// (32 bytes of the run's random generator: not a real key) with a comment.
func (sm *sim) attackerKey() (text, fingerprint string) {
	pub := make([]byte, 32)
	for i := range pub {
		pub[i] = byte(sm.rng.Uint32())
	}
	str := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	blob := append(str([]byte("ssh-ed25519")), str(pub)...)
	sum := sha256.Sum256(blob)
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " " + AttackerKeyComment,
		"SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// attackerDevice adds the attacking host: it claims device type claim in
// its vdaemon headers; it has no system-ip (it never speaks OMP).
func (sm *sim) attackerDevice(claim sdwan.DeviceType) *device {
	d := &device{idx: len(sm.f.devs), name: "attacker", typ: claim, siteID: 100,
		addr4: netip.MustParseAddr("203.0.113.66"), addr6: netip.MustParseAddr("2001:db8:66::66"),
		cores: 1, hops: 6, cur: map[int]*session{}, mac: [6]byte{0x02, 0x00, 0x5e, 0x00, 0x66, 0x66}}
	sm.f.devs = append(sm.f.devs, d)
	return d
}

func buildAttack20127(sm *sim) error { return sm.buildAttack(20127, sdwan.DeviceVSmart) }
func buildAttack20182(sm *sim) error { return sm.buildAttack(20182, sdwan.DeviceVHub) }

// buildAttack plans the attacker's two sessions, to vSmart 1 (vulnerable)
// then vSmart 2 (patched). For CVE-2026-20182 the session to the patched
// vSmart is left out of the key log: the capture shows it only by its
// certificate.
func (sm *sim) buildAttack(cve int, claim sdwan.DeviceType) error {
	att := sm.attackerDevice(claim)
	t0 := sm.steady() + 2*vtSec
	keyText, fp := sm.attackerKey()
	var plans [2]*attackPlan
	var sess [2]*session
	for i := 0; i < 2; i++ {
		s := sm.newSession(kindAttack, att, sm.vsmart(i), t0+vt(i)*15*vtSec)
		s.attack = &attackPlan{cve: cve, vulnerable: i == 0, keyAt: -1, tearAt: -1}
		s.attackKey = keyText
		if cve == 20182 && i == 1 {
			s.keyInLog = false
		}
		plans[i], sess[i] = s.attack, s
	}
	sm.params["attack"] = fmt.Sprintf("CVE-2026-%d: attacker %s (device type %s in its headers, self-signed certificate with an empty subject) "+
		"against vSmart 1 (vulnerable, session %d at %v) and vSmart 2 (patched, session %d at %v); injected key %s %q",
		cve, att.addr4, claim, sess[0].id, time.Duration(sess[0].start), sess[1].id, time.Duration(sess[1].start), fp, AttackerKeyComment)
	bypass := "cve-2026-20127-challenge-bypass"
	if cve == 20182 {
		bypass = "cve-2026-20182-vhub-bypass"
	}
	sm.anomaly(func() []manifest.Anomaly {
		var out []manifest.Anomaly
		for i, s := range sess {
			p := plans[i]
			subj := sessionSubject(s)
			out = append(out, sm.window("rogue-certificate", subj, s.start, -1,
				"the attacker's self-signed certificate with an empty subject"))
			if !s.keyInLog {
				if s.firstApp >= 0 {
					out = append(out, sm.window("decryption-gap", subj, s.firstApp, -1,
						"the attacker's session to the patched vSmart is not in the key log"))
				}
				continue
			}
			if p.forgedAt > 0 {
				out = append(out, sm.window(bypass, subj, p.forgedAt, -1, fmt.Sprintf("CVE-2026-%d against %s (%s)",
					cve, s.server.name, map[bool]string{true: "vulnerable: accepted", false: "patched: torn down"}[p.vulnerable])))
			}
			if p.keyAt > 0 {
				out = append(out, sm.window("ssh-key-injection", subj, p.keyAt, p.keyAt, "VMANAGE_TO_PEER with key "+fp))
			}
			if p.tearAt > 0 {
				out = append(out, sm.window("teardown", peerSubject(s.server.sysIP), p.tearAt, p.tearAt,
					"the patched vSmart tears the attacker's connection down"))
			}
		}
		return out
	})
	return nil
}

// runAttack plays the exploit after the controller's CHALLENGE (sent at t).
func (sm *sim) runAttack(s *session, t vt) {
	p := s.attack
	t2 := t + s.lag(cli) + 5*vtMS + sm.jitter(2*vtMS)
	sm.at(t2, func() {
		if p.cve == 20127 {
			// the forged CHALLENGE_ACK_ACK: verify_status 1, reserved 0
			p.forgedAt = sm.send(s, cli, t2, vdaemon.TypeChallengeAckAck, &vdaemon.ChallengeAckAck{VerifyStatus: 1})
		} else {
			p.forgedAt = sm.send(s, cli, t2, vdaemon.TypeChallengeAck, sm.vhubAck())
		}
		t3 := t2 + s.lag(srv) + 2*vtMS
		if !p.vulnerable {
			code := sdwan.ConnUNMSGBDRG
			if p.cve == 20182 {
				code = sdwan.ConnCRTVERFL
			}
			sm.at(t3, func() {
				if a := sm.teardown(s, srv, t3, code); a >= 0 {
					p.tearAt = a
				}
			})
			return
		}
		// a vulnerable 20.15.3 answers the forged ACK_ACK with HELLO at
		// once; a vulnerable 20.12.6.1 says nothing to the vHub
		// CHALLENGE_ACK, and the module sends its HELLO after 10 s
		t4 := t3 + 20*vtMS
		if p.cve == 20127 {
			sm.at(t3, func() { sm.send(s, srv, t3, vdaemon.TypeHello, s.helloBody(srv)) })
		} else {
			t4 = t2 + 10*vtSec
		}
		sm.at(t4, func() {
			t4 = sm.send(s, cli, t4, vdaemon.TypeHello, exploitHello(s))
			t5 := t4 + s.lag(srv) + 2*vtMS
			sm.at(t5, func() {
				t5 = sm.send(s, srv, t5, vdaemon.TypeHello, s.helloBody(srv))
				t6 := t5 + s.lag(cli) + 30*vtMS
				sm.at(t6, func() {
					buf := append([]byte("\n"+s.attackKey+"\n"), 0)
					p.keyAt = sm.send(s, cli, t6, vdaemon.TypeVManageToPeer, &vdaemon.VManageToPeer{Buffer: buf})
					t7 := p.keyAt + s.lag(srv) + 2*vtMS
					sm.at(t7, func() {
						t7 = sm.send(s, srv, t7, vdaemon.TypeRegisterToVManage, &vdaemon.Raw{})
						t8 := t7 + 2*vtSec
						sm.at(t8, func() { sm.closeQuietly(s, cli, t8) })
					})
				})
			})
		})
	})
}

// vhubAck is the CHALLENGE_ACK of the CVE-2026-20182 module: statuses 0,
// instance 0 of 1, flags 1 and 0, a random UUID, a 32-character
// alphanumeric "server key".
func (sm *sim) vhubAck() *vdaemon.ChallengeAck {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	key := make([]byte, 32)
	for i := range key {
		key[i] = alnum[sm.rng.IntN(len(alnum))]
	}
	r := func(bits int) uint64 { return sm.rng.Uint64() & (1<<bits - 1) }
	uuid := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r(32), r(16), r(16), r(16), r(48))
	return &vdaemon.ChallengeAck{TLVs: []vdaemon.TLV{{Type: vdaemon.TLVInstanceID}, {Type: vdaemon.TLVMaxInstances, Value: 1},
		{Type: vdaemon.TLVFlags18, Value: 1}, {Type: vdaemon.TLVFlags19}, {Type: vdaemon.TLVUUID, Text: uuid},
		{Type: vdaemon.TLVServerKey, Raw: key}}}
}

// exploitHello is the modules' HELLO: the target's own address and port,
// color 1, hello every 10 s, tolerance 60 s, no vSmart nor vManage.
func exploitHello(s *session) *vdaemon.Hello {
	return &vdaemon.Hello{Family: vdaemon.AFInet, Addr: s.sAddr.Addr(), Port: s.sAddr.Port(), Color: 1,
		IntervalMS: 10000, ToleranceMS: 60000,
		TLVs: []vdaemon.TLV{{Type: vdaemon.TLVNumVSmarts}, {Type: vdaemon.TLVNumVManages}}}
}

// closeQuietly ends the session without a TEAR_DOWN: side closes its
// DTLS connection (close_notify), the other side answers in kind.
func (sm *sim) closeQuietly(s *session, side int, t vt) {
	if s.closed || !s.open || s.wire == nil {
		return
	}
	s.closed = true
	t2 := t + s.lag(1-side) + 100*vtUS
	s.wire.closeAt(side, t, s.conns[side])
	s.wire.closeAt(1-side, t2, s.conns[1-side])
	s.conns = [2]io.WriteCloser{}
	s.wire.setMode(modeMute)
}
