package flow

import (
	"encoding/binary"
	"fmt"
	"github.com/ompscope/ompscope/dissect/internal/race"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"
)

// counter is a Handler that only counts.
type counter struct{ udp, tcp, closes int }

func (c *counter) UDP(d *Datagram)             { c.udp += len(d.Payload) }
func (c *counter) TCPData(s *Segment)          { c.tcp += len(s.Data) }
func (c *counter) TCPClose(*Conn, CloseReason) { c.closes++ }
func perSecond(b *testing.B, n int, unit string) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), unit)
}

func TestDecodeUDPAllocatesNothing(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	frame := ether(t, udpIP(t, ap("10.0.0.1:12346"), ap("10.0.0.2:12346"), make([]byte, 200)))
	frame6 := ether(t, udpIP(t, ap("[2001:db8::1]:12346"), ap("[2001:db8::2]:12346"), make([]byte, 200)), layers.EthernetTypeDot1Q)
	c := &counter{}
	d := NewDecoder(Config{UDPFilter: func(src, dst netip.AddrPort) bool { return dst.Port() == 12346 }}, c)
	ts := t0
	if n := testing.AllocsPerRun(1000, func() {
		ts = ts.Add(time.Millisecond) // also runs the timeout sweeps
		d.Packet(frame, layers.LinkTypeEthernet, ts, 1)
		d.Packet(frame6, layers.LinkTypeEthernet, ts, 2)
	}); n != 0 {
		t.Fatalf("%v allocations per packet pair", n)
	}
	if c.udp != 2*1001*200 {
		t.Fatalf("delivered %d bytes", c.udp)
	}
}

func TestTCPSteadyStateAllocatesNothing(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, swap := range []bool{false, true} {
		c := &counter{}
		d := NewDecoder(Config{}, c)
		cli, srv := ap("10.0.0.1:40000"), ap("10.0.0.2:23456")
		d.Packet(ether(t, tcpIP(t, cli, srv, 0, 0, "S", nil)), layers.LinkTypeEthernet, t0, 1)
		pkt := ether(t, tcpIP(t, cli, srv, 1, 0, "A", make([]byte, 1400)))
		i := uint32(0)
		send := func() {
			k := i
			if swap {
				k ^= 1 // every pair in reverse order: half the segments are buffered
			}
			binary.BigEndian.PutUint32(pkt[14+20+4:], 1+k*1400)
			d.Packet(pkt, layers.LinkTypeEthernet, t0, 2)
			i++
		}
		send()
		send() // warm the buffer free list
		if n := testing.AllocsPerRun(1000, func() { send(); send() }); n != 0 {
			t.Fatalf("swap=%v: %v allocations per segment pair", swap, n)
		}
		if c.tcp != int(i)*1400 {
			t.Fatalf("swap=%v: delivered %d bytes of %d", swap, c.tcp, i*1400)
		}
	}
}

func BenchmarkEthernetIPv4UDP(b *testing.B) {
	frame := ether(b, udpIP(b, ap("10.0.0.1:12346"), ap("10.0.0.2:12346"), make([]byte, 200)))
	c := &counter{}
	d := NewDecoder(Config{UDPFilter: func(src, dst netip.AddrPort) bool { return dst.Port() == 12346 || src.Port() == 12346 }}, c)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		d.Packet(frame, layers.LinkTypeEthernet, t0, 1)
		n++
	}
	perSecond(b, n, "packets/s")
}

func BenchmarkEthernetIPv4UDPFilteredOut(b *testing.B) {
	frame := ether(b, udpIP(b, ap("10.0.0.1:53"), ap("10.0.0.2:53"), make([]byte, 200)))
	d := NewDecoder(Config{UDPFilter: func(src, dst netip.AddrPort) bool { return dst.Port() == 12346 || src.Port() == 12346 }}, &counter{})
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		d.Packet(frame, layers.LinkTypeEthernet, t0, 1)
		n++
	}
	perSecond(b, n, "packets/s")
}

func BenchmarkVLANIPv6UDP(b *testing.B) {
	frame := ether(b, udpIP(b, ap("[2001:db8::1]:12346"), ap("[2001:db8::2]:12346"), make([]byte, 200)), layers.EthernetTypeDot1Q)
	d := NewDecoder(Config{}, &counter{})
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		d.Packet(frame, layers.LinkTypeEthernet, t0, 1)
		n++
	}
	perSecond(b, n, "packets/s")
}

// benchTCP feeds a long connection of 1400-byte segments; with swap, every
// pair of segments arrives in reverse order (half the segments buffered).
func benchTCP(b *testing.B, swap bool) {
	c := &counter{}
	d := NewDecoder(Config{}, c)
	cli, srv := ap("10.0.0.1:40000"), ap("10.0.0.2:23456")
	d.Packet(ether(b, tcpIP(b, cli, srv, 0, 0, "S", nil)), layers.LinkTypeEthernet, t0, 1)
	pkt := ether(b, tcpIP(b, cli, srv, 1, 0, "A", make([]byte, 1400)))
	seqAt := 14 + 20 + 4
	b.SetBytes(1400)
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		k := i
		if swap {
			k ^= 1
		}
		binary.BigEndian.PutUint32(pkt[seqAt:], 1+k*1400)
		d.Packet(pkt, layers.LinkTypeEthernet, t0, 2)
		i++
	}
	perSecond(b, int(i), "segments/s")
}

func BenchmarkTCPReassemblyInOrder(b *testing.B)    { benchTCP(b, false) }
func BenchmarkTCPReassemblyOutOfOrder(b *testing.B) { benchTCP(b, true) }

// The same workloads through gopacket's DecodingLayerParser and
// reassembly.Assembler, for comparison (see the package report).
type gpStream struct{ n *int }

func (s gpStream) Accept(*layers.TCP, gopacket.CaptureInfo, reassembly.TCPFlowDirection, reassembly.Sequence, *bool, reassembly.AssemblerContext) bool {
	return true
}
func (s gpStream) ReassembledSG(sg reassembly.ScatterGather, _ reassembly.AssemblerContext) {
	l, _ := sg.Lengths()
	*s.n += l
}
func (s gpStream) ReassemblyComplete(reassembly.AssemblerContext) bool { return true }

type gpFactory struct{ n int }

func (f *gpFactory) New(_, _ gopacket.Flow, _ *layers.TCP, _ reassembly.AssemblerContext) reassembly.Stream {
	return gpStream{&f.n}
}

type gpCtx struct{ ci gopacket.CaptureInfo }

func (c *gpCtx) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

func benchGopacket(b *testing.B, swap bool) {
	f := &gpFactory{}
	asm := reassembly.NewAssembler(reassembly.NewStreamPool(f))
	var eth layers.Ethernet
	var ip4 layers.IPv4
	var tcp layers.TCP
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &tcp)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 4)
	ctx := &gpCtx{ci: gopacket.CaptureInfo{Timestamp: t0}}
	feed := func(pkt []byte) {
		if err := parser.DecodeLayers(pkt, &decoded); err != nil {
			b.Fatal(err)
		}
		asm.AssembleWithContext(ip4.NetworkFlow(), &tcp, ctx)
	}
	cli, srv := ap("10.0.0.1:40000"), ap("10.0.0.2:23456")
	feed(ether(b, tcpIP(b, cli, srv, 0, 0, "S", nil)))
	pkt := ether(b, tcpIP(b, cli, srv, 1, 0, "A", make([]byte, 1400)))
	seqAt := 14 + 20 + 4
	b.SetBytes(1400)
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		k := i
		if swap {
			k ^= 1
		}
		binary.BigEndian.PutUint32(pkt[seqAt:], 1+k*1400)
		feed(pkt)
		i++
	}
	perSecond(b, int(i), "segments/s")
}

func BenchmarkGopacketReassemblyInOrder(b *testing.B)    { benchGopacket(b, false) }
func BenchmarkGopacketReassemblyOutOfOrder(b *testing.B) { benchGopacket(b, true) }

// BenchmarkFragFloodOnePair: first fragments of ever new datagrams, all
// between one pair of addresses, while datagrams of 2 000 other pairs
// fill the other parts of the bounds: each new datagram evicts the
// oldest of its own part (the default 64 parts of 16 datagrams).
func BenchmarkFragFloodOnePair(b *testing.B) {
	first := func(src, dst string, id uint16) []byte {
		full := udpIP(b, ap(src), ap(dst), make([]byte, 200))
		fr := frag4(full, [][2]int{{0, 104}, {104, 208}}, nil)[0]
		binary.BigEndian.PutUint16(fr[4:], id)
		return ether(b, fr)
	}
	d := NewDecoder(Config{Parts: 64}, &counter{})
	for i := range 2000 {
		d.Packet(first(fmt.Sprintf("10.1.%d.%d:5000", i/250, i%250+1), "10.2.0.1:12346", 1), layers.LinkTypeEthernet, t0, 1)
	}
	frame := first("10.0.0.1:5000", "10.0.0.2:12346", 0)
	b.ReportAllocs()
	id := uint16(0)
	for b.Loop() {
		id++
		binary.BigEndian.PutUint16(frame[14+4:], id)
		d.Packet(frame, layers.LinkTypeEthernet, t0, 1)
	}
	if st := d.Stats(); st.FragDrops[FragMemory] == 0 {
		b.Fatalf("no eviction: %v", st.FragDrops)
	}
}
