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

// Append appends t.
func (f *TimeFormatter) Append(b []byte, t time.Time) []byte {
	t = t.UTC()
	s := t.Unix()
	if !f.valid || s != f.sec || t.Year() < 0 || t.Year() > 9999 {
		if t.Year() < 0 || t.Year() > 9999 {
			return t.AppendFormat(b, Layout)
		}
		f.sec, f.valid = s, true
		f.prefix = t.AppendFormat(f.prefix[:0], "2006-01-02T15:04:05.")
	}
	b = append(b, f.prefix...)
	ns := t.Nanosecond()
	var d [9]byte
	for i := 8; i >= 0; i-- {
		d[i] = byte('0' + ns%10)
		ns /= 10
	}
	b = append(b, d[:]...)
	return append(b, 'Z')
}
