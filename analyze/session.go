package analyze

import (
	"net/netip"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

// Control-connection states, in the order a connection passes them, named
// as Cisco's SessionState (sdwan.SessionState: VIPTELA-SECURITY-MIB):
// connect (records seen, no CHALLENGE yet), challenge (the controller sent
// CHALLENGE), challenge-resp (the device answered CHALLENGE_ACK),
// challenge-ack (the controller's CHALLENGE_ACK_ACK), up (HELLOs or data),
// down. A passive capture does not see handshake, trying or tear-down as
// states of their own (the DTLS handshake comes before any record; a
// TEAR_DOWN ends the connection).
type ctlState uint8

const (
	ctlConnect ctlState = iota
	ctlChallenge
	ctlChallengeResp
	ctlChallengeAck
	ctlUp
	ctlDown
)

var ctlNames = [...]string{sdwan.SessionConnect.String(), sdwan.SessionChallenge.String(),
	sdwan.SessionChallengeResp.String(), sdwan.SessionChallengeAck.String(), sdwan.SessionUp.String(),
	sdwan.SessionDown.String()}

func (s ctlState) String() string { return ctlNames[s] }

// OMP peer states, named as Cisco's PeerState (sdwan.PeerState:
// CISCO-SDWAN-OMP-MIB, `show omp peers`), plus "none" (this project's) for
// a control connection that carries no OMP, such as vBond and vManage ones.
type ompState uint8

const (
	ompNone ompState = iota
	ompHandshake
	ompUp
	ompInitGR
	ompDownGR
	ompDown
)

var ompNames = [...]string{"none", "handshake", "up", "init-in-gr", "down-in-gr", "down"}

func (s ompState) String() string { return ompNames[s] }

// running reports whether the OMP session is established (tables flow).
func (s ompState) running() bool { return s == ompUp || s == ompInitGR || s == ompHandshake }

// hsInfo is what one side said in its OMP HANDSHAKE.
type hsInfo struct {
	hold      uint16
	flags     uint8
	grTimer   uint32
	spl       uint8
	ecmp      uint8
	org, sw   string
	domain    uint32
	overlay   uint32
	overlayOK bool
}

// side is one end of a session.
type side struct {
	sess *session
	idx  int // 0 client, 1 server
	addr netip.AddrPort

	sys      netip.Addr // system-ip, when known
	inferred bool       // sys was inferred, not read from a HANDSHAKE
	dev      sdwan.DeviceType
	site     uint32
	siteOK   bool
	hs       *hsInfo

	hdrSeen   bool
	hdrDev    sdwan.DeviceType
	hdrSite   uint32
	hdrDomain uint32
	hdrSiteRp uint32 // header site-id already reported as mismatching

	uuid      string
	color     sdwan.Color
	helloSeen bool
	helloMS   uint32
	tolMS     uint32

	nameOf  netip.Addr // sys when nameStr was made
	nameStr string

	lastHeard int64
	lastOMP   int64
	holdArmed bool
	holdAt    int64  // when the armed silence timer fires
	holdGen   uint32 // generation of the armed timer
	claimed   bool
}

func (sd *side) other() *side { return sd.sess.sides[1-sd.idx] }

func (sd *side) sysKnown() bool { return sd.sys.IsValid() }

// name is the system-ip, or "?" and the address when unknown (cached).
func (sd *side) name() string {
	if sd.nameOf != sd.sys || sd.nameStr == "" {
		sd.nameOf = sd.sys
		if sd.sys.IsValid() {
			sd.nameStr = sd.sys.String()
		} else {
			sd.nameStr = "?" + sd.addr.String()
		}
	}
	return sd.nameStr
}

func (sd *side) isVSmart() bool { return sd.dev == sdwan.DeviceVSmart }

// session is one control connection.
type session struct {
	id    string
	info  SessionInfo
	sides [2]*side
	tabs  [2]*table // [0] client→server, [1] server→client

	ctl     ctlState
	omp     ompState
	ompHist []stateAt // OMP state changes (bounded), for snapshots

	start, last int64
	ompUpAt     int64
	downAt      int64
	downReason  string

	holdNS    int64 // negotiated OMP hold time (0: none)
	holdKnown bool
	grOK      bool
	grTimerNS int64
	pathLimit int
	grBegin   [2]int64 // restart timer announced by side i (GRACEFUL_RESTART_BEGIN)
	ompStart  bool     // a HANDSHAKE was seen (OMP observed from its start)
	ctlStart  bool     // the challenge exchange was seen
	// verified: the controller sent CHALLENGE_ACK_ACK after the
	// connecting side's CHALLENGE_ACK (the proper exchange)
	verified    bool
	ackFrom     int8 // 1 + the side that sent the first CHALLENGE_ACK (0: none)
	holdExpired int  // 1+side index whose hold expired (0: none)
	silent      int  // 1+side index whose silence took the connection down

	records      int
	decodeErrors int
	gapRecords   int
	gapOpen      [2]bool // unreadable records not followed by a readable one yet, per direction
	lastGap      int64   // when the last unreadable record was reported
	gapDir       [2]int
	pathsRefused [2]int // paths not kept at Config.MaxPaths, by direction
	gapReasons   map[string]int
	policies     int
	unknownOMP   int
	rawUpdates   int
	vbond        bool     // a vBond is one of the ends
	tunnelRp     uint8    // untunnelled-control problems already reported
	tunnelWhy    []string // what they were
	tunnelAn     *Anomaly // the untunnelled-control anomaly of the session
}

// sendPathLimit is the send-path-limit the session's tables are held to
// (the default until a HANDSHAKE negotiated one).
func (s *session) sendPathLimit() int {
	if s.pathLimit <= 0 {
		return omp.DefaultSendPathLimit
	}
	return s.pathLimit
}

func (s *session) subject() string {
	return "session " + s.info.Client.String() + " > " + s.info.Server.String()
}

// peerSubject is the canonical "peer <system-ip>" subject of a side, or
// the session subject when its system-ip is unknown.
func peerSubject(sd *side) string {
	if sd.sys.IsValid() {
		return "peer " + sd.sys.String()
	}
	return sd.sess.subject()
}

type stateAt struct {
	t  int64
	st ompState
}

// ompAt returns the OMP state at time t (the current one when the history
// does not reach back that far).
func (s *session) ompAt(t int64) ompState {
	for i := len(s.ompHist) - 1; i >= 0; i-- {
		if s.ompHist[i].t <= t {
			return s.ompHist[i].st
		}
	}
	if len(s.ompHist) > 0 && len(s.ompHist) < maxStateHist {
		return ompNone
	}
	return s.omp
}

const maxStateHist = 64

// device is what the analyzer knows about one system-ip.
type device struct {
	sys    uint32
	dev    sdwan.DeviceType
	site   uint32
	siteOK bool
	claims []*side
	idleAt int64 // since when it has had no claim (with a positive Retention it leaves memory past it)
	dup    bool
	pair   [2]*side // the claims that made dup
}

// sideDesc describes a side for explanations: "vEdge 10.0.0.11".
func sideDesc(sd *side) string {
	if sd.dev != sdwan.DeviceUnknown {
		return sd.dev.String() + " " + sd.name()
	}
	return sd.name()
}
