package synth

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// Session kinds (manifest names).
const (
	kindVBond   = "vbond"
	kindVManage = "vmanage"
	kindOMP     = "omp"
)

// session is one control connection.
type session struct {
	id          int
	kind        string
	client      *device
	server      *device
	transport   string // "dtls", "tls", or "udp" (clear: vdaemon straight in UDP payloads)
	clear       bool   // no DTLS/TLS: the plaintext-control scenario's fault
	suite       suite
	ems         bool
	psk         []byte
	pskIdentity string
	keyInLog    bool
	// attack: the attack scenarios' script for this session (kind attack)
	attack    *attackPlan
	attackKey string
	cAddr     netip.AddrPort
	sAddr     netip.AddrPort
	vlan      uint16
	rtt       vt
	start     vt // the first handshake packet
	appStart  vt // the first application record
	hsDrop    int

	// runtime
	wire      *wire
	conns     [2]io.WriteCloser
	keylog    bytes.Buffer
	hs        []*item
	retrans   int
	tcp       *tcpState
	tcpClosed [2]bool
	open      bool
	closed    bool
	dead      [2]bool // the side stopped sending (its device died)
	deadAt    [2]vt   // when (-1: alive)
	cHop      int     // the client's port-hopping step
	lastHello [2]vt
	firstApp  vt
	lastApp   vt
	omp       *ompSess
	clrBusy   [2]vt // clear session: when the side's previous datagram ends
	imp       impairment
	held      [2]*item
	lastUpd   vt                   // capture time of the first UPDATE of the last advertisement
	onUp      []func(t vt)         // run when OMP comes up
	onAlert   func(side int, t vt) // run when side sends an ALERT
}

// impairment is what happens to the record being written.
type impairment struct {
	lost, dup, reorder bool
}

// ompSess is the OMP state of an OMP session.
type ompSess struct {
	hs      [2]bool // HANDSHAKE sent by side
	up      bool
	down    bool    // was up, went down (alert, teardown, lost)
	hung    [2]bool // the side's OMP went silent (vdaemon still runs)
	rib     [2]*rib // rib[side]: what side advertised to the other
	eor     [2]bool
	lastRx  [2]vt // capture time of the last OMP message from side
	holdChk [2]bool
	hold    vt
	upAt    vt
}

func (s *session) dev(side int) *device {
	if side == cli {
		return s.client
	}
	return s.server
}

func (s *session) sideOf(d *device) int {
	if s.client == d {
		return cli
	}
	return srv
}

func (s *session) label() string {
	return fmt.Sprintf("%s %s>%s (%s %s > %s)", s.kind, s.client.name, s.server.name, s.transport, s.cAddr, s.sAddr)
}

// ompUp reports whether OMP runs on the session now.
func (s *session) ompUp() bool {
	return s.omp != nil && s.omp.up && !s.omp.down && !s.closed
}

// header makes the vdaemon header of a message from side.
func (s *session) header(side int, t vdaemon.MsgType) vdaemon.Header {
	d := s.dev(side)
	return vdaemon.Header{Version: vdaemon.Version, Type: t, Device: d.typ, Flags: 0xA0, DomainID: 1, SiteID: d.siteID}
}

func mustMarshal(m *vdaemon.Message) []byte {
	b, err := vdaemon.Marshal(m)
	if err != nil {
		panic("synth: vdaemon message does not encode: " + err.Error()) // a simulator bug
	}
	return b
}

func ompPayload(ms ...omp.Message) []byte {
	var b []byte
	for _, m := range ms {
		var err error
		if b, err = omp.Append(b, m); err != nil {
			panic("synth: OMP message does not encode: " + err.Error()) // a simulator bug
		}
	}
	return b
}

// helloBody is the vdaemon HELLO side sends: its own TLOC (or controller
// address), color and timers.
func (s *session) helloBody(side int) *vdaemon.Hello {
	d := s.dev(side)
	h := &vdaemon.Hello{IntervalMS: vdaemon.DefaultHelloMS, ToleranceMS: vdaemon.DefaultToleranceMS, Color: sdwan.ColorDefault}
	var ap netip.AddrPort
	if d.typ == sdwan.DeviceVEdge {
		t := d.primary()
		ap, h.Color = netip.AddrPortFrom(t.priv.Addr(), s.localPort(side)), t.color
	} else if side == cli {
		ap = s.cAddr
	} else {
		ap = s.sAddr
	}
	h.Addr, h.Port = ap.Addr(), ap.Port()
	h.Family = vdaemon.AFInet
	if ap.Addr().Is6() {
		h.Family = vdaemon.AFInet6
	}
	return h
}

// localPort is the port side uses on its own interface (before NAT).
func (s *session) localPort(side int) uint16 {
	if side == srv {
		return s.sAddr.Port()
	}
	return uint16(12346 + 20*s.cHop)
}

// handshakeMsg is the OMP HANDSHAKE side sends.
func (s *session) handshakeMsg(side int) *omp.Handshake {
	d := s.dev(side)
	return &omp.Handshake{SystemIP: d.sysIP, SiteID: d.siteID, DomainID: 1, OverlayID: 1, HoldTime: d.hold,
		DeviceType: d.typ, Flags: omp.HandshakeGR | omp.HandshakeRouteRefresh, GRTimer: d.grTimer,
		Capabilities: []omp.Capability{
			{Type: omp.CapSendPathLimit, Value: omp.DefaultSendPathLimit},
			{Type: omp.CapECMPLimit, Value: omp.DefaultECMPLimit},
			{Type: omp.CapOrganization, Text: "ompscope-sim"},
			{Type: omp.CapSoftwareVersion, Text: d.version},
		}}
}
