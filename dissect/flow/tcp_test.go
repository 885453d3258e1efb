package flow

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ompscope/ompscope/dissect/capture"
)

var (
	cli = ap("192.0.2.10:40000")
	srv = ap("198.51.100.1:23456")
)

// conv drives one TCP connection between cli and srv.
type conv struct {
	*driver
	cseq, sseq uint32 // ISNs
}

func newConv(t *testing.T, cfg Config, cisn, sisn uint32) *conv {
	return &conv{driver: newDriver(t, cfg), cseq: cisn, sseq: sisn}
}

// c sends from the client at stream offset off (0 = first byte after SYN).
func (v *conv) c(off uint32, flags string, data string) {
	v.ip(tcpIP(v.t, cli, srv, v.cseq+1+off, 0, flags, []byte(data)))
}

func (v *conv) s(off uint32, flags string, data string) {
	v.ip(tcpIP(v.t, srv, cli, v.sseq+1+off, 0, flags, []byte(data)))
}

func (v *conv) handshake() {
	v.ip(tcpIP(v.t, cli, srv, v.cseq, 0, "S", nil))
	v.ip(tcpIP(v.t, srv, cli, v.sseq, v.cseq+1, "S,A", nil))
	v.c(0, "A", "")
}

func (v *conv) wantChunks(want ...string) {
	v.t.Helper()
	if got := v.r.chunks(); !slices.Equal(got, want) {
		v.t.Fatalf("chunks\n got %q\nwant %q\n%s", got, want, v.d.Stats())
	}
}

func (v *conv) wantClose(why ...CloseReason) {
	v.t.Helper()
	var got []CloseReason
	for _, c := range v.r.closes {
		got = append(got, c.why)
	}
	if !slices.Equal(got, why) {
		v.t.Fatalf("closes %v, want %v", got, why)
	}
}

func TestTCPInOrder(t *testing.T) {
	v := newConv(t, Config{}, 1000, 5000)
	v.handshake()           // frames 1-3
	v.c(0, "A,P", "hello ") // 4
	v.c(6, "A,P", "server") // 5
	v.s(0, "A,P", "hi")     // 6
	v.c(12, "F,A", "")      // 7
	v.s(2, "F,A", "!")      // 8: data with FIN
	v.c(13, "A", "")        // 9: final ACK
	v.wantChunks("1/0:0+0:f4:hello ", "1/0:6+0:f5:server", "1/1:0+0:f6:hi", "1/1:2+0:f8:!")
	v.wantClose(CloseFIN)
	c := v.r.closes[0].conn
	if c.A != cli || c.B != srv || !c.ClientKnown || c.MidStream || c.ID != 1 || c.FirstFrame != 1 || c.Delivered != [2]uint64{12, 3} || c.Lost != [2]uint64{} {
		t.Fatalf("conn %+v", c)
	}
	s := v.r.segs[2]
	if s.Src != srv || s.Dst != cli || s.Dir != BtoA || !s.Time.Equal(t0) {
		t.Fatalf("segment %+v", s)
	}
	st := v.d.Stats()
	if st.TCPBytes != 15 || st.TCPConns != 1 || st.TCPClosed[CloseFIN] != 1 || st.TCP != 9 || st.TCPOpen != 1 {
		t.Fatalf("%s", st)
	}
	// The final ACK and a late retransmission after close are recognised,
	// not taken for a new connection.
	v.c(6, "A,P", "server")
	if st := v.d.Stats(); st.TCPAfterClose != 2 || st.TCPConns != 1 {
		t.Fatalf("%s", st)
	}
	// The closed entry is forgotten after the linger time.
	v.tick(11 * time.Second)
	if st := v.d.Stats(); st.TCPOpen != 0 {
		t.Fatalf("%s", st)
	}
	v.checkAccounted()
}

func TestTCPOutOfOrderRetransOverlap(t *testing.T) {
	v := newConv(t, Config{}, 0xfffffff0, 77) // client sequence numbers wrap
	v.handshake()
	v.c(10, "A", "klmno")   // 4: ahead
	v.c(5, "A", "fghij")    // 5: ahead, before the previous
	v.c(5, "A", "fghij")    // 6: duplicate of a buffered segment
	v.c(0, "A", "abcde")    // 7: fills the gap: delivers 7, 5, 4
	v.c(3, "A", "defgh")    // 8: entirely old
	v.c(13, "A", "nopqrs")  // 9: overlaps 2 delivered bytes
	v.c(25, "A", "z")       // 10: ahead
	v.c(19, "A", "tuvwxyz") // 11: in order, covers the buffered 'z'
	v.wantChunks("1/0:0+0:f7:abcde", "1/0:5+0:f5:fghij", "1/0:10+0:f4:klmno", "1/0:15+0:f9:pqrs", "1/0:19+0:f11:tuvwxyz")
	if s := v.r.stream(1, AtoB); s != "abcdefghijklmnopqrstuvwxyz" {
		t.Fatalf("stream %q", s)
	}
	st := v.d.Stats()
	// Retransmitted: the duplicate fghij, all of defgh, "no" of nopqrs and
	// the buffered z; of those only "no" was a partial overlap.
	if st.TCPOutOfOrder != 3 || st.TCPRetransBytes != 5+5+2+1 || st.TCPOverlapBytes != 2 || st.TCPBuffered != 0 {
		t.Fatalf("%s", st)
	}
}

func TestTCPMidStream(t *testing.T) {
	v := newConv(t, Config{}, 100, 200)
	// The capture starts after the handshake: the server speaks first.
	v.s(50, "A,P", "server-data")
	v.c(70, "A", "") // bare ACK: nothing to deliver, does not start the half
	v.c(70, "A,P", "client-data")
	v.s(61, "A,P", "more")
	v.wantChunks("1/0:0+0:f1:server-data", "1/1:0+0:f3:client-data", "1/0:11+0:f4:more")
	c := v.r.segs[0].Conn
	if c.ClientKnown || !c.MidStream || c.A != srv {
		t.Fatalf("conn %+v", c)
	}
	// Packets without data for unknown connections are ignored, counted.
	v.ip(tcpIP(t, ap("10.9.9.9:1"), ap("10.9.9.8:2"), 5, 5, "A", nil))
	v.ip(tcpIP(t, ap("10.9.9.9:1"), ap("10.9.9.8:2"), 5, 5, "R", nil))
	if st := v.d.Stats(); st.TCPNoConn != 2 || st.TCPConns != 1 {
		t.Fatalf("%s", st)
	}
	v.checkAccounted()
}

func TestTCPSynAckFirst(t *testing.T) {
	v := newConv(t, Config{}, 100, 200)
	// The SYN was lost by the capture; the SYN-ACK still says who the
	// client is, and where the client's stream starts: losing the
	// client's first segment is a gap, not a mid-stream start.
	v.ip(tcpIP(t, srv, cli, v.sseq, v.cseq+1, "S,A", nil))
	v.c(3, "A,P", "req")
	v.s(0, "A,P", "resp")
	v.d.Flush()
	v.wantChunks("1/1:0+0:f3:resp", "1/0:3+3:f2:req")
	c := v.r.segs[0].Conn
	if c.A != cli || !c.ClientKnown || c.MidStream {
		t.Fatalf("conn %+v", c)
	}
}

func TestTCPLateSynReorients(t *testing.T) {
	v := newConv(t, Config{}, 100, 200)
	// Reordered capture start: the SYN-ACK's data-less partner comes
	// after a server packet without data. Nothing was delivered yet, so
	// the connection is re-oriented to make the client A.
	v.ip(tcpIP(t, srv, cli, v.sseq+1, 0, "F,A", nil))
	v.ip(tcpIP(t, cli, srv, v.cseq, 0, "S", nil))
	v.c(0, "A,P", "x")
	v.wantChunks("1/0:0+0:f3:x")
	if c := v.r.segs[0].Conn; c.A != cli || !c.ClientKnown {
		t.Fatalf("conn %+v", c)
	}
}

func TestTCPGapTimeout(t *testing.T) {
	v := newConv(t, Config{TCPGapTimeout: 5 * time.Second}, 0, 0)
	v.handshake()
	v.c(0, "A", "aaaa")
	// bytes 4..7 are lost
	v.c(8, "A", "cccc")
	v.c(12, "A", "dddd")
	v.tick(3 * time.Second)
	v.wantChunks("1/0:0+0:f4:aaaa")
	v.tick(3 * time.Second) // now waited 6 s > 5 s
	v.wantChunks("1/0:0+0:f4:aaaa", "1/0:8+4:f5:cccc", "1/0:12+0:f6:dddd")
	v.c(16, "A", "eeee")
	if s := v.r.stream(1, AtoB); s != "aaaa~~~~ccccddddeeee" {
		t.Fatalf("stream %q", s)
	}
	c := v.r.segs[0].Conn
	if c.Lost[AtoB] != 4 || c.Delivered[AtoB] != 16 {
		t.Fatalf("conn %+v", c)
	}
	// A late copy of the lost bytes is too late.
	v.c(4, "A", "bbbb")
	st := v.d.Stats()
	if st.TCPGaps != 1 || st.TCPGapBytes != 4 || st.TCPRetransBytes != 4 {
		t.Fatalf("%s", st)
	}
}

func TestTCPGapAtFlushAndFin(t *testing.T) {
	v := newConv(t, Config{}, 0, 0)
	v.handshake()
	v.c(0, "A", "ab")
	v.c(4, "A", "ef") // cd lost
	v.s(0, "F,A", "") // server closes
	v.c(6, "F,A", "") // client FIN behind the gap
	v.wantChunks("1/0:0+0:f4:ab")
	v.d.Flush()
	v.wantChunks("1/0:0+0:f4:ab", "1/0:4+2:f5:ef")
	v.wantClose(CloseEnd)
	if st := v.d.Stats(); st.TCPOpen != 0 || st.TCPBuffered != 0 || st.TCPClosed[CloseEnd] != 1 {
		t.Fatalf("%s", st)
	}
	v.checkAccounted()

	// The same with a gap timeout instead: FIN behind a gap with nothing
	// buffered still closes once the gap times out.
	v = newConv(t, Config{TCPGapTimeout: time.Second}, 0, 0)
	v.handshake()
	v.c(0, "A", "ab")
	v.s(0, "F,A", "")
	v.c(4, "F,A", "") // the FIN says 2 bytes are missing
	v.tick(2 * time.Second)
	v.wantClose(CloseFIN)
	if c := v.r.closes[0].conn; c.Lost[AtoB] != 2 {
		t.Fatalf("conn %+v", c)
	}
}

func TestTCPRstAndIdle(t *testing.T) {
	v := newConv(t, Config{TCPIdleTimeout: time.Minute}, 0, 0)
	v.handshake()
	v.c(0, "A", "ab")
	v.c(4, "A", "ef")
	v.s(0, "R", "")
	v.wantChunks("1/0:0+0:f4:ab", "1/0:4+2:f5:ef")
	v.wantClose(CloseRST)

	v = newConv(t, Config{TCPIdleTimeout: time.Minute}, 0, 0)
	v.handshake()
	v.c(0, "A", "ab")
	v.tick(59 * time.Second)
	v.wantClose()
	v.tick(2 * time.Second)
	v.wantClose(CloseIdle)
	if st := v.d.Stats(); st.TCPOpen != 0 {
		t.Fatalf("%s", st)
	}
}

func TestTCPReuse(t *testing.T) {
	v := newConv(t, Config{}, 0, 0)
	v.handshake()
	v.c(0, "A", "first")
	v.ip(tcpIP(t, cli, srv, 999999, 0, "S", nil)) // new ISN on the same 4-tuple
	v.ip(tcpIP(t, cli, srv, 1000000, 0, "A", []byte("second")))
	v.ip(tcpIP(t, cli, srv, 999999, 0, "S", nil)) // retransmitted SYN: ignored
	v.wantChunks("1/0:0+0:f4:first", "2/0:0+0:f6:second")
	v.wantClose(CloseReused)
	if st := v.d.Stats(); st.TCPConns != 2 {
		t.Fatalf("%s", st)
	}
}

func TestTCPMemoryBounds(t *testing.T) {
	v := newConv(t, Config{MaxConnBuffer: 100}, 0, 0)
	v.handshake()
	v.c(0, "A", "aa")
	// bytes 2..9 lost; then 150 bytes ahead of the gap in 10-byte segments.
	for i := range 15 {
		v.c(uint32(10+10*i), "A", strings.Repeat(string(rune('A'+i)), 10))
	}
	st := v.d.Stats()
	if st.TCPMemorySkips != 1 || st.TCPBuffered > 100 {
		t.Fatalf("%s", st)
	}
	// The gap was skipped as soon as the buffer was full, and everything
	// buffered was delivered; the rest followed in order.
	want := "aa~~~~~~~~"
	for i := range 15 {
		want += strings.Repeat(string(rune('A'+i)), 10)
	}
	if s := v.r.stream(1, AtoB); s != want {
		t.Fatalf("stream %q", s)
	}

	// Total limit across connections.
	v = newConv(t, Config{MaxConnBuffer: 100, MaxTCPBuffer: 150}, 0, 0)
	for i := range 3 {
		c := netip.AddrPortFrom(cli.Addr(), uint16(1000+i))
		v.ip(tcpIP(t, c, srv, 0, 0, "S", nil))
		v.ip(tcpIP(t, c, srv, 1, 0, "A", []byte("x")))
		v.ip(tcpIP(t, c, srv, 10, 0, "A", bytes.Repeat([]byte("y"), 60)))
	}
	st = v.d.Stats()
	if st.TCPBuffered > 150 || st.TCPMemorySkips != 1 {
		t.Fatalf("%s", st)
	}
	v.d.Flush()
	st = v.d.Stats()
	if st.TCPBytes != 3*61 || st.TCPGapBytes != 3*8 || st.TCPBuffered != 0 {
		t.Fatalf("%s", st)
	}
}

func TestTCPConnLimit(t *testing.T) {
	v := newConv(t, Config{MaxConns: 2}, 0, 0)
	for i := range 3 {
		v.ip(tcpIP(t, netip.AddrPortFrom(cli.Addr(), uint16(1000+i)), srv, 0, 0, "S", nil))
	}
	if st := v.d.Stats(); st.TCPConns != 2 || st.TCPConnLimit != 1 || st.TCPOpen != 2 {
		t.Fatalf("%s", st)
	}
}

// tlsRecords splits a byte stream into TLS records, checking the headers.
func tlsRecords(t *testing.T, s []byte) []byte {
	t.Helper()
	var types []byte
	for len(s) > 0 {
		if len(s) < 5 || s[1] != 3 || s[2] != 3 && s[2] != 1 {
			t.Fatalf("bad TLS record header % x", s[:min(5, len(s))])
		}
		n := int(binary.BigEndian.Uint16(s[3:5]))
		if 5+n > len(s) {
			t.Fatalf("record of %d bytes, %d left", n, len(s)-5)
		}
		types = append(types, s[0])
		s = s[5+n:]
	}
	return types
}

// TestIllustratedTLS12 reassembles the real capture's TCP connection.
func TestIllustratedTLS12(t *testing.T) {
	r, err := capture.Open("../testdata/illustrated-tls12/capture.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec := &recorder{}
	d := NewDecoder(Config{TCPFilter: func(src, dst netip.AddrPort) bool { return src.Port() == 8443 || dst.Port() == 8443 }}, rec)
	var p capture.Packet
	for {
		if err := r.Next(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		d.Decode(&p)
	}
	d.Flush()
	client, server := rec.stream(1, AtoB), rec.stream(1, BtoA)
	// tshark: client bytes 1..393, server bytes 1..1316.
	if len(client) != 393 || len(server) != 1316 {
		t.Fatalf("client %d bytes, server %d bytes", len(client), len(server))
	}
	if client[0] != 0x16 || client[1] != 0x03 || server[0] != 0x16 || server[1] != 0x03 {
		t.Fatalf("streams do not start with a TLS handshake record: % x / % x", client[:5], server[:5])
	}
	// Client: ClientHello; ClientKeyExchange, ChangeCipherSpec,
	// Finished; application data; alert.
	if got := tlsRecords(t, []byte(client)); !bytes.Equal(got, []byte{22, 22, 20, 22, 23, 21}) {
		t.Fatalf("client records %v", got)
	}
	if got := tlsRecords(t, []byte(server)); !bytes.Equal(got, []byte{22, 22, 22, 22, 20, 22, 23}) {
		t.Fatalf("server records %v", got)
	}
	if len(rec.closes) != 1 || rec.closes[0].why != CloseFIN {
		t.Fatalf("closes %+v", rec.closes)
	}
	c := rec.closes[0].conn
	if c.A != ap("[::1]:50159") || c.B != ap("[::1]:8443") || !c.ClientKnown || c.MidStream || c.Lost != [2]uint64{} {
		t.Fatalf("conn %+v", c)
	}
	// The ClientHello was frame 5 in tshark's numbering.
	if rec.segs[0].Frame != 5 || rec.segs[0].Dir != AtoB || len(rec.segs[0].Data) != 170 {
		t.Fatalf("first segment frame %d dir %v len %d", rec.segs[0].Frame, rec.segs[0].Dir, len(rec.segs[0].Data))
	}
	st := d.Stats()
	if st.Packets != 22 || st.TCP != 22 || st.LinkTypes[layers.LinkTypeNull] != 22 || st.TCPBytes != 393+1316 || st.Accounted() != 22 {
		t.Fatalf("%s", st)
	}
}
