package flow

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// bigUDP4 returns an IPv4/UDP packet whose UDP payload is n patterned bytes.
func bigUDP4(t testing.TB, n int, id uint16) (pkt, payload []byte) {
	payload = make([]byte, n)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Protocol: layers.IPProtocolUDP, SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}}
	return ser(t, ip, &layers.UDP{SrcPort: 12346, DstPort: 12366}, gopacket.Payload(payload)), payload
}

func TestIPv4Defrag(t *testing.T) {
	full, payload := bigUDP4(t, 3000, 77)
	// UDP header + 3000 bytes = 3008 bytes of IP payload.
	ranges := [][2]int{{0, 1480}, {1480, 2960}, {2960, 3008}}
	frags := frag4(full, ranges, nil)
	for _, tc := range []struct {
		name  string
		order []int
	}{
		{"in-order", []int{0, 1, 2}},
		{"reversed", []int{2, 1, 0}},
		{"last-first", []int{2, 0, 1}},
		{"duplicates", []int{1, 1, 0, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newDriver(t, Config{})
			for _, i := range tc.order {
				v.ip(frags[i])
			}
			if len(v.r.udp) != 1 {
				t.Fatalf("%d datagrams\n%s", len(v.r.udp), v.d.Stats())
			}
			g := v.r.udp[0]
			if !bytes.Equal(g.Payload, payload) || g.Fragments != 3 || g.Frame != uint64(len(tc.order)) || g.Src != ap("10.0.0.1:12346") {
				t.Fatalf("datagram: frame %d fragments %d len %d", g.Frame, g.Fragments, len(g.Payload))
			}
			st := v.d.Stats()
			if st.Reassembled != 1 || st.Fragments != uint64(len(tc.order)) || st.FragHeld != uint64(len(tc.order)-1) || st.FragPending != 0 || st.FragBytes != 0 {
				t.Fatalf("%s", st)
			}
			if tc.name == "duplicates" && st.FragDrops[FragDuplicate] != 1 {
				t.Fatalf("%s", st)
			}
			v.checkAccounted()
		})
	}
}

func TestIPv4DefragOverlapFirstWins(t *testing.T) {
	full, payload := bigUDP4(t, 2000, 5)
	// Fragment 1 [0,1000) and an overlapping fragment [800,1600) whose
	// overlapping bytes differ; then the rest.
	evil := bytes.Repeat([]byte{0xEE}, 800)
	frags := frag4(full, [][2]int{{0, 1000}, {800, 1600}, {1600, 2008}}, map[int][]byte{1: evil})
	v := newDriver(t, Config{})
	for _, f := range frags {
		v.ip(f)
	}
	if len(v.r.udp) != 1 {
		t.Fatalf("%s", v.d.Stats())
	}
	want := bytes.Clone(payload)
	// UDP payload offset 0 is IP payload offset 8: bytes [1000,1600) of
	// the IP payload come from the evil fragment, [800,1000) from the first.
	for i := 1000 - 8; i < 1600-8; i++ {
		want[i] = 0xEE
	}
	if !bytes.Equal(v.r.udp[0].Payload, want) {
		t.Fatalf("overlap resolved wrongly")
	}
	if st := v.d.Stats(); st.FragOverlaps != 1 {
		t.Fatalf("%s", st)
	}
}

func TestIPv6Defrag(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	// The fragmentable part starts with a destination options header, then
	// UDP: the walk must continue after reassembly.
	dopt := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{{OptionType: 0x1e, OptionData: []byte{1, 2, 3, 4}}}}
	dopt.NextHeader = layers.IPProtocolUDP
	payload := bytes.Repeat([]byte("0123456789abcdef"), 200) // 3200 bytes
	part := ser(t, dopt, &layers.UDP{SrcPort: 12346, DstPort: 12346}, gopacket.Payload(payload))
	ranges := [][2]int{{0, 1232}, {1232, 2464}, {2464, len(part)}}
	frags := frag6(t, src, dst, 0xabcdef01, layers.IPProtocolIPv6Destination, part, ranges, nil)
	v := newDriver(t, Config{})
	v.send(layers.LinkTypeEthernet, ether(t, frags[1]))
	v.send(layers.LinkTypeEthernet, ether(t, frags[2]))
	v.send(layers.LinkTypeEthernet, ether(t, frags[0]))
	if len(v.r.udp) != 1 || !bytes.Equal(v.r.udp[0].Payload, payload) || v.r.udp[0].Fragments != 3 || v.r.udp[0].Frame != 3 {
		t.Fatalf("%+v\n%s", len(v.r.udp), v.d.Stats())
	}
	v.checkAccounted()

	// Overlapping IPv6 fragments void the datagram (RFC 5722).
	v = newDriver(t, Config{})
	ov := frag6(t, src, dst, 9, layers.IPProtocolIPv6Destination, part, [][2]int{{0, 1232}, {1224, 2464}, {2464, len(part)}}, nil)
	for _, f := range ov {
		v.ip(f)
	}
	st := v.d.Stats()
	if len(v.r.udp) != 0 || st.FragDrops[FragOverlap] != 1 || st.FragPending != 1 {
		// The third fragment starts a new (incomplete) datagram.
		t.Fatalf("%s", st)
	}
	v.checkAccounted()
}

func TestDefragDrops(t *testing.T) {
	full, _ := bigUDP4(t, 3000, 1)
	frags := frag4(full, [][2]int{{0, 1480}, {1480, 2960}, {2960, 3008}}, nil)

	t.Run("timeout", func(t *testing.T) {
		v := newDriver(t, Config{FragTimeout: 5 * time.Second})
		v.ip(frags[0])
		v.tick(4 * time.Second)
		if st := v.d.Stats(); st.FragPending != 1 {
			t.Fatalf("%s", st)
		}
		v.tick(2 * time.Second)
		v.ip(frags[1])
		v.ip(frags[2])
		st := v.d.Stats()
		if len(v.r.udp) != 0 || st.FragDrops[FragTimeout] != 1 || st.FragPending != 1 {
			t.Fatalf("%s", st)
		}
		v.d.Flush()
		st = v.d.Stats()
		if st.FragDrops[FragEndOfInput] != 1 || st.FragPending != 0 || st.FragBytes != 0 {
			t.Fatalf("%s", st)
		}
		v.checkAccounted()
	})
	t.Run("too-big", func(t *testing.T) {
		v := newDriver(t, Config{})
		f := bytes.Clone(frags[1])
		f[6], f[7] = 0x3f, 0xff // offset 65528, MF set: ends past 65535
		v.ip(f)
		if st := v.d.Stats(); st.FragDrops[FragTooBig] != 1 || st.FragPending != 0 {
			t.Fatalf("%s", st)
		}
	})
	t.Run("misaligned", func(t *testing.T) {
		v := newDriver(t, Config{})
		mis := frag4(full, [][2]int{{0, 1001}}, nil)
		v.ip(mis[0])
		if st := v.d.Stats(); st.FragDrops[FragMisaligned] != 1 || st.FragPending != 0 {
			t.Fatalf("%s", st)
		}
		v.checkAccounted()
	})
	t.Run("too-many", func(t *testing.T) {
		v := newDriver(t, Config{MaxFragments: 4})
		var rs [][2]int
		for i := 0; i < 3008; i += 8 {
			rs = append(rs, [2]int{i, min(i+8, 3008)})
		}
		for _, f := range frag4(full, rs[:6], nil) {
			v.ip(f)
		}
		if st := v.d.Stats(); st.FragDrops[FragTooMany] != 1 || st.FragPending != 1 {
			t.Fatalf("%s", st)
		}
	})
	t.Run("inconsistent", func(t *testing.T) {
		v := newDriver(t, Config{})
		v.ip(frags[2])
		short := frag4(full[:len(full)-8], [][2]int{{2960, 3000}}, nil) // a second, different final fragment
		v.ip(short[0])
		if st := v.d.Stats(); st.FragDrops[FragInconsistent] != 1 || st.FragPending != 0 {
			t.Fatalf("%s", st)
		}
	})
	t.Run("memory", func(t *testing.T) {
		v := newDriver(t, Config{MaxFragDatagrams: 2})
		for id := range 4 {
			f, _ := bigUDP4(t, 3000, uint16(100+id))
			v.ip(frag4(f, [][2]int{{0, 1480}}, nil)[0])
		}
		st := v.d.Stats()
		if st.FragDrops[FragMemory] != 2 || st.FragPending != 2 {
			t.Fatalf("%s", st)
		}
		// The two newest are still complete-able.
		f, p := bigUDP4(t, 3000, 103)
		for _, x := range frag4(f, [][2]int{{1480, 2960}, {2960, 3008}}, nil) {
			v.ip(x)
		}
		if len(v.r.udp) != 1 || !bytes.Equal(v.r.udp[0].Payload, p) {
			t.Fatalf("%s", v.d.Stats())
		}
		v2 := newDriver(t, Config{MaxFragBytes: 65535})
		for id := range 60 {
			f, _ := bigUDP4(t, 3000, uint16(id))
			v2.ip(frag4(f, [][2]int{{0, 1480}}, nil)[0])
		}
		st = v2.d.Stats()
		if st.FragBytes > 65535 || st.FragDrops[FragMemory] != 60-44 {
			t.Fatalf("%s", st)
		}
	})
}

// FuzzDefrag cuts a datagram into fragments at fuzzer-chosen places, sends
// them in a fuzzer-chosen order with duplicates, and checks that whenever a
// datagram is delivered it is exactly the original.
func FuzzDefrag(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6}, uint16(1500), false)
	f.Add([]byte{200, 1, 0, 255, 7}, uint16(9000), true)
	f.Add([]byte{0, 0, 0}, uint16(64), false)
	f.Fuzz(func(t *testing.T, plan []byte, size uint16, v6 bool) {
		n := int(size)%12000 + 1
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i*31 + 7)
		}
		var part, full []byte
		if v6 {
			part = ser(t, &layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload(payload))
		} else {
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 9, Protocol: layers.IPProtocolUDP, SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}}
			full = ser(t, ip, &layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload(payload))
			part = full[20:]
		}
		// Cut points: multiples of 8 chosen by the plan bytes.
		var ranges [][2]int
		for pos, i := 0, 0; pos < len(part); i++ {
			step := 8
			if len(plan) > 0 {
				step = 8 * (int(plan[i%len(plan)])%64 + 1)
			}
			end := min(pos+step, len(part))
			ranges = append(ranges, [2]int{pos, end})
			pos = end
		}
		var frags [][]byte
		if v6 {
			frags = frag6(t, netip.MustParseAddr("::1"), netip.MustParseAddr("::2"), 5, layers.IPProtocolUDP, part, ranges, nil)
		} else {
			frags = frag4(full, ranges, nil)
		}
		v := newDriver(t, Config{})
		// Order: a permutation driven by the plan, plus duplicates.
		order := make([]int, len(frags))
		for i := range order {
			order[i] = i
		}
		for i := range order {
			if len(plan) > 0 {
				j := int(plan[(i*7)%len(plan)]) % len(order)
				order[i], order[j] = order[j], order[i]
			}
		}
		if len(plan) > 0 && plan[0]%3 == 0 {
			order = append(order, order[0])
		}
		for _, i := range order {
			v.ip(frags[i])
		}
		st := v.d.Stats()
		if len(frags) == 1 {
			// Not fragmented at all (an atomic fragment for IPv6):
			// every copy is a datagram of its own.
			if len(v.r.udp) != len(order) || !bytes.Equal(v.r.udp[0].Payload, payload) {
				t.Fatalf("single packet: %d datagrams\n%s", len(v.r.udp), st)
			}
		} else if len(frags) > 64 {
			if len(v.r.udp) != 0 || st.FragDrops[FragTooMany] == 0 {
				t.Fatalf("%d fragments accepted:\n%s", len(frags), st)
			}
		} else if len(v.r.udp) != 1 || !bytes.Equal(v.r.udp[0].Payload, payload) {
			t.Fatalf("%d fragments in order %v: got %d datagrams\n%s", len(frags), order, len(v.r.udp), st)
		}
		v.checkAccounted()
	})
}
