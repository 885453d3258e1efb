package analyze

import (
	"strconv"
	"strings"

	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// The authentication-bypass attacks of 2026 on vdaemon, as a passive
// capture shows them once its records are decrypted.
//
// A control connection opens with the challenge exchange: the controller
// (the DTLS/TLS server) sends CHALLENGE, the connecting device answers
// CHALLENGE_ACK (signed challenge, its serial and UUID), and the
// controller, having verified it, sends CHALLENGE_ACK_ACK; only then do
// HELLOs flow. Sources: the decompiled handlers in javierDAW/detection-diary
// (days/2026-05-16_Cisco-SDWAN-vHub-AuthBypass-UAT8616/README.md:
// vbond_proc_challenge_ack sends the ACK_ACK after verifying the peer) and
// the exploit modules of rapid7/metasploit-framework
// (modules/auxiliary/admin/networking/cisco_sdwan_auth_bypass.rb,
// cisco_sdwan_vhub_auth_bypass.rb).
//
//   - CVE-2026-20127: the connecting side sends CHALLENGE_ACK_ACK itself
//     (verify_status 1) and skips CHALLENGE_ACK; a vulnerable controller
//     marks it authenticated and answers with HELLO. Also raised when a
//     connection observed from its CHALLENGE reaches HELLO from the
//     connecting side without the CHALLENGE → CHALLENGE_ACK →
//     CHALLENGE_ACK_ACK order (and no vHub CHALLENGE_ACK explains it).
//   - CVE-2026-20182: a CHALLENGE_ACK whose header claims device type vHub
//     (2): the vulnerable handler has no verification branch for vHub and
//     marks the peer authenticated; also any vHub peer on a controller.
//
// The anomaly says what the controller did next: HELLO (it accepted the
// peer: vulnerable), TEAR_DOWN (it refused: patched, or another check
// failed), or nothing seen yet.

// Kinds of this detector.
const (
	KindChallengeBypass Kind = "cve-2026-20127-challenge-bypass"
	KindVHubBypass      Kind = "cve-2026-20182-vhub-bypass"
	KindSSHKeyInjection Kind = "ssh-key-injection"
)

var authBypassDetDef = detectorDef{name: "auth-bypass", make: func(a *Analyzer) detector {
	return &authBypassDet{a: a, st: map[*session]*chalState{}}
}}

type authBypassDet struct {
	a       *Analyzer
	st      map[*session]*chalState
	pending []*session // sessions with a HELLO waiting for judgement, in order
}

// chalState is the challenge exchange of one session as seen.
type chalState struct {
	chalFrom   int8 // side that sent CHALLENGE (-1: none seen)
	ackFrom    int8 // side that sent the first CHALLENGE_ACK (-1: none)
	ackAckFrom int8 // side that sent the first CHALLENGE_ACK_ACK (-1: none)
	vhubAck    bool
	// the anomalies raised, and what the controller did after
	bypass, vhub *instant
	outcome      string
	outcomeSet   bool
	// a HELLO from the connecting side before the exchange completed,
	// judged at the controller's next message (a CHALLENGE_ACK_ACK that
	// was merely reordered cancels it) or at the end of the capture
	pendHello  bool
	pendAt     int64
	pendFrame  uint64
	pendWhat   string
	pendListed bool
}

func (u *authBypassDet) state(s *session) *chalState {
	st := u.st[s]
	if st == nil {
		st = &chalState{chalFrom: -1, ackFrom: -1, ackAckFrom: -1}
		u.st[s] = st
	}
	return st
}

// connecting is the side that connects: the one that received the
// CHALLENGE, or the DTLS/TLS client when no CHALLENGE was seen.
func (st *chalState) connecting() int {
	if st.chalFrom >= 0 {
		return 1 - int(st.chalFrom)
	}
	return 0
}

func isController(d sdwan.DeviceType) bool {
	return d == sdwan.DeviceVSmart || d == sdwan.DeviceVBond || d == sdwan.DeviceVManage
}

func (u *authBypassDet) event(e *coreEvent) {
	switch e.kind {
	case evDropped:
		if e.s != nil {
			delete(u.st, e.s)
		}
		return
	case evVDaemon:
	default:
		return
	}
	s, d := e.s, e.d
	if v, ok := e.vd.Body.(*vdaemon.VManageToPeer); ok {
		u.keys(e, v)
	}
	defer u.vhubPeer(e)
	if e.vd.Body == nil {
		// a message whose body did not decode: its header still counts
		if h := &e.vd.Header; h.Type == vdaemon.TypeChallengeAck && h.Device == sdwan.DeviceVHub {
			st := u.state(s)
			st.vhubAck = true
			u.raiseVHub(e, st, sideDesc(e.sd)+" sent a CHALLENGE_ACK whose header claims device type vHub (2)"+
				" (its body could not be decoded)")
		} else if st := u.st[s]; st != nil {
			u.extend(st, e)
		}
		return
	}
	var st *chalState
	if st = u.st[s]; st == nil {
		switch e.vd.Body.(type) {
		case *vdaemon.Challenge, *vdaemon.ChallengeAck, *vdaemon.ChallengeAckAck:
		default:
			return // a session whose exchange was not seen: nothing to follow
		}
		st = u.state(s)
	}
	if st.pendHello && d != st.connecting() {
		st.pendHello = false
		if _, ackAck := e.vd.Body.(*vdaemon.ChallengeAckAck); !ackAck {
			u.raisePending(s, st)
		}
	}
	switch b := e.vd.Body.(type) {
	case *vdaemon.Challenge:
		if st.chalFrom < 0 {
			st.chalFrom = int8(d)
		}
	case *vdaemon.ChallengeAck:
		if st.ackFrom < 0 {
			st.ackFrom = int8(d)
		}
		if e.vd.Header.Device == sdwan.DeviceVHub {
			st.vhubAck = true
			u.raiseVHub(e, st, sideDesc(e.sd)+" sent a CHALLENGE_ACK whose header claims device type vHub (2)"+
				" (verified-status "+strconv.Itoa(int(b.Verified))+")")
		}
	case *vdaemon.ChallengeAckAck:
		if st.ackAckFrom < 0 {
			st.ackAckFrom = int8(d)
		}
		if d == st.connecting() {
			u.raiseBypass(e, st, sideDesc(e.sd)+", the connecting side, sent CHALLENGE_ACK_ACK (verify-status "+
				strconv.Itoa(int(b.VerifyStatus))+") to "+sideDesc(e.sd.other())+
				": only the controller that verified a CHALLENGE_ACK sends it"+u.skipped(st, d))
		}
	case *vdaemon.Hello:
		if d == st.connecting() {
			if st.chalFrom >= 0 && s.gapRecords == 0 && st.bypass == nil && !st.vhubAck && !st.pendHello &&
				st.ackAckFrom != int8(1-d) {
				// the controller has not vouched for the peer (yet): its
				// next message decides
				st.pendHello, st.pendAt, st.pendFrame = true, e.now, e.frame
				st.pendWhat = sideDesc(e.sd) + " sent HELLO to " + sideDesc(e.sd.other()) +
					" without the CHALLENGE → CHALLENGE_ACK → CHALLENGE_ACK_ACK order (" + u.seen(st) + ")"
				if !st.pendListed {
					st.pendListed = true
					if len(u.pending) >= 64 {
						u.compact()
					}
					u.pending = append(u.pending, s)
				}
			} else {
				u.extend(st, e)
			}
		} else {
			u.outcomeOf(st, e, "the controller answered with HELLO: it accepted the peer (the bypass worked; the "+
				"controller is vulnerable)")
		}
	case *vdaemon.TearDown:
		if d != st.connecting() {
			u.outcomeOf(st, e, "the controller tore the connection down with "+b.Code.String()+
				" ("+b.Code.Description()+"): it refused the peer (patched, or another check failed)")
		}
	default:
		u.extend(st, e)
	}
}

// keys raises ssh-key-injection for a VMANAGE_TO_PEER from a peer that is
// not an authenticated vManage: its header claims another device type, or
// its session's challenge exchange was seen and was not the proper one.
func (u *authBypassDet) keys(e *coreEvent, v *vdaemon.VManageToPeer) {
	s, sd := e.s, e.sd
	st := u.st[s]
	var why string
	switch {
	case e.vd.Header.Device != sdwan.DeviceVManage:
		why = "its header claims device type " + e.vd.Header.Device.String() + ", not vManage"
	case st != nil && (st.bypass != nil || st.vhub != nil):
		why = "its session got past the challenge exchange without authenticating (" +
			string(map[bool]Kind{true: KindChallengeBypass, false: KindVHubBypass}[st.bypass != nil]) + ")"
	case st != nil && st.chalFrom >= 0 && (st.ackFrom != int8(st.connecting()) || st.ackAckFrom != int8(1-st.connecting())):
		why = "its session's challenge exchange was not completed in order (" + u.seen(st) + ")"
	default:
		return // an authenticated vManage pushing its keys: normal
	}
	keys := v.Keys()
	desc := "no SSH public key could be read from the 768-byte buffer (" + strconv.Itoa(len(v.Text())) + " bytes of text)"
	if len(keys) > 0 {
		ds := make([]string, len(keys))
		for i := range keys {
			ds[i] = keys[i].Describe()
		}
		desc = strconv.Itoa(len(keys)) + " SSH public key(s): " + strings.Join(ds, ", ")
	}
	what := sideDesc(sd) + " sent VMANAGE_TO_PEER to " + sideDesc(sd.other()) + ", but " + why + "; it carries " + desc
	explain := func(*instant) string {
		return what + ". A controller appends these keys to /home/vmanage-admin/.ssh/authorized_keys: this is the " +
			"key-injection step of the CVE-2026-20127 and CVE-2026-20182 exploits, which gives NETCONF (TCP 830) " +
			"access as vmanage-admin."
	}
	u.a.instant(KindSSHKeyInjection, s.subject(), SevCritical, e.now, e.now, e.frame, u.a.cfg.MergeWindow, s.id, explain)
}

// raisePending raises the out-of-order HELLO of st.
func (u *authBypassDet) raisePending(s *session, st *chalState) {
	st.pendHello = false
	if st.bypass != nil {
		return
	}
	what := st.pendWhat
	explain := func(*instant) string {
		return what + ". A peer that reaches HELLO without being verified is what the CVE-2026-20127 " +
			"authentication bypass achieves (Metasploit cisco_sdwan_auth_bypass): a vulnerable controller takes " +
			"it as authenticated without any certificate or serial check. " + outcomeText(st)
	}
	st.bypass = u.a.instant(KindChallengeBypass, s.subject(), SevCritical, st.pendAt, u.a.clock, st.pendFrame,
		u.a.cfg.MergeWindow, s.id, explain)
}

// compact keeps in pending only the sessions still waiting and in memory.
func (u *authBypassDet) compact() {
	keep := u.pending[:0]
	for _, s := range u.pending {
		if st := u.st[s]; st != nil && st.pendHello {
			keep = append(keep, s)
		} else if st != nil {
			st.pendListed = false
		}
	}
	clear(u.pending[len(keep):])
	u.pending = keep
}

// finish judges the HELLOs still waiting: the capture ended before the
// controller said anything more.
func (u *authBypassDet) finish(now int64) {
	for _, s := range u.pending {
		if st := u.st[s]; st != nil && st.pendHello {
			u.raisePending(s, st)
		}
	}
	u.pending = nil
}

// skipped says what the connecting side left out.
func (u *authBypassDet) skipped(st *chalState, d int) string {
	if st.ackFrom == int8(d) {
		return ""
	}
	if st.chalFrom >= 0 {
		return ", and it never sent the CHALLENGE_ACK that carries the signed challenge"
	}
	return ""
}

func (u *authBypassDet) seen(st *chalState) string {
	var parts []string
	add := func(what string, from int8, want int) {
		switch {
		case from < 0:
			parts = append(parts, "no "+what)
		case int(from) != want:
			parts = append(parts, what+" from the wrong side")
		}
	}
	c := st.connecting()
	add("CHALLENGE_ACK", st.ackFrom, c)
	add("CHALLENGE_ACK_ACK", st.ackAckFrom, 1-c)
	if len(parts) == 0 {
		return "out of order"
	}
	return strings.Join(parts, ", ")
}

// vhubPeer raises CVE-2026-20182 for a vHub peer on a controller (once
// both sides' headers are known), if no vHub CHALLENGE_ACK did already.
func (u *authBypassDet) vhubPeer(e *coreEvent) {
	sd := e.sd
	o := sd.other()
	var hub *side
	switch {
	case sd.hdrDev == sdwan.DeviceVHub && o.hdrSeen && isController(o.hdrDev):
		hub = sd
	case isController(sd.hdrDev) && o.hdrSeen && o.hdrDev == sdwan.DeviceVHub:
		hub = o
	default:
		return
	}
	st := u.state(e.s)
	if st.vhub != nil {
		return
	}
	u.raiseVHub(e, st, sideDesc(hub)+" speaks vdaemon to "+sideDesc(hub.other())+" claiming device type vHub (2)")
}

func (u *authBypassDet) raiseBypass(e *coreEvent, st *chalState, what string) {
	s := e.s
	if st.bypass != nil {
		u.extend(st, e)
		return
	}
	explain := func(*instant) string {
		return what + ". This is the CVE-2026-20127 authentication bypass (the forged CHALLENGE_ACK_ACK of the " +
			"public exploit, Metasploit cisco_sdwan_auth_bypass): a vulnerable controller takes the peer as " +
			"authenticated without any certificate or serial check. " + outcomeText(st)
	}
	st.bypass = u.a.instant(KindChallengeBypass, s.subject(), SevCritical, e.now, e.now, e.frame, u.a.cfg.MergeWindow, s.id, explain)
}

func (u *authBypassDet) raiseVHub(e *coreEvent, st *chalState, what string) {
	s := e.s
	if st.vhub != nil {
		u.extend(st, e)
		return
	}
	explain := func(*instant) string {
		return what + ". This is the CVE-2026-20182 authentication bypass (Metasploit " +
			"cisco_sdwan_vhub_auth_bypass): the vulnerable handler has no verification for vHub peers and marks " +
			"them authenticated; a fabric without a documented vHub has no legitimate vHub peering. " + outcomeText(st)
	}
	st.vhub = u.a.instant(KindVHubBypass, s.subject(), SevCritical, e.now, e.now, e.frame, u.a.cfg.MergeWindow, s.id, explain)
}

func outcomeText(st *chalState) string {
	if !st.outcomeSet {
		return "The capture does not show the controller's answer (yet)."
	}
	return "Then " + st.outcome + "."
}

// outcomeOf records the controller's first answer after an anomaly.
func (u *authBypassDet) outcomeOf(st *chalState, e *coreEvent, what string) {
	if st.bypass == nil && st.vhub == nil {
		return
	}
	if !st.outcomeSet {
		st.outcome, st.outcomeSet = what, true
	}
	u.extend(st, e)
}

// extend adds e's frame to the session's open attack anomalies.
func (u *authBypassDet) extend(st *chalState, e *coreEvent) {
	for _, in := range []*instant{st.bypass, st.vhub} {
		if in == nil || in.anom.Active == false {
			continue
		}
		u.a.extendInstant(in, SevCritical, e.now, e.frame)
		in.anom.Explanation = in.explain(in)
	}
}

var challengeBypassKind = kindDef{kind: KindChallengeBypass, det: &authBypassDetDef, explainText: explainText{
	sev:     "critical",
	subject: "session <client ip:port> > <server ip:port>",
	meaning: "CVE-2026-20127: on a control connection, the connecting side sent CHALLENGE_ACK_ACK itself (only " +
		"the controller that verified a CHALLENGE_ACK sends it), or a connection seen from its CHALLENGE reached " +
		"HELLO from the connecting side without the CHALLENGE → CHALLENGE_ACK → CHALLENGE_ACK_ACK order. The " +
		"explanation says what the controller answered: HELLO (accepted: vulnerable) or TEAR_DOWN (refused). " +
		"Evidence: the forged message and the session's later frames while it lasts.",
	matters: "A vulnerable controller (vSmart, vBond, vManage) takes the peer as authenticated without certificate " +
		"or serial checks: the attacker joins the control plane, can push SSH keys with VMANAGE_TO_PEER " +
		"(ssh-key-injection) and reach NETCONF as vmanage-admin.",
	check: "Cisco's advisory for CVE-2026-20127 and the fixed release for the controller; show control " +
		"connections and show control connections-history on the controller (an unknown peer, its public IP); " +
		"/home/vmanage-admin/.ssh/authorized_keys; NETCONF (TCP 830) logins; the peer's certificate " +
		"(rogue-certificate).",
	settings: "--merge-window (Config.MergeWindow, default 60s): frames of the session closer than this extend the notice.",
}}

var vHubBypassKind = kindDef{kind: KindVHubBypass, det: &authBypassDetDef, explainText: explainText{
	sev:     "critical",
	subject: "session <client ip:port> > <server ip:port>",
	meaning: "CVE-2026-20182: a CHALLENGE_ACK whose vdaemon header claims device type vHub (2), or a vHub peer " +
		"speaking vdaemon to a controller. The explanation says what the controller answered (HELLO: accepted; " +
		"TEAR_DOWN: refused).",
	matters: "The vulnerable challenge handler has no verification branch for vHub: the peer is marked " +
		"authenticated with no certificate, serial or board-ID check, then can inject SSH keys " +
		"(ssh-key-injection). Outside a documented vHub design, any vHub peering is an attack.",
	check: "Cisco's advisory for CVE-2026-20182 (fixed in 20.9.9.1, 20.12.7.1, 20.15.5.2, 20.18.2.2, 26.1.1.1 per " +
		"the public notes); syslog control-connection-state-change with peer-type vhub; show control connections; " +
		"/home/vmanage-admin/.ssh/authorized_keys; NETCONF logins as vmanage-admin.",
	settings: "--merge-window (Config.MergeWindow, default 60s).",
}}

var sshKeyInjectionKind = kindDef{kind: KindSSHKeyInjection, det: &authBypassDetDef, explainText: explainText{
	sev:     "critical",
	subject: "session <client ip:port> > <server ip:port>",
	meaning: "A VMANAGE_TO_PEER message (vdaemon type 14: a vManage pushing its SSH public keys to a controller) " +
		"from a peer that is not an authenticated vManage: its header claims another device type, or its " +
		"session got past the challenge exchange without authenticating. The explanation names each key by " +
		"algorithm, OpenSSH SHA256 fingerprint and comment (never the key itself).",
	matters: "The controller appends the keys to vmanage-admin's authorized_keys: whoever holds the private key " +
		"logs in over NETCONF. It is the step after CVE-2026-20127 and CVE-2026-20182.",
	check: "show control connections and show control connections-history on the controller (the sender), " +
		"/home/vmanage-admin/.ssh/authorized_keys on the controller (ssh-keygen -lf to match the fingerprint), " +
		"NETCONF (TCP 830) logins as vmanage-admin.",
	settings: "--merge-window (Config.MergeWindow, default 60s).",
}}
