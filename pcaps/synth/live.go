package synth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ompscope/ompscope/pcaps/manifest"
)

// Live mode: RunLive runs a scenario exactly as Run does (same fabric,
// same handshakes, same schedule, same manifest) and, as the output stage
// puts each packet of a control connection into the capture, replays it
// over real sockets on the loopback interface, at the capture's pace.
//
// What is replayed is the transport-level content, not the frames: each
// DTLS datagram is one sendto from a UDP socket bound to the sender's
// (mapped) address and port; a TLS session is a real TCP connection (the
// client's socket bound to its mapped address and port, connected to a
// listener on the server's), and each TLS write of the simulation is one
// write on it; a FIN of the capture is a shutdown of the sending side.
// The kernel does the framing: its own TCP handshake, segments and ACKs;
// no IP fragments (lo's MTU is 65 536); no VLAN tag, MAC or TTL of the
// simulated data centre. What the capture point did not see (a HELLO lost
// before it) is not sent; what it saw twice (a duplicated datagram) is sent
// twice; reordered datagrams are sent in their capture order. Background
// traffic (DNS, ICMP, NTP, syslog, HTTP) is simulated, so that the run is
// the same, but not sent.

// Actions of the tap.
const (
	opDatagram   = iota + 1 // one UDP payload (DTLS)
	opStream                // one TLS write on the TCP connection
	opConnect               // the client's SYN: connect
	opCloseWrite            // a FIN: shut down the sending side
)

var opNames = map[uint8]string{opDatagram: "datagram", opStream: "stream", opConnect: "connect", opCloseWrite: "close-write"}

// livePkt is one action the replay performs.
type livePkt struct {
	t    vt
	sess int
	side int8
	op   uint8
	b    []byte
}

// LiveOptions configure RunLive.
type LiveOptions struct {
	// To is the loopback address the mapping starts from (see LiveInfo):
	// an IPv4 address in 127.0.0.0/8. The zero value means 127.0.0.1.
	To netip.Addr
	// Speed is how many times faster than the capture's virtual time the
	// packets are sent: 1 is real time, 60 makes a minute of the capture
	// last a second; 0 sends as fast as possible, in capture order. The
	// zero value is as fast as possible, so set 1 for real time.
	Speed float64
	// KeyLog receives each session's NSS key log lines (CLIENT_RANDOM)
	// just before the session's first packet is sent, in one Write call
	// (an *os.File is not buffered, so a reader of the file sees the
	// lines at once). Sessions the scenario leaves out of the key log are
	// left out. nil: no key log.
	KeyLog io.Writer
	// KeyLead, when positive, writes each session's lines this much wall
	// time before the session's first packet is due (its virtual start
	// time, at Speed), and delays the first packet of the run by as much,
	// so that a capture following the key log by polling it has the keys
	// before the records: with ompscope sniff, which reads its key logs
	// every 250 ms, a lead of 1s does. Sessions whose start is after the
	// end of the capture get no key line. 0: just before the first packet.
	KeyLead time.Duration
	// Hold keeps the sockets open once every packet is sent, until ctx is
	// done: closing a TCP connection sends FINs the capture does not have
	// (the sessions still up at its end would look closed).
	Hold bool
	// Progress, when not nil, gets a status line about every second.
	Progress io.Writer
	// OnSent, when not nil, is called once the last packet is sent (and
	// before Hold waits) with the run's manifest and the live details.
	// An error ends the run with it.
	OnSent func(m *manifest.Manifest, info *LiveInfo) error
	// OnSend, when not nil, is called from the sending goroutine right
	// after each action.
	OnSend func(LivePacket)
}

// LivePacket describes one action of the replay.
type LivePacket struct {
	Session    int    // index in the manifest's session list
	FromClient bool   // sent by the session's client
	Op         string // "datagram", "stream", "connect" or "close-write"
	Len        int    // payload bytes (datagram, stream)
	Src, Dst   netip.AddrPort
	Virtual    time.Time // its capture time in the offline capture of the run
	Sent       time.Time // when it was sent
}

// LiveInfo tells how a live run maps onto the offline capture of the same
// run: addresses, sessions, times. RunLive's caller may write it as JSON
// (the synth command writes NAME.live.json).
//
// Addresses: every underlay address a control connection uses maps to
// its own IPv4 loopback address, counting up from LiveOptions.To and
// skipping addresses whose last byte is 0 or 255: the n-th device of the
// fabric (manifest order: vManage, vBond, vSmart 1, vSmart 2, the edges)
// gets slot 2n for its IPv4 underlay address and 2n+1 for its IPv6 one
// (slots no session uses stay free), so with To = 127.0.0.1 vManage is
// 127.0.0.1, vBond 127.0.0.3, vSmart 1 127.0.0.5 (and 127.0.0.6 for the
// sessions of IPv6 edges), edge1 127.0.0.9 or 127.0.0.10. IPv6 sessions
// run over IPv4 loopback addresses (lo has only one IPv6 address, ::1).
// Ports are those of the capture (12346, 12446, port hopping, NAT ports,
// 23456).
type LiveInfo struct {
	Scenario string  `json:"scenario"`
	Seed     int64   `json:"seed"`
	Speed    float64 `json:"speed"`
	To       string  `json:"to"`
	// KeyLead is LiveOptions.KeyLead.
	KeyLead time.Duration `json:"key_lead_ns"`
	// VirtualStart is the capture time (in the offline capture of the
	// run) of the first packet replayed, RealStart when it was sent: a
	// packet of capture time v is due at RealStart + (v-VirtualStart)/Speed.
	VirtualStart time.Time     `json:"virtual_start"`
	RealStart    time.Time     `json:"real_start"`
	RealEnd      time.Time     `json:"real_end"` // the last packet sent
	Addresses    []LiveAddr    `json:"addresses"`
	Sessions     []LiveSession `json:"sessions"`
	Stats        LiveStats     `json:"stats"`
	// Differences lists what the live traffic does not reproduce of the
	// offline capture.
	Differences []string `json:"differences"`
}

// LiveAddr is one mapped address.
type LiveAddr struct {
	Device  string     `json:"device"`
	Virtual netip.Addr `json:"virtual"`
	Live    netip.Addr `json:"live"`
}

// LiveSession is one control connection: its addresses in the manifest
// (virtual) and on the loopback interface (live).
type LiveSession struct {
	Session    int            `json:"session"`
	Transport  string         `json:"transport"`
	Client     netip.AddrPort `json:"client"`
	Server     netip.AddrPort `json:"server"`
	LiveClient netip.AddrPort `json:"live_client"`
	LiveServer netip.AddrPort `json:"live_server"`
	KeyInLog   bool           `json:"key_in_log"`
	// FirstSent is when its first packet was sent (zero: never, as for a
	// session planned after the end of the capture).
	FirstSent time.Time `json:"first_sent,omitzero"`
}

// LiveStats count what a live run sent and received.
type LiveStats struct {
	Packets        int   `json:"packets"` // datagrams + stream writes
	Datagrams      int   `json:"datagrams"`
	DatagramBytes  int64 `json:"datagram_bytes"`
	StreamWrites   int   `json:"stream_writes"`
	StreamBytes    int64 `json:"stream_bytes"`
	Connections    int   `json:"connections"`
	CloseWrites    int   `json:"close_writes"`
	KeyedSessions  int   `json:"keyed_sessions"` // sessions whose key lines went to the key log
	UDPSockets     int   `json:"udp_sockets"`
	TCPListeners   int   `json:"tcp_listeners"`
	RecvDatagrams  int64 `json:"received_datagrams"` // by the replay's own sockets
	RecvDgramBytes int64 `json:"received_datagram_bytes"`
	RecvStream     int64 `json:"received_stream_bytes"`
	// MaxLate is the longest a packet was sent after it was due.
	MaxLate time.Duration `json:"max_late_ns"`
	// Elapsed is the wall time from the first packet to the last.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Virtual maps a loopback address and port seen on lo back to the
// underlay address of the manifest (the port is the same).
func (li *LiveInfo) Virtual(ap netip.AddrPort) (netip.AddrPort, bool) {
	for _, a := range li.Addresses {
		if a.Live == ap.Addr() {
			return netip.AddrPortFrom(a.Virtual, ap.Port()), true
		}
	}
	return netip.AddrPort{}, false
}

// Live maps an underlay address and port of the manifest to the loopback
// one the live run used.
func (li *LiveInfo) Live(ap netip.AddrPort) (netip.AddrPort, bool) {
	for _, a := range li.Addresses {
		if a.Virtual == ap.Addr() {
			return netip.AddrPortFrom(a.Live, ap.Port()), true
		}
	}
	return netip.AddrPort{}, false
}

// RealTime is when a packet of capture time v (offline) was due live.
func (li *LiveInfo) RealTime(v time.Time) time.Time {
	d := v.Sub(li.VirtualStart)
	if li.Speed > 0 {
		d = time.Duration(float64(d) / li.Speed)
	} else {
		d = 0
	}
	return li.RealStart.Add(d)
}

var liveDifferences = []string{
	"addresses: every underlay address maps to its own IPv4 loopback address (see addresses); IPv6 sessions run over IPv4; ports are unchanged",
	"times: real time of sending, RealStart + (capture time - VirtualStart) / speed, give or take the scheduler",
	"framing is the kernel's: no VLAN tag, zero MAC addresses, TTL 64, no IP fragments (lo's MTU is 65536), TCP handshakes, segments and ACKs of the kernel",
	"background traffic (DNS, ICMP, NTP, syslog, HTTP) is not sent",
	"DTLS datagrams lost before the capture point are not sent; duplicated ones are sent twice; reordered ones in capture order",
	"TCP connections still open at the end are closed (FINs) only when the run ends (with Hold, when its context is done)",
}

// Validate reports what is wrong with live options, without running.
func (lo LiveOptions) Validate() error {
	if _, err := liveBase(lo.To); err != nil {
		return err
	}
	if lo.Speed < 0 || lo.Speed != lo.Speed || lo.Speed > 1e6 {
		return fmt.Errorf("--speed must be 0 (as fast as possible) or a factor up to 1e6, have %v", lo.Speed)
	}
	if lo.KeyLead < 0 || lo.KeyLead > time.Hour {
		return fmt.Errorf("--key-lead must be between 0 and 1h, have %v", lo.KeyLead)
	}
	return nil
}

func liveBase(a netip.Addr) (netip.Addr, error) {
	if !a.IsValid() {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	if a.Is6() && !a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("--to %s: give an IPv4 loopback address (127.0.0.0/8): lo has one IPv6 address only, so IPv6 sessions are replayed over IPv4 loopback addresses", a)
	}
	a = a.Unmap()
	if a.As4()[0] != 127 {
		return netip.Addr{}, fmt.Errorf("--to %s: live mode sends to loopback addresses only (127.0.0.0/8)", a)
	}
	return a, nil
}

// loopSlot is the n-th usable loopback address from base (last byte 1 to
// 254).
func loopSlot(base netip.Addr, n int) (netip.Addr, error) {
	b := base.As4()
	u := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	last := int64(u & 0xff)
	switch {
	case last == 0:
		last = 1
	case last == 255:
		u += 256
		last = 1
	}
	idx := int64(u>>8)*254 + last - 1 + int64(n)
	v := uint32(idx/254)<<8 | uint32(idx%254+1)
	if idx/254 > 0xffffff || v>>24 != 127 {
		return netip.Addr{}, fmt.Errorf("--to %s: %d addresses do not fit in 127.0.0.0/8 from there", base, n+1)
	}
	return addr4(v), nil
}

// liveMap assigns a loopback address to every underlay address the
// sessions use (see LiveInfo).
func liveMap(ss []*session, ndev int, base netip.Addr) (map[netip.Addr]netip.Addr, []LiveAddr, error) {
	type owner struct {
		dev  *device
		slot int
	}
	own := map[netip.Addr]*owner{}
	var order []netip.Addr
	used := map[int]bool{}
	extra := 2 * ndev
	add := func(d *device, a netip.Addr) {
		if own[a] != nil {
			return
		}
		slot := 2 * d.idx
		if a.Is6() {
			slot++
		}
		if used[slot] {
			slot = extra // a second address of the same family: after every device's slots
			extra++
		}
		used[slot] = true
		own[a] = &owner{d, slot}
		order = append(order, a)
	}
	for _, s := range ss {
		add(s.client, s.cAddr.Addr())
		add(s.server, s.sAddr.Addr())
	}
	m := map[netip.Addr]netip.Addr{}
	var list []LiveAddr
	for _, a := range order {
		o := own[a]
		l, err := loopSlot(base, o.slot)
		if err != nil {
			return nil, nil, err
		}
		m[a] = l
		list = append(list, LiveAddr{Device: o.dev.name, Virtual: a, Live: l})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Live.Less(list[j].Live) })
	return m, list, nil
}

// liveSess is the replay's state of one session.
type liveSess struct {
	ends      [2]netip.AddrPort // live addresses: client, server
	tcp       bool
	keys      []byte // key log lines (nil: none, or left out)
	keyed     bool   // the lines are written
	startV    vt     // virtual time the session starts
	started   bool
	conns     [2]*net.TCPConn
	firstSent time.Time
}

// liveReplay sends what the run's tap hands it.
type liveReplay struct {
	lo      LiveOptions
	ctx     context.Context
	base    netip.Addr
	epoch   time.Time
	ss      []liveSess
	info    *LiveInfo
	ch      chan livePkt
	done    chan struct{} // closed when the sender stops
	err     error         // the sender's error (read after done)
	udp     map[netip.AddrPort]*net.UDPConn
	lns     map[netip.AddrPort]*net.TCPListener
	drains  sync.WaitGroup
	st      LiveStats
	recvD   atomic.Int64
	recvDB  atomic.Int64
	recvS   atomic.Int64
	t0      vt
	start   time.Time
	began   atomic.Bool
	holding atomic.Bool
	sentV   atomic.Int64 // virtual time of the last packet sent
	sentN   atomic.Int64
	endV    vt
	// KeyLead: sessions with key lines by start time, the next to write
	keyOrder []int
	keyNext  int
}

// RunLive runs the scenario of opts as Run does (w receives the offline
// capture, key log and record log of the same run, any of them nil) and
// replays its control connections over loopback sockets as it goes (see
// LiveOptions and LiveInfo). It returns once every packet is sent (and,
// with Hold, ctx is done); ctx ends the replay early with its error.
//
// The manifest is the one Run gives for the same options, byte for byte.
// Loopback addresses other than 127.0.0.1 need Linux (where all of
// 127.0.0.0/8 is local).
func RunLive(ctx context.Context, opts Options, lo LiveOptions, w Writers) (*manifest.Manifest, *LiveInfo, error) {
	if err := lo.Validate(); err != nil {
		return nil, nil, err
	}
	c, err := opts.resolve()
	if err != nil {
		return nil, nil, err
	}
	base, _ := liveBase(lo.To)
	// The sender stops when ctx is done, or when the run fails.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &liveReplay{lo: lo, ctx: sctx, base: base, ch: make(chan livePkt, 4096), done: make(chan struct{}),
		udp: map[netip.AddrPort]*net.UDPConn{}, lns: map[netip.AddrPort]*net.TCPListener{}, t0: -1, endV: vtDur(c.Duration)}
	r.info = &LiveInfo{Scenario: opts.Scenario, Seed: opts.Seed, Speed: lo.Speed, To: base.String(), KeyLead: lo.KeyLead,
		Differences: liveDifferences}
	opts.Progress = nil // the replay reports its own progress
	var stopProg chan struct{}
	if lo.Progress != nil {
		stopProg = make(chan struct{})
		go r.progress(stopProg)
	}
	defer func() {
		if stopProg != nil {
			close(stopProg)
		}
	}()
	defer r.closeAll()
	started := false
	hook := &liveHook{tap: r.tap}
	hook.sessions = func(ss []*session, epoch time.Time) error {
		if err := r.setup(ss, epoch); err != nil {
			return err
		}
		started = true
		go r.send()
		return nil
	}
	m, _, err := run(opts, w, hook)
	if err != nil {
		cancel()
	}
	if started {
		close(r.ch)
		<-r.done
		if err == nil {
			err = r.err
		}
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		r.closeAll()
		r.fillInfo()
		return nil, r.info, err
	}
	r.settle()
	r.fillInfo()
	if lo.OnSent != nil {
		if err := lo.OnSent(m, r.info); err != nil {
			return nil, r.info, err
		}
	}
	if lo.Hold {
		r.holding.Store(true)
		<-ctx.Done()
	}
	r.closeAll()
	r.fillInfo()
	return m, r.info, nil
}

// setup maps the addresses, binds every UDP socket and TCP listener the
// sessions need, and starts draining them.
func (r *liveReplay) setup(ss []*session, epoch time.Time) error {
	r.epoch = epoch
	ndev := 0
	for _, s := range ss {
		ndev = max(ndev, s.client.idx+1, s.server.idx+1)
	}
	m, list, err := liveMap(ss, ndev, r.base)
	if err != nil {
		return err
	}
	r.info.Addresses = list
	r.ss = make([]liveSess, len(ss))
	for i, s := range ss {
		ls := &r.ss[i]
		ls.ends = [2]netip.AddrPort{netip.AddrPortFrom(m[s.cAddr.Addr()], s.cAddr.Port()), netip.AddrPortFrom(m[s.sAddr.Addr()], s.sAddr.Port())}
		ls.tcp = s.transport == "tls"
		ls.startV = s.start
		if s.keyInLog {
			if lines := s.keyLines(); len(lines) > 0 {
				ls.keys = []byte(strings.Join(lines, "\n") + "\n")
				if r.lo.KeyLead > 0 && s.start <= r.endV {
					r.keyOrder = append(r.keyOrder, i)
				}
			}
		}
		r.info.Sessions = append(r.info.Sessions, LiveSession{Session: s.id, Transport: s.transport, Client: s.cAddr, Server: s.sAddr,
			LiveClient: ls.ends[cli], LiveServer: ls.ends[srv], KeyInLog: s.keyInLog})
		if ls.tcp {
			if r.lns[ls.ends[srv]] == nil {
				lc := net.ListenConfig{KeepAlive: -1, Control: reuseAddr}
				l, err := lc.Listen(r.ctx, "tcp4", ls.ends[srv].String())
				if err != nil {
					return fmt.Errorf("live: listening on %s (%s's %s): %w", ls.ends[srv], s.server.name, s.sAddr, err)
				}
				r.lns[ls.ends[srv]] = l.(*net.TCPListener)
			}
			continue
		}
		for side, ap := range ls.ends {
			if r.udp[ap] != nil {
				continue
			}
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
			if err != nil {
				return fmt.Errorf("live: binding UDP %s (%s's %s): %w", ap, s.dev(side).name, []netip.AddrPort{s.cAddr, s.sAddr}[side], err)
			}
			c.SetReadBuffer(4 << 20) // best effort: capped at net.core.rmem_max
			r.udp[ap] = c
			r.drains.Add(1)
			go r.drainUDP(c)
		}
	}
	sort.SliceStable(r.keyOrder, func(i, j int) bool { return r.ss[r.keyOrder[i]].startV < r.ss[r.keyOrder[j]].startV })
	r.st.UDPSockets, r.st.TCPListeners = len(r.udp), len(r.lns)
	return nil
}

// drainUDP reads and discards what arrives on c, until it is closed.
func (r *liveReplay) drainUDP(c *net.UDPConn) {
	defer r.drains.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// an ICMP error reported on the socket: keep reading
			time.Sleep(time.Millisecond)
			continue
		}
		r.recvD.Add(1)
		r.recvDB.Add(int64(n))
	}
}

// drainTCP reads and discards what arrives on c, until the peer's FIN or
// the socket is closed.
func (r *liveReplay) drainTCP(c *net.TCPConn) {
	defer r.drains.Done()
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		r.recvS.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// tap runs in the simulation's goroutine: it queues p for the sender.
func (r *liveReplay) tap(p livePkt) error {
	select {
	case <-r.done:
		if r.err != nil {
			return r.err
		}
		return errors.New("live: the sender stopped")
	default:
	}
	select {
	case r.ch <- p:
		return nil
	case <-r.done:
		if r.err != nil {
			return r.err
		}
		return errors.New("live: the sender stopped")
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// send sends the queued actions, each when it is due.
func (r *liveReplay) send() {
	defer close(r.done)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for p := range r.ch {
		if r.t0 < 0 {
			r.t0 = p.t
			r.start = time.Now().Add(r.lo.KeyLead)
			r.info.VirtualStart = r.epoch.Add(time.Duration(p.t))
			r.info.RealStart = r.start
			r.began.Store(true)
		}
		due := r.due(p.t)
		for {
			// key lines due (KeyLead), then wait for the packet or the
			// next key line, whichever comes first
			wake := due
			for r.keyNext < len(r.keyOrder) {
				ls := &r.ss[r.keyOrder[r.keyNext]]
				at := r.due(ls.startV).Add(-r.lo.KeyLead)
				if at.After(time.Now()) {
					if at.Before(wake) {
						wake = at
					}
					break
				}
				if err := r.writeKeys(ls); err != nil {
					r.err = err
					return
				}
				r.keyNext++
			}
			d := time.Until(wake)
			if d <= 0 {
				if wake.Equal(due) || !due.After(time.Now()) {
					break
				}
				continue
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			select {
			case <-timer.C:
			case <-r.ctx.Done():
				r.err = r.ctx.Err()
				return
			}
		}
		if r.ctx.Err() != nil {
			r.err = r.ctx.Err()
			return
		}
		if late := time.Since(due); late > r.st.MaxLate && r.lo.Speed > 0 {
			r.st.MaxLate = late
		}
		if err := r.do(p); err != nil {
			r.err = err
			return
		}
		r.info.RealEnd = time.Now()
		r.sentV.Store(int64(p.t))
		r.sentN.Add(1)
	}
}

// do performs one action.
func (r *liveReplay) do(p livePkt) error {
	ls := &r.ss[p.sess]
	side := int(p.side)
	src, dst := ls.ends[side], ls.ends[1-side]
	if !ls.started {
		ls.started = true
		if err := r.writeKeys(ls); err != nil {
			return err
		}
	}
	now := time.Now()
	if ls.firstSent.IsZero() {
		ls.firstSent = now
	}
	switch p.op {
	case opDatagram:
		c := r.udp[src]
		if c == nil {
			return fmt.Errorf("live: session %d: no socket for %s", p.sess, src)
		}
		var err error
		for try := 0; try < 3; try++ {
			if _, err = c.WriteToUDPAddrPort(p.b, dst); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
				break // ECONNREFUSED: an earlier ICMP error reported on the socket; send again
			}
		}
		if err != nil {
			return fmt.Errorf("live: session %d: sending %d bytes %s > %s: %w", p.sess, len(p.b), src, dst, err)
		}
		r.st.Datagrams++
		r.st.DatagramBytes += int64(len(p.b))
	case opConnect:
		if err := r.connect(p.sess, ls); err != nil {
			return err
		}
		r.st.Connections++
	case opStream:
		c := ls.conns[side]
		if c == nil {
			return fmt.Errorf("live: session %d: a TLS write before the connection (%s > %s)", p.sess, src, dst)
		}
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(p.b); err != nil {
			return fmt.Errorf("live: session %d: writing %d bytes %s > %s: %w", p.sess, len(p.b), src, dst, err)
		}
		r.st.StreamWrites++
		r.st.StreamBytes += int64(len(p.b))
	case opCloseWrite:
		if c := ls.conns[side]; c != nil {
			if err := c.CloseWrite(); err != nil {
				return fmt.Errorf("live: session %d: shutting down %s > %s: %w", p.sess, src, dst, err)
			}
			r.st.CloseWrites++
		}
	default:
		return fmt.Errorf("live: unknown action %d", p.op)
	}
	if r.lo.OnSend != nil {
		r.lo.OnSend(LivePacket{Session: p.sess, FromClient: side == cli, Op: opNames[p.op], Len: len(p.b), Src: src, Dst: dst,
			Virtual: r.epoch.Add(time.Duration(p.t)), Sent: now})
	}
	return nil
}

// due is when a packet of virtual time t is to be sent.
func (r *liveReplay) due(t vt) time.Time {
	if r.lo.Speed <= 0 {
		return r.start
	}
	return r.start.Add(time.Duration(float64(t-r.t0) / r.lo.Speed))
}

// writeKeys writes a session's key lines, once.
func (r *liveReplay) writeKeys(ls *liveSess) error {
	if ls.keyed || ls.keys == nil || r.lo.KeyLog == nil {
		return nil
	}
	ls.keyed = true
	if _, err := r.lo.KeyLog.Write(ls.keys); err != nil {
		return fmt.Errorf("live: writing the key log: %w", err)
	}
	r.st.KeyedSessions++
	return nil
}

// connect opens a session's TCP connection: the client's socket, bound to
// its address and port, connects to the server's listener, and the
// accepted socket is the server's end.
func (r *liveReplay) connect(id int, ls *liveSess) error {
	cl, sv := ls.ends[cli], ls.ends[srv]
	ln := r.lns[sv]
	if ln == nil {
		return fmt.Errorf("live: session %d: no listener on %s", id, sv)
	}
	if ls.conns[cli] != nil {
		return fmt.Errorf("live: session %d: connected twice", id)
	}
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(cl), KeepAlive: -1, Timeout: 5 * time.Second, Control: reuseAddr}
	c, err := d.DialContext(r.ctx, "tcp4", sv.String())
	if err != nil {
		return fmt.Errorf("live: session %d: connecting %s > %s: %w", id, cl, sv, err)
	}
	cc := c.(*net.TCPConn)
	ln.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		a, err := ln.AcceptTCP()
		if err != nil {
			cc.Close()
			return fmt.Errorf("live: session %d: accepting %s on %s: %w", id, cl, sv, err)
		}
		if ra, ok := a.RemoteAddr().(*net.TCPAddr); ok && ra.AddrPort().Addr().Unmap() == cl.Addr() && ra.AddrPort().Port() == cl.Port() {
			ls.conns = [2]*net.TCPConn{cc, a}
			break
		}
		a.Close() // not ours
	}
	r.drains.Add(2)
	go r.drainTCP(ls.conns[cli])
	go r.drainTCP(ls.conns[srv])
	return nil
}

// settle waits (up to a second) for what was sent to be read by the
// replay's own receiving sockets, so that the counts are final.
func (r *liveReplay) settle() {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if r.recvD.Load() >= int64(r.st.Datagrams) && r.recvS.Load() >= r.st.StreamBytes {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *liveReplay) fillInfo() {
	st := r.st
	st.Packets = st.Datagrams + st.StreamWrites
	st.RecvDatagrams, st.RecvDgramBytes, st.RecvStream = r.recvD.Load(), r.recvDB.Load(), r.recvS.Load()
	if r.began.Load() {
		st.Elapsed = r.info.RealEnd.Sub(r.start)
	}
	r.info.Stats = st
	for i := range r.ss {
		r.info.Sessions[i].FirstSent = r.ss[i].firstSent
	}
}

// closeAll closes every socket and waits for the drains. The sender has
// stopped (or never started) when it runs.
func (r *liveReplay) closeAll() {
	for i := range r.ss {
		for k, c := range r.ss[i].conns {
			if c != nil {
				c.Close()
				r.ss[i].conns[k] = nil
			}
		}
	}
	for ap, l := range r.lns {
		l.Close()
		delete(r.lns, ap)
	}
	for ap, c := range r.udp {
		c.Close()
		delete(r.udp, ap)
	}
	r.drains.Wait()
}

func (r *liveReplay) progress(stop <-chan struct{}) {
	began := time.Now()
	saidHolding := false
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			if r.holding.Load() {
				if !saidHolding {
					saidHolding = true
					fmt.Fprintf(r.lo.Progress, "ompscope synth --live %s: %5.1fs: all %d actions sent; holding the sockets open\n",
						r.info.Scenario, time.Since(began).Seconds(), r.sentN.Load())
				}
				continue
			}
			if !r.began.Load() {
				fmt.Fprintf(r.lo.Progress, "ompscope synth --live %s: %5.1fs: preparing (handshakes)\n", r.info.Scenario, time.Since(began).Seconds())
				continue
			}
			fmt.Fprintf(r.lo.Progress, "ompscope synth --live %s: %5.1fs: sent %d actions, virtual time %v of %v\n",
				r.info.Scenario, time.Since(began).Seconds(), r.sentN.Load(),
				time.Duration(r.sentV.Load()).Truncate(time.Millisecond), time.Duration(r.endV))
		}
	}
}
