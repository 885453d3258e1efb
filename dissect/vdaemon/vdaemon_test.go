package vdaemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/internal/hexvec"
	"github.com/ompscope/ompscope/dissect/sdwan"
)

func hdr(typ MsgType, dev sdwan.DeviceType, site uint32) Header {
	return Header{Version: 1, Type: typ, Device: dev, Flags: 0xa0, DomainID: 1, SiteID: site}
}

func seq256() (r [ChallengeLen]byte) {
	for i := range r {
		r[i] = byte(i)
	}
	return
}

func key32() []byte {
	return append(bytes.Repeat([]byte{0xaa}, 16), bytes.Repeat([]byte{0xbb}, 16)...)
}

var wantVectors = map[string]*Message{
	"challenge": {hdr(TypeChallenge, sdwan.DeviceVBond, 100), &Challenge{Random: seq256(), TLVs: []TLV{
		{Type: TLVUUID, Text: "2b0bf0f8-35d0-4b8e-9c7e-5f0a1c3b2d11"}, {Type: TLVServerKey, Raw: key32()}}}},
	"challenge-ack": {hdr(TypeChallengeAck, sdwan.DeviceVEdge, 100), &ChallengeAck{Verified: 1, TLVs: []TLV{
		{Type: TLVInstanceID, Value: 0}, {Type: TLVMaxInstances, Value: 8}, {Type: TLVFlags18, Value: 1}}}},
	"challenge-ack-ack": {hdr(TypeChallengeAckAck, sdwan.DeviceVBond, 100), &ChallengeAckAck{}},
	"hello-ipv4": {hdr(TypeHello, sdwan.DeviceVEdge, 100), &Hello{Family: AFInet, Addr: netip.MustParseAddr("192.168.10.5"),
		Port: 12346, Color: sdwan.ColorBizInternet, IntervalMS: 1000, ToleranceMS: 12000,
		TLVs: []TLV{{Type: TLVNumVSmarts, Value: 2}, {Type: TLVNumVManages, Value: 1}, {Type: TLVFlags19, Value: 0}}}},
	"hello-ipv6": {hdr(TypeHello, sdwan.DeviceVSmart, 1), &Hello{Family: AFInet6, Addr: netip.MustParseAddr("2001:db8::1"),
		Port: 12346, Color: sdwan.ColorMPLS, Label: [20]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
		IntervalMS: 500, ToleranceMS: 6000, TLVs: []TLV{}}},
	"tear-down": {hdr(TypeTearDown, sdwan.DeviceVSmart, 1), &TearDown{Code: sdwan.ConnRXTRDWN, TLVs: []TLV{{Type: TLVInstanceID, Value: 1}}}},
	"data":      {hdr(TypeData, sdwan.DeviceVSmart, 1), &Data{Payload: []byte{1, 1, 0, 4, 1, 5, 0, 6, 1, 3}}},
	"data-version0": {Header{Version: 0, Type: TypeData, Device: sdwan.DeviceVEdge, Flags: 0xa0, DomainID: 1, SiteID: 100},
		&Data{Payload: []byte{1, 1, 0, 4}}},
	"new-challenge-ack":     {hdr(TypeNewChallengeAck, sdwan.DeviceVEdge, 100), &Raw{Bytes: []byte{1, 2}}},
	"register":              {hdr(TypeRegister, sdwan.DeviceVEdge, 100), &Raw{Bytes: []byte{0xde, 0xad, 0xbe, 0xef}}},
	"type2":                 {hdr(2, sdwan.DeviceVEdge, 100), &Raw{Bytes: []byte{2}}},
	"type3":                 {hdr(3, sdwan.DeviceVEdge, 100), &Raw{Bytes: []byte{}}},
	"type4":                 {hdr(4, sdwan.DeviceVManage, 100), &Raw{Bytes: []byte{4}}},
	"type6":                 {hdr(6, sdwan.DeviceVContainer, 100), &Raw{Bytes: []byte{6}}},
	"delete-vsmarts-serial": {hdr(TypeDeleteVSmartsSerial, sdwan.DeviceVManage, 1), &Raw{Bytes: []byte("serial")}},
	"register-to-vmanage":   {hdr(TypeRegisterToVManage, sdwan.DeviceVEdge, 100), &Raw{Bytes: []byte{0x0d}}},
	"vmanage-to-peer":       {hdr(TypeVManageToPeer, sdwan.DeviceVManage, 1), &VManageToPeer{Buffer: []byte{0x0e}, Short: true}},
	"submsg":                {hdr(TypeSubMsg, sdwan.DeviceVSmart, 1), &Raw{Bytes: []byte{0x0f, 0x0f}}},
	"challenge-unknown-tlv": {Header{Version: 1, Type: TypeChallenge, Device: sdwan.DeviceVBond, DomainID: 2},
		&Challenge{TLVs: []TLV{{Type: 0x77, Raw: []byte{0xab, 0xcd, 0xef}}}, Extra: []byte{0xca, 0xfe}}},
}

func canon(m *Message) *Message {
	c := *m
	switch b := c.Body.(type) {
	case *Raw:
		if len(b.Bytes) == 0 {
			c.Body = &Raw{Bytes: []byte{}}
		}
	case *Hello:
		if len(b.TLVs) == 0 {
			x := *b
			x.TLVs = []TLV{}
			c.Body = &x
		}
	}
	return &c
}

func TestVectors(t *testing.T) {
	vecs, err := hexvec.Read("testdata/vectors.hex")
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(wantVectors) {
		t.Errorf("%d vectors, %d expectations", len(vecs), len(wantVectors))
	}
	types := map[MsgType]bool{}
	for _, v := range vecs {
		t.Run(v.Name, func(t *testing.T) {
			want := wantVectors[v.Name]
			if want == nil {
				t.Fatalf("no expectation for %q", v.Name)
			}
			m, err := Decode(v.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			types[m.Header.Type] = true
			if !reflect.DeepEqual(canon(m), canon(want)) {
				t.Errorf("decoded\n %#v %#v\nwant\n %#v %#v", m.Header, m.Body, want.Header, want.Body)
			}
			enc, err := Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, v.Bytes) {
				t.Errorf("encoded\n %x\nwant\n %x", enc, v.Bytes)
			}
		})
	}
	for ty := MsgType(0); ty < 16; ty++ {
		if !types[ty] && ty != 5 && ty != 7 && ty != 8 && ty != 9 && ty != 10 && ty != 11 {
			t.Errorf("no vector for message type %s", ty)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	vecs, err := hexvec.Map("testdata/vectors.hex")
	if err != nil {
		t.Fatal(err)
	}
	v := func(name string, edit func(b []byte) []byte) []byte {
		return edit(append([]byte(nil), vecs[name]...))
	}
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"short header", []byte{0x15, 0x10, 0xa0}, "vdaemon header: header at offset 0: 3 bytes, need 12"},
		{"challenge short", v("challenge", func(b []byte) []byte { return b[:100] }), "vdaemon challenge: challenge at offset 12: 88 bytes, need 256"},
		{"challenge no tlv count", v("challenge", func(b []byte) []byte { return b[:268] }), "vdaemon challenge: tlv count at offset 268: missing"},
		{"tlv count too big", v("challenge", func(b []byte) []byte { b[268] = 50; return b }), "vdaemon challenge: tlv count at offset 268: 50 TLVs cannot fit in 76 bytes"},
		{"tlv length past end", v("challenge", func(b []byte) []byte { b[271], b[272] = 0xea, 0x60; return b }),
			"vdaemon challenge: tlv 0x0006 (uuid) at offset 269: length 60000, only 72 bytes left"},
		{"tlv header cut", v("challenge-ack", func(b []byte) []byte { return b[:23] }), "vdaemon challenge-ack: tlv count at offset 14: 3 TLVs cannot fit in 8 bytes"},
		{"challenge-ack short", v("challenge-ack", func(b []byte) []byte { return b[:13] }), "vdaemon challenge-ack: verified-status/hardware-flag at offset 12: 1 bytes, need 2"},
		{"ack-ack short", v("challenge-ack-ack", func(b []byte) []byte { return b[:13] }), "vdaemon challenge-ack-ack: verify-status/reserved at offset 12: 1 bytes, need 2"},
		{"hello family", v("hello-ipv4", func(b []byte) []byte { b[17] = 7; return b }), "vdaemon hello: address family at offset 16: 7, want 2 (IPv4) or 10 (IPv6)"},
		{"hello short", v("hello-ipv4", func(b []byte) []byte { return b[:40] }), "vdaemon hello: body at offset 12: 28 bytes, need 44 for family 2"},
		{"hello ipv6 short", v("hello-ipv6", func(b []byte) []byte { return b[:60] }), "vdaemon hello: body at offset 12: 48 bytes, need 56 for family 10"},
		{"hello no dummy", v("hello-ipv4", func(b []byte) []byte { return b[:15] }), "vdaemon hello: is-dummy/family at offset 12: 3 bytes, need 6"},
		{"hello no tlv count", v("hello-ipv4", func(b []byte) []byte { return b[:56] }), "vdaemon hello: tlv count at offset 56: missing"},
		{"teardown empty", v("tear-down", func(b []byte) []byte { return b[:12] }), "vdaemon tear-down: error code at offset 12: missing"},
		{"teardown tlv cut", v("tear-down", func(b []byte) []byte { return b[:18] }), "vdaemon tear-down: tlv 0x0013 (instance-id) at offset 14: length 2, only 0 bytes left"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.in)
			var de *DecodeError
			if err == nil || !errors.As(err, &de) {
				t.Fatalf("error %v, want a *DecodeError %q", err, c.want)
			}
			if err.Error() != c.want {
				t.Errorf("error\n %q\nwant\n %q", err, c.want)
			}
		})
	}
}

// TestUnexpectedLength: a known TLV with a length this package does not
// expect keeps its bytes raw, flagged, and the message still decodes and
// re-encodes byte for byte.
func TestUnexpectedLength(t *testing.T) {
	vecs, err := hexvec.Map("testdata/vectors.hex")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		in      []byte
		tlv     int
		typ     TLVType
		raw     string
		jsonSub string
	}{
		// the server key cut to 16 bytes (the challenge ends there)
		{"server key 16", func() []byte {
			b := append([]byte(nil), vecs["challenge"]...)
			b[312] = 0x10
			return b[:329]
		}(), 1, TLVServerKey, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			`{"type":"server-key","code":50,"hex":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","unexpected_length":true}`},
		// instance-id with a 4-byte value
		{"instance id 4", func() []byte {
			m := &Message{Header: hdr(TypeChallengeAck, sdwan.DeviceVEdge, 100), Body: &ChallengeAck{Verified: 1}}
			b, _ := Marshal(m)
			b[14] = 1
			return append(b, 0x00, 0x13, 0x00, 0x04, 1, 2, 3, 4)
		}(), 0, TLVInstanceID, "01020304",
			`{"type":"instance-id","code":19,"hex":"01020304","unexpected_length":true}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode(c.in)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			var tlvs []TLV
			switch b := m.Body.(type) {
			case *Challenge:
				tlvs = b.TLVs
			case *ChallengeAck:
				tlvs = b.TLVs
			}
			if len(tlvs) <= c.tlv {
				t.Fatalf("%d TLVs, want more than %d", len(tlvs), c.tlv)
			}
			tv := tlvs[c.tlv]
			if tv.Type != c.typ || !tv.UnexpectedLength || fmt.Sprintf("%x", tv.Raw) != c.raw || !tv.IsRaw() {
				t.Errorf("tlv %+v, want type %v raw %s flagged", tv, c.typ, c.raw)
			}
			out, err := Marshal(m)
			if err != nil || !bytes.Equal(out, c.in) {
				t.Errorf("re-encode: %v\n got %x\nwant %x", err, out, c.in)
			}
			j := string(AppendJSON(nil, m))
			if !strings.Contains(j, c.jsonSub) || !json.Valid([]byte(j)) {
				t.Errorf("JSON %s\nwant it to contain %s", j, c.jsonSub)
			}
			var tb strings.Builder
			WriteText(&tb, m, "")
			if !strings.Contains(tb.String(), "0x"+c.raw+" (unexpected length") {
				t.Errorf("text:\n%s", tb.String())
			}
		})
	}
	// a flag that contradicts the bytes does not encode
	bad := &Message{Header: hdr(TypeChallengeAck, sdwan.DeviceVEdge, 1), Body: &ChallengeAck{TLVs: []TLV{
		{Type: TLVInstanceID, Raw: []byte{0, 1}, UnexpectedLength: true}}}}
	if _, err := Marshal(bad); err == nil || !strings.Contains(err.Error(), "marked unexpected length") {
		t.Errorf("encode of a flagged TLV of the expected length: %v", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	cases := []struct {
		m    *Message
		want string
	}{
		{&Message{Header{Type: 16}, &Raw{}}, "vdaemon header: encode version/type/device: nibble value above 15"},
		{&Message{Header{}, nil}, "vdaemon: encode body: nil body"},
		{&Message{Header{Type: TypeHello}, &Hello{Family: AFInet, Addr: netip.MustParseAddr("::1")}}, "vdaemon hello: encode address: address ::1 does not match family 2"},
		{&Message{Header{Type: TypeChallenge}, &Challenge{TLVs: []TLV{{Type: TLVServerKey, Raw: []byte{1}}}}}, "vdaemon challenge: encode tlv server-key: length 1, want 32"},
		{&Message{Header{Type: TypeChallenge}, &Challenge{TLVs: make([]TLV, 256)}}, "vdaemon challenge: encode tlvs: 256 TLVs, at most 255"},
		{&Message{Header{Type: TypeChallengeAck}, &ChallengeAck{TLVs: []TLV{{Type: TLVNumVSmarts, Value: 300}}}}, "vdaemon challenge-ack: encode tlv num-vsmarts: value above 255"},
	}
	for _, c := range cases {
		if _, err := Marshal(c.m); err == nil || err.Error() != c.want {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

func TestRoundTripGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	bs := func(max int) []byte {
		b := make([]byte, r.IntN(max+1))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
	tlvs := func() []TLV {
		ts := []TLV{}
		for i := r.IntN(5); i > 0; i-- {
			types := []TLVType{TLVUUID, TLVInstanceID, TLVMaxInstances, TLVFlags18, TLVFlags19, TLVNumVSmarts, TLVNumVManages, TLVServerKey, 0x99}
			ty := types[r.IntN(len(types))]
			tv := TLV{Type: ty}
			switch ty {
			case TLVUUID:
				tv.Text = string(bs(40))
			case TLVInstanceID, TLVMaxInstances:
				tv.Value = uint16(r.IntN(65536))
			case TLVServerKey:
				tv.Raw = bs(0)
				tv.Raw = make([]byte, 32)
			case 0x99:
				tv.Raw = bs(6)
			default:
				tv.Value = uint16(r.IntN(256))
			}
			ts = append(ts, tv)
		}
		return ts
	}
	for i := 0; i < 10000; i++ {
		h := Header{Version: uint8(r.IntN(16)), Type: MsgType(r.IntN(16)), Device: sdwan.DeviceType(r.IntN(16)),
			DevLow: uint8(r.IntN(16)), Flags: uint8(r.IntN(256)), Reserved: uint8(r.IntN(256)), DomainID: r.Uint32(), SiteID: r.Uint32()}
		var b Body
		switch h.Type {
		case TypeChallenge:
			c := &Challenge{TLVs: tlvs()}
			copy(c.Random[:], bs(256))
			b = c
		case TypeChallengeAck:
			b = &ChallengeAck{uint8(r.IntN(256)), uint8(r.IntN(256)), tlvs(), nil}
		case TypeChallengeAckAck:
			b = &ChallengeAckAck{uint8(r.IntN(256)), uint8(r.IntN(256)), nil}
		case TypeHello:
			hl := &Hello{IsDummy: r.Uint32(), Port: uint16(r.IntN(65536)), Color: sdwan.Color(r.Uint32()),
				IntervalMS: r.Uint32(), ToleranceMS: r.Uint32(), TLVs: tlvs()}
			if r.IntN(2) == 0 {
				hl.Family = AFInet
				var a [4]byte
				copy(a[:], bs(4))
				hl.Addr = netip.AddrFrom4(a)
			} else {
				var a [16]byte
				copy(a[:], bs(16))
				hl.Family, hl.Addr = AFInet6, netip.AddrFrom16(a)
			}
			copy(hl.Label[:], bs(20))
			b = hl
		case TypeTearDown:
			b = &TearDown{sdwan.ConnError(r.IntN(256)), tlvs(), nil}
		case TypeData:
			b = &Data{bs(50)}
		default:
			b = &Raw{bs(30)}
		}
		m := &Message{h, b}
		enc, err := Marshal(m)
		if err != nil {
			t.Fatalf("encode %#v: %v", m, err)
		}
		d, err := Decode(enc)
		if err != nil {
			t.Fatalf("decode %x: %v", enc, err)
		}
		enc2, _ := Marshal(d)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encode differs: %x / %x", enc, enc2)
		}
		if d.Header != m.Header {
			t.Fatalf("header %+v, want %+v", d.Header, m.Header)
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatal(err)
		}
	}
}

func TestJSONAndText(t *testing.T) {
	vecs, _ := hexvec.Map("testdata/vectors.hex")
	m, err := Decode(vecs["hello-ipv4"])
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(m)
	want := `{"header":{"version":1,"type":"HELLO","type_code":5,"device_type":"vEdge","flags":160,"domain_id":1,"site_id":100},` +
		`"body":{"is_dummy":0,"family":"ipv4","family_code":2,"address":"192.168.10.5","port":12346,"color":"biz-internet",` +
		`"label_bytes":"0000000000000000000000000000000000000000","hello_interval_ms":1000,"hello_tolerance_ms":12000,` +
		`"tlvs":[{"type":"num-vsmarts","code":33,"number":2},{"type":"num-vmanages","code":34,"number":1},{"type":"flags-0x19","code":25,"number":0}]}}`
	if string(got) != want {
		t.Errorf("json\n %s\nwant\n %s", got, want)
	}
	if s := Summary(m); s != "vdaemon HELLO vEdge 192.168.10.5:12346 biz-internet" {
		t.Errorf("summary %q", s)
	}
	td, _ := Decode(vecs["tear-down"])
	got, _ = json.Marshal(td)
	if !strings.Contains(string(got), `"error":"RXTRDWN","error_code":33,"description":"received teardown"`) {
		t.Errorf("tear-down json %s", got)
	}
	var sb strings.Builder
	WriteText(&sb, td, "")
	if sb.String() != "vdaemon TEAR_DOWN v1 from vSmart domain-id 1 site-id 1 flags 0xa0\n  error RXTRDWN (33) received teardown\n  tlv instance-id 1\n" {
		t.Errorf("text %q", sb.String())
	}
}

// FuzzDecode: no panic; decode→encode gives the same bytes and decodes to
// the same message.
func FuzzDecode(f *testing.F) {
	vs, err := hexvec.Read("testdata/vectors.hex")
	if err != nil {
		f.Fatal(err)
	}
	pub, err := hexvec.Read("testdata/public-vectors.hex")
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range append(vs, pub...) {
		f.Add(v.Bytes)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if _, ok := err.(*DecodeError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		enc, err := Marshal(m)
		if err != nil {
			t.Fatalf("cannot encode what decoded: %v", err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", data, enc)
		}
		m2, err := Decode(enc)
		if err != nil || !reflect.DeepEqual(canon(m), canon(m2)) {
			t.Fatalf("decode→encode→decode unstable: %v", err)
		}
		if j, err := json.Marshal(m); err != nil || !json.Valid(j) {
			t.Fatal(err)
		}
		var sb strings.Builder
		WriteText(&sb, m, "")
		Summary(m)
	})
}

func BenchmarkDecodeHello(b *testing.B) {
	vecs, _ := hexvec.Map("testdata/vectors.hex")
	msg := vecs["hello-ipv4"]
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	var m Message
	for b.Loop() {
		if err := m.DecodeFromBytes(msg); err != nil {
			b.Fatal(err)
		}
	}
}
