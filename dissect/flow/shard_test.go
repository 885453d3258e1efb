package flow

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestShardKey: every link type the decoder reads gives the key of the
// address pair, the same in both directions and for every fragment of a
// datagram (the later ones carry no ports), and different pairs spread.
func TestShardKey(t *testing.T) {
	s4, d4 := ap("10.1.2.3:12346"), ap("192.0.2.9:12366")
	s6, d6 := ap("[2001:db8::1]:12346"), ap("[2001:db8::2]:23456")
	v4, r4 := udpIP(t, s4, d4, []byte("hello v4")), udpIP(t, d4, s4, []byte("reply"))
	v6, r6 := udpIP(t, s6, d6, []byte("hello v6")), udpIP(t, d6, s6, []byte("reply"))
	k4, k6 := ShardKey(v4, layers.LinkTypeRaw), ShardKey(v6, layers.LinkTypeRaw)
	if k4 == 0 || k6 == 0 || k4 == k6 {
		t.Fatalf("keys %x %x", k4, k6)
	}
	for _, c := range []struct {
		name string
		lt   layers.LinkType
		data []byte
		want uint64
	}{
		{"ethernet", layers.LinkTypeEthernet, ether(t, v4), k4},
		{"ethernet reply", layers.LinkTypeEthernet, ether(t, r4), k4},
		{"qinq6", layers.LinkTypeEthernet, ether(t, v6, layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q), k6},
		{"sll", layers.LinkTypeLinuxSLL, sll(r4), k4},
		{"sll2-6", layers.LinkTypeLinuxSLL2, sll2(r6), k6},
		{"null", layers.LinkTypeNull, null(v4, 2, false), k4},
		{"loop6", layers.LinkTypeLoop, null(v6, 30, true), k6},
		{"ipv4", layers.LinkTypeIPv4, r4, k4},
		{"ipv6", layers.LinkTypeIPv6, v6, k6},
		{"arp", layers.LinkTypeEthernet, append(ether(t, v4)[:12:12], 0x08, 0x06, 0, 1), 0},
		{"short", layers.LinkTypeEthernet, []byte{1, 2, 3}, 0},
		{"truncated ip", layers.LinkTypeRaw, v4[:19], 0},
		{"unknown link", 4242, v4, 0},
	} {
		if got := ShardKey(c.data, c.lt); got != c.want {
			t.Errorf("%s: key %x, want %x", c.name, got, c.want)
		}
	}
	big := udpIP(t, s4, d4, make([]byte, 3000))
	for i, f := range frag4(big, [][2]int{{0, 1480}, {1480, 2960}, {2960, len(big) - 20}}, nil) {
		if got := ShardKey(f, layers.LinkTypeRaw); got != k4 {
			t.Errorf("fragment %d: key %x, want %x", i, got, k4)
		}
	}
	counts := make([]int, 4)
	for i := 0; i < 4000; i++ {
		a := ap("10.0.0.1:12346")
		b := udpIP(t, a, ap("172.16."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250)+":12346"), nil)
		counts[ShardKey(b, layers.LinkTypeRaw)%4]++
	}
	for i, n := range counts {
		if n < 800 || n > 1200 {
			t.Errorf("4 000 pairs over 4 shards: %v (shard %d)", counts, i)
			break
		}
	}
}

// TestStatsAdd: adding two decoders' counters adds every field (a field
// of a kind Add does not know would be left out: this test fails first).
func TestStatsAdd(t *testing.T) {
	var a, b Stats
	fill := func(v reflect.Value, n uint64) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			switch f.Kind() {
			case reflect.Uint64:
				f.SetUint(n)
			case reflect.Int:
				f.SetInt(int64(n))
			case reflect.Array:
				for j := 0; j < f.Len(); j++ {
					f.Index(j).SetUint(n)
				}
			case reflect.Map:
				f.Set(reflect.MakeMap(f.Type()))
				f.SetMapIndex(reflect.ValueOf(uint8(1)).Convert(f.Type().Key()), reflect.ValueOf(n))
			case reflect.Slice:
				f.Set(reflect.ValueOf([]Problem{{Frame: n}}))
			default:
				t.Fatalf("Stats.%s is a %s: Add does not add it", v.Type().Field(i).Name, f.Kind())
			}
		}
	}
	fill(reflect.ValueOf(&a).Elem(), 3)
	fill(reflect.ValueOf(&b).Elem(), 2)
	a.Add(&b)
	if a.Packets != 5 || a.Truncated[1] != 5 || a.TCPBuffered != 5 || a.OtherTransport[1] != 5 || a.LinkTypes[1] != 5 {
		t.Errorf("sums: %+v", a)
	}
	if len(a.Problems) != 2 || a.Problems[0].Frame != 2 || a.Problems[1].Frame != 3 {
		t.Errorf("problems %+v, want frames 2 then 3", a.Problems)
	}
	many := Stats{Problems: make([]Problem, MaxProblems)}
	many.Add(&Stats{Problems: []Problem{{Frame: 0}}})
	if len(many.Problems) != MaxProblems {
		t.Errorf("%d problems kept, want %d", len(many.Problems), MaxProblems)
	}
}
