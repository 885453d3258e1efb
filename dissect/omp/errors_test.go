package omp

import (
	"errors"
	"github.com/ompscope/ompscope/dissect/internal/race"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/internal/hexvec"
)

func mustHex(t *testing.T, name string) []byte {
	t.Helper()
	m, err := hexvec.Map("testdata/vectors.hex")
	if err != nil {
		t.Fatal(err)
	}
	b, ok := m[name]
	if !ok {
		t.Fatalf("no vector %q", name)
	}
	return append([]byte(nil), b...)
}

func TestDecodeErrors(t *testing.T) {
	type tc struct {
		name string
		in   func(t *testing.T) []byte
		want string // exact error text
	}
	vec := func(name string, edit func(b []byte) []byte) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return edit(mustHex(t, name)) }
	}
	cases := []tc{
		{"short header", vec("hello", func(b []byte) []byte { return b[:3] }), "omp: header at offset 0: 3 bytes, need 4"},
		{"length below 4", vec("hello", func(b []byte) []byte { b[3] = 3; return b }), "omp: length at offset 2: 3, want at least 4"},
		{"length past end", vec("update-route-ipv4", func(b []byte) []byte { b[2], b[3] = 0xea, 0x60; return b }),
			"omp update: length at offset 2: 60000, only 80 bytes present"},
		{"hello with body", func(t *testing.T) []byte { return []byte{1, 1, 0, 5, 0} }, "omp hello: body at offset 4: 1 bytes, want 0"},
		{"handshake short", vec("handshake", func(b []byte) []byte { b[3] = 20; return b[:20] }),
			"omp handshake: body at offset 4: 16 bytes, need at least 25"},
		{"handshake hold 2", vec("handshake", func(b []byte) []byte { b[20], b[21] = 0, 2; return b }),
			"omp handshake: hold-time at offset 20: 2, want 0 or at least 3"},
		{"handshake capability count", vec("handshake", func(b []byte) []byte { b[28] = 200; return b }),
			"omp handshake: capability count at offset 28: 200 capabilities cannot fit in 31 bytes"},
		{"handshake capability length", vec("handshake", func(b []byte) []byte { b[32] = 0xff; return b }),
			"omp handshake: capability 1 (send-path-limit) at offset 29: length 255, only 27 bytes left"},
		{"handshake limit length", vec("handshake", func(b []byte) []byte { b[32] = 0; return b }),
			"omp handshake: capability 1 (send-path-limit) at offset 29: length 0, want 1"},
		{"handshake trailing", vec("handshake", func(b []byte) []byte { b[28] = 3; return b }),
			"omp handshake: after capabilities at offset 50: 10 trailing bytes"},
		{"update too short", func(t *testing.T) []byte { return []byte{1, 3, 0, 6, 3, 0} }, "omp update: family/withdrawn-length at offset 4: 2 bytes, need at least 5"},
		{"withdrawn length", vec("update-route-ipv4", func(b []byte) []byte { b[5], b[6] = 0xea, 0x60; return b }),
			"omp update: withdrawn-length at offset 5: 60000, only 73 bytes left"},
		{"attributes length", vec("update-route-ipv4", func(b []byte) []byte { b[18], b[19] = 0x01, 0x00; return b }),
			"omp update: attributes-length at offset 18: 256, only 60 bytes left"},
		{"preference length", vec("update-route-ipv4", func(b []byte) []byte {
			// shrink PREFERENCE (at offset 38) to 2 bytes; keep the section length consistent
			b[41] = 2
			b = append(b[:44], b[46:]...)
			b[19] = 24
			b[3] = byte(len(b))
			return b
		}), "omp update: attribute 4 (PREFERENCE) at offset 38: length 2, want 4"},
		{"attribute past section", vec("update-route-ipv4", func(b []byte) []byte { b[41] = 9; return b }),
			"omp update: attribute 4 (PREFERENCE) at offset 38: length 9, only 4 bytes left in the attribute section"},
		{"attribute header cut", vec("update-route-ipv4", func(b []byte) []byte {
			b[19] = 28
			b = append(b[:46], append([]byte{0x40, 0x05}, b[46:]...)...)
			b[3] = byte(len(b))
			return b
		}),
			"omp update: attribute header at offset 46: 2 bytes left, need 4"},
		{"prefix length 33", vec("update-route-ipv4", func(b []byte) []byte { b[54] = 33; return b }),
			"omp update: reachable nlri 0 prefix-length at offset 54: 33, want at most 32"},
		{"prefix length 129", vec("update-route-ipv6", func(b []byte) []byte { b[25] = 129; return b }),
			"omp update: reachable nlri 0 prefix-length at offset 25: 129, want at most 128"},
		{"host bits", vec("update-route-ipv4", func(b []byte) []byte { b[54], b[57] = 23, 1; return b }),
			"omp update: reachable nlri 0 prefix at offset 57: bits set past prefix length /23"},
		{"prefix cut", vec("update-route-ipv4", func(b []byte) []byte { b[3] = 77; return b[:77] }),
			"omp update: reachable nlri 2 vpn/prefix-length at offset 75: 2 bytes left, need 5"},
		{"nlri bytes missing", vec("update-route-ipv4", func(b []byte) []byte { b[3] = 70; return b[:70] }),
			"omp update: reachable nlri 1 prefix at offset 67: 3 bytes left, need 4 for /32"},
		{"tloc nlri cut", vec("update-tloc-ipv4", func(b []byte) []byte { b[3] = 55; return b[:55] }),
			"omp update: reachable nlri 0 tloc at offset 51: 4 bytes left, need 6"},
		{"service nlri cut", vec("update-service", func(b []byte) []byte { b[3] = 44; return b[:44] }),
			"omp update: reachable nlri 0 service at offset 39: 5 bytes left, need 9"},
		{"path-id cut", vec("update-service", func(b []byte) []byte { b[3] = 37; return b[:37] }),
			"omp update: reachable nlri 0 path-id at offset 35: 2 bytes left, need 4"},
		{"label 21 bits", vec("update-service", func(b []byte) []byte { b[31] = 0x10; return b }),
			"omp update: attribute 9 (LABEL) at offset 31: label 268436457 has bits above the low 20"},
		{"alert short", func(t *testing.T) []byte { return []byte{1, 4, 0, 5, 6} }, "omp alert: code/subcode at offset 4: 1 bytes, need 2"},
		{"inform empty", func(t *testing.T) []byte { return []byte{1, 5, 0, 4} }, "omp inform: kind at offset 4: empty body"},
		{"eor long", func(t *testing.T) []byte { return []byte{1, 5, 0, 7, 1, 3, 3} }, "omp inform: END_OF_RIB family at offset 5: 2 bytes, want 1"},
		{"gr short", func(t *testing.T) []byte { return []byte{1, 5, 0, 6, 3, 0} }, "omp inform: GRACEFUL_RESTART_BEGIN restart-timer at offset 5: 1 bytes, want 4"},
		{"policy name length", vec("policy", func(b []byte) []byte { b[6] = 0x20; return b }), "omp policy: name-length at offset 5: 32, only 10 bytes left"},
		{"policy short", func(t *testing.T) []byte { return []byte{1, 6, 0, 6, 1, 0} }, "omp policy: kind/name-length at offset 4: 2 bytes, need 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Decode(c.in(t))
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Errorf("error %T is not a *DecodeError", err)
			}
			if err.Error() != c.want {
				t.Errorf("error\n %q\nwant\n %q", err.Error(), c.want)
			}
		})
	}
}

// Every attribute with a fixed length rejects every other length.
func TestAttributeLengths(t *testing.T) {
	for code := range attrInfo {
		want := attrWantLen(code)
		for l := 0; l <= 20; l++ {
			ok := l == want || want == -4 && l%4 == 0
			b := append([]byte{0x40, byte(code), 0, byte(l)}, make([]byte, l)...)
			// values that pass the length check but not the bound
			switch code {
			case AttrWeight, AttrCarrier, AttrRole:
				if l > 0 {
					b[len(b)-1] = 1
				}
			case AttrUltimateTLOC:
				if l == 7 {
					b[len(b)-1] = 1
				}
			}
			_, err := decodeAttrs(nil, b, 0, nil, 0)
			if ok && err != nil {
				t.Errorf("%s length %d: %v", code, l, err)
			}
			if !ok && err == nil {
				t.Errorf("%s length %d: no error", code, l)
			}
			if !ok && err != nil && !strings.Contains(err.Error(), "length") {
				t.Errorf("%s length %d: error does not mention the length: %v", code, l, err)
			}
		}
	}
}

func TestAttributeBounds(t *testing.T) {
	cases := []struct {
		b    []byte
		want string
	}{
		{[]byte{0xc0, 36, 0, 4, 0, 0, 0, 0}, "weight 0, want 1-255"},
		{[]byte{0xc0, 36, 0, 4, 0, 0, 1, 0}, "weight 256, want 1-255"},
		{[]byte{0xc0, 37, 0, 1, 0}, "carrier 0, want 1-9"},
		{[]byte{0xc0, 37, 0, 1, 10}, "carrier 10, want 1-9"},
		{[]byte{0xc0, 38, 0, 1, 2}, "restrict 2, want 0 or 1"},
		{[]byte{0xc0, 10, 0, 7, 1, 1, 1, 1, 1, 1, 5}, "5, want 1-4"},
		{[]byte{0xc0, 10, 0, 7, 1, 1, 1, 1, 1, 1, 0}, "0, want 1-4"},
	}
	for _, c := range cases {
		_, err := decodeAttrs(nil, c.b, 10, nil, 0)
		if err == nil || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%x: error %v, want suffix %q", c.b, err, c.want)
		}
	}
}

// A length field that claims far more than the input holds is an error,
// not an allocation.
func TestNoAllocationFromLengthFields(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	b := []byte{1, 2, 0, 30, 10, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 60, 1, 0, 0, 0, 0, 0, 255, 0}
	allocs := testing.AllocsPerRun(100, func() { Decode(b) })
	if allocs > 3 {
		t.Errorf("%v allocations decoding a handshake claiming 255 capabilities in 1 byte", allocs)
	}
	// An update whose NLRI section is 60000 bytes claimed in 40.
	u := []byte{1, 3, 0, 40, 3, 0xea, 0x60}
	u = append(u, make([]byte, 33)...)
	var m Update
	if err := m.DecodeFromBytes(u[4:]); err == nil {
		t.Fatal("no error")
	}
	if cap(m.Withdrawn) > 10 {
		t.Errorf("allocated %d NLRI for a 40-byte message", cap(m.Withdrawn))
	}
}

func TestEncodeErrors(t *testing.T) {
	cases := []struct {
		m    Message
		want string
	}{
		{&Handshake{SystemIP: pfx("2001:db8::/32").Addr()}, "omp handshake: encode system-ip: want an IPv4 address, have 2001:db8::"},
		{&Handshake{SystemIP: ip5, HoldTime: 1}, "omp handshake: encode hold-time: hold time 1, want 0 or at least 3"},
		{&Update{Family: FamilyRouteV4, Reachable: []NLRI{{Prefix: pfx("2001:db8::/32")}}}, "omp update: encode prefix: prefix 2001:db8::/32 is not of family route-ipv4"},
		{&Update{Family: FamilyRouteV4, Reachable: []NLRI{{}}}, "omp update: encode prefix: invalid prefix"},
		{&Update{Family: FamilyTLOCv4, Reachable: []NLRI{{SystemIP: ip5, Color: 300}}}, "omp update: encode tloc color: color color-300 does not fit in a byte"},
		{&Update{Family: FamilyRouteV4, Attrs: []Attribute{&Uint32Attr{AttrWeight, 0, 0}}}, "omp update: encode attribute 36 (WEIGHT): weight 0, want 1-255"},
		{&Update{Family: FamilyRouteV4, Attrs: []Attribute{&Uint32Attr{AttrTLOC, 0, 0}}}, "omp update: encode attribute 2 (TLOC): not a u32 attribute"},
		{&Update{Family: FamilyRouteV4, Attrs: []Attribute{&AddrAttr{AttrPublicIPv6, 0, addr("1.2.3.4:5")}}}, "omp update: encode attribute 35 (PUBLIC_IPV6): address 1.2.3.4 is of the wrong family"},
		{&Update{Family: FamilyRouteV4, Attrs: []Attribute{&UltimateTLOC{0, tl5, 9}}}, "omp update: encode attribute 10 (ULTIMATE_TLOC): action 9, want 1-4"},
		{&Update{Family: FamilyRouteV4, Attrs: []Attribute{&UnknownAttr{99, 0, make([]byte, 70000)}}}, "omp update: encode attribute 99 (ATTR-99): value of 70000 bytes does not fit in a u16 length"},
		{&Policy{Name: "x", Body: make([]byte, 70000)}, "omp policy: encode length: 70008 bytes do not fit in the u16 length"},
	}
	for _, c := range cases {
		_, err := Marshal(c.m)
		if err == nil || err.Error() != c.want {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

func TestDecodeAll(t *testing.T) {
	a, b := mustHex(t, "hello"), mustHex(t, "inform-eor")
	ms, err := DecodeAll(append(append([]byte{}, a...), b...))
	if err != nil || len(ms) != 2 || ms[0].Type() != TypeHello || ms[1].Type() != TypeInform {
		t.Fatalf("DecodeAll: %v %v", ms, err)
	}
	ms, err = DecodeAll(append(append([]byte{}, a...), 1, 5, 0))
	if len(ms) != 1 || err == nil || err.Error() != "omp message 1 at offset 4: omp: header at offset 0: 3 bytes, need 4" {
		t.Fatalf("DecodeAll truncated: %d messages, %v", len(ms), err)
	}
	if _, err := DecodeAll(nil); err == nil {
		t.Fatal("empty DATA body decoded without error")
	}
}
