package flow

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ompscope/ompscope/dissect/internal/part"
	"github.com/ompscope/ompscope/pcaps/linediff"
)

// partRecorder describes each event of a Decoder in a line, with the part
// of the flow it is about (connection IDs left out: each decoder counts
// its own).
type partRecorder struct {
	parts int
	lines []string
	of    []int
}

func (r *partRecorder) add(a, b netip.Addr, s string) {
	r.lines = append(r.lines, s)
	r.of = append(r.of, part.Of(part.Hash(a, b), r.parts))
}

func (r *partRecorder) UDP(d *Datagram) {
	r.add(d.Src.Addr(), d.Dst.Addr(), fmt.Sprintf("udp %v>%v f%d %d %x", d.Src, d.Dst, d.Frame, len(d.Payload), d.Payload[:min(8, len(d.Payload))]))
}

func (r *partRecorder) TCPData(s *Segment) {
	r.add(s.Conn.A.Addr(), s.Conn.B.Addr(), fmt.Sprintf("tcp %v>%v/%d f%d @%d+%d %d %x", s.Conn.A, s.Conn.B, s.Dir, s.Frame, s.Offset, s.Gap, len(s.Data), s.Data[:min(8, len(s.Data))]))
}

func (r *partRecorder) TCPClose(c *Conn, why CloseReason) {
	r.add(c.A.Addr(), c.B.Addr(), fmt.Sprintf("close %v>%v %v", c.A, c.B, why))
}

// partsTraffic is a seeded mix over 24 address pairs that keeps every
// bound full: connections opened and left open, data ahead of gaps, IPv4
// and IPv6 datagrams left waiting for fragments, some completed.
func partsTraffic(t *testing.T, seed uint64) (pkts [][]byte, times []time.Time) {
	rng := rand.New(rand.NewPCG(seed, 7))
	srv4, srv6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	now := t0
	add := func(b []byte) {
		pkts = append(pkts, b)
		times = append(times, now)
	}
	type open struct {
		c, s netip.AddrPort
		seq  uint32
	}
	var conns []open
	for i := 0; i < 3000; i++ {
		now = now.Add(time.Duration(rng.IntN(40)) * time.Millisecond)
		if rng.IntN(200) == 0 {
			now = now.Add(time.Duration(rng.IntN(60)) * time.Second) // timeouts fire
		}
		host := rng.IntN(24)
		cli := netip.AddrFrom4([4]byte{10, 0, byte(host / 8), byte(host)})
		port := uint16(1024 + rng.IntN(60000))
		switch k := rng.IntN(10); {
		case k < 1: // a connection opens
			c, s := netip.AddrPortFrom(cli, port), netip.AddrPortFrom(srv4, 443)
			add(tcpIP(t, c, s, 1000, 0, "S", nil))
			conns = append(conns, open{c, s, 1001})
		case k < 6 && len(conns) > 0: // data on one, in order or ahead of a gap
			o := &conns[rng.IntN(len(conns))]
			n := 1 + rng.IntN(1500)
			seq := o.seq
			if rng.IntN(3) == 0 {
				seq += uint32(1 + rng.IntN(3000)) // ahead of a gap: buffered
			} else {
				o.seq += uint32(n)
			}
			flags := "A"
			if rng.IntN(20) == 0 {
				flags = "F,A"
			}
			data := make([]byte, n)
			data[0] = byte(i)
			add(tcpIP(t, o.c, o.s, seq, 1, flags, data))
		case k < 9: // a fragmented datagram, completed or not
			size := 2000 + rng.IntN(30000)
			payload := make([]byte, size)
			payload[0] = byte(i)
			var frs [][]byte
			var ranges [][2]int
			for off := 0; off < size+8; off += 1480 {
				ranges = append(ranges, [2]int{off, min(off+1480, size+8)})
			}
			if rng.IntN(2) == 0 {
				c6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 1, 15: byte(host)})
				udp := &layers.UDP{SrcPort: layers.UDPPort(port), DstPort: 12346}
				ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: c6.AsSlice(), DstIP: srv6.AsSlice()}
				if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
					t.Fatal(err)
				}
				body := ser(t, udp, gopacket.Payload(payload))
				frs = frag6(t, c6, srv6, uint32(i), layers.IPProtocolUDP, body, ranges, nil)
			} else {
				full := udpIP(t, netip.AddrPortFrom(cli, port), netip.AddrPortFrom(srv4, 12346), payload)
				full[4], full[5] = byte(i>>8), byte(i) // the IP ID
				frs = frag4(full, ranges, nil)
			}
			keep := len(frs)
			if rng.IntN(2) == 0 {
				keep = rng.IntN(len(frs)) // left waiting
			}
			for _, f := range frs[:keep] {
				add(f)
			}
		default: // a datagram of its own
			add(udpIP(t, netip.AddrPortFrom(cli, port), netip.AddrPortFrom(srv4, 12346), []byte{byte(i), byte(i >> 8)}))
		}
	}
	return
}

// TestPartsDecompose: with the bounds in parts, a decoder given every
// packet gives each part's flows exactly what a decoder given only that
// part's packets (and the same clock) gives them, while every bound is
// reached. This is what makes a parallel run's evictions the same with any
// number of workers: a worker holds whole parts.
func TestPartsDecompose(t *testing.T) {
	const parts = 4
	cfg := Config{Parts: parts, ExternalClock: true, MaxConns: 24, MaxFragDatagrams: 12, MaxFragBytes: 4 * 65535,
		MaxConnBuffer: 4096, MaxTCPBuffer: 4 * 6000}
	for seed := uint64(1); seed <= 4; seed++ {
		pkts, times := partsTraffic(t, seed)
		whole := &partRecorder{parts: parts}
		all := NewDecoder(cfg, whole)
		var each [parts]*Decoder
		var recs [parts]*partRecorder
		for k := range each {
			recs[k] = &partRecorder{parts: parts}
			each[k] = NewDecoder(cfg, recs[k])
		}
		clk := NewDecoder(Config{ExternalClock: true}, &recorder{})
		for i, b := range pkts {
			now, sweep := clk.Clock(times[i])
			clk.Advance(now, sweep)
			all.Advance(now, sweep)
			for _, d := range each {
				d.Advance(now, sweep)
			}
			all.Packet(b, layers.LinkTypeRaw, times[i], uint64(i+1))
			k := part.Of(ShardKey(b, layers.LinkTypeRaw), parts)
			each[k].Packet(b, layers.LinkTypeRaw, times[i], uint64(i+1))
		}
		all.Flush()
		for _, d := range each {
			d.Flush()
		}
		st := all.Stats()
		if st.TCPConnLimit == 0 || st.TCPMemorySkips == 0 || st.FragDrops[FragMemory] == 0 {
			t.Fatalf("seed %d: a bound was not reached (connections refused %d, TCP memory skips %d, fragments evicted %d)",
				seed, st.TCPConnLimit, st.TCPMemorySkips, st.FragDrops[FragMemory])
		}
		var sum Stats
		for k, d := range each {
			var want []string
			for i, l := range whole.lines {
				if whole.of[i] == k {
					want = append(want, l)
				}
			}
			got := recs[k].lines
			if i, w, g, differ := linediff.First(want, got); differ {
				t.Fatalf("seed %d, part %d, event %d of %d/%d:\n  one decoder: %s\n  the part's:  %s", seed, k, i, len(want), len(got), w, g)
			}
			ps := d.Stats()
			sum.TCPConnLimit += ps.TCPConnLimit
			sum.TCPMemorySkips += ps.TCPMemorySkips
			sum.FragDrops[FragMemory] += ps.FragDrops[FragMemory]
		}
		if sum.TCPConnLimit != st.TCPConnLimit || sum.TCPMemorySkips != st.TCPMemorySkips || sum.FragDrops[FragMemory] != st.FragDrops[FragMemory] {
			t.Errorf("seed %d: counted by the parts' decoders %d/%d/%d, by one %d/%d/%d", seed,
				sum.TCPConnLimit, sum.TCPMemorySkips, sum.FragDrops[FragMemory], st.TCPConnLimit, st.TCPMemorySkips, st.FragDrops[FragMemory])
		}
		checkParts(t, all)
	}
}

// checkParts checks that each part of d's bounds accounts exactly what
// its flows hold, within its share.
func checkParts(t *testing.T, d *Decoder) {
	t.Helper()
	conns := make([]int, d.cfg.Parts)
	tbuf := make([]int, d.cfg.Parts)
	for _, c := range d.tcp.conns {
		k := d.cfg.partOf(c.A.Addr().As16(), c.B.Addr().As16())
		if c.part != &d.tcp.parts[k] {
			t.Fatalf("connection %v>%v counts in another part than %d", c.A, c.B, k)
		}
		conns[k]++
		tbuf[k] += c.buffered
	}
	dgs := make([]int, d.cfg.Parts)
	fbytes := make([]int, d.cfg.Parts)
	for _, dg := range d.frag.m {
		k := d.cfg.partOf(dg.key.src, dg.key.dst)
		if dg.part != k {
			t.Fatalf("a datagram of part %d counts in part %d", k, dg.part)
		}
		dgs[k]++
		fbytes[k] += dg.bytes
	}
	for k := range conns {
		tp, fp := d.tcp.parts[k], d.frag.parts[k]
		if tp.conns != conns[k] || tp.buffered != tbuf[k] || fp.datagrams != dgs[k] || fp.bytes != fbytes[k] {
			t.Fatalf("part %d accounts %+v %+v, holds %d connections, %d bytes buffered, %d datagrams, %d fragment bytes",
				k, tp, fp, conns[k], tbuf[k], dgs[k], fbytes[k])
		}
		if conns[k] > d.lim.conns || tbuf[k] > d.lim.tcpBuffer || dgs[k] > d.lim.fragDatagrams || fbytes[k] > d.lim.fragBytes {
			t.Fatalf("part %d over its shares %+v: %d connections, %d bytes buffered, %d datagrams, %d fragment bytes",
				k, d.lim, conns[k], tbuf[k], dgs[k], fbytes[k])
		}
	}
}

// TestPartsKeepOneConnectionsBuffer: a part's share of MaxTCPBuffer is at
// least MaxConnBuffer, so a connection alone in the decoder buffers as much
// out-of-order data with the dissector's 64 parts as with one (found by
// review: with a share of MaxTCPBuffer/64 = 1 MiB, a hole followed by
// more than about 740 KB gave up on the gap).
func TestPartsKeepOneConnectionsBuffer(t *testing.T) {
	for _, parts := range []int{1, 64} {
		r := &recorder{}
		d := NewDecoder(Config{Parts: parts}, r)
		c, s := ap("10.0.0.1:40000"), ap("192.0.2.1:23456")
		frame := uint64(0)
		pk := func(b []byte) { frame++; d.Packet(b, layers.LinkTypeRaw, t0, frame) }
		pk(tcpIP(t, c, s, 1000, 0, "S", nil))
		pk(tcpIP(t, s, c, 5000, 1001, "S,A", nil))
		seg := make([]byte, 1448)
		for i := 1; i <= 1000; i++ { // 2 MiB held behind the hole (1 000 buffers of 2 KiB)
			pk(tcpIP(t, c, s, 1001+uint32(i*1448), 5001, "A", seg))
		}
		pk(tcpIP(t, c, s, 1001, 5001, "A", seg)) // the retransmission
		d.Flush()
		lost := uint64(0)
		for _, sg := range r.segs {
			lost += sg.Gap
		}
		if st := d.Stats(); st.TCPMemorySkips != 0 || lost != 0 {
			t.Errorf("%d parts: %d memory skips, %d bytes lost in gaps; want none", parts, st.TCPMemorySkips, lost)
		}
	}
}
