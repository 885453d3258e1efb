//go:build linux

package live

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/ompscope/ompscope/dissect/filter"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ompscope/ompscope/dissect/capture"
)

// openLo opens a Source on the loopback interface, skipping the test when
// the process may not capture.
func openLo(t *testing.T, opt Options) *Source {
	t.Helper()
	s, err := Open("lo", opt)
	var pe *PermissionError
	if errors.As(err, &pe) {
		t.Skipf("live capture not permitted: %v", err)
	}
	if err != nil {
		t.Fatalf("Open(lo): %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// udpPair returns a UDP server bound on 127.0.0.1 (never read: the
// datagrams only need to exist on the wire) and a client connected to it.
func udpPair(t *testing.T) (server, client *net.UDPConn, port uint16) {
	t.Helper()
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cl, err := net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return srv, cl, uint16(srv.LocalAddr().(*net.UDPAddr).Port)
}

// nextPacket reads one packet, failing the test on anything else.
func nextPacket(t *testing.T, s *Source, p *capture.Packet) {
	t.Helper()
	if err := s.Next(p); err != nil {
		t.Fatalf("Next: %v", err)
	}
}

// udpPayload decodes an Ethernet/IPv4/UDP frame.
func udpPayload(t *testing.T, frame []byte) (*layers.UDP, []byte) {
	t.Helper()
	pk := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	u, ok := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if !ok {
		t.Fatalf("frame is not Ethernet/IP/UDP: %v", pk)
	}
	return u, u.Payload
}

func TestLoopbackCapture(t *testing.T) {
	_, cl, port := udpPair(t)
	f, err := filter.Parse(fmt.Sprintf("udp dst port %d", port))
	if err != nil {
		t.Fatal(err)
	}
	s := openLo(t, Options{Filter: f, Timeout: 5 * time.Second})
	if s.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type on lo: %v, want Ethernet", s.LinkType())
	}
	if s.loDedup == "" {
		t.Error("no deduplication of sent copies on lo")
	}
	t.Logf("lo: sent copies dropped by %s; receive buffer %d bytes", s.loDedup, s.BufferSize())
	const n = 200
	start := time.Now()
	for i := range n {
		if _, err := cl.Write([]byte(fmt.Sprintf("packet %03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var p capture.Packet
	for i := range n {
		nextPacket(t, s, &p)
		u, pl := udpPayload(t, p.Data)
		if want := fmt.Sprintf("packet %03d", i); string(pl) != want {
			t.Fatalf("packet %d: payload %q, want %q (each packet must be seen once, in order)", i, pl, want)
		}
		if uint16(u.DstPort) != port {
			t.Fatalf("packet %d: dst port %d", i, u.DstPort)
		}
		if p.Frame != uint64(i+1) || p.LinkType != layers.LinkTypeEthernet || p.CapLen != len(p.Data) || p.OrigLen != len(p.Data) {
			t.Fatalf("packet %d: frame %d link %v caplen %d origlen %d len %d", i, p.Frame, p.LinkType, p.CapLen, p.OrigLen, len(p.Data))
		}
		if p.Time.Before(start.Add(-time.Second)) || p.Time.After(time.Now().Add(time.Second)) {
			t.Fatalf("packet %d: timestamp %v not around now", i, p.Time)
		}
	}
	// Nothing more: a duplicate would show here.
	s.timeout = 100 * time.Millisecond
	if err := s.Next(&p); !errors.Is(err, ErrTimeout) {
		t.Fatalf("after the %d packets: Next = %v (frame %d), want ErrTimeout", n, err, p.Frame)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets != n || st.KernelReceived != n || st.KernelDropped != 0 {
		t.Errorf("stats %+v, want %d packets, %d received by the kernel, 0 dropped", st, n, n)
	}
}

// TestLoopbackSeenTwiceByPlainSocket shows why Source deduplicates on lo:
// a plain packet socket gets each loopback packet twice (as sent and as
// received).
func TestLoopbackSeenTwiceByPlainSocket(t *testing.T) {
	_, cl, port := udpPair(t)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no packet socket: %v", err)
	}
	defer unix.Close(fd)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := filter.Compile(fmt.Sprintf("udp dst port %d", port), layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	sf := make([]unix.SockFilter, len(prog))
	for i, r := range prog {
		sf[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(sf)), Filter: &sf[0]}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: lo.Index}); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000}); err != nil {
		t.Fatal(err)
	}
	s := openLo(t, Options{Filter: mustFilter(t, fmt.Sprintf("udp dst port %d", port)), Timeout: 100 * time.Millisecond})
	if _, err := cl.Write([]byte("once or twice")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	plain := 0
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			break
		}
		if bytes.Contains(buf[:n], []byte("once or twice")) {
			plain++
		}
	}
	ours := 0
	var p capture.Packet
	for s.Next(&p) == nil {
		ours++
	}
	if plain != 2 || ours != 1 {
		t.Errorf("a loopback datagram was seen %d times by a plain packet socket (want 2) and %d times by Source (want 1)", plain, ours)
	}
}

func mustFilter(t *testing.T, expr string) *filter.Filter {
	t.Helper()
	f, err := filter.Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestKernelFilterApplies(t *testing.T) {
	_, cl1, port1 := udpPair(t)
	_, cl2, _ := udpPair(t)
	s := openLo(t, Options{Filter: mustFilter(t, fmt.Sprintf("udp port %d", port1)), Timeout: 100 * time.Millisecond})
	for i := range 50 {
		cl2.Write([]byte("other"))
		cl1.Write([]byte(fmt.Sprint("wanted ", i)))
	}
	var p capture.Packet
	got := 0
	for {
		err := s.Next(&p)
		if errors.Is(err, ErrTimeout) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		u, pl := udpPayload(t, p.Data)
		if uint16(u.DstPort) != port1 || !strings.HasPrefix(string(pl), "wanted") {
			t.Fatalf("packet to port %d (%q) passed the filter", u.DstPort, pl)
		}
		got++
	}
	st, _ := s.Stats()
	if got != 50 || st.KernelReceived != 50 {
		t.Errorf("got %d packets, kernel passed %d; want 50 and 50", got, st.KernelReceived)
	}
}

func TestSnapLen(t *testing.T) {
	_, cl, port := udpPair(t)
	s := openLo(t, Options{SnapLen: 60, Filter: mustFilter(t, fmt.Sprintf("udp port %d", port)), Timeout: 5 * time.Second})
	if s.SnapLen() != 60 {
		t.Errorf("SnapLen() = %d", s.SnapLen())
	}
	cl.Write(make([]byte, 200))
	var p capture.Packet
	nextPacket(t, s, &p)
	if p.CapLen != 60 || len(p.Data) != 60 || p.OrigLen != 14+20+8+200 {
		t.Errorf("caplen %d len %d origlen %d; want 60, 60, %d", p.CapLen, len(p.Data), p.OrigLen, 14+20+8+200)
	}
}

func TestTimeoutWakeStopClose(t *testing.T) {
	_, cl, port := udpPair(t)
	f := mustFilter(t, fmt.Sprintf("udp port %d", port))
	var p capture.Packet

	// Timeout with no traffic.
	s := openLo(t, Options{Filter: f, Timeout: 20 * time.Millisecond})
	if err := s.Next(&p); !errors.Is(err, ErrTimeout) {
		t.Fatalf("idle Next with a timeout = %v, want ErrTimeout", err)
	}
	// Still works afterwards.
	cl.Write([]byte("after timeout"))
	s.timeout = 5 * time.Second
	nextPacket(t, s, &p)
	if _, pl := udpPayload(t, p.Data); string(pl) != "after timeout" {
		t.Fatalf("payload %q", pl)
	}

	// Wake interrupts a wait without timeout.
	s2 := openLo(t, Options{Filter: f})
	done := make(chan error)
	go func() { done <- s2.Next(&capture.Packet{}) }()
	time.Sleep(20 * time.Millisecond)
	s2.Wake()
	if err := <-done; !errors.Is(err, ErrTimeout) {
		t.Fatalf("Next after Wake = %v, want ErrTimeout", err)
	}
	// Wake before Next: the next call returns ErrTimeout once, then packets flow.
	s2.Wake()
	if err := s2.Next(&p); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Next after an earlier Wake = %v, want ErrTimeout", err)
	}
	cl.Write([]byte("after wake"))
	nextPacket(t, s2, &p)
	if _, pl := udpPayload(t, p.Data); string(pl) != "after wake" {
		t.Fatalf("payload %q", pl)
	}

	// Stop delivers what was queued before it, then io.EOF.
	s3 := openLo(t, Options{Filter: f})
	for i := range 10 {
		cl.Write([]byte(fmt.Sprint("before stop ", i)))
	}
	// wait until the kernel has queued them all: at least 10 counted, and
	// the count still for 30 ms (on lo the count may include the outgoing
	// copies, so reaching 10 alone does not say all 10 are queued)
	last, since := uint64(0), time.Now()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		st, _ := s3.Stats()
		if st.KernelReceived != last {
			last, since = st.KernelReceived, time.Now()
		}
		if last >= 10 && time.Since(since) > 30*time.Millisecond {
			break
		}
	}
	s3.Stop()
	for i := range 5 {
		cl.Write([]byte(fmt.Sprint("after stop ", i)))
	}
	for i := range 10 {
		nextPacket(t, s3, &p)
		if _, pl := udpPayload(t, p.Data); string(pl) != fmt.Sprint("before stop ", i) {
			t.Fatalf("after Stop, packet %d: %q", i, pl)
		}
	}
	if err := s3.Next(&p); err != io.EOF {
		_, pl := udpPayload(t, p.Data)
		t.Fatalf("after the queued packets: Next = %v (%q), want io.EOF", err, pl)
	}
	if err := s3.Next(&p); err != io.EOF {
		t.Fatalf("Next after io.EOF = %v", err)
	}

	// Close unblocks a pending Next.
	s4 := openLo(t, Options{Filter: f})
	go func() { done <- s4.Next(&capture.Packet{}) }()
	time.Sleep(20 * time.Millisecond)
	if err := s4.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Next during Close = %v, want ErrClosed", err)
	}
	if err := s4.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s4.Stats(); err != nil {
		t.Errorf("Stats after Close: %v", err)
	}
}

// TestVLANTagRestored injects an 802.1Q-tagged frame on lo. The kernel
// takes the tag off before the filter and the socket see the frame; the
// filter must still match, and Source must put the tag back.
func TestVLANTagRestored(t *testing.T) {
	_, _, port := udpPair(t)
	s := openLo(t, Options{Filter: mustFilter(t, fmt.Sprintf("udp dst port %d", port)), Timeout: 5 * time.Second})
	frame := udpFrame(t, false, "127.0.0.1", "127.0.0.1", 40000, port, 42, 16)
	copy(frame[16:], frame[16:])                      // keep
	binary.BigEndian.PutUint16(frame[14:], 0x2000|42) // priority 1, VLAN 42
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no packet socket: %v", err)
	}
	defer unix.Close(fd)
	lo, _ := net.InterfaceByName("lo")
	if err := unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_8021Q), Ifindex: lo.Index, Halen: 6}); err != nil {
		t.Fatalf("injecting a tagged frame: %v", err)
	}
	var p capture.Packet
	nextPacket(t, s, &p)
	if !bytes.Equal(p.Data, frame) {
		t.Fatalf("captured frame differs from the injected one:\n got %x\nwant %x", p.Data, frame)
	}
	if p.OrigLen != len(frame) {
		t.Errorf("OrigLen %d, want %d", p.OrigLen, len(frame))
	}
}

// TestTunRawIP captures on a tun device, whose packets have no link-layer
// header: the link type is raw IP and the filter is compiled for it.
func TestTunRawIP(t *testing.T) {
	tun, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no tun device: %v", err)
	}
	defer tun.Close()
	ifr, err := unix.NewIfreq("ompscopet%d")
	if err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(int(tun.Fd()), unix.TUNSETIFF, ifr); err != nil {
		t.Skipf("TUNSETIFF: %v", err)
	}
	name := ifr.Name()
	sock, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sock)
	up, _ := unix.NewIfreq(name)
	up.SetUint16(unix.IFF_UP)
	if err := unix.IoctlIfreq(sock, unix.SIOCSIFFLAGS, up); err != nil {
		t.Skipf("bringing %s up: %v", name, err)
	}
	s, err := Open(name, Options{Filter: mustFilter(t, "udp port 12346"), Timeout: 5 * time.Second})
	var pe *PermissionError
	if errors.As(err, &pe) {
		t.Skipf("live capture not permitted: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("link type of %s: %v, want raw IP", name, s.LinkType())
	}
	other := udpFrame(t, true, "10.7.0.1", "10.7.0.2", 1, 2, 0, 8)
	want := udpFrame(t, true, "10.7.0.1", "10.7.0.2", 40000, 12346, 0, 8)
	want6 := udpFrame(t, true, "fd00::1", "fd00::2", 12346, 9, 0, 3)
	for _, fr := range [][]byte{other, want, other, want6} {
		if _, err := tun.Write(fr); err != nil {
			t.Fatalf("writing to %s: %v", name, err)
		}
	}
	var p capture.Packet
	for _, w := range [][]byte{want, want6} {
		nextPacket(t, s, &p)
		if p.LinkType != layers.LinkTypeRaw || !bytes.Equal(p.Data, w) {
			t.Fatalf("captured %v %x, want raw %x", p.LinkType, p.Data, w)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open("no-such-if0", Options{})
	if err == nil || !strings.Contains(err.Error(), `no interface named "no-such-if0"`) || !strings.Contains(err.Error(), "lo") {
		t.Errorf("unknown interface: %v", err)
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 {
			_, err := Open(i.Name, Options{})
			if err == nil || !strings.Contains(err.Error(), "is down") {
				t.Errorf("down interface %s: %v", i.Name, err)
			}
			break
		}
	}
	_, err = Open("lo", Options{Filter: mustFilter(t, strings.Repeat("ip6 host ::1 or ", 700)+"udp")})
	if err == nil || !strings.Contains(err.Error(), "4096") {
		var pe *PermissionError
		if !errors.As(err, &pe) {
			t.Errorf("too long a filter: %v", err)
		}
	}
}

func TestOpenErrorMapping(t *testing.T) {
	for _, e := range []error{syscall.EPERM, syscall.EACCES, fmt.Errorf("wrapped: %w", syscall.EPERM)} {
		err := openError("eth7", "opening an AF_PACKET socket", e)
		var pe *PermissionError
		if !errors.As(err, &pe) || pe.Iface != "eth7" {
			t.Errorf("%v: got %v, want a *PermissionError", e, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "capturing on eth7 needs root or the CAP_NET_RAW capability") || !strings.Contains(msg, "setcap") || !errors.Is(err, e) {
			t.Errorf("message %q", msg)
		}
	}
	err := openError("eth7", "starting to receive", syscall.ENODEV)
	var pe *PermissionError
	if errors.As(err, &pe) || !errors.Is(err, syscall.ENODEV) || !strings.Contains(err.Error(), "eth7: starting to receive") {
		t.Errorf("ENODEV: %v", err)
	}
}

// TestNoPermission runs this test binary as user nobody, without
// capabilities, and checks the message Open gives.
func TestNoPermission(t *testing.T) {
	if os.Getenv("LIVE_TEST_NOPERM") == "1" {
		_, err := Open("lo", Options{})
		var pe *PermissionError
		if !errors.As(err, &pe) {
			fmt.Printf("RESULT: not a permission error: %v\n", err)
			os.Exit(3)
		}
		fmt.Printf("RESULT: %v\n", err)
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to user nobody")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "live-noperm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "live.test")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestNoPermission$")
	cmd.Env = append(os.Environ(), "LIVE_TEST_NOPERM=1")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "capturing on lo needs root or the CAP_NET_RAW capability") {
		t.Errorf("as nobody: %s", out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}

// udpFrame builds a UDP datagram: raw IP, or Ethernet (with a VLAN tag
// when vlan is not 0), with payload bytes of payload.
func udpFrame(t testing.TB, raw bool, src, dst string, sport, dport, vlan uint16, payload int) []byte {
	t.Helper()
	sa, da := net.ParseIP(src), net.ParseIP(dst)
	var ls []gopacket.SerializableLayer
	et := layers.EthernetTypeIPv4
	var ip gopacket.NetworkLayer
	if sa.To4() != nil {
		ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: sa.To4(), DstIP: da.To4()}
	} else {
		et = layers.EthernetTypeIPv6
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: sa, DstIP: da}
	}
	if !raw {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: et}
		if vlan != 0 {
			eth.EthernetType = layers.EthernetTypeDot1Q
			ls = append(ls, eth, &layers.Dot1Q{VLANIdentifier: vlan, Type: et})
		} else {
			ls = append(ls, eth)
		}
	}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ls = append(ls, ip.(gopacket.SerializableLayer), udp, gopacket.Payload(make([]byte, payload)))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
