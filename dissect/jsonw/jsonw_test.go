package jsonw

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quo\"te", "back\\slash", "ctl\x00\x01\x1f", "tab\tnl\nret\r", "bs\bff\f\x7f",
		"é ü 中文", "bad\xff\xfeutf8", "\u2028\u2029", "<html>&"} {
		got := string(String(nil, s))
		var want []byte
		enc, _ := json.Marshal(s)
		want = enc
		// encoding/json escapes <, >, & by default; we never do
		if s == "<html>&" {
			want = []byte(`"<html>&"`)
		}
		if got != string(want) {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestValues(t *testing.T) {
	b := []byte{'{'}
	b = Key(b, "a")
	b = Uint(b, 7)
	b = Key(b, "h")
	b = Hex(b, []byte{0xde, 0xad})
	b = Key(b, "ip")
	b = Addr(b, netip.MustParseAddr("2001:db8::1"))
	b = Key(b, "ap")
	b = AddrPort(b, netip.MustParseAddrPort("1.2.3.4:5"))
	b = Key(b, "p")
	b = Prefix(b, netip.MustParsePrefix("10.0.0.0/8"))
	b = Key(b, "t")
	b = Bool(b, true)
	b = append(b, '}')
	want := `{"a":7,"h":"dead","ip":"2001:db8::1","ap":"1.2.3.4:5","p":"10.0.0.0/8","t":true}`
	if string(b) != want {
		t.Errorf("%s", b)
	}
}

// Addresses, with and without a zone (which may hold any text), come out
// as encoding/json writes them (HTML characters aside, as String).
func TestAddrMatchesEncodingJSON(t *testing.T) {
	zones := []string{"", "eth0", "a\"b", "x\\y", "ctl\x01\n", "bad\xffutf8", "<&>"}
	for _, z := range zones {
		for _, a := range []netip.Addr{{}, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fe80::1")} {
			if z != "" {
				if !a.Is6() {
					continue
				}
				a = a.WithZone(z)
			}
			ap := netip.AddrPortFrom(a, 12346)
			for _, c := range []struct {
				got []byte
				v   any
			}{{Addr(nil, a), a}, {AddrPort(nil, ap), ap}} {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(c.v); err != nil {
					t.Fatal(err)
				}
				if want := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); string(c.got) != string(want) {
					t.Errorf("%#v: %s, want %s", c.v, c.got, want)
				}
				if !json.Valid(c.got) {
					t.Errorf("%#v: %s is not JSON", c.v, c.got)
				}
			}
		}
	}
}

func FuzzString(f *testing.F) {
	f.Add("a\"b\\c\x00é\xff")
	f.Add("\b\f\u2028<&>")
	f.Fuzz(func(t *testing.T, s string) {
		var back string
		got := String(nil, s)
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		// byte for byte what encoding/json writes with HTML escaping off
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if w := bytes.TrimSuffix(want.Bytes(), []byte("\n")); !bytes.Equal(got, w) {
			t.Fatalf("%q: %s, encoding/json %s", s, got, w)
		}
	})
}

func TestTimeFormatter(t *testing.T) {
	var f TimeFormatter
	base := time.Date(2026, 1, 1, 10, 57, 31, 131800000, time.UTC)
	for _, d := range []time.Duration{0, 1, 999999999, time.Second, 3*time.Second + 7, -time.Hour, 400 * 24 * time.Hour} {
		tm := base.Add(d)
		got := string(f.Append(nil, tm))
		want := tm.UTC().Format(Layout)
		if got != want {
			t.Errorf("%v: %s, want %s", tm, got, want)
		}
		// a non-UTC location formats as UTC
		got = string(f.Append(nil, tm.In(time.FixedZone("x", 3600))))
		if got != want {
			t.Errorf("zone: %s, want %s", got, want)
		}
	}
	if got, want := string(f.Append(nil, time.Time{})), (time.Time{}).Format(Layout); got != want {
		t.Errorf("zero time %s", got)
	}
	// the edges of four-digit years, and every place of the fraction
	for _, tm := range []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Add(-1),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 3, 1, 0, 0, 0, 7, time.UTC), time.Unix(1<<40, 0), time.Unix(-1<<40, 0),
	} {
		var g TimeFormatter
		if got, want := string(g.Append(nil, tm)), tm.UTC().Format(Layout); got != want {
			t.Errorf("%v: %s, want %s", tm, got, want)
		}
	}
	for ns := 1; ns < 1e9; ns *= 10 {
		for _, n := range []int{ns, ns - 1, ns*9 + 1, 999999999 - ns} {
			tm := base.Truncate(time.Second).Add(time.Duration(n))
			if got, want := string(f.Append(nil, tm)), tm.Format(Layout); got != want {
				t.Errorf("%d ns: %s, want %s", n, got, want)
			}
		}
	}
}

// TestUintMatchesStrconv: Uint writes what strconv.AppendUint writes, for
// every number of digits and their edges, after any prefix.
func TestUintMatchesStrconv(t *testing.T) {
	vals := []uint64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 1<<32 - 1, 1 << 32, 1<<64 - 1}
	for p := uint64(1); p < 1e19; p *= 10 {
		vals = append(vals, p-1, p, p+1, p*7+3)
	}
	for _, v := range vals {
		for _, prefix := range [][]byte{nil, []byte("x"), make([]byte, 3, 4)} {
			want := strconv.AppendUint(append([]byte(nil), prefix...), v, 10)
			if got := Uint(append([]byte(nil), prefix...), v); string(got) != string(want) {
				t.Fatalf("Uint(%d) after %q: %q, want %q", v, prefix, got, want)
			}
			if got := Uint(prefix[:len(prefix):len(prefix)], v); string(got) != string(want) {
				t.Fatalf("Uint(%d) (full slice): %q", v, got)
			}
		}
	}
}

func FuzzUint(f *testing.F) {
	f.Add(uint64(0))
	f.Add(uint64(1<<64 - 1))
	f.Add(uint64(12345))
	f.Fuzz(func(t *testing.T, v uint64) {
		if got, want := string(Uint([]byte("a"), v)), string(strconv.AppendUint([]byte("a"), v, 10)); got != want {
			t.Fatalf("Uint(%d): %q, want %q", v, got, want)
		}
	})
}

// TestSafe8: the word-at-a-time test agrees with a byte-by-byte one for
// every byte value at every place, and for every pair of values at two
// places (where a borrow from one byte could reach the next).
func TestSafe8(t *testing.T) {
	ref := func(s string) bool {
		for i := range len(s) {
			if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
				return false
			}
		}
		return true
	}
	b := []byte("abcdefgh")
	for p := range 8 {
		for v := range 256 {
			c := append([]byte(nil), b...)
			c[p] = byte(v)
			if s := string(c); safe8(s) != ref(s) {
				t.Fatalf("%q: safe8 %v", s, safe8(s))
			}
		}
	}
	for p := range 7 {
		for v := range 256 {
			for w := range 256 {
				c := append([]byte(nil), b...)
				c[p], c[p+1] = byte(v), byte(w)
				if s := string(c); safe8(s) != ref(s) {
					t.Fatalf("%q: safe8 %v", s, safe8(s))
				}
			}
		}
	}
}

// TestAppendTime: the stateless writer gives what time's Format gives, at
// the edges of four-digit years, at every place of the fraction, and on
// a spread of instants in any zone.
func TestAppendTime(t *testing.T) {
	check := func(tm time.Time) {
		t.Helper()
		if got, want := string(AppendTime([]byte("x"), tm)), "x"+tm.UTC().Format(Layout); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
	}
	for _, tm := range []time.Time{
		{}, time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Add(-1),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 3, 1, 0, 0, 0, 7, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 1, time.FixedZone("x", -7200)),
	} {
		check(tm)
	}
	for ns := 1; ns < 1e9; ns *= 10 {
		check(time.Unix(1767265051, int64(ns)))
		check(time.Unix(1767265051, int64(999999999-ns)))
	}
	for i := range int64(20000) {
		check(time.Unix(i*7919*3601+i*i, i*104729%1e9).In(time.FixedZone("y", int(i%48-24)*1800)))
	}
}

// FuzzFloat: Float writes what encoding/json writes, for every finite
// float64 (NaN and the infinities, which it refuses: null).
func FuzzFloat(f *testing.F) {
	for _, v := range []float64{0, 1, -1, 0.5, 1e-7, 4.28e-7, 1e-6, 1e20, 1e21, 123456789.125, -2.5e-9, math.MaxFloat64,
		math.SmallestNonzeroFloat64} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		got := Float(nil, v)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if string(got) != "null" {
				t.Fatalf("%v: %s", v, got)
			}
			return
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("%v: %s, encoding/json %s", v, got, want)
		}
	})
}
