package vdaemon

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// HeaderLen is the size of the vdaemon header.
const HeaderLen = 12

// Version is the header version this package writes. Any version decodes;
// 0 is what the public exploit modules send to real controllers
// (rapid7/metasploit-framework cisco_sdwan_auth_bypass.rb and
// cisco_sdwan_vhub_auth_bypass.rb, tested against 20.12 and 20.15), so 0 is
// written.
const Version = 0

// MsgType is a vdaemon message type (low nibble of byte 0).
type MsgType uint8

// Message types.
const (
	TypeNewChallengeAck     MsgType = 0
	TypeRegister            MsgType = 1
	TypeHello               MsgType = 5
	TypeData                MsgType = 7
	TypeChallenge           MsgType = 8
	TypeChallengeAck        MsgType = 9
	TypeChallengeAckAck     MsgType = 10
	TypeTearDown            MsgType = 11
	TypeDeleteVSmartsSerial MsgType = 12
	TypeRegisterToVManage   MsgType = 13
	TypeVManageToPeer       MsgType = 14
	TypeSubMsg              MsgType = 15
)

var typeNames = [16]string{0: "NEW_CHALLENGE_ACK", 1: "REGISTER", 5: "HELLO", 7: "DATA", 8: "CHALLENGE",
	9: "CHALLENGE_ACK", 10: "CHALLENGE_ACK_ACK", 11: "TEAR_DOWN", 12: "DELETE_VSMARTS_SERIAL",
	13: "REGISTER_TO_VMANAGE", 14: "VMANAGE_TO_PEER", 15: "SUBMSG"}

func (t MsgType) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "TYPE-" + strconv.Itoa(int(t))
}

// MarshalText gives the name.
func (t MsgType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Header is the 12-byte vdaemon header.
type Header struct {
	Version  uint8 // high nibble of byte 0
	Type     MsgType
	Device   sdwan.DeviceType // high nibble of byte 1: the sender
	DevLow   uint8            // low nibble of byte 1 (0 seen; kept)
	Flags    uint8            // byte 2 (0xA0 seen; meaning unknown)
	Reserved uint8            // byte 3
	DomainID uint32
	SiteID   uint32
}

// DecodeError is the error of every decode in this package.
type DecodeError struct {
	Layer  string // "vdaemon header", "vdaemon hello", ...
	Field  string
	Offset int // from the start of the vdaemon message
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s: %s at offset %d: %s", e.Layer, e.Field, e.Offset, e.Reason)
}

func errf(layer, field string, off int, format string, a ...any) error {
	return &DecodeError{layer, field, off, fmt.Sprintf(format, a...)}
}

// EncodeError reports a value that cannot be encoded.
type EncodeError struct{ Layer, Field, Reason string }

func (e *EncodeError) Error() string { return e.Layer + ": encode " + e.Field + ": " + e.Reason }

// DecodeFromBytes decodes the header at the start of data.
func (h *Header) DecodeFromBytes(data []byte) error {
	if len(data) < HeaderLen {
		return errf("vdaemon header", "header", 0, "%d bytes, need %d", len(data), HeaderLen)
	}
	h.Version, h.Type = data[0]>>4, MsgType(data[0]&0x0f)
	h.Device, h.DevLow = sdwan.DeviceType(data[1]>>4), data[1]&0x0f
	h.Flags, h.Reserved = data[2], data[3]
	h.DomainID = binary.BigEndian.Uint32(data[4:])
	h.SiteID = binary.BigEndian.Uint32(data[8:])
	return nil
}

// AppendTo encodes the header.
func (h *Header) AppendTo(b []byte) ([]byte, error) {
	if h.Version > 15 || h.Type > 15 || h.Device > 15 || h.DevLow > 15 {
		return b, &EncodeError{"vdaemon header", "version/type/device", "nibble value above 15"}
	}
	b = append(b, h.Version<<4|uint8(h.Type), uint8(h.Device)<<4|h.DevLow, h.Flags, h.Reserved)
	b = binary.BigEndian.AppendUint32(b, h.DomainID)
	return binary.BigEndian.AppendUint32(b, h.SiteID), nil
}

// Message is a whole vdaemon message.
type Message struct {
	Header Header
	Body   Body
}

// Body is a message body: *Challenge, *ChallengeAck, *ChallengeAckAck,
// *Hello, *TearDown, *Data, *VManageToPeer or *Raw.
type Body interface {
	// AppendTo encodes the body.
	AppendTo(b []byte) ([]byte, error)
	// decode decodes data (the body; body offset 12 in errors).
	decode(data []byte) error
}

// Decode decodes one vdaemon message that fills data exactly (one message
// per DTLS/TLS record). Bodies reference no memory of data except Data's
// payload and Raw's bytes, which are copies.
func Decode(data []byte) (*Message, error) {
	m := &Message{}
	if err := m.DecodeFromBytes(data); err != nil {
		return nil, err
	}
	return m, nil
}

// Bodies holds one body of each message type, for DecodeReusing.
type Bodies struct {
	challenge Challenge
	ack       ChallengeAck
	ackAck    ChallengeAckAck
	hello     Hello
	tearDown  TearDown
	data      Data
	vmanage   VManageToPeer
	raw       Raw
}

// DecodeReusing decodes data into m as DecodeFromBytes does, but the body
// is one of bs's, overwritten: m's body is valid until bs is used again. A
// caller decoding record after record (and copying what it keeps) decodes
// without allocating a body per message; DATA's payload keeps its buffer.
func (m *Message) DecodeReusing(data []byte, bs *Bodies) error { return m.decodeWith(data, bs.body) }

// DecodeFromBytes decodes data into m.
func (m *Message) DecodeFromBytes(data []byte) error { return m.decodeWith(data, newBody) }

// decodeWith decodes the header, then the body into the value body gives
// for the message type.
func (m *Message) decodeWith(data []byte, body func(MsgType) Body) error {
	if err := m.Header.DecodeFromBytes(data); err != nil {
		return err
	}
	b := body(m.Header.Type)
	if err := b.decode(data[HeaderLen:]); err != nil {
		return err
	}
	m.Body = b
	return nil
}

// newBody returns a new body for a message type.
func newBody(t MsgType) Body {
	switch t {
	case TypeChallenge:
		return &Challenge{}
	case TypeChallengeAck:
		return &ChallengeAck{}
	case TypeChallengeAckAck:
		return &ChallengeAckAck{}
	case TypeHello:
		return &Hello{}
	case TypeTearDown:
		return &TearDown{}
	case TypeData:
		return &Data{}
	case TypeVManageToPeer:
		return &VManageToPeer{}
	}
	return &Raw{}
}

// body returns bs's body for a message type, emptied (DATA keeps its
// payload's buffer: its decode overwrites it).
func (bs *Bodies) body(t MsgType) Body {
	switch t {
	case TypeChallenge:
		bs.challenge = Challenge{}
		return &bs.challenge
	case TypeChallengeAck:
		bs.ack = ChallengeAck{}
		return &bs.ack
	case TypeChallengeAckAck:
		bs.ackAck = ChallengeAckAck{}
		return &bs.ackAck
	case TypeHello:
		bs.hello = Hello{}
		return &bs.hello
	case TypeTearDown:
		bs.tearDown = TearDown{}
		return &bs.tearDown
	case TypeData:
		return &bs.data
	case TypeVManageToPeer:
		bs.vmanage = VManageToPeer{}
		return &bs.vmanage
	}
	bs.raw = Raw{}
	return &bs.raw
}

// Append encodes m onto b.
func Append(b []byte, m *Message) ([]byte, error) {
	start := len(b)
	b, err := m.Header.AppendTo(b)
	if err != nil {
		return b[:start], err
	}
	if m.Body == nil {
		return b[:start], &EncodeError{"vdaemon", "body", "nil body"}
	}
	if b, err = m.Body.AppendTo(b); err != nil {
		return b[:start], err
	}
	return b, nil
}

// Marshal encodes m into a new slice.
func Marshal(m *Message) ([]byte, error) { return Append(nil, m) }

// ---- TLVs

// TLVType is a vdaemon TLV type.
type TLVType uint16

// Known TLV types.
const (
	TLVUUID            TLVType = 0x0006
	TLVInstanceID      TLVType = 0x0013
	TLVMaxInstances    TLVType = 0x0014
	TLVFlags18         TLVType = 0x0018
	TLVFlags19         TLVType = 0x0019
	TLVNumVSmarts      TLVType = 0x0021
	TLVNumVManages     TLVType = 0x0022
	TLVServerKey       TLVType = 0x0032
	ServerKeyLen               = 32
	ChallengeLen               = 256
	helloLabelLen              = 20
	DefaultHelloMS             = 1000
	DefaultToleranceMS         = 12000
)

var tlvNames = map[TLVType]string{
	TLVUUID: "uuid", TLVInstanceID: "instance-id", TLVMaxInstances: "max-instances",
	TLVFlags18: "flags-0x18", TLVFlags19: "flags-0x19", TLVNumVSmarts: "num-vsmarts",
	TLVNumVManages: "num-vmanages", TLVServerKey: "server-key",
}

func (t TLVType) String() string {
	if int(t) < len(tlvNameTable) {
		return tlvNameTable[t]
	}
	if n, ok := tlvNames[t]; ok {
		return n
	}
	return fmt.Sprintf("tlv-0x%04x", uint16(t))
}

// tlvNameTable is the name of every TLV type below 256, made once: the
// JSON writer names every TLV of every HELLO.
var tlvNameTable = func() (tab [256]string) {
	for i := range tab {
		if n, ok := tlvNames[TLVType(i)]; ok {
			tab[i] = n
		} else {
			tab[i] = fmt.Sprintf("tlv-0x%04x", i)
		}
	}
	return
}()

// MarshalText gives the name.
func (t TLVType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// tlvValueLen is the fixed length of a known TLV (0 = variable).
func tlvValueLen(t TLVType) int {
	switch t {
	case TLVInstanceID, TLVMaxInstances:
		return 2
	case TLVFlags18, TLVFlags19, TLVNumVSmarts, TLVNumVManages:
		return 1
	case TLVServerKey:
		return ServerKeyLen
	}
	return 0
}

// TLV is one vdaemon TLV. Known numeric types use Value; the UUID uses
// Text; the server key and unknown types keep their bytes in Raw. A known
// type whose length is not the one this package knows keeps its bytes in
// Raw too, with UnexpectedLength set, instead of failing the message: real
// peers' lengths are not all published. It re-encodes byte for byte.
type TLV struct {
	Type             TLVType
	Value            uint16
	Text             string
	Raw              []byte
	UnexpectedLength bool
}

// IsRaw reports whether the TLV's value is kept as bytes (Raw): unknown
// types, the server key and known types with an unexpected length.
func (t *TLV) IsRaw() bool {
	if t.UnexpectedLength {
		return true
	}
	switch t.Type {
	case TLVUUID, TLVInstanceID, TLVMaxInstances, TLVFlags18, TLVFlags19, TLVNumVSmarts, TLVNumVManages:
		return false
	}
	return true
}

// decodeTLVs decodes a TLV list (count byte and TLVs) at data; off is its
// offset in the message. It returns the TLVs and the bytes after the list.
func decodeTLVs(layer string, data []byte, off int) ([]TLV, []byte, error) {
	if len(data) < 1 {
		return nil, nil, errf(layer, "tlv count", off, "missing")
	}
	count := int(data[0])
	rest := data[1:]
	off++
	if count > len(rest)/4 {
		return nil, nil, errf(layer, "tlv count", off-1, "%d TLVs cannot fit in %d bytes", count, len(rest))
	}
	if count == 0 {
		return []TLV{}, rest, nil // (a HELLO's list, mostly: no call to make)
	}
	tlvs := make([]TLV, 0, count)
	for i := 0; i < count; i++ {
		if len(rest) < 4 {
			return nil, nil, errf(layer, "tlv "+strconv.Itoa(i)+" header", off, "%d bytes left, need 4", len(rest))
		}
		t := TLVType(binary.BigEndian.Uint16(rest))
		l := int(binary.BigEndian.Uint16(rest[2:]))
		if l > len(rest)-4 {
			return nil, nil, errf(layer, fmt.Sprintf("tlv 0x%04x (%s)", uint16(t), t), off, "length %d, only %d bytes left", l, len(rest)-4)
		}
		v := rest[4 : 4+l]
		tv := TLV{Type: t}
		if want := tlvValueLen(t); want != 0 && l != want {
			tv.UnexpectedLength = true
		}
		switch {
		case tv.UnexpectedLength:
			tv.Raw = append([]byte(nil), v...)
		case t == TLVUUID:
			tv.Text = string(v)
		case t == TLVInstanceID || t == TLVMaxInstances:
			tv.Value = binary.BigEndian.Uint16(v)
		case t == TLVFlags18 || t == TLVFlags19 || t == TLVNumVSmarts || t == TLVNumVManages:
			tv.Value = uint16(v[0])
		default:
			tv.Raw = append([]byte(nil), v...)
		}
		tlvs = append(tlvs, tv)
		rest = rest[4+l:]
		off += 4 + l
	}
	return tlvs, rest, nil
}

func appendTLVs(b []byte, layer string, tlvs []TLV) ([]byte, error) {
	if len(tlvs) > 255 {
		return b, &EncodeError{layer, "tlvs", strconv.Itoa(len(tlvs)) + " TLVs, at most 255"}
	}
	b = append(b, byte(len(tlvs)))
	for _, t := range tlvs {
		var v []byte
		switch t.Type {
		case TLVUUID:
			if t.UnexpectedLength {
				v = t.Raw
				break
			}
			v = []byte(t.Text)
		case TLVInstanceID, TLVMaxInstances:
			if t.UnexpectedLength {
				v = t.Raw
				break
			}
			v = binary.BigEndian.AppendUint16(nil, t.Value)
		case TLVFlags18, TLVFlags19, TLVNumVSmarts, TLVNumVManages:
			if t.UnexpectedLength {
				v = t.Raw
				break
			}
			if t.Value > 0xff {
				return b, &EncodeError{layer, "tlv " + t.Type.String(), "value above 255"}
			}
			v = []byte{byte(t.Value)}
		default:
			v = t.Raw
		}
		if want := tlvValueLen(t.Type); want != 0 && (len(v) != want) != t.UnexpectedLength {
			if t.UnexpectedLength {
				return b, &EncodeError{layer, "tlv " + t.Type.String(), fmt.Sprintf("marked unexpected length but has the expected %d", want)}
			}
			return b, &EncodeError{layer, "tlv " + t.Type.String(), fmt.Sprintf("length %d, want %d", len(v), want)}
		}
		if len(v) > 0xffff {
			return b, &EncodeError{layer, "tlv " + t.Type.String(), "value too long"}
		}
		b = binary.BigEndian.AppendUint16(b, uint16(t.Type))
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	return b, nil
}

// FindTLV returns the first TLV of type t.
func FindTLV(tlvs []TLV, t TLVType) (TLV, bool) {
	for _, x := range tlvs {
		if x.Type == t {
			return x, true
		}
	}
	return TLV{}, false
}

// ---- bodies

// Challenge is sent by a controller to a connecting device: 256 random
// bytes to sign, then TLVs. Extra holds bytes after the TLV list, if any.
type Challenge struct {
	Random [ChallengeLen]byte
	TLVs   []TLV
	Extra  []byte
}

func (c *Challenge) decode(data []byte) error {
	const layer = "vdaemon challenge"
	if len(data) < ChallengeLen {
		return errf(layer, "challenge", HeaderLen, "%d bytes, need %d", len(data), ChallengeLen)
	}
	copy(c.Random[:], data)
	tlvs, rest, err := decodeTLVs(layer, data[ChallengeLen:], HeaderLen+ChallengeLen)
	c.TLVs, c.Extra = tlvs, copyOrNil(rest)
	return err
}

// AppendTo implements Body.
func (c *Challenge) AppendTo(b []byte) ([]byte, error) {
	b = append(b, c.Random[:]...)
	b, err := appendTLVs(b, "vdaemon challenge", c.TLVs)
	return append(b, c.Extra...), err
}

// ChallengeAck answers a challenge.
type ChallengeAck struct {
	Verified     uint8
	HardwareFlag uint8
	TLVs         []TLV
	Extra        []byte
}

func (c *ChallengeAck) decode(data []byte) error {
	const layer = "vdaemon challenge-ack"
	if len(data) < 2 {
		return errf(layer, "verified-status/hardware-flag", HeaderLen, "%d bytes, need 2", len(data))
	}
	c.Verified, c.HardwareFlag = data[0], data[1]
	tlvs, rest, err := decodeTLVs(layer, data[2:], HeaderLen+2)
	c.TLVs, c.Extra = tlvs, copyOrNil(rest)
	return err
}

// AppendTo implements Body.
func (c *ChallengeAck) AppendTo(b []byte) ([]byte, error) {
	b = append(b, c.Verified, c.HardwareFlag)
	b, err := appendTLVs(b, "vdaemon challenge-ack", c.TLVs)
	return append(b, c.Extra...), err
}

// ChallengeAckAck closes the challenge exchange.
type ChallengeAckAck struct {
	VerifyStatus uint8
	Reserved     uint8
	Extra        []byte
}

func (c *ChallengeAckAck) decode(data []byte) error {
	if len(data) < 2 {
		return errf("vdaemon challenge-ack-ack", "verify-status/reserved", HeaderLen, "%d bytes, need 2", len(data))
	}
	c.VerifyStatus, c.Reserved, c.Extra = data[0], data[1], copyOrNil(data[2:])
	return nil
}

// AppendTo implements Body.
func (c *ChallengeAckAck) AppendTo(b []byte) ([]byte, error) {
	return append(append(b, c.VerifyStatus, c.Reserved), c.Extra...), nil
}

// Hello is the vdaemon keepalive: the sender's TLOC address and port, its
// color and its hello timers.
type Hello struct {
	IsDummy     uint32
	Family      uint16 // 2 IPv4, 10 IPv6
	Addr        netip.Addr
	Port        uint16
	Color       sdwan.Color
	Label       [helloLabelLen]byte
	IntervalMS  uint32
	ToleranceMS uint32
	TLVs        []TLV
	Extra       []byte
}

// Address families of the HELLO.
const (
	AFInet  = 2
	AFInet6 = 10
)

func (h *Hello) decode(data []byte) error {
	const layer = "vdaemon hello"
	if len(data) < 6 {
		return errf(layer, "is-dummy/family", HeaderLen, "%d bytes, need 6", len(data))
	}
	h.IsDummy = binary.BigEndian.Uint32(data)
	h.Family = binary.BigEndian.Uint16(data[4:])
	var al int
	switch h.Family {
	case AFInet:
		al = 4
	case AFInet6:
		al = 16
	default:
		return errf(layer, "address family", HeaderLen+4, "%d, want 2 (IPv4) or 10 (IPv6)", h.Family)
	}
	fixed := 6 + al + 2 + 4 + helloLabelLen + 4 + 4
	if len(data) < fixed {
		return errf(layer, "body", HeaderLen, "%d bytes, need %d for family %d", len(data), fixed, h.Family)
	}
	p := 6
	if al == 4 {
		h.Addr = netip.AddrFrom4([4]byte(data[p:]))
	} else {
		h.Addr = netip.AddrFrom16([16]byte(data[p:]))
	}
	p += al
	h.Port = binary.BigEndian.Uint16(data[p:])
	h.Color = sdwan.Color(binary.BigEndian.Uint32(data[p+2:]))
	h.Label = [helloLabelLen]byte(data[p+6:]) // (copy called memmove)
	p += 6 + helloLabelLen
	h.IntervalMS = binary.BigEndian.Uint32(data[p:])
	h.ToleranceMS = binary.BigEndian.Uint32(data[p+4:])
	p += 8
	tlvs, rest, err := decodeTLVs(layer, data[p:], HeaderLen+p)
	h.TLVs, h.Extra = tlvs, copyOrNil(rest)
	return err
}

// AppendTo implements Body.
func (h *Hello) AppendTo(b []byte) ([]byte, error) {
	const layer = "vdaemon hello"
	b = binary.BigEndian.AppendUint32(b, h.IsDummy)
	switch {
	case h.Family == AFInet && h.Addr.Is4():
	case h.Family == AFInet6 && h.Addr.Is6():
	default:
		return b, &EncodeError{layer, "address", fmt.Sprintf("address %v does not match family %d", h.Addr, h.Family)}
	}
	b = binary.BigEndian.AppendUint16(b, h.Family)
	b = append(b, h.Addr.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, h.Port)
	b = binary.BigEndian.AppendUint32(b, uint32(h.Color))
	b = append(b, h.Label[:]...)
	b = binary.BigEndian.AppendUint32(b, h.IntervalMS)
	b = binary.BigEndian.AppendUint32(b, h.ToleranceMS)
	b, err := appendTLVs(b, layer, h.TLVs)
	return append(b, h.Extra...), err
}

// TearDown closes a control connection with an error code.
type TearDown struct {
	Code  sdwan.ConnError
	TLVs  []TLV
	Extra []byte
}

func (t *TearDown) decode(data []byte) error {
	const layer = "vdaemon tear-down"
	if len(data) < 1 {
		return errf(layer, "error code", HeaderLen, "missing")
	}
	t.Code = sdwan.ConnError(data[0])
	tlvs, rest, err := decodeTLVs(layer, data[1:], HeaderLen+1)
	t.TLVs, t.Extra = tlvs, copyOrNil(rest)
	return err
}

// AppendTo implements Body.
func (t *TearDown) AppendTo(b []byte) ([]byte, error) {
	b, err := appendTLVs(append(b, byte(t.Code)), "vdaemon tear-down", t.TLVs)
	return append(b, t.Extra...), err
}

// Data carries OMP: Payload is one or more OMP messages, decoded by
// package omp.
type Data struct {
	Payload []byte
}

func (d *Data) decode(data []byte) error {
	d.Payload = append(d.Payload[:0], data...) // a fresh Data: a copy; a reused one: its buffer
	return nil
}

// AppendTo implements Body.
func (d *Data) AppendTo(b []byte) ([]byte, error) { return append(b, d.Payload...), nil }

// Raw is the body of a message type without a known layout.
type Raw struct {
	Bytes []byte
}

func (r *Raw) decode(data []byte) error {
	r.Bytes = append([]byte(nil), data...)
	return nil
}

// AppendTo implements Body.
func (r *Raw) AppendTo(b []byte) ([]byte, error) { return append(b, r.Bytes...), nil }

func copyOrNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
