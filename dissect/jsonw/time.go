package jsonw

import "time"

// TimeFormatter appends times as RFC 3339 with nanoseconds in UTC
// ("2026-01-01T10:57:31.131800000Z"), caching the date and clock part of
// the last second it formatted: a capture's timestamps come in order, so
// most calls only write the nine fraction digits. The zero value is ready
// to use; it is not safe for concurrent use.
type TimeFormatter struct {
	sec    int64
	prefix []byte // "2006-01-02T15:04:05." of sec
	valid  bool
}

// Layout is the layout the formatter writes.
const Layout = "2006-01-02T15:04:05.000000000Z07:00"

// The seconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: RFC 3339
// has four-digit years; times outside are written by time's own Format.
const (
	minSec = -62167219200
	maxSec = 253402300799
)

// Append appends t. Within the second last formatted it writes the
// cached prefix and the fraction only (no calendar arithmetic: the year
// check is on the Unix seconds).
func (f *TimeFormatter) Append(b []byte, t time.Time) []byte {
	s := t.Unix()
	if !f.valid || s != f.sec {
		if s < minSec || s > maxSec {
			return t.UTC().AppendFormat(b, Layout)
		}
		f.sec, f.valid = s, true
		f.prefix = t.UTC().AppendFormat(f.prefix[:0], "2006-01-02T15:04:05.")
	}
	b = append(b, f.prefix...)
	return appendFraction(b, t.Nanosecond())
}

// appendFraction appends the nine digits of ns and the zone, "Z".
func appendFraction(b []byte, ns int) []byte {
	n := uint32(ns)
	var d [10]byte
	d[9] = 'Z'
	d[0] = byte('0' + n/100000000)
	n %= 100000000
	for i := 7; i >= 1; i -= 2 {
		r := n % 100
		n /= 100
		d[i], d[i+1] = digitPairs[2*r], digitPairs[2*r+1]
	}
	return append(b, d[:]...)
}

// AppendTime appends t as TimeFormatter does, without a cache (for
// writers that share no state): the date and clock from time's calendar,
// the digits written here rather than through Format's layout parsing,
// which cost a tenth of the analyzer's timeline.
func AppendTime(b []byte, t time.Time) []byte {
	s := t.Unix()
	if s < minSec || s > maxSec {
		return t.UTC().AppendFormat(b, Layout)
	}
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	b = append(b, digitPairs[2*(y/100)], digitPairs[2*(y/100)+1], digitPairs[2*(y%100)], digitPairs[2*(y%100)+1], '-',
		digitPairs[2*int(mo)], digitPairs[2*int(mo)+1], '-', digitPairs[2*d], digitPairs[2*d+1], 'T',
		digitPairs[2*h], digitPairs[2*h+1], ':', digitPairs[2*mi], digitPairs[2*mi+1], ':', digitPairs[2*sec], digitPairs[2*sec+1], '.')
	return appendFraction(b, t.Nanosecond())
}
