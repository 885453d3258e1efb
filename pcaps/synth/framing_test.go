package synth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// csum is the Internet checksum of b, starting from sum.
func csum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func pseudo(src, dst netip.Addr, proto byte, l int) uint32 {
	var b []byte
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	if src.Is4() {
		b = append(b, 0, proto, byte(l>>8), byte(l))
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(l))
		b = append(b, 0, 0, 0, proto)
	}
	var s uint32
	for i := 0; i < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	return s
}

type fragKey struct {
	src, dst netip.Addr
	id       uint32
}

type fragBuf struct {
	parts map[int][]byte
	total int // -1 until the last fragment is seen
	proto byte
}

type tcpDir struct {
	next    uint32 // next expected sequence number
	started bool
	lastAck uint32
	fin     bool
}

// frameStats is what checkFraming saw.
type frameStats struct {
	frames, ipv4, ipv6, vlan, udp, tcp, tcpData, fragments, reassembled, dtlsRecords int
	tcpFlows                                                                         int
}

// checkFraming reads a classic pcap and checks every frame: Ethernet and
// 802.1Q, IPv4 header checksums, UDP and TCP checksums (over reassembled
// IP fragments for fragmented datagrams), TCP sequence continuity and
// acknowledgements that never go back, timestamps that never go back, and
// that every UDP datagram to or from a control port holds whole DTLS
// records.
func checkFraming(t *testing.T, r io.Reader) frameStats {
	t.Helper()
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	var st frameStats
	frags := map[fragKey]*fragBuf{}
	flows := map[string]*tcpDir{}
	var last time.Time
	fail := 0
	errf := func(format string, a ...any) {
		fail++
		if fail <= 10 {
			t.Errorf(format, a...)
		}
	}
	checkL4 := func(n int, src, dst netip.Addr, proto byte, seg []byte) {
		if csum(seg, pseudo(src, dst, proto, len(seg))) != 0 {
			errf("frame %d: bad %d checksum (%s > %s, %d bytes)", n, proto, src, dst, len(seg))
		}
		switch proto {
		case 17:
			st.udp++
			sp, dp := binary.BigEndian.Uint16(seg), binary.BigEndian.Uint16(seg[2:])
			if int(binary.BigEndian.Uint16(seg[4:])) != len(seg) {
				errf("frame %d: UDP length %d, datagram %d", n, binary.BigEndian.Uint16(seg[4:]), len(seg))
			}
			if isCtlPort(sp) || isCtlPort(dp) {
				p := seg[8:]
				for len(p) > 0 {
					if len(p) < 13 || p[1] != 0xfe || p[2] != 0xfd {
						errf("frame %d: UDP %d>%d does not hold DTLS 1.2 records", n, sp, dp)
						break
					}
					l := int(binary.BigEndian.Uint16(p[11:]))
					if 13+l > len(p) {
						errf("frame %d: DTLS record of %d bytes, %d left", n, l, len(p)-13)
						break
					}
					st.dtlsRecords++
					p = p[13+l:]
				}
			}
		case 6:
			st.tcp++
			sp, dp := binary.BigEndian.Uint16(seg), binary.BigEndian.Uint16(seg[2:])
			seq, ack := binary.BigEndian.Uint32(seg[4:]), binary.BigEndian.Uint32(seg[8:])
			off := int(seg[12]>>4) * 4
			flags := seg[13]
			syn, fin, ackf := flags&0x02 != 0, flags&0x01 != 0, flags&0x10 != 0
			data := len(seg) - off
			k := fmt.Sprintf("%s:%d>%s:%d", src, sp, dst, dp)
			d := flows[k]
			if d == nil {
				d = &tcpDir{}
				flows[k] = d
				st.tcpFlows++
			}
			switch {
			case syn:
				d.next, d.started = seq+1, true
			case !d.started:
				d.next, d.started = seq, true // a flow met mid-stream
			case seq != d.next:
				errf("frame %d: %s: sequence %d, expected %d", n, k, seq, d.next)
			}
			if !syn {
				d.next = seq + uint32(data)
				if fin {
					d.next++
					d.fin = true
				}
			}
			if data > 0 {
				st.tcpData++
			}
			if ackf {
				if d.lastAck != 0 && int32(ack-d.lastAck) < 0 {
					errf("frame %d: %s: ack %d goes back from %d", n, k, ack, d.lastAck)
				}
				d.lastAck = ack
			}
		}
	}
	for {
		data, ci, err := pr.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		st.frames++
		n := st.frames
		if ci.Timestamp.Before(last) {
			errf("frame %d: time %v before the previous frame's %v", n, ci.Timestamp, last)
		}
		last = ci.Timestamp
		if len(data) < 14 {
			errf("frame %d: %d bytes", n, len(data))
			continue
		}
		et := binary.BigEndian.Uint16(data[12:])
		p := data[14:]
		if et == 0x8100 {
			st.vlan++
			et = binary.BigEndian.Uint16(p[2:])
			p = p[4:]
		}
		switch et {
		case 0x0800:
			st.ipv4++
			ihl := int(p[0]&0xf) * 4
			if csum(p[:ihl], 0) != 0 {
				errf("frame %d: bad IPv4 header checksum", n)
			}
			tl := int(binary.BigEndian.Uint16(p[2:]))
			if tl > len(p) || (tl < len(p) && len(data) > 60) {
				// shorter only for a frame padded to the Ethernet minimum
				errf("frame %d: IPv4 total length %d, %d bytes", n, tl, len(p))
				continue
			}
			p = p[:tl]
			src, dst := netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20]))
			fo := binary.BigEndian.Uint16(p[6:])
			more, off := fo&0x2000 != 0, int(fo&0x1fff)*8
			body := p[ihl:]
			if more || off > 0 {
				st.fragments++
				k := fragKey{src, dst, uint32(binary.BigEndian.Uint16(p[4:]))}
				if whole := addFrag(frags, k, off, more, p[9], body); whole != nil {
					st.reassembled++
					checkL4(n, src, dst, p[9], whole)
				}
				continue
			}
			if p[9] == 1 {
				if csum(body, 0) != 0 {
					errf("frame %d: bad ICMP checksum", n)
				}
				continue
			}
			checkL4(n, src, dst, p[9], body)
		case 0x86dd:
			st.ipv6++
			if int(binary.BigEndian.Uint16(p[4:]))+40 != len(p) {
				errf("frame %d: IPv6 payload length %d, %d bytes", n, binary.BigEndian.Uint16(p[4:]), len(p)-40)
				continue
			}
			src, dst := netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
			nh, body := p[6], p[40:]
			if nh == 44 {
				st.fragments++
				fo := binary.BigEndian.Uint16(body[2:])
				k := fragKey{src, dst, binary.BigEndian.Uint32(body[4:])}
				if whole := addFrag(frags, k, int(fo&^7), fo&1 != 0, body[0], body[8:]); whole != nil {
					st.reassembled++
					checkL4(n, src, dst, body[0], whole)
				}
				continue
			}
			checkL4(n, src, dst, nh, body)
		default:
			errf("frame %d: ethertype 0x%04x", n, et)
		}
	}
	if len(frags) != 0 {
		t.Errorf("%d datagrams never completed their fragments", len(frags))
	}
	return st
}

func isCtlPort(p uint16) bool {
	return p == 12346 || p == 12446 || p == 12546 || p == 12366 || p == 12386
}

// addFrag adds one fragment; it returns the whole datagram once complete.
func addFrag(m map[fragKey]*fragBuf, k fragKey, off int, more bool, proto byte, data []byte) []byte {
	f := m[k]
	if f == nil {
		f = &fragBuf{parts: map[int][]byte{}, total: -1, proto: proto}
		m[k] = f
	}
	f.parts[off] = append([]byte(nil), data...)
	if !more {
		f.total = off + len(data)
	}
	if f.total < 0 {
		return nil
	}
	offs := make([]int, 0, len(f.parts))
	for o := range f.parts {
		offs = append(offs, o)
	}
	sort.Ints(offs)
	var whole []byte
	for _, o := range offs {
		if o != len(whole) {
			return nil
		}
		whole = append(whole, f.parts[o]...)
	}
	if len(whole) != f.total {
		return nil
	}
	delete(m, k)
	return whole
}

func TestFraming(t *testing.T) {
	for _, o := range []Options{
		{Scenario: "baseline", Seed: 3, Edges: 6, TLSFraction: 0.5, IPv6Fraction: 0.5},
		{Scenario: "alert-teardown", Seed: 4, Edges: 4, TLSFraction: 0.5, MTU: 1280},
	} {
		var pc bytes.Buffer
		m, _, err := Run(o, Writers{Pcap: &pc})
		if err != nil {
			t.Fatal(err)
		}
		st := checkFraming(t, &pc)
		t.Logf("%s: %+v", o.Scenario, st)
		if st.vlan == 0 || st.ipv6 == 0 || st.tcpData == 0 || st.reassembled == 0 || st.dtlsRecords == 0 {
			t.Errorf("%s: the capture lacks something it should show: %+v", o.Scenario, st)
		}
		if m.Params["fragmented_datagrams"].(int) != st.reassembled {
			t.Errorf("manifest says %v fragmented datagrams, the capture has %d", m.Params["fragmented_datagrams"], st.reassembled)
		}
	}
}

// TestFramingDecodes: gopacket decodes every frame without an error layer.
func TestFramingDecodes(t *testing.T) {
	var pc bytes.Buffer
	if _, _, err := Run(Options{Scenario: "route-flap", Seed: 5, Edges: 3}, Writers{Pcap: &pc}); err != nil {
		t.Fatal(err)
	}
	pr, err := pcapgo.NewReader(&pc)
	if err != nil {
		t.Fatal(err)
	}
	if pr.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v", pr.LinkType())
	}
	src := gopacket.NewPacketSource(pr, layers.LayerTypeEthernet)
	n := 0
	for p := range src.Packets() {
		n++
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("frame %d: %v", n, el.Error())
		}
	}
	if n < 1000 {
		t.Fatalf("%d frames", n)
	}
}

// TestHandshakeFlight: what pion's wall-clock timer may send again after
// the handshake (handshake and ChangeCipherSpec records) is told apart
// from any other write, which stays a stray.
func TestHandshakeFlight(t *testing.T) {
	rec := func(ct byte, body []byte) []byte {
		h := []byte{ct, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 0, byte(len(body) >> 8), byte(len(body))}
		return append(h, body...)
	}
	finished := append(rec(20, []byte{1}), rec(22, make([]byte, 40))...)
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"ccs+finished", finished, true},
		{"handshake", rec(22, make([]byte, 12)), true},
		{"application data", rec(23, make([]byte, 30)), false},
		{"alert", rec(21, []byte{2, 40}), false},
		{"flight then data", append(append([]byte(nil), finished...), rec(23, []byte{1})...), false},
		{"truncated", finished[:len(finished)-1], false},
		{"empty", nil, false},
	} {
		if got := handshakeFlight(c.b); got != c.want {
			t.Errorf("%s: handshakeFlight = %v, want %v", c.name, got, c.want)
		}
	}
}
