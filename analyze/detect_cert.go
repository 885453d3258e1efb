package analyze

import (
	"cmp"
	"container/heap"
	"slices"
	"strconv"
	"strings"
)

// rogue-certificate: a control connection whose DTLS/TLS certificate a
// fabric would not issue. TLS 1.2 and DTLS 1.2 send certificates in the
// clear, so this needs no key: it is what fires for an attacker whose
// session cannot be decrypted.
//
//   - a self-signed certificate, or one whose subject has no value (the
//     public exploit modules for CVE-2026-20127 and CVE-2026-20182 present
//     a fresh self-signed RSA-2048 certificate with subject "/CN=/O=/C=":
//     rapid7/metasploit-framework cisco_sdwan_auth_bypass.rb and
//     cisco_sdwan_vhub_auth_bypass.rb), an empty certificate list, or one
//     that cannot be parsed: raised at once;
//   - an issuer outside the fabric's set: the issuers of the certificates
//     controllers (the DTLS/TLS servers) present on sessions that reached
//     up and decrypt, the --trusted-issuer names, and, on the connecting
//     side, Cisco's SUDI issuers (hardware edges present their
//     manufacturing certificate). Decided once the fabric's set is known:
//     MergeWindow after the session was first seen, or at the end of the
//     capture.

// KindRogueCertificate names the notice of this detector.
const KindRogueCertificate Kind = "rogue-certificate"

var certDetDef = detectorDef{name: "rogue-certificate", flags: []Flag{{Name: "trusted-issuer",
	Usage: "rogue-certificate: a certificate issuer taken as the fabric's (RFC 2253, \"CN=Acme Root CA,O=Acme\"); repeatable",
	Strs:  func(c *Config) *[]string { return &c.TrustedIssuers }}}, make: func(a *Analyzer) detector {
	d := &certDet{a: a, issuers: map[string]bool{}, trusted: map[string]bool{}, st: map[*session]*certState{}}
	for _, n := range a.cfg.TrustedIssuers {
		d.trusted[normIssuer(n)] = true
	}
	return d
}}

// sudiIssuers are the common names of Cisco's hardware (SUDI) issuing CAs
// (Cisco PKI: ACT2 SUDI CA, High Assurance SUDI CA, Cisco Manufacturing CA,
// Cisco Manufacturing CA SHA2, Cisco Manufacturing CA III).
var sudiIssuers = []string{"ACT2 SUDI CA", "High Assurance SUDI CA", "Cisco Manufacturing CA",
	"Cisco Manufacturing CA SHA2", "Cisco Manufacturing CA III"}

type certDet struct {
	a       *Analyzer
	issuers map[string]bool // the fabric's: controllers' certificate issuers
	trusted map[string]bool // --trusted-issuer
	st      map[*session]*certState
	pending certQueue // issuer checks waiting for the fabric's set, earliest session start first
	seq     uint64
	due     []certPending // reused by tick
}

// certPending is a session queued for its issuer check, due MergeWindow
// after the session started; seq keeps the order it was queued in. st is
// the session's state, which knows its place in the queue (a session
// dropped from memory leaves the queue with it).
type certPending struct {
	s   *session
	st  *certState
	seq uint64
}

// certQueue is a min-heap of queued sessions by start (then queue
// order): a tick looks only at the sessions due, not at every one
// waiting (8 000 sessions starting together made the scan a quarter of
// the scale capture's time).
type certQueue []certPending

func (q certQueue) Len() int { return len(q) }
func (q certQueue) Less(i, j int) bool {
	if q[i].s.start != q[j].s.start {
		return q[i].s.start < q[j].s.start
	}
	return q[i].seq < q[j].seq
}
func (q certQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].st.at, q[j].st.at = i, j
}
func (q *certQueue) Push(x any) {
	p := x.(certPending)
	p.st.at = len(*q)
	*q = append(*q, p)
}
func (q *certQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	old[len(old)-1] = certPending{}
	*q = old[:len(old)-1]
	x.st.at = -1
	return x
}

// certState is what was checked and reported of one session's
// certificates: each side's certificate is checked when it first
// appears (the server's comes first in a real handshake, the client's
// after it).
type certState struct {
	seen    [2]bool // the side's certificate was checked on its own
	issuer  [2]bool // the side's issuer was checked against the fabric's set
	learned bool    // the session taught its issuers
	queued  bool    // waiting for its issuer check
	at      int     // its place in pending (-1: not there)
	what    []string
	in      *instant
}

// normIssuer compares issuers without case or spaces after commas.
func normIssuer(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ", ", ","))
}

func (u *certDet) event(e *coreEvent) {
	switch e.kind {
	case evDropped:
		if e.s != nil {
			// the session leaves memory: its state and its place in
			// pending go (a capture that never learns an issuer would
			// keep every session queued)
			if st := u.st[e.s]; st != nil && st.at >= 0 {
				heap.Remove(&u.pending, st.at)
			}
			delete(u.st, e.s)
		}
	case evRecord, evSessionChanged, evSessionInfo:
		s := e.s
		if s == nil || (s.info.ClientCert == nil && s.info.ServerCert == nil) {
			return
		}
		st := u.st[s]
		if st == nil {
			st = &certState{at: -1}
			u.st[s] = st
		}
		u.learn(s, st)
		u.immediate(s, st, e)
	}
}

// learn adds to the fabric's set the issuer of the server certificate of
// an established, decrypting session, and that of the client certificate
// when the controller verified the client (its CHALLENGE_ACK_ACK answered
// the client's CHALLENGE_ACK): edges signed by another CA than the
// controllers' are then the fabric's too.
func (u *certDet) learn(s *session, st *certState) {
	if st.learned || s.ctl != ctlUp || s.records == 0 {
		return
	}
	st.learned = true
	for i, c := range []*Certificate{s.info.ServerCert, s.info.ClientCert} {
		if c == nil || c.SelfSigned || c.Empty || c.ParseError != "" || c.Issuer == "" || (i == 1 && !s.verified) {
			continue
		}
		u.issuers[normIssuer(c.Issuer)] = true
	}
}

// problems lists what is wrong with a certificate on its own.
func certProblems(c *Certificate) []string {
	var p []string
	switch {
	case c == nil:
	case c.Empty:
		p = append(p, "presented an empty certificate list")
	case c.ParseError != "":
		p = append(p, "presented a certificate that cannot be parsed ("+c.ParseError+")")
	default:
		if c.SelfSigned {
			p = append(p, "presented a self-signed certificate")
		}
		if c.SubjectEmpty {
			p = append(p, "presented a certificate whose subject has no value")
		}
	}
	return p
}

func certDesc(c *Certificate) string {
	subj := c.Subject
	if subj == "" {
		subj = "(empty)"
	}
	return "subject " + strconv.Quote(subj) + ", issuer " + strconv.Quote(c.Issuer) + ", SHA-256 " + c.SHA256
}

var sideRole = [2]string{"DTLS/TLS client", "DTLS/TLS server"}

// immediate checks each side's certificate on its own, once, when it
// first appears, and queues the session for the issuer check.
func (u *certDet) immediate(s *session, st *certState, e *coreEvent) {
	for side, c := range []*Certificate{s.info.ClientCert, s.info.ServerCert} {
		if c == nil || st.seen[side] {
			continue
		}
		st.seen[side] = true
		if !st.queued {
			st.queued = true
			u.seq++
			heap.Push(&u.pending, certPending{s: s, st: st, seq: u.seq})
		}
		p := certProblems(c)
		if len(p) == 0 {
			continue
		}
		st.issuer[side] = true // reported: no issuer check
		w := sideDesc(s.sides[side]) + " (the " + sideRole[side] + ") " + strings.Join(p, " and ")
		if !c.Empty && c.ParseError == "" {
			w += " (" + certDesc(c) + ")"
		}
		start := e.now
		if t := timeNS(c.Time); t != 0 && t < start {
			start = t
		}
		frame := e.frame
		if c.Frame != 0 {
			frame = c.Frame
		}
		u.raise(s, st, e.now, start, frame, w)
	}
}

// raise raises the session's anomaly, or adds what to the one it has;
// frame is that of the certificate at fault.
func (u *certDet) raise(s *session, st *certState, now, start int64, frame uint64, what string) {
	st.what = append(st.what, what)
	if st.in != nil && st.in.anom.Active {
		u.a.extendInstant(st.in, SevCritical, now, frame)
		st.in.anom.Explanation = st.in.explain(st.in)
		return
	}
	explain := func(*instant) string {
		out := "On control connection " + s.subject() + ", " + strings.Join(st.what, "; ") + ". A fabric's devices " +
			"present certificates issued by the organization's CA (or Cisco's), never self-signed ones; the public " +
			"exploit modules for CVE-2026-20127 and CVE-2026-20182 connect with a fresh self-signed certificate with " +
			"an empty subject."
		switch {
		case s.records == 0 && s.gapRecords > 0:
			out += " None of the session's records could be decrypted (" + gapWhy(s) + "): the certificate is all " +
				"the capture shows of this peer; what it said inside the session is unknown."
		case s.records == 0:
			out += " No record of the session was decoded."
		}
		return out
	}
	st.in = u.a.instant(KindRogueCertificate, s.subject(), SevCritical, start, now, frame, u.a.cfg.MergeWindow, s.id, explain)
}

// gapWhy names the reasons of a session's unreadable records.
func gapWhy(s *session) string {
	rs := make([]string, 0, len(s.gapReasons))
	for r := range s.gapReasons {
		rs = append(rs, r)
	}
	slices.Sort(rs)
	return strings.Join(rs, ", ")
}

func (u *certDet) tick(now int64) {
	if len(u.pending) == 0 || (len(u.issuers) == 0 && len(u.trusted) == 0) {
		return
	}
	due := u.due[:0]
	for len(u.pending) > 0 && now-u.pending[0].s.start >= int64(u.a.cfg.MergeWindow) {
		due = append(due, heap.Pop(&u.pending).(certPending))
	}
	u.checkDue(due, now)
	u.due = due[:0]
}

// checkDue checks the sessions in the order they were queued.
func (u *certDet) checkDue(due []certPending, now int64) {
	slices.SortFunc(due, func(x, y certPending) int { return cmp.Compare(x.seq, y.seq) })
	for i, p := range due {
		u.checkIssuer(p.s, now)
		due[i] = certPending{}
	}
}

func (u *certDet) finish(now int64) {
	for _, p := range u.pending {
		p.st.at = -1
	}
	u.checkDue(u.pending, now)
	u.pending = nil
}

// checkIssuer raises the issuers of s that are not the fabric's (each
// side once; a side whose certificate arrives later queues the session
// again).
func (u *certDet) checkIssuer(s *session, now int64) {
	st := u.st[s]
	if st == nil || (len(u.issuers) == 0 && len(u.trusted) == 0) {
		return
	}
	st.queued = false
	for side, c := range []*Certificate{s.info.ClientCert, s.info.ServerCert} {
		if c == nil || st.issuer[side] || c.Issuer == "" {
			continue
		}
		st.issuer[side] = true
		n := normIssuer(c.Issuer)
		if u.issuers[n] || u.trusted[n] || (side == 0 && isSUDI(c.Issuer)) {
			continue
		}
		start := now
		if t := timeNS(c.Time); t != 0 && t < start {
			start = t
		}
		u.raise(s, st, now, start, c.Frame, sideDesc(s.sides[side])+" (the "+sideRole[side]+
			") presented a certificate from an issuer outside the fabric's set ("+certDesc(c)+"; the fabric's: "+
			u.issuerList()+")")
	}
}

func (u *certDet) issuerList() string {
	l := make([]string, 0, len(u.issuers)+len(u.trusted))
	for n := range u.issuers {
		l = append(l, strconv.Quote(n))
	}
	for n := range u.trusted {
		if !u.issuers[n] {
			l = append(l, strconv.Quote(n)+" (trusted)")
		}
	}
	slices.Sort(l)
	return strings.Join(l, ", ")
}

func isSUDI(issuer string) bool {
	for _, cn := range sudiIssuers {
		if strings.Contains(issuer, "CN="+cn+",") || strings.HasSuffix(issuer, "CN="+cn) {
			return true
		}
	}
	return false
}

var rogueCertificateKind = kindDef{kind: KindRogueCertificate, det: &certDetDef, explainText: explainText{
	sev:     "critical",
	subject: "session <client ip:port> > <server ip:port>",
	meaning: "A side of a control connection presented, in the clear DTLS/TLS 1.2 handshake, a certificate no " +
		"fabric device presents: self-signed, with an empty subject, an empty certificate list, unparsable, or " +
		"issued by a CA outside the fabric's set (the issuers of the controllers' certificates on established, " +
		"decrypting sessions, the --trusted-issuer names and, for connecting devices, Cisco's SUDI CAs). No key " +
		"is needed: when the session cannot be decrypted, this is what shows the peer, and the explanation says " +
		"so. The exploit modules for CVE-2026-20127 and CVE-2026-20182 use a self-signed certificate with an " +
		"empty subject. Evidence: the frame of the certificate.",
	matters: "Controllers should refuse such a peer; one that is accepted (see the CVE kinds on the same session) " +
		"has joined the control plane without being a fabric device.",
	check: "show control connections-history (the peer's public IP, errors such as CRTVERFL), show certificate " +
		"root-ca-cert and the organization's CA on the controllers, the session's other anomalies.",
	settings: "--trusted-issuer NAME (Config.TrustedIssuers; repeatable, RFC 2253 form as shown in the explanation); " +
		"--merge-window (Config.MergeWindow, default 60s): how long the issuer check waits for the fabric's set.",
}}
