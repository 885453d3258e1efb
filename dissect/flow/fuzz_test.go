package flow

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// checker is a Handler that verifies the invariants every consumer relies
// on: chunks are never empty, each chunk's Offset follows the previous one
// plus its Gap, and nothing arrives for a connection after its close.
type checker struct {
	t      testing.TB
	next   map[*Conn]*[2]uint64
	closed map[*Conn]bool
	udp    int
}

func newChecker(t testing.TB) *checker {
	return &checker{t: t, next: map[*Conn]*[2]uint64{}, closed: map[*Conn]bool{}}
}

func (c *checker) UDP(d *Datagram) {
	c.udp++
	if !d.Src.IsValid() || !d.Dst.IsValid() || d.Frame == 0 {
		c.t.Fatalf("bad datagram %+v", d)
	}
}

func (c *checker) TCPData(s *Segment) {
	if len(s.Data) == 0 {
		c.t.Fatalf("empty chunk")
	}
	if c.closed[s.Conn] {
		c.t.Fatalf("data after close on conn %d", s.Conn.ID)
	}
	n := c.next[s.Conn]
	if n == nil {
		n = new([2]uint64)
		c.next[s.Conn] = n
	}
	if s.Offset != n[s.Dir]+s.Gap {
		c.t.Fatalf("conn %d dir %v: offset %d, want %d + gap %d", s.Conn.ID, s.Dir, s.Offset, n[s.Dir], s.Gap)
	}
	n[s.Dir] = s.Offset + uint64(len(s.Data))
	if (s.Dir == AtoB) != (s.Src == s.Conn.A) {
		c.t.Fatalf("direction %v but src %v, A %v", s.Dir, s.Src, s.Conn.A)
	}
}

func (c *checker) TCPClose(conn *Conn, why CloseReason) {
	if c.closed[conn] {
		c.t.Fatalf("conn %d closed twice", conn.ID)
	}
	c.closed[conn] = true
	if n := c.next[conn]; n != nil {
		for d := range 2 {
			if n[d] > conn.Delivered[d]+conn.Lost[d] {
				c.t.Fatalf("conn %d: offsets past delivered+lost", conn.ID)
			}
		}
	}
}

var fuzzLinkTypes = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeNull,
	layers.LinkTypeLoop, layers.LinkTypeRaw, 12, 14, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 147,
}

// encodePackets builds a FuzzDecoder input: per packet, one byte of link
// type index (low nibble) and clock step in seconds (high nibble), two
// bytes of length, and the frame.
func encodePackets(pkts ...fuzzPkt) []byte {
	var b []byte
	for _, p := range pkts {
		idx := 0
		for i, lt := range fuzzLinkTypes {
			if lt == p.lt {
				idx = i
			}
		}
		b = append(b, byte(idx)|p.step<<4)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.data)))
		b = append(b, p.data...)
	}
	return b
}

type fuzzPkt struct {
	lt   layers.LinkType
	step byte
	data []byte
}

// FuzzDecoder decodes fuzzer-made frames of every link type, several per
// input so that fragment and TCP state carries across packets.
func FuzzDecoder(f *testing.F) {
	v4 := udpIP(f, ap("10.0.0.1:12346"), ap("10.0.0.2:12346"), []byte("dtls"))
	v6 := udpIP(f, ap("[2001:db8::1]:12346"), ap("[2001:db8::2]:12346"), []byte("dtls6"))
	for _, lt := range fuzzLinkTypes {
		var d []byte
		switch lt {
		case layers.LinkTypeEthernet:
			d = ether(f, v4, layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q)
		case layers.LinkTypeLinuxSLL:
			d = sll(v6)
		case layers.LinkTypeLinuxSLL2:
			d = sll2(v4)
		case layers.LinkTypeNull, layers.LinkTypeLoop:
			d = null(v6, 30, lt == layers.LinkTypeLoop)
		case layers.LinkTypeIPv6, 14:
			d = v6
		default:
			d = v4
		}
		f.Add(encodePackets(fuzzPkt{lt, 0, d}))
	}
	full, _ := bigUDP4(f, 2000, 3)
	var fr []fuzzPkt
	for _, x := range frag4(full, [][2]int{{1000, 2008}, {0, 1000}}, nil) {
		fr = append(fr, fuzzPkt{layers.LinkTypeRaw, 0, x})
	}
	f.Add(encodePackets(fr...))
	part := ser(f, udpLayer(1, 2), payloadOf(1500))
	fr = nil
	for _, x := range frag6(f, netip.MustParseAddr("::1"), netip.MustParseAddr("::2"), 8, layers.IPProtocolUDP, part, [][2]int{{0, 800}, {800, 1508}}, nil) {
		fr = append(fr, fuzzPkt{layers.LinkTypeIPv6, 1, x})
	}
	f.Add(encodePackets(fr...))
	c, s := ap("10.0.0.1:40000"), ap("10.0.0.2:23456")
	f.Add(encodePackets(
		fuzzPkt{layers.LinkTypeIPv4, 0, tcpIP(f, c, s, 100, 0, "S", nil)},
		fuzzPkt{layers.LinkTypeIPv4, 0, tcpIP(f, s, c, 500, 101, "S,A", nil)},
		fuzzPkt{layers.LinkTypeIPv4, 0, tcpIP(f, c, s, 106, 501, "A", []byte("world"))},
		fuzzPkt{layers.LinkTypeIPv4, 0, tcpIP(f, c, s, 101, 501, "A", []byte("hello"))},
		fuzzPkt{layers.LinkTypeIPv4, 3, tcpIP(f, s, c, 501, 111, "A,F", []byte("bye"))},
		fuzzPkt{layers.LinkTypeIPv4, 15, tcpIP(f, c, s, 120, 501, "A", []byte("late"))},
		fuzzPkt{layers.LinkTypeIPv4, 0, tcpIP(f, c, s, 111, 505, "R", nil)},
	))
	f.Fuzz(func(t *testing.T, in []byte) {
		ch := newChecker(t)
		// the bounds in four parts (as a dissector has them), small
		// enough for a fuzzer's input to fill
		d := NewDecoder(Config{TCPGapTimeout: 2 * time.Second, TCPIdleTimeout: 20 * time.Second, FragTimeout: 5 * time.Second, MaxConnBuffer: 4096, MaxTCPBuffer: 8192,
			Parts: 4, MaxConns: 8, MaxFragDatagrams: 8}, ch)
		now := t0
		var frame uint64
		for len(in) >= 3 {
			lt := fuzzLinkTypes[int(in[0]&0x0f)%len(fuzzLinkTypes)]
			now = now.Add(time.Duration(in[0]>>4) * time.Second)
			n := min(int(binary.BigEndian.Uint16(in[1:3])), len(in)-3)
			frame++
			d.Packet(in[3:3+n], lt, now, frame)
			in = in[3+n:]
		}
		checkParts(t, d)
		d.Flush()
		checkParts(t, d)
		st := d.Stats()
		if st.Accounted() != st.Packets || st.Packets != frame {
			t.Fatalf("accounted %d of %d packets:\n%s", st.Accounted(), st.Packets, st)
		}
		if st.TCPOpen != 0 || st.TCPBuffered != 0 || st.FragPending != 0 || st.FragBytes != 0 {
			t.Fatalf("state left after Flush:\n%s", st)
		}
		if uint64(ch.udp) != st.UDP {
			t.Fatalf("handler saw %d datagrams, stats say %d", ch.udp, st.UDP)
		}
		_ = st.String()
	})
}

func udpLayer(sp, dp uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
}

// FuzzTCPReassembly sends one connection's stream cut into segments at
// fuzzer-chosen places, reordered, duplicated, re-cut (overlapping
// retransmissions) and partly lost, under fuzzer-chosen buffer limits.
// Every delivered byte must be the stream's byte at that offset, gaps must
// be accounted for, and without loss the whole stream must arrive.
func FuzzTCPReassembly(f *testing.F) {
	f.Add([]byte{10, 20, 30, 40, 50}, uint32(0), false, uint16(0))
	f.Add([]byte{1, 255, 3, 7, 9, 200, 13, 17}, uint32(0xfffffc00), true, uint16(300))
	f.Add([]byte{99}, uint32(12345), false, uint16(50))
	f.Fuzz(func(t *testing.T, plan []byte, isn uint32, lose bool, bufLimit uint16) {
		if len(plan) == 0 {
			return
		}
		const L = 3000
		stream := make([]byte, L)
		for i := range stream {
			stream[i] = byte(i*131 + i>>8)
		}
		// Cut into segments of plan-driven sizes, and add re-cut copies.
		type seg struct{ a, b int }
		var segs []seg
		for a, i := 0, 0; a < L; i++ {
			b := min(a+int(plan[i%len(plan)])%400+1, L)
			segs = append(segs, seg{a, b})
			a = b
		}
		for i, p := range plan {
			if p%4 == 0 {
				a := (int(p)*37 + i*101) % L
				segs = append(segs, seg{a, min(a+int(p)+1, L)})
			}
		}
		// Shuffle with the plan.
		for i := range segs {
			j := int(plan[(i*5)%len(plan)]) * (i + 1) % len(segs)
			segs[i], segs[j] = segs[j], segs[i]
		}
		lost := map[int]bool{}
		if lose {
			for i := range segs {
				if plan[(i*3)%len(plan)]%7 == 0 {
					lost[i] = true
				}
			}
		}
		ch := newChecker(t)
		rec := &recorder{}
		d := NewDecoder(Config{MaxConnBuffer: int(bufLimit), TCPGapTimeout: time.Hour}, &both{ch, rec})
		c, s := ap("10.0.0.1:40000"), ap("10.0.0.2:23456")
		frame := uint64(0)
		send := func(b []byte) {
			frame++
			d.Packet(b, layers.LinkTypeRaw, t0, frame)
		}
		send(tcpIP(t, c, s, isn, 0, "S", nil))
		for i, sg := range segs {
			if !lost[i] {
				send(tcpIP(t, c, s, isn+1+uint32(sg.a), 0, "A", stream[sg.a:sg.b]))
			}
		}
		send(tcpIP(t, c, s, isn+1+L, 0, "A,F", nil))
		d.Flush()
		var delivered, gaps uint64
		for _, sg := range rec.segs {
			if sg.Offset+uint64(len(sg.Data)) > L || !bytes.Equal(sg.Data, stream[sg.Offset:sg.Offset+uint64(len(sg.Data))]) {
				t.Fatalf("chunk at offset %d (len %d) differs from the stream", sg.Offset, len(sg.Data))
			}
			delivered += uint64(len(sg.Data))
			gaps += sg.Gap
		}
		st := d.Stats()
		if len(rec.closes) != 1 {
			t.Fatalf("closes %d", len(rec.closes))
		}
		conn := rec.closes[0].conn
		if conn.Delivered[AtoB] != delivered || conn.Delivered[AtoB]+conn.Lost[AtoB] != L {
			t.Fatalf("delivered %d + lost %d != %d (chunk gaps %d)\n%s", conn.Delivered[AtoB], conn.Lost[AtoB], L, gaps, st)
		}
		if !lose && st.TCPMemorySkips == 0 && delivered != L {
			t.Fatalf("no loss, but only %d of %d bytes delivered\n%s", delivered, L, st)
		}
		if bufLimit != 0 && st.TCPBuffered != 0 {
			t.Fatalf("buffer not released")
		}
		if st.Accounted() != st.Packets {
			t.Fatalf("accounting %d != %d", st.Accounted(), st.Packets)
		}
	})
}

// both forwards to two handlers.
type both struct{ a, b Handler }

func (h *both) UDP(d *Datagram)                   { h.a.UDP(d); h.b.UDP(d) }
func (h *both) TCPData(s *Segment)                { h.a.TCPData(s); h.b.TCPData(s) }
func (h *both) TCPClose(c *Conn, why CloseReason) { h.a.TCPClose(c, why); h.b.TCPClose(c, why) }

func payloadOf(n int) gopacket.Payload {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i)
	}
	return gopacket.Payload(p)
}
