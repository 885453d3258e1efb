package flow

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestLinkTypes(t *testing.T) {
	s4, d4 := ap("10.1.2.3:12346"), ap("192.0.2.9:12366")
	s6, d6 := ap("[2001:db8::1]:12346"), ap("[2001:db8::2]:23456")
	v4 := udpIP(t, s4, d4, []byte("hello v4"))
	v6 := udpIP(t, s6, d6, []byte("hello v6"))
	for _, tc := range []struct {
		name string
		lt   layers.LinkType
		data []byte
		v6   bool
	}{
		{"ethernet", layers.LinkTypeEthernet, ether(t, v4), false},
		{"ethernet6", layers.LinkTypeEthernet, ether(t, v6), true},
		{"dot1q", layers.LinkTypeEthernet, ether(t, v4, layers.EthernetTypeDot1Q), false},
		{"qinq", layers.LinkTypeEthernet, ether(t, v6, layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q), true},
		{"triple-9100", layers.LinkTypeEthernet, ether(t, v4, 0x9100, layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q), false},
		{"sll", layers.LinkTypeLinuxSLL, sll(v4), false},
		{"sll6", layers.LinkTypeLinuxSLL, sll(v6), true},
		{"sll2", layers.LinkTypeLinuxSLL2, sll2(v4), false},
		{"sll2-6", layers.LinkTypeLinuxSLL2, sll2(v6), true},
		{"raw101-4", layers.LinkTypeRaw, v4, false},
		{"raw101-6", layers.LinkTypeRaw, v6, true},
		{"raw12", 12, v4, false},
		{"raw14", 14, v6, true},
		{"ipv4", layers.LinkTypeIPv4, v4, false},
		{"ipv6", layers.LinkTypeIPv6, v6, true},
		{"null-le-2", layers.LinkTypeNull, null(v4, 2, false), false},
		{"null-be-2", layers.LinkTypeNull, null(v4, 2, true), false},
		{"null-le-24", layers.LinkTypeNull, null(v6, 24, false), true},
		{"null-le-28", layers.LinkTypeNull, null(v6, 28, false), true},
		{"null-be-30", layers.LinkTypeNull, null(v6, 30, true), true},
		{"loop-be-2", layers.LinkTypeLoop, null(v4, 2, true), false},
		{"gopacket-loopback", layers.LinkTypeNull, ser(t, &layers.Loopback{Family: layers.ProtocolFamilyIPv6Darwin}, gopacket.Payload(v6)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newDriver(t, Config{})
			v.frame = 41
			v.send(tc.lt, tc.data)
			if len(v.r.udp) != 1 {
				t.Fatalf("got %d datagrams; stats:\n%s", len(v.r.udp), v.d.Stats())
			}
			g := v.r.udp[0]
			ws, wd, wp := s4, d4, "hello v4"
			if tc.v6 {
				ws, wd, wp = s6, d6, "hello v6"
			}
			if g.Src != ws || g.Dst != wd || string(g.Payload) != wp || g.Frame != 42 || !g.Time.Equal(t0) || g.Fragments != 0 {
				t.Errorf("got %+v", g)
			}
			st := v.d.Stats()
			if st.LinkTypes[tc.lt] != 1 || st.UDP != 1 || st.Accounted() != 1 {
				t.Errorf("stats %s", st)
			}
		})
	}
}

func TestEthernetPaddingTrimmed(t *testing.T) {
	v := newDriver(t, Config{})
	ip := udpIP(t, ap("10.0.0.1:1"), ap("10.0.0.2:2"), []byte("x"))
	frame := ether(t, ip)
	frame = append(frame, make([]byte, 60-len(frame))...) // padded to the minimum frame size
	v.send(layers.LinkTypeEthernet, frame)
	if len(v.r.udp) != 1 || string(v.r.udp[0].Payload) != "x" {
		t.Fatalf("%+v", v.r.udp)
	}
}

func TestIPv6ExtensionHeaders(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::a"), netip.MustParseAddr("2001:db8::b")
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolIPv6Routing
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 0x1e, OptionData: []byte{1, 2, 3, 4}}}
	rt := &layers.IPv6Routing{RoutingType: 4, Data: make([]byte, 16)}
	rt.NextHeader = layers.IPProtocolIPv6Destination
	dst0 := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{{OptionType: 0x1e, OptionData: []byte("opt!")}}}
	dst0.NextHeader = layers.IPProtocolUDP
	ip := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolIPv6HopByHop, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), HopByHop: hbh}
	// gopacket serializes HopByHop itself when set on the IPv6 layer.
	udp := &layers.UDP{SrcPort: 12346, DstPort: 12346}
	pkt := ser(t, ip, rt, dst0, udp, gopacket.Payload("through three extension headers"))
	// Sanity: gopacket agrees the packet carries UDP after three headers.
	gp := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.Default)
	if gp.Layer(layers.LayerTypeUDP) == nil || gp.Layer(layers.LayerTypeIPv6Routing) == nil {
		t.Fatalf("test packet malformed: %v", gp)
	}
	v := newDriver(t, Config{})
	v.send(layers.LinkTypeIPv6, pkt)
	if len(v.r.udp) != 1 || string(v.r.udp[0].Payload) != "through three extension headers" || v.r.udp[0].Src != netip.AddrPortFrom(src, 12346) {
		t.Fatalf("%+v\n%s", v.r.udp, v.d.Stats())
	}
	// An atomic fragment (offset 0, M=0) is not a fragment.
	atomic := ser(t, &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolIPv6Fragment, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()},
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, Identification: 7}, &layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("atomic"))
	v.ip(atomic)
	if len(v.r.udp) != 2 || string(v.r.udp[1].Payload) != "atomic" || v.r.udp[1].Fragments != 0 {
		t.Fatalf("%+v", v.r.udp)
	}
	st := v.d.Stats()
	if st.Fragments != 0 || st.Accounted() != 2 {
		t.Fatalf("%s", st)
	}
}

func TestFilters(t *testing.T) {
	cfg := Config{
		UDPFilter: func(src, dst netip.AddrPort) bool { return src.Port() == 12346 || dst.Port() == 12346 },
		TCPFilter: func(src, dst netip.AddrPort) bool { return src.Port() == 23456 || dst.Port() == 23456 },
	}
	v := newDriver(t, cfg)
	v.ip(udpIP(t, ap("10.0.0.1:5000"), ap("10.0.0.2:12346"), []byte("yes")))
	v.ip(udpIP(t, ap("10.0.0.1:5000"), ap("10.0.0.2:53"), []byte("no")))
	v.ip(tcpIP(t, ap("10.0.0.1:5000"), ap("10.0.0.2:23456"), 1, 0, "S", nil))
	v.ip(tcpIP(t, ap("10.0.0.1:5000"), ap("10.0.0.2:443"), 1, 0, "S", nil))
	st := v.d.Stats()
	if len(v.r.udp) != 1 || string(v.r.udp[0].Payload) != "yes" || st.UDPFiltered != 1 || st.TCPFiltered != 1 || st.TCP != 1 || st.TCPConns != 1 {
		t.Fatalf("%+v\n%s", v.r.udp, st)
	}
	v.checkAccounted()
}

// TestBadPackets feeds truncated and malformed frames and checks each is
// counted at the right layer with the right offset.
func TestBadPackets(t *testing.T) {
	v4 := udpIP(t, ap("10.0.0.1:1"), ap("10.0.0.2:2"), []byte("payload"))
	v6 := udpIP(t, ap("[::1]:1"), ap("[::2]:2"), []byte("payload"))
	tcp := tcpIP(t, ap("10.0.0.1:1"), ap("10.0.0.2:2"), 1, 0, "A", []byte("data"))
	mod := func(b []byte, f func([]byte)) []byte { b = bytes.Clone(b); f(b); return b }
	for _, tc := range []struct {
		name      string
		lt        layers.LinkType
		data      []byte
		layer     Layer
		offset    int
		truncated bool
		what      string
	}{
		{"eth-short", layers.LinkTypeEthernet, make([]byte, 13), LayerEthernet, 0, true, "14-byte"},
		{"vlan-short", layers.LinkTypeEthernet, ether(t, v4, layers.EthernetTypeDot1Q)[:16], LayerVLAN, 14, true, "4-byte tag"},
		{"vlan-deep", layers.LinkTypeEthernet, ether(t, v4, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100), LayerVLAN, 14 + 32, false, "more than 8"},
		{"sll-short", layers.LinkTypeLinuxSLL, make([]byte, 15), LayerSLL, 0, true, "16-byte"},
		{"sll2-short", layers.LinkTypeLinuxSLL2, make([]byte, 19), LayerSLL2, 0, true, "20-byte"},
		{"null-short", layers.LinkTypeNull, []byte{2, 0}, LayerNull, 0, true, "4-byte"},
		{"raw-empty", layers.LinkTypeRaw, nil, LayerIPv4, 0, true, "no IP header"},
		{"ipv4-short", layers.LinkTypeEthernet, ether(t, v4)[:14+19], LayerIPv4, 14, true, "20-byte"},
		{"ipv4-version", layers.LinkTypeIPv4, mod(v4, func(b []byte) { b[0] = 0x55 }), LayerIPv4, 0, false, "version"},
		{"ipv4-ihl", layers.LinkTypeIPv4, mod(v4, func(b []byte) { b[0] = 0x44 }), LayerIPv4, 0, false, "below 20"},
		{"ipv4-options", layers.LinkTypeIPv4, mod(v4, func(b []byte) { b[0] = 0x4f })[:40], LayerIPv4, 0, true, "options"},
		{"ipv4-totlen-small", layers.LinkTypeIPv4, mod(v4, func(b []byte) { b[2], b[3] = 0, 10 }), LayerIPv4, 2, false, "below header length"},
		{"ipv4-snaplen", layers.LinkTypeEthernet, ether(t, v4)[:14+30], LayerIPv4, 16, true, "exceeds the captured"},
		{"ipv6-short", layers.LinkTypeIPv6, v6[:39], LayerIPv6, 0, true, "40-byte"},
		{"ipv6-version", layers.LinkTypeIPv6, mod(v6, func(b []byte) { b[0] = 0x40 }), LayerIPv6, 0, false, "version"},
		{"ipv6-snaplen", layers.LinkTypeNull, null(v6, 30, false)[:4+45], LayerIPv6, 8, true, "exceeds the captured"},
		{"ipv6-ext-short", layers.LinkTypeIPv6, mod(v6[:44], func(b []byte) { b[6] = 0; b[4], b[5] = 0, 4 }), LayerIPv6Ext, 40, true, "shorter than 8"},
		{"ipv6-ext-long", layers.LinkTypeIPv6, mod(v6, func(b []byte) { b[6] = 60; b[41] = 10 }), LayerIPv6Ext, 40, true, "exceeds the payload"},
		{"ipv6-frag-short", layers.LinkTypeIPv6, mod(v6[:44], func(b []byte) { b[6] = 44; b[4], b[5] = 0, 4 }), LayerFragment, 40, true, "8-byte fragment"},
		{"udp-short", layers.LinkTypeIPv4, mod(v4[:27], func(b []byte) { b[3] = 27 }), LayerUDP, 20, true, "8-byte"},
		{"udp-len-small", layers.LinkTypeIPv4, mod(v4, func(b []byte) { b[24], b[25] = 0, 7 }), LayerUDP, 24, false, "below 8"},
		{"udp-len-big", layers.LinkTypeIPv4, mod(v4, func(b []byte) { b[24], b[25] = 0, 200 }), LayerUDP, 24, true, "exceeds the IP payload"},
		{"tcp-short", layers.LinkTypeIPv4, mod(tcp[:39], func(b []byte) { b[3] = 39 }), LayerTCP, 20, true, "20-byte"},
		{"tcp-doff-small", layers.LinkTypeIPv4, mod(tcp, func(b []byte) { b[32] = 0x40 }), LayerTCP, 32, false, "below 20"},
		{"tcp-doff-big", layers.LinkTypeIPv4, mod(tcp, func(b []byte) { b[32] = 0xf0 }), LayerTCP, 32, true, "options extend"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newDriver(t, Config{})
			v.send(tc.lt, tc.data)
			st := v.d.Stats()
			if len(v.r.udp) != 0 || len(v.r.segs) != 0 {
				t.Fatalf("delivered something: %+v %+v", v.r.udp, v.r.segs)
			}
			if len(st.Problems) != 1 {
				t.Fatalf("problems %v\n%s", st.Problems, st)
			}
			p := st.Problems[0]
			if p.Layer != tc.layer || p.Offset != tc.offset || p.Truncated != tc.truncated || !strings.Contains(p.What, tc.what) || p.Frame != 1 {
				t.Fatalf("got %v (layer %v offset %d truncated %v), want layer %v offset %d truncated %v %q", p, p.Layer, p.Offset, p.Truncated, tc.layer, tc.offset, tc.truncated, tc.what)
			}
			n := st.Malformed[tc.layer]
			if tc.truncated {
				n = st.Truncated[tc.layer]
			}
			if n != 1 || st.Accounted() != 1 {
				t.Fatalf("counters:\n%s", st)
			}
		})
	}
}

func TestNonIPAndUnsupported(t *testing.T) {
	v := newDriver(t, Config{})
	v.tick(0) // ARP
	v.send(layers.LinkTypeEthernet, ser(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeLLC, Length: 10}, gopacket.Payload(make([]byte, 46))))
	v.send(layers.LinkTypeLinuxSLL, sll(make([]byte, 20))[:16]) // says IPv4, carries nothing: truncated
	v.send(layers.LinkTypeNull, null(make([]byte, 20), 7, false))
	v.send(layers.LinkTypeRaw, []byte{0x10, 0, 0, 0})
	v.send(layers.LinkTypeIEEE802_11, make([]byte, 30))
	v.send(700, make([]byte, 30))
	// ICMP is "other transport", not dropped silently.
	v.ip(ser(t, &layers.IPv4{Version: 4, IHL: 5, TTL: 1, Protocol: layers.IPProtocolICMPv4, SrcIP: []byte{1, 1, 1, 1}, DstIP: []byte{2, 2, 2, 2}},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}))
	st := v.d.Stats()
	if st.UnsupportedLink != 2 || st.OtherTransport[1] != 1 || st.LinkTypes[700] != 1 || st.LinkTypes[layers.LinkTypeEthernet] != 2 {
		t.Fatalf("%s", st)
	}
	if st.NonIP+st.Truncated[LayerIPv4] != 5 {
		t.Fatalf("%s", st)
	}
	v.checkAccounted()
	if s := st.String(); !strings.Contains(s, "unsupported link type: 2") || !strings.Contains(s, "other IP protocol 1: 1") {
		t.Fatalf("summary:\n%s", s)
	}
}

func TestTSOZeroLength(t *testing.T) {
	v := newDriver(t, Config{})
	ip := udpIP(t, ap("10.0.0.1:1"), ap("10.0.0.2:2"), []byte("offloaded"))
	ip[2], ip[3] = 0, 0
	v.ip(ip)
	ip6 := udpIP(t, ap("[::1]:1"), ap("[::2]:2"), []byte("offloaded6"))
	ip6[4], ip6[5] = 0, 0
	v.ip(ip6)
	if len(v.r.udp) != 2 || string(v.r.udp[0].Payload) != "offloaded" || string(v.r.udp[1].Payload) != "offloaded6" {
		t.Fatalf("%+v", v.r.udp)
	}
}

func TestStatsSnapshotIsolated(t *testing.T) {
	v := newDriver(t, Config{})
	v.send(layers.LinkTypeEthernet, make([]byte, 5))
	s1 := v.d.Stats()
	v.send(layers.LinkTypeEthernet, make([]byte, 5))
	if len(s1.Problems) != 1 || s1.Packets != 1 {
		t.Fatalf("snapshot changed: %+v", s1)
	}
}
