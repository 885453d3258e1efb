package jsonw

import (
	"strconv"
	"testing"
	"time"
)

// The writers' speed against what they replace, on the values the
// dissector writes most: small numbers (codes, flags, VPNs), path-ids
// and sequence numbers; session ids and names; capture times.

var benchNums = []uint64{0, 2, 64, 10, 100, 1002, 12346, 81, 423152106, 1 << 40}

func BenchmarkUint(b *testing.B) {
	buf := make([]byte, 0, 256)
	for range b.N {
		buf = buf[:0]
		for _, v := range benchNums {
			buf = Uint(buf, v)
		}
	}
}

func BenchmarkUintStrconv(b *testing.B) {
	buf := make([]byte, 0, 256)
	for range b.N {
		buf = buf[:0]
		for _, v := range benchNums {
			buf = strconv.AppendUint(buf, v, 10)
		}
	}
}

const benchStr = "dtls:198.18.0.1:12346>203.0.113.13:12446#60"

func BenchmarkString(b *testing.B) {
	buf := make([]byte, 0, 256)
	for range b.N {
		buf = String(buf[:0], benchStr)
	}
}

// stringBytewise is String without the eight-byte scan (the code before
// it), to measure what the scan buys.
func stringBytewise(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return String(b[:len(b)-1], s) // not the case benchmarked
		}
	}
	b = append(b, s...)
	return append(b, '"')
}

func BenchmarkStringBytewise(b *testing.B) {
	buf := make([]byte, 0, 256)
	for range b.N {
		buf = stringBytewise(buf[:0], benchStr)
	}
}

var benchTime = time.Date(2026, 1, 1, 10, 57, 31, 131800000, time.UTC)

func BenchmarkAppendTime(b *testing.B) {
	buf := make([]byte, 0, 64)
	for i := range b.N {
		buf = AppendTime(buf[:0], benchTime.Add(time.Duration(i)*time.Millisecond))
	}
}

func BenchmarkAppendTimeFormat(b *testing.B) {
	buf := make([]byte, 0, 64)
	for i := range b.N {
		buf = benchTime.Add(time.Duration(i)*time.Millisecond).UTC().AppendFormat(buf[:0], Layout)
	}
}

func BenchmarkTimeFormatter(b *testing.B) {
	var f TimeFormatter
	buf := make([]byte, 0, 64)
	for i := range b.N {
		buf = f.Append(buf[:0], benchTime.Add(time.Duration(i)*time.Microsecond))
	}
}
