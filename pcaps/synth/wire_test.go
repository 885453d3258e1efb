package synth

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/pion/dtls/v2"
)

func testDevices() (*device, *device) {
	cl := &device{idx: 7, name: "edge-test", typ: sdwan.DeviceVEdge, sysIP: netip.MustParseAddr("10.255.0.7"), cur: map[int]*session{}}
	sv := &device{idx: 2, name: "vsmart-test", typ: sdwan.DeviceVSmart, sysIP: netip.MustParseAddr("1.1.1.3"), cur: map[int]*session{}}
	return cl, sv
}

// TestSuitesRoundTrip: every cipher suite handshakes over the wire, and
// what one side writes, the other side's pion/dtls or crypto/tls reads
// back; the handshake packets have increasing virtual times.
func TestSuitesRoundTrip(t *testing.T) {
	pool, err := getCerts()
	if err != nil {
		t.Fatal(err)
	}
	cl, sv := testDevices()
	var all []suite
	all = append(all, dtlsSuites...)
	all = append(all, tlsSuites...)
	for i, su := range all {
		for _, ems := range []bool{true, false} {
			if su.TLS && !ems {
				continue // crypto/tls always uses extended master secret
			}
			s := &session{kind: kindOMP, client: cl, server: sv, transport: "dtls", suite: su, ems: ems, hsDrop: -1,
				cAddr: netip.MustParseAddrPort("198.18.0.7:12346"), sAddr: netip.MustParseAddrPort("203.0.113.13:12346"),
				rtt: 20 * vtMS, start: vtSec, appStart: 2 * vtSec}
			if su.TLS {
				s.transport = "tls"
			}
			if su.PSK {
				s.psk, s.pskIdentity = []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)}, "test"
			}
			var stamps [2][]vt
			err := s.handshake(pool, func(side int, t vt, b, _ []byte) { stamps[side] = append(stamps[side], t) })
			if err != nil {
				t.Fatalf("%s: %v", su.Name, err)
			}
			for side := range stamps {
				if len(stamps[side]) == 0 {
					t.Fatalf("%s: side %d wrote nothing", su.Name, side)
				}
				for k := 1; k < len(stamps[side]); k++ {
					if stamps[side][k] < stamps[side][k-1] || stamps[side][k] >= s.appStart {
						t.Errorf("%s: side %d handshake stamps %v", su.Name, side, stamps[side])
					}
				}
			}
			if !strings.Contains(s.keylog.String(), "CLIENT_RANDOM ") {
				t.Errorf("%s: no CLIENT_RANDOM in the key log: %q", su.Name, s.keylog.String())
			}
			if _, ok := s.conns[cli].(*dtls.Conn); ok == su.TLS {
				t.Errorf("%s: client connection is a %T", su.Name, s.conns[cli])
			}
			// deliver again, and read back through the peer
			s.wire.setMode(modeHandshake)
			for side := 0; side < 2; side++ {
				msg := []byte(fmt.Sprintf("%s from side %d over %s", strings.Repeat("x", 100*side), side, su.Name))
				if _, err := s.conns[side].Write(msg); err != nil {
					t.Fatalf("%s: write: %v", su.Name, err)
				}
				buf := make([]byte, 9000)
				n, err := s.conns[1-side].(net.Conn).Read(buf)
				if err != nil || !bytes.Equal(buf[:n], msg) {
					t.Fatalf("%s: side %d read %q, %v; want %q", su.Name, 1-side, buf[:n], err, msg)
				}
			}
			// in the application phase, one write is one record, even a
			// large one (crypto/tls would cut it by dynamic record sizing)
			var recs [][]byte
			s.wire.emit = func(side int, t vt, b, plain []byte) { recs = append(recs, b) }
			s.wire.setMode(modeApp) // not delivered: the peer's sequence numbers stay behind
			for k := 0; k < 3; k++ {
				big := bytes.Repeat([]byte{byte(k)}, 7000)
				if err := s.wire.appWrite(cli, vt(k)*vtSec, big, s.conns[cli]); err != nil {
					t.Fatal(err)
				}
			}
			if len(recs) != 3 {
				t.Fatalf("%s: 3 writes made %d transport writes", su.Name, len(recs))
			}
			for _, r := range recs {
				hl := 13
				if su.TLS {
					hl = 5
				}
				if l := int(r[hl-2])<<8 | int(r[hl-1]); l+hl != len(r) || l < 7000 {
					t.Errorf("%s: a 7000-byte write made a transport write of %d bytes holding a record of %d", su.Name, len(r), l)
				}
			}
			s.closeConns()
		}
	}
}

// TestHandshakeLoss: a dropped handshake datagram is sent again by pion's
// retransmission timer, and the retransmission is stamped a virtual second
// after the original.
func TestHandshakeLoss(t *testing.T) {
	pool, err := getCerts()
	if err != nil {
		t.Fatal(err)
	}
	cl, sv := testDevices()
	for drop := 0; drop < 2; drop++ {
		su, _ := findSuite(dtlsSuites, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
		s := &session{kind: kindOMP, client: cl, server: sv, transport: "dtls", suite: su, ems: true, hsDrop: drop,
			cAddr: netip.MustParseAddrPort("198.18.0.7:12346"), sAddr: netip.MustParseAddrPort("203.0.113.13:12346"),
			rtt: 20 * vtMS, start: vtSec, appStart: 6 * vtSec}
		var stamps [2][]vt
		if err := s.handshake(pool, func(side int, t vt, b, _ []byte) { stamps[side] = append(stamps[side], t) }); err != nil {
			t.Fatal(err)
		}
		if s.retrans < 1 {
			t.Errorf("drop side %d: no retransmission noticed", drop)
		}
		// The client sends its ClientHello again in both cases: its own
		// was lost (before the capture point: not captured), or the
		// server's HelloVerifyRequest was (captured, then lost).
		c := stamps[cli]
		switch {
		case drop == cli && (len(c) == 0 || c[0] < s.start+vtSec):
			t.Errorf("client stamps %v: the first captured ClientHello is not the retransmission a second later", c)
		case drop == srv && (len(c) < 2 || c[1]-c[0] < vtSec || len(stamps[srv]) < 2):
			t.Errorf("client stamps %v, server %v: no retransmission a second later", c, stamps[srv])
		}
		s.closeConns()
	}
}
