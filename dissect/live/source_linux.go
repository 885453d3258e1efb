//go:build linux

package live

import (
	"errors"
	"fmt"
	"github.com/ompscope/ompscope/dissect/filter"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/ompscope/ompscope/dissect/capture"
)

// Source captures packets from one network interface through a Linux
// AF_PACKET socket. Next is meant to be called from one goroutine; Stats,
// Wake, Stop and Close may be called from any goroutine at any time.
type Source struct {
	iface    string
	ifindex  int
	linkType layers.LinkType
	snap     int
	bufSize  int
	timeout  time.Duration
	filter   *filter.Filter
	prog     []bpf.RawInstruction
	loDedup  string
	file     *os.File
	rc       syscall.RawConn

	// Reader state, used by Next only.
	buf     []byte // 4 bytes of headroom for a VLAN tag, then the packet
	oob     []byte
	msg     unix.Msghdr
	iov     unix.Iovec
	n       int
	errno   syscall.Errno
	waiting bool
	recvFn  func(fd uintptr) bool
	frame   uint64
	eof     bool

	delivered atomic.Uint64
	wake      atomic.Bool
	stop      atomic.Bool
	stopAt    atomic.Int64
	closed    atomic.Bool

	mu           sync.Mutex // guards the kernel counters
	kRecv, kDrop uint64
}

const (
	cmsgHdrLen   = int(unsafe.Sizeof(unix.Cmsghdr{}))
	auxdataLen   = int(unsafe.Sizeof(unix.TpacketAuxdata{}))
	timespecLen  = int(unsafe.Sizeof(unix.Timespec{}))
	vlanHeadroom = 4
)

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Open starts capturing on the named interface. The interface must be up
// and be Ethernet, loopback, or a raw-IP device (tun, PPP). The socket is
// created bound to no protocol, the filter, buffer size and options are
// set, and only then does it start receiving, so every packet it queues
// has passed the filter.
//
// On the loopback interface the kernel hands every packet to a packet
// socket twice, once as sent and once as received; Open makes the socket
// ignore the sent copies (PACKET_IGNORE_OUTGOING, or a filter prefix on
// kernels older than 4.20) so each packet is seen once. On other
// interfaces both directions are captured.
//
// Without root or CAP_NET_RAW the error is a *PermissionError.
func Open(iface string, opt Options) (*Source, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		var names []string
		if all, err2 := net.Interfaces(); err2 == nil {
			for _, i := range all {
				names = append(names, i.Name)
			}
		}
		return nil, fmt.Errorf("live: no interface named %q (interfaces: %s)", iface, strings.Join(names, ", "))
	}
	if ifc.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("live: interface %s is down", iface)
	}
	snap := opt.SnapLen
	if snap <= 0 {
		snap = DefaultSnapLen
	}
	if snap > DefaultSnapLen {
		snap = DefaultSnapLen
	}
	bufSize := opt.BufferSize
	if bufSize <= 0 {
		bufSize = DefaultBufferSize
	}

	// Protocol 0: the socket receives nothing until it is bound with a
	// protocol below.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, openError(iface, "opening an AF_PACKET socket", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
		return nil, openError(iface, "binding the socket to the interface", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, openError(iface, "reading the interface's hardware type", err)
	}
	ll, isLL := sa.(*unix.SockaddrLinklayer)
	if !isLL {
		return nil, fmt.Errorf("live: capturing on %s: unexpected socket address %T", iface, sa)
	}
	var lt layers.LinkType
	switch ll.Hatype {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		lt = layers.LinkTypeEthernet
	case unix.ARPHRD_NONE, unix.ARPHRD_PPP:
		lt = layers.LinkTypeRaw
	default:
		return nil, fmt.Errorf("live: interface %s has hardware type %d (ARPHRD), which is not supported (Ethernet, loopback and raw-IP interfaces such as tun are)", iface, ll.Hatype)
	}

	s := &Source{iface: iface, ifindex: ifc.Index, linkType: lt, snap: snap, timeout: opt.Timeout, filter: opt.Filter}
	f := opt.Filter
	if f == nil {
		f = &filter.Filter{}
	}
	prog, err := f.Compile(lt)
	if err != nil {
		return nil, err
	}
	for i := range prog {
		if prog[i].Op == uint16(unix.BPF_RET|unix.BPF_K) && prog[i].K > uint32(snap) {
			prog[i].K = uint32(snap)
		}
	}
	if ll.Hatype == unix.ARPHRD_LOOPBACK {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err == nil {
			s.loDedup = "PACKET_IGNORE_OUTGOING"
		} else {
			prog = append(outgoingReject(), prog...)
			s.loDedup = "filter"
		}
	}
	if len(prog) > filter.MaxInstructions {
		return nil, fmt.Errorf("live: filter for %s has %d instructions; the kernel accepts at most %d", iface, len(prog), filter.MaxInstructions)
	}
	s.prog = prog
	sf := make([]unix.SockFilter, len(prog))
	for i, r := range prog {
		sf[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(sf)), Filter: &sf[0]}); err != nil {
		return nil, openError(iface, "attaching the filter", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bufSize); err != nil {
		// Without CAP_NET_ADMIN: capped at net.core.rmem_max.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bufSize); err != nil {
			return nil, openError(iface, "setting the receive buffer size", err)
		}
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
		s.bufSize = v
	}
	oobLen := 0
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err == nil {
		oobLen += unix.CmsgSpace(auxdataLen)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err == nil {
		oobLen += unix.CmsgSpace(timespecLen)
	}
	if opt.Promiscuous {
		mreq := unix.PacketMreq{Ifindex: int32(ifc.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return nil, openError(iface, "enabling promiscuous mode", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
		return nil, openError(iface, "starting to receive", err)
	}

	s.file = os.NewFile(uintptr(fd), "packet:"+iface)
	ok = true
	rc, err := s.file.SyscallConn()
	if err != nil {
		s.file.Close()
		return nil, fmt.Errorf("live: capturing on %s: %w", iface, err)
	}
	s.rc = rc
	s.buf = make([]byte, vlanHeadroom+snap)
	s.oob = make([]byte, oobLen+64)
	s.iov.Base = &s.buf[vlanHeadroom]
	s.iov.SetLen(snap)
	s.msg.Iov = &s.iov
	s.msg.Iovlen = 1
	s.msg.Control = &s.oob[0]
	s.recvFn = s.recv
	return s, nil
}

// outgoingReject is a filter prefix that rejects packets the host sends
// (the packet type PACKET_OUTGOING, from the kernel's SKF_AD_PKTTYPE).
func outgoingReject() []bpf.RawInstruction {
	p, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		panic(err) // constant program
	}
	return p
}

// recv runs one recvmsg on the socket. It reports done unless the socket
// is empty and Next wants to wait for it.
func (s *Source) recv(fd uintptr) bool {
	s.msg.SetControllen(len(s.oob))
	n, _, e := syscall.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&s.msg)), unix.MSG_TRUNC)
	s.n, s.errno = int(n), e
	return e != syscall.EAGAIN || !s.waiting
}

// Next fills p with the next packet. p.Data is only valid until the next
// call. Frames are numbered from 1; Time is the kernel's receive
// timestamp; LinkType is the interface's (Ethernet on loopback too);
// OrigLen is the length on the wire and CapLen what was kept (SnapLen);
// Iface and Offset are 0. A VLAN tag the kernel took off the frame is put
// back (as libpcap does), so the frame looks as it did on the wire.
//
// Next blocks until a packet arrives. It returns ErrTimeout after
// Options.Timeout without a packet or after Wake; io.EOF after Stop, once
// the packets the kernel had queued before Stop are delivered; ErrClosed
// after Close. Any other error (the interface going down or away: ENETDOWN,
// ENXIO) comes from the socket, wrapped with the interface's name.
func (s *Source) Next(p *capture.Packet) error {
	for {
		if s.closed.Load() {
			return ErrClosed
		}
		if s.eof {
			return io.EOF
		}
		if s.wake.Load() && s.wake.Swap(false) {
			return ErrTimeout
		}
		err := s.rc.Read(s.recvFn)
		if err != nil {
			if s.closed.Load() {
				return ErrClosed
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if !s.waiting {
					// A deadline left from an earlier wait, or Wake/Stop.
					s.file.SetReadDeadline(time.Time{})
					continue
				}
				s.waiting = false
				if s.stop.Load() || s.wake.Load() {
					continue
				}
				return ErrTimeout
			}
			return fmt.Errorf("live: reading from %s: %w", s.iface, err)
		}
		switch s.errno {
		case 0:
			s.waiting = false
			if s.fill(p) {
				return nil
			}
			s.eof = true
			return io.EOF
		case syscall.EAGAIN:
			// The socket is empty (only when not waiting).
			if s.stop.Load() {
				s.eof = true
				return io.EOF
			}
			var dl time.Time
			if s.timeout > 0 {
				dl = time.Now().Add(s.timeout)
			}
			s.file.SetReadDeadline(dl)
			s.waiting = true
			// Wake or Stop called from now on set a deadline in the past
			// after this one, so the wait cannot miss them; those called
			// before are seen at the top of the loop.
			if s.stop.Load() || s.wake.Load() {
				s.waiting = false
			}
		case syscall.EINTR:
		default:
			return fmt.Errorf("live: reading from %s: %w", s.iface, s.errno)
		}
	}
}

// fill turns the received packet into p. It reports false for a packet
// stamped after Stop was called.
func (s *Source) fill(p *capture.Packet) bool {
	var ts time.Time
	origLen := s.n
	var vlan, tpid uint16
	haveVLAN := false
	oob := s.oob[:s.msg.Controllen]
	for len(oob) >= cmsgHdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < cmsgHdrLen || l > len(oob) {
			break
		}
		data := oob[cmsgHdrLen:l]
		switch {
		case h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && len(data) >= auxdataLen:
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&data[0]))
			origLen = int(aux.Len)
			if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				haveVLAN = true
				vlan = aux.Vlan_tci
				tpid = 0x8100
				if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && aux.Vlan_tpid != 0 {
					tpid = aux.Vlan_tpid
				}
			}
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && len(data) >= timespecLen:
			t := (*unix.Timespec)(unsafe.Pointer(&data[0]))
			ts = time.Unix(int64(t.Sec), int64(t.Nsec))
		}
		step := unix.CmsgSpace(l - cmsgHdrLen)
		if step > len(oob) {
			break
		}
		oob = oob[step:]
	}
	if ts.IsZero() {
		ts = time.Now()
	}
	if s.stop.Load() && ts.UnixNano() > s.stopAt.Load() {
		return false
	}
	capLen := min(s.n, s.snap)
	data := s.buf[vlanHeadroom : vlanHeadroom+capLen]
	if haveVLAN && s.linkType == layers.LinkTypeEthernet && capLen >= 12 {
		copy(s.buf[:12], s.buf[vlanHeadroom:vlanHeadroom+12])
		s.buf[12], s.buf[13] = byte(tpid>>8), byte(tpid)
		s.buf[14], s.buf[15] = byte(vlan>>8), byte(vlan)
		data = s.buf[:vlanHeadroom+capLen]
		origLen += 4
	}
	s.frame++
	s.delivered.Add(1)
	*p = capture.Packet{Data: data, Time: ts, Frame: s.frame, LinkType: s.linkType, CapLen: len(data), OrigLen: max(origLen, len(data))}
	return true
}

// Stats reads the kernel's counters (which reset on every read; Source
// keeps the sums) and returns the totals since Open. After Close it
// returns the final totals.
func (s *Source) Stats() (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if !s.closed.Load() {
		err = s.readKernelStats()
		if s.closed.Load() {
			err = nil
		}
	}
	return Stats{Packets: s.delivered.Load(), KernelReceived: s.kRecv, KernelDropped: s.kDrop}, err
}

// readKernelStats adds the kernel's counters since the last read; s.mu
// is held.
func (s *Source) readKernelStats() error {
	var st *unix.TpacketStats
	var gerr error
	err := s.rc.Control(func(fd uintptr) {
		st, gerr = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if err == nil {
		err = gerr
	}
	if err != nil {
		return fmt.Errorf("live: reading the statistics of %s: %w", s.iface, err)
	}
	// tp_packets counts every packet that passed the filter, the
	// dropped ones included.
	s.kRecv += uint64(st.Packets)
	s.kDrop += uint64(st.Drops)
	return nil
}

// Wake makes a pending Next, or the next one, return ErrTimeout once, so
// that the capture loop can act on something that happened elsewhere (new
// keys, say) while no packet arrives.
func (s *Source) Wake() {
	s.wake.Store(true)
	if !s.closed.Load() {
		s.file.SetReadDeadline(time.Unix(1, 0))
	}
}

// Stop ends the capture gracefully: Next delivers the packets the kernel
// queued before the call, then returns io.EOF. The socket stays open (and
// Stats valid) until Close.
func (s *Source) Stop() {
	s.stopAt.Store(time.Now().UnixNano())
	s.stop.Store(true)
	if !s.closed.Load() {
		s.file.SetReadDeadline(time.Unix(1, 0))
	}
}

// Close closes the socket (ending promiscuous mode). A Next blocked in
// another goroutine returns ErrClosed. The final counters stay available
// from Stats.
func (s *Source) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.readKernelStats()
	s.closed.Store(true)
	s.mu.Unlock()
	return s.file.Close()
}

// Interface is the name of the capturing interface.
func (s *Source) Interface() string { return s.iface }

// LinkType is the link type of the packets (Ethernet or raw IP).
func (s *Source) LinkType() layers.LinkType { return s.linkType }

// SnapLen is the most bytes kept of each packet.
func (s *Source) SnapLen() int { return s.snap }

// BufferSize is the socket receive buffer the kernel granted, as it
// reports it (SO_RCVBUF: twice the payload space, to account for its
// bookkeeping).
func (s *Source) BufferSize() int { return s.bufSize }

// Filter is the filter given to Open (nil: every packet).
func (s *Source) Filter() *filter.Filter { return s.filter }

// Program is the BPF program attached to the socket (the compiled filter,
// with returns capped at SnapLen, and on loopback possibly the prefix that
// drops sent copies).
func (s *Source) Program() []bpf.RawInstruction { return s.prog }
