package vdaemon

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// JSON form of vdaemon messages (documented in docs/json.md).

type jsonHeader struct {
	Version  uint8            `json:"version"`
	Type     MsgType          `json:"type"`
	TypeCode uint8            `json:"type_code"`
	Device   sdwan.DeviceType `json:"device_type"`
	DevLow   uint8            `json:"device_low,omitempty"`
	Flags    string           `json:"flags"`
	Reserved uint8            `json:"reserved,omitempty"`
	DomainID uint32           `json:"domain_id"`
	SiteID   uint32           `json:"site_id"`
}

// MarshalJSON implements json.Marshaler.
func (h Header) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonHeader{h.Version, h.Type, uint8(h.Type), h.Device, h.DevLow,
		fmt.Sprintf("0x%02x", h.Flags), h.Reserved, h.DomainID, h.SiteID})
}

type jsonTLV struct {
	Type  TLVType `json:"type"`
	Code  uint16  `json:"code"`
	Value any     `json:"value"`
}

func tlvsJSON(tlvs []TLV) []jsonTLV {
	out := make([]jsonTLV, len(tlvs))
	for i, t := range tlvs {
		var v any
		switch t.Type {
		case TLVUUID:
			v = t.Text
		case TLVInstanceID, TLVMaxInstances, TLVFlags18, TLVFlags19, TLVNumVSmarts, TLVNumVManages:
			v = t.Value
		default:
			v = hex.EncodeToString(t.Raw)
		}
		out[i] = jsonTLV{t.Type, uint16(t.Type), v}
	}
	return out
}

func extraJSON(b []byte) string { return hex.EncodeToString(b) }

// BodyJSON is the JSON form of a body (DATA gives its payload in hex;
// callers that decode OMP put the OMP messages beside it).
func BodyJSON(b Body) any {
	switch b := b.(type) {
	case *Challenge:
		return struct {
			Challenge string    `json:"challenge"`
			TLVs      []jsonTLV `json:"tlvs"`
			Extra     string    `json:"extra,omitempty"`
		}{hex.EncodeToString(b.Random[:]), tlvsJSON(b.TLVs), extraJSON(b.Extra)}
	case *ChallengeAck:
		return struct {
			Verified     uint8     `json:"verified_status"`
			HardwareFlag uint8     `json:"hardware_flag"`
			TLVs         []jsonTLV `json:"tlvs"`
			Extra        string    `json:"extra,omitempty"`
		}{b.Verified, b.HardwareFlag, tlvsJSON(b.TLVs), extraJSON(b.Extra)}
	case *ChallengeAckAck:
		return struct {
			VerifyStatus uint8  `json:"verify_status"`
			Reserved     uint8  `json:"reserved"`
			Extra        string `json:"extra,omitempty"`
		}{b.VerifyStatus, b.Reserved, extraJSON(b.Extra)}
	case *Hello:
		return struct {
			IsDummy     uint32      `json:"is_dummy"`
			Family      uint16      `json:"family"`
			Addr        netip.Addr  `json:"address"`
			Port        uint16      `json:"port"`
			Color       sdwan.Color `json:"color"`
			Label       string      `json:"label"`
			IntervalMS  uint32      `json:"hello_interval_ms"`
			ToleranceMS uint32      `json:"hello_tolerance_ms"`
			TLVs        []jsonTLV   `json:"tlvs"`
			Extra       string      `json:"extra,omitempty"`
		}{b.IsDummy, b.Family, b.Addr, b.Port, b.Color, hex.EncodeToString(b.Label[:]), b.IntervalMS,
			b.ToleranceMS, tlvsJSON(b.TLVs), extraJSON(b.Extra)}
	case *TearDown:
		return struct {
			Code        sdwan.ConnError `json:"error"`
			CodeNum     uint8           `json:"error_code"`
			Description string          `json:"description,omitempty"`
			TLVs        []jsonTLV       `json:"tlvs"`
			Extra       string          `json:"extra,omitempty"`
		}{b.Code, uint8(b.Code), b.Code.Description(), tlvsJSON(b.TLVs), extraJSON(b.Extra)}
	case *Data:
		return struct {
			Length int `json:"length"`
		}{len(b.Payload)}
	case *Raw:
		return struct {
			Raw string `json:"raw"`
		}{hex.EncodeToString(b.Bytes)}
	}
	return nil
}

// MarshalJSON implements json.Marshaler: {"header":{...},"body":{...}}.
func (m *Message) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Header Header `json:"header"`
		Body   any    `json:"body"`
	}{m.Header, BodyJSON(m.Body)})
}
