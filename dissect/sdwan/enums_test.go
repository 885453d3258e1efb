package sdwan

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/ompscope/ompscope/dissect/internal/jsonname"
)

func TestNames(t *testing.T) {
	cases := []struct {
		got, want string
	}{
		{DeviceVSmart.String(), "vSmart"}, {DeviceType(9).String(), "device-9"},
		{ColorBizInternet.String(), "biz-internet"}, {Color(22).String(), "private6"}, {Color(200).String(), "color-200"},
		{EncapIPsec.String(), "ipsec"}, {ServiceFW.String(), "FW"}, {Service(7).String(), "netsvc4"},
		{OriginOSPFExt2.String(), "OSPF-external-2"}, {Origin(20).String(), "rip"}, {Origin(0).String(), "proto-invalid"},
		{Service(101).String(), "sc1"}, {Service(116).String(), "sc16"}, {Service(117).String(), "service-117"},
		{Carrier(2).String(), "carrier1"}, {ConnError(0).String(), "NOERR"}, {ConnError(33).String(), "RXTRDWN"}, {ConnError(36).String(), "DUPSER"}, {ConnError(47).String(), "DISCVBD"}, {ConnError(84).String(), "RBDWNLD"}, {ConnError(85).String(), "HMEMREJ"},
		{ConnError(200).String(), "conn-error-200"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
}

func TestParseRoundTrip(t *testing.T) {
	for v := 0; v < 256; v++ {
		c := Color(v)
		p, err := ParseColor(c.String())
		if err != nil || p != c {
			t.Errorf("color %d: %v %v", v, p, err)
		}
		d := DeviceType(v)
		if p, err := ParseDeviceType(d.String()); err != nil || p != d {
			t.Errorf("device %d: %v %v", v, p, err)
		}
		s := Service(v)
		if p, err := ParseService(s.String()); err != nil || p != s {
			t.Errorf("service %d", v)
		}
		o := Origin(v)
		if p, err := ParseOrigin(o.String()); err != nil || p != o {
			t.Errorf("origin %d", v)
		}
		e := Encap(v)
		if p, err := ParseEncap(e.String()); err != nil || p != e {
			t.Errorf("encap %d", v)
		}
	}
	if _, err := ParseColor("chartreuse"); err == nil {
		t.Error("unknown color parsed")
	}
	if c, err := ParseColor("BIZ-INTERNET"); err != nil || c != ColorBizInternet {
		t.Error("case-insensitive parse")
	}
	if c, err := ParseColor("4"); err != nil || c != ColorBizInternet {
		t.Error("numeric parse")
	}
	if !ColorMPLS.Private() || ColorBizInternet.Private() || !Color(20).Private() {
		t.Error("Private")
	}
}

func TestJSON(t *testing.T) {
	b, _ := json.Marshal(struct {
		D DeviceType
		C Color
		E ConnError
	}{DeviceVEdge, ColorLTE, 10})
	if string(b) != `{"D":"vEdge","C":"lte","E":"DCONFAIL"}` {
		t.Errorf("%s", b)
	}
	var v struct{ C Color }
	if err := json.Unmarshal([]byte(`{"C":"gold"}`), &v); err != nil || v.C != ColorGold {
		t.Errorf("%v %v", v, err)
	}
}

// TestOriginSpellings: every spelling of both MIBs and of the YANG model
// parses; the controller MIB's 15 (isis) and 16 (nat) map by name.
func TestOriginSpellings(t *testing.T) {
	for in, want := range map[string]Origin{"proto-invalid": 0, "invalid": 0, "oSPF-intra-area": 5, "OSPF-intra-area": 5,
		"OSPF intra-area": 5, "natpoolInside": 10, "natpool-inside": 10, "eigrp-sum": 11, "eigrp-summary": 11,
		"eigrp-ext": 13, "isis": 15, "isis-level-1": 15, "isis-level-2": 16, "nat": 19, "oSPF-nat-dia": 19,
		"oSPF-nssa-2": 18, "rip": 20, "20": 20} {
		if got, err := ParseOrigin(in); err != nil || got != want {
			t.Errorf("ParseOrigin(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]Service{"sc1": 101, "SC16": 116, "appqoe": 10} {
		if got, err := ParseService(in); err != nil || got != want {
			t.Errorf("ParseService(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestRIBStatusAndLossReasons(t *testing.T) {
	if s := (RIBChosen | RIBInstalled | RIBResolved).String(); s != "C,I,R" {
		t.Error(s)
	}
	if s := (RIBRejected | RIBResolved | RIBStale | RIBTGWReorig).String(); s != "Rej,R,S,TGW-R" {
		t.Error(s)
	}
	if LossReasons[5] != "tloc-preference" || LossReasons[11] != "stale-entry" || LossReasons[26] != "sub-region-id" {
		t.Error(LossReasons)
	}
}

// TestNamesNeedNoEscape: the codecs' JSON writers copy the names of these
// types without escaping (jsonw.Name), which is right only if no value of
// any of them has a name with a character JSON escapes: every value of the
// 8-bit types, colors (32 bits) well past their dense table.
func TestNamesNeedNoEscape(t *testing.T) {
	for v := range 256 {
		u := uint8(v)
		for _, s := range []fmt.Stringer{DeviceType(u), Encap(u), Service(u), Origin(u), Carrier(u), ConnError(u)} {
			jsonname.Check(t, s)
		}
	}
	for v := range uint32(1024) {
		jsonname.Check(t, Color(v))
	}
	for _, v := range []uint32{1 << 20, 1<<32 - 1} {
		jsonname.Check(t, Color(v))
	}
}
