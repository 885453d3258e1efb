// Package jsonw appends JSON values to byte slices without reflection:
// the codecs and the dissector write their JSON with it, which is several
// times faster than encoding/json's reflection and MarshalJSON
// re-validation. Output matches encoding/json with HTML escaping off.
package jsonw

import (
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// String appends s as a JSON string (invalid UTF-8 becomes U+FFFD, as
// encoding/json does).
func String(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// eight bytes at a time while none needs a look: most strings
		// (session ids, names, addresses) are plain ASCII
		for i+8 <= len(s) && safe8(s[i:i+8]) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b') // (encoding/json since Go 1.22)
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// safe8 reports whether none of the 8 bytes of s is a control character,
// '"', '\\' or non-ASCII, testing them at once in a 64-bit word: for any
// word x, (x - n*lo) &^ x & hi is non-zero exactly when some byte of x is
// below n (n <= 128), so a byte equal to c shows as a zero byte of x ^ c*lo.
func safe8(s string) bool {
	w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, bs := w^(lo*'"'), w^(lo*'\\')
	return (w|(w-lo*0x20)&^w|(q-lo)&^q|(bs-lo)&^bs)&hi == 0
}

// Name appends s as a JSON string without looking for characters to
// escape: for names from a program's own tables (enumerated values,
// "<kind>-N" for the unnamed), never for text from the wire. Callers keep
// a test that every name they pass needs no escaping.
func Name(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Key appends ,"name": (without the comma when b ends with '{' or '[').
func Key(b []byte, name string) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' && b[n-1] != '[' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// Sep appends a comma unless b ends with '{' or '['.
func Sep(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' && b[n-1] != '[' {
		b = append(b, ',')
	}
	return b
}

// Uint appends an unsigned number. It writes the digits in place, two at
// a time, where strconv.AppendUint formats into a buffer of its own and
// copies: numbers are most of what the dissector's JSON holds (path-ids,
// VPNs, attribute codes, flags), and strconv was a sixth of its time.
// BenchmarkUint: 46 ns for ten typical numbers against 57 with strconv.
func Uint(b []byte, v uint64) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	if v < 100 {
		return append(b, digitPairs[2*v], digitPairs[2*v+1])
	}
	n := 3
	for x := v / 1000; x != 0; x /= 10 {
		n++
	}
	l := len(b)
	if cap(b)-l < n {
		b = append(b, make([]byte, n)...)
	} else {
		b = b[:l+n]
	}
	i := l + n
	for v >= 100 {
		q := v / 100
		r := v - q*100
		i -= 2
		b[i], b[i+1] = digitPairs[2*r], digitPairs[2*r+1]
		v = q
	}
	if v >= 10 {
		i -= 2
		b[i], b[i+1] = digitPairs[2*v], digitPairs[2*v+1]
	} else {
		i--
		b[i] = byte('0' + v)
	}
	return b
}

const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// Float appends f as encoding/json writes a float64: fixed-point, or with
// an exponent (e-7, not e-07) below 1e-6 and from 1e21. NaN and the
// infinities, which encoding/json refuses, are written null.
func Float(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// Bool appends true or false.
func Bool(b []byte, v bool) []byte { return strconv.AppendBool(b, v) }

// Hex appends bytes as a lower-case hex string.
func Hex(b []byte, v []byte) []byte {
	b = append(b, '"')
	n := len(b)
	b = append(b, make([]byte, hex.EncodedLen(len(v)))...)
	hex.Encode(b[n:], v)
	return append(b, '"')
}

// Addr appends an address as a string ("" for the zero Addr, as
// encoding/json does with netip.Addr). An IPv6 zone (any text after
// '%', from what a user typed; never from packet bytes) is escaped as
// String escapes it.
func Addr(b []byte, a netip.Addr) []byte {
	if a.Zone() != "" {
		return String(b, a.String())
	}
	b = append(b, '"')
	if a.IsValid() {
		b = a.AppendTo(b)
	}
	return append(b, '"')
}

// AddrPort appends "ip:port" (encoding/json writes "invalid AddrPort"
// for the zero value; we write the same), its zone escaped as Addr's.
func AddrPort(b []byte, a netip.AddrPort) []byte {
	if a.Addr().Zone() != "" {
		return String(b, a.String())
	}
	b = append(b, '"')
	b = a.AppendTo(b)
	return append(b, '"')
}

// Prefix appends a prefix as a string.
func Prefix(b []byte, p netip.Prefix) []byte {
	b = append(b, '"')
	if p.IsValid() {
		b = p.AppendTo(b)
	}
	return append(b, '"')
}
