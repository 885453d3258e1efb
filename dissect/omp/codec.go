package omp

import (
	"encoding/binary"
	"strconv"
)

// newMessage returns an empty message of type t, or nil for unknown types.
func newMessage(t Type) Message {
	switch t {
	case TypeHello:
		return &Hello{}
	case TypeHandshake:
		return &Handshake{}
	case TypeUpdate:
		return &Update{}
	case TypeAlert:
		return &Alert{}
	case TypeInform:
		return &Inform{}
	case TypePolicy:
		return &Policy{}
	}
	return nil
}

// Header is the 4-byte OMP message header.
type Header struct {
	Version uint8
	Type    Type
	Length  uint16 // whole message, header included
}

// DecodeHeader reads the header at the start of data and checks that the
// whole message is present.
func DecodeHeader(data []byte) (Header, error) {
	if len(data) < HeaderLen {
		return Header{}, errf("omp", "header", 0, "%d bytes, need 4", len(data))
	}
	h := Header{data[0], Type(data[1]), binary.BigEndian.Uint16(data[2:])}
	if h.Length < HeaderLen {
		return h, errf("omp", "length", 2, "%d, want at least 4", h.Length)
	}
	if int(h.Length) > len(data) {
		return h, errf("omp "+layerName(h.Type), "length", 2, "%d, only %d bytes present", h.Length, len(data))
	}
	return h, nil
}

func layerName(t Type) string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeHandshake:
		return "handshake"
	case TypeUpdate:
		return "update"
	case TypeAlert:
		return "alert"
	case TypeInform:
		return "inform"
	case TypePolicy:
		return "policy"
	}
	return "type " + strconv.Itoa(int(t))
}

// Decode decodes the first OMP message in data and returns it with the
// number of bytes it used.
func Decode(data []byte) (Message, int, error) {
	h, err := DecodeHeader(data)
	if err != nil {
		return nil, 0, err
	}
	body := data[HeaderLen:h.Length]
	var m Message
	if h.Version != Version {
		m = &Unknown{Version: h.Version, T: h.Type}
	} else if m = newMessage(h.Type); m == nil {
		m = &Unknown{Version: h.Version, T: h.Type}
	}
	if err := m.DecodeBody(body); err != nil {
		return nil, 0, err
	}
	return m, int(h.Length), nil
}

// DecodeAll decodes the OMP messages packed back to back in data (the body
// of a vdaemon DATA message). On error it returns the messages decoded
// before the bad one, and an error that says which message and where.
func DecodeAll(data []byte) ([]Message, error) {
	var out []Message
	off := 0
	for i := 0; off < len(data); i++ {
		m, n, err := Decode(data[off:])
		if err != nil {
			return out, &SeqError{Index: i, Offset: off, Err: err}
		}
		out = append(out, m)
		off += n
	}
	if len(out) == 0 {
		return nil, &SeqError{Index: 0, Offset: 0, Err: errf("omp", "header", 0, "no OMP message (empty DATA body)")}
	}
	return out, nil
}

// SeqError wraps the error of message Index (at byte Offset) of a sequence.
type SeqError struct {
	Index, Offset int
	Err           error
}

func (e *SeqError) Error() string {
	return "omp message " + strconv.Itoa(e.Index) + " at offset " + strconv.Itoa(e.Offset) + ": " + e.Err.Error()
}

// Unwrap gives the inner *DecodeError.
func (e *SeqError) Unwrap() error { return e.Err }

// Append encodes m (header and body) onto b.
func Append(b []byte, m Message) ([]byte, error) {
	start := len(b)
	ver := uint8(Version)
	if u, ok := m.(*Unknown); ok {
		ver = u.Version
	}
	b = append(b, ver, byte(m.Type()), 0, 0)
	b, err := m.AppendBody(b)
	if err != nil {
		return b[:start], err
	}
	l := len(b) - start
	if l > 0xffff {
		return b[:start], &EncodeError{"omp " + layerName(m.Type()), "length", strconv.Itoa(l) + " bytes do not fit in the u16 length"}
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(l))
	return b, nil
}

// Marshal encodes m into a new slice.
func Marshal(m Message) ([]byte, error) { return Append(nil, m) }

// MaxMessageLen is the largest OMP message (the length field is a u16).
const MaxMessageLen = 0xffff
