package flow

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	t0   = time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
)

// ser serializes layers with gopacket, fixing lengths and checksums.
func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	checksums := false
	for i, l := range ls {
		var nl gopacket.NetworkLayer
		switch x := l.(type) {
		case *layers.IPv4:
			nl = x
		case *layers.IPv6:
			nl = x
		default:
			continue
		}
		checksums = true
		for _, m := range ls[i+1:] {
			switch y := m.(type) {
			case *layers.UDP:
				y.SetNetworkLayerForChecksum(nl)
			case *layers.TCP:
				y.SetNetworkLayerForChecksum(nl)
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: checksums}, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func ipLayer(src, dst netip.Addr, proto layers.IPProtocol) gopacket.SerializableLayer {
	if src.Is4() {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	}
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// udpIP returns an IPv4 or IPv6 packet carrying one UDP datagram.
func udpIP(t testing.TB, src, dst netip.AddrPort, payload []byte) []byte {
	return ser(t, ipLayer(src.Addr(), dst.Addr(), layers.IPProtocolUDP),
		&layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}, gopacket.Payload(payload))
}

func etherType(ip []byte) layers.EthernetType {
	if ip[0]>>4 == 6 {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

// ether wraps an IP packet in Ethernet with the given VLAN tag stack
// (outermost first, each tag's TPID given).
func ether(t testing.TB, ip []byte, tpids ...layers.EthernetType) []byte {
	ls := []gopacket.SerializableLayer{}
	et := etherType(ip)
	if len(tpids) > 0 {
		ls = append(ls, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: tpids[0]})
		for i := range tpids {
			next := et
			if i+1 < len(tpids) {
				next = tpids[i+1]
			}
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(100 + i), Type: next})
		}
	} else {
		ls = append(ls, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et})
	}
	ls = append(ls, gopacket.Payload(ip))
	return ser(t, ls...)
}

// sll builds a Linux cooked (v1) frame.
func sll(ip []byte) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], 0) // to us
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], macA)
	binary.BigEndian.PutUint16(h[14:], uint16(etherType(ip)))
	return append(h, ip...)
}

// sll2 builds a Linux cooked v2 frame.
func sll2(ip []byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], uint16(etherType(ip)))
	binary.BigEndian.PutUint32(h[4:], 3) // ifindex
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[10] = 4                            // outgoing
	h[11] = 6
	copy(h[12:], macA)
	return append(h, ip...)
}

// null builds a BSD loopback frame with the given family, little- or
// big-endian.
func null(ip []byte, af uint32, bigEndian bool) []byte {
	h := make([]byte, 4)
	if bigEndian {
		binary.BigEndian.PutUint32(h, af)
	} else {
		binary.LittleEndian.PutUint32(h, af)
	}
	return append(h, ip...)
}

func tcpFlags(tcp *layers.TCP, flags string) {
	for _, f := range strings.Split(flags, ",") {
		switch f {
		case "S":
			tcp.SYN = true
		case "A":
			tcp.ACK = true
		case "F":
			tcp.FIN = true
		case "R":
			tcp.RST = true
		case "P":
			tcp.PSH = true
		case "":
		default:
			panic("flag " + f)
		}
	}
}

// tcpIP returns an IP packet carrying one TCP segment.
func tcpIP(t testing.TB, src, dst netip.AddrPort, seq, ack uint32, flags string, payload []byte) []byte {
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, Ack: ack, Window: 65535}
	tcpFlags(tcp, flags)
	return ser(t, ipLayer(src.Addr(), dst.Addr(), layers.IPProtocolTCP), tcp, gopacket.Payload(payload))
}

// frag4 splits an IPv4 packet into fragments covering the given payload
// ranges; a non-nil data[i] replaces the bytes of fragment i.
func frag4(full []byte, ranges [][2]int, data map[int][]byte) [][]byte {
	ihl := int(full[0]&0x0f) * 4
	hdr, pl := full[:ihl], full[ihl:]
	var out [][]byte
	for i, r := range ranges {
		body := pl[r[0]:r[1]]
		if d, ok := data[i]; ok {
			body = d
		}
		b := append(bytes.Clone(hdr), body...)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		ff := uint16(r[0] / 8)
		if r[1] < len(pl) {
			ff |= 0x2000
		}
		binary.BigEndian.PutUint16(b[6:], ff)
		out = append(out, b)
	}
	return out
}

// frag6 builds IPv6 fragments of a fragmentable part (starting with header
// nh) covering the given ranges.
func frag6(t testing.TB, src, dst netip.Addr, id uint32, nh layers.IPProtocol, part []byte, ranges [][2]int, data map[int][]byte) [][]byte {
	var out [][]byte
	for i, r := range ranges {
		body := part[r[0]:r[1]]
		if d, ok := data[i]; ok {
			body = d
		}
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Fragment, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		fh := &layers.IPv6Fragment{NextHeader: nh, FragmentOffset: uint16(r[0] / 8), MoreFragments: r[1] < len(part), Identification: id}
		out = append(out, ser(t, ip, fh, gopacket.Payload(body)))
	}
	return out
}

// recorder is a Handler that keeps copies of everything it receives.
type recorder struct {
	udp    []Datagram
	segs   []Segment
	closes []closeEvent
}

type closeEvent struct {
	conn Conn
	why  CloseReason
}

func (r *recorder) UDP(d *Datagram) {
	c := *d
	c.Payload = bytes.Clone(d.Payload)
	r.udp = append(r.udp, c)
}

func (r *recorder) TCPData(s *Segment) {
	c := *s
	c.Data = bytes.Clone(s.Data)
	r.segs = append(r.segs, c)
}

func (r *recorder) TCPClose(c *Conn, why CloseReason) {
	r.closes = append(r.closes, closeEvent{*c, why})
}

// stream concatenates the data of one direction of one connection, with a
// '~' for every byte lost in a gap.
func (r *recorder) stream(id uint64, dir Dir) string {
	var b strings.Builder
	for _, s := range r.segs {
		if s.Conn.ID == id && s.Dir == dir {
			b.WriteString(strings.Repeat("~", int(s.Gap)))
			b.Write(s.Data)
		}
	}
	return b.String()
}

// chunks lists the segments as "dir:offset+gap:frame:data".
func (r *recorder) chunks() []string {
	var out []string
	for _, s := range r.segs {
		out = append(out, fmt.Sprintf("%d/%d:%d+%d:f%d:%s", s.Conn.ID, s.Dir, s.Offset, s.Gap, s.Frame, s.Data))
	}
	return out
}

// driver feeds packets with increasing frame numbers and a settable clock.
type driver struct {
	t     testing.TB
	d     *Decoder
	r     *recorder
	frame uint64
	now   time.Time
}

func newDriver(t testing.TB, cfg Config) *driver {
	r := &recorder{}
	return &driver{t: t, d: NewDecoder(cfg, r), r: r, now: t0}
}

func (v *driver) send(lt layers.LinkType, data []byte) {
	v.frame++
	v.d.Packet(data, lt, v.now, v.frame)
}

// ip sends a raw IP packet.
func (v *driver) ip(b []byte) { v.send(layers.LinkTypeRaw, b) }

// tick advances the clock and sends a non-IP frame so that timeouts run.
func (v *driver) tick(dt time.Duration) {
	v.now = v.now.Add(dt)
	arp := ser(v.t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeARP}, gopacket.Payload(make([]byte, 28)))
	v.send(layers.LinkTypeEthernet, arp)
}

func (v *driver) checkAccounted() {
	v.t.Helper()
	st := v.d.Stats()
	if st.Accounted() != st.Packets {
		v.t.Errorf("accounted %d of %d packets:\n%s", st.Accounted(), st.Packets, st)
	}
}
