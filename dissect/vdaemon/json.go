package vdaemon

import (
	"github.com/ompscope/ompscope/dissect/jsonw"
)

// JSON form of vdaemon messages (documented in docs/json.md), written by
// hand for speed.

// AppendHeaderJSON appends the header object.
func AppendHeaderJSON(b []byte, h *Header) []byte {
	b = append(b, `{"version":`...)
	b = jsonw.Uint(b, uint64(h.Version))
	b = append(b, `,"type":`...)
	b = jsonw.Name(b, h.Type.String())
	b = append(b, `,"type_code":`...)
	b = jsonw.Uint(b, uint64(h.Type))
	b = append(b, `,"device_type":`...)
	b = jsonw.Name(b, h.Device.String())
	if h.DevLow != 0 {
		b = append(b, `,"device_low":`...)
		b = jsonw.Uint(b, uint64(h.DevLow))
	}
	b = append(b, `,"flags":`...)
	b = jsonw.Uint(b, uint64(h.Flags))
	if h.Reserved != 0 {
		b = append(b, `,"reserved":`...)
		b = jsonw.Uint(b, uint64(h.Reserved))
	}
	b = append(b, `,"domain_id":`...)
	b = jsonw.Uint(b, uint64(h.DomainID))
	b = append(b, `,"site_id":`...)
	b = jsonw.Uint(b, uint64(h.SiteID))
	return append(b, '}')
}

func appendTLVsJSON(b []byte, tlvs []TLV) []byte {
	b = append(b, `"tlvs":[`...)
	for i, t := range tlvs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":`...)
		b = jsonw.Name(b, t.Type.String())
		b = append(b, `,"code":`...)
		b = jsonw.Uint(b, uint64(t.Type))
		// one member per kind of value, so that each has one JSON type
		switch {
		case t.IsRaw():
			b = append(b, `,"hex":`...)
			b = jsonw.Hex(b, t.Raw)
			if t.UnexpectedLength {
				b = append(b, `,"unexpected_length":true`...)
			}
		case t.Type == TLVUUID:
			b = append(b, `,"text":`...)
			b = jsonw.String(b, t.Text)
		default:
			b = append(b, `,"number":`...)
			b = jsonw.Uint(b, uint64(t.Value))
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendExtra(b []byte, extra []byte) []byte {
	if len(extra) == 0 {
		return b
	}
	b = append(b, `,"extra":`...)
	return jsonw.Hex(b, extra)
}

// AppendBodyJSON appends the body object (DATA gives its payload length;
// callers that decode OMP put the OMP messages beside it).
func AppendBodyJSON(b []byte, body Body) []byte {
	switch m := body.(type) {
	case *Challenge:
		b = append(b, `{"challenge":`...)
		b = jsonw.Hex(b, m.Random[:])
		b = append(b, ',')
		b = appendTLVsJSON(b, m.TLVs)
		b = appendExtra(b, m.Extra)
	case *ChallengeAck:
		b = append(b, `{"verified_status":`...)
		b = jsonw.Uint(b, uint64(m.Verified))
		b = append(b, `,"hardware_flag":`...)
		b = jsonw.Uint(b, uint64(m.HardwareFlag))
		b = append(b, ',')
		b = appendTLVsJSON(b, m.TLVs)
		b = appendExtra(b, m.Extra)
	case *ChallengeAckAck:
		b = append(b, `{"verify_status":`...)
		b = jsonw.Uint(b, uint64(m.VerifyStatus))
		b = append(b, `,"reserved":`...)
		b = jsonw.Uint(b, uint64(m.Reserved))
		b = appendExtra(b, m.Extra)
	case *Hello:
		b = append(b, `{"is_dummy":`...)
		b = jsonw.Uint(b, uint64(m.IsDummy))
		b = append(b, `,"family":`...)
		switch m.Family {
		case AFInet:
			b = append(b, `"ipv4"`...)
		case AFInet6:
			b = append(b, `"ipv6"`...)
		default:
			b = append(b, `"family-`...)
			b = append(jsonw.Uint(b, uint64(m.Family)), '"')
		}
		b = append(b, `,"family_code":`...)
		b = jsonw.Uint(b, uint64(m.Family))
		b = append(b, `,"address":`...)
		b = jsonw.Addr(b, m.Addr)
		b = append(b, `,"port":`...)
		b = jsonw.Uint(b, uint64(m.Port))
		b = append(b, `,"color":`...)
		b = jsonw.Name(b, m.Color.String())
		b = append(b, `,"label_bytes":`...)
		b = jsonw.Hex(b, m.Label[:])
		b = append(b, `,"hello_interval_ms":`...)
		b = jsonw.Uint(b, uint64(m.IntervalMS))
		b = append(b, `,"hello_tolerance_ms":`...)
		b = jsonw.Uint(b, uint64(m.ToleranceMS))
		b = append(b, ',')
		b = appendTLVsJSON(b, m.TLVs)
		b = appendExtra(b, m.Extra)
	case *TearDown:
		b = append(b, `{"error":`...)
		b = jsonw.Name(b, m.Code.String())
		b = append(b, `,"error_code":`...)
		b = jsonw.Uint(b, uint64(m.Code))
		if d := m.Code.Description(); d != "" {
			b = append(b, `,"description":`...)
			b = jsonw.String(b, d)
		}
		b = append(b, ',')
		b = appendTLVsJSON(b, m.TLVs)
		b = appendExtra(b, m.Extra)
	case *Data:
		b = append(b, `{"length":`...)
		b = jsonw.Uint(b, uint64(len(m.Payload)))
	case *VManageToPeer:
		b = append(b, `{"authorized_keys_length":`...)
		b = jsonw.Uint(b, uint64(len(m.Buffer)))
		b = append(b, `,"text_length":`...)
		b = jsonw.Uint(b, uint64(len(m.Text())))
		if m.Short {
			b = append(b, `,"short":true`...)
		}
		b = append(b, `,"ssh_keys":`...)
		b = AppendSSHKeysJSON(b, m.Keys())
		switch {
		case m.BadTLVs:
			b = append(b, `,"bad_tlvs":true`...)
			b = appendExtra(b, m.Extra)
		case !m.Short:
			b = append(b, ',')
			b = appendTLVsJSON(b, m.TLVs)
			b = appendExtra(b, m.Extra)
		}
	case *Raw:
		b = append(b, `{"raw":`...)
		b = jsonw.Hex(b, m.Bytes)
	default:
		return append(b, "null"...)
	}
	return append(b, '}')
}

// AppendJSON appends {"header":{...},"body":{...}}.
func AppendJSON(b []byte, m *Message) []byte {
	b = append(b, `{"header":`...)
	b = AppendHeaderJSON(b, &m.Header)
	b = append(b, `,"body":`...)
	b = AppendBodyJSON(b, m.Body)
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler.
func (m *Message) MarshalJSON() ([]byte, error) { return AppendJSON(nil, m), nil }

// MarshalJSON implements json.Marshaler.
func (h Header) MarshalJSON() ([]byte, error) { return AppendHeaderJSON(nil, &h), nil }

// AppendSSHKeysJSON appends the keys as an array of {"offset", "type",
// "fingerprint", "comment"} objects: never the key itself.
func AppendSSHKeysJSON(b []byte, keys []SSHKey) []byte {
	b = append(b, '[')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"offset":`...)
		b = jsonw.Uint(b, uint64(k.Offset))
		b = append(b, `,"type":`...)
		b = jsonw.String(b, k.Type)
		b = append(b, `,"fingerprint":`...)
		b = jsonw.String(b, k.Fingerprint)
		if k.BadBase64 {
			b = append(b, `,"bad_base64":true`...)
		}
		if k.BlobType != "" && k.BlobType != k.Type {
			b = append(b, `,"blob_type":`...)
			b = jsonw.String(b, k.BlobType)
		}
		b = append(b, `,"comment":`...)
		b = jsonw.String(b, k.Comment)
		b = append(b, '}')
	}
	return append(b, ']')
}
