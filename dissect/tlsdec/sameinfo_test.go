package tlsdec

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// TestSameInfoComparesEveryField changes each field of a Session in turn
// and checks that SameInfo sees it, except the fields of Progress (which a
// parallel run copies with every record) and the tracker's own state (which
// CopyInfo leaves out): a field added to Session must be compared too.
func TestSameInfoComparesEveryField(t *testing.T) {
	skip := map[string]bool{
		"LastFrame": true, "LastSeen": true, "Decrypted": true, "Cleartext": true, // Progress
		"key": true, "state": true, "onFail": true, "prev": true, "next": true, // not copied
	}
	base := Session{ID: "x", Client: netip.MustParseAddrPort("10.0.0.1:1"), notes: []string{"n"}}
	typ := reflect.TypeOf(base)
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		s := base
		s.notes = append([]string(nil), base.notes...)
		v := reflect.NewAt(typ, reflect.ValueOf(&s).UnsafePointer()).Elem().Field(i)
		v = reflect.NewAt(v.Type(), v.Addr().UnsafePointer()).Elem()
		if !change(v) {
			t.Fatalf("field %s (%s): the test cannot change it", f.Name, f.Type)
		}
		var c Session
		base.CopyInfo(&c)
		got := s.SameInfo(&c)
		if skip[f.Name] && !got {
			t.Errorf("field %s: SameInfo compares it, it is not to be compared", f.Name)
		}
		if !skip[f.Name] && got {
			t.Errorf("field %s: SameInfo does not see it change", f.Name)
		}
	}
	var c Session
	base.CopyInfo(&c)
	s := base
	s.SetProgress(Progress{LastFrame: 9, LastSeen: time.Unix(9, 0), Decrypted: 9, Cleartext: 9})
	if !s.SameInfo(&c) || s.Progress() == c.Progress() {
		t.Error("Progress and SetProgress do not cover the same fields as SameInfo leaves out")
	}
}

// change sets v to another value.
func change(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "!")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Array:
		return change(v.Index(v.Len() - 1))
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
	case reflect.Func:
		v.Set(reflect.MakeFunc(v.Type(), func([]reflect.Value) []reflect.Value { return nil }))
	case reflect.Struct:
		switch x := v.Addr().Interface().(type) {
		case *time.Time:
			*x = x.Add(time.Second)
		case *netip.AddrPort:
			*x = netip.AddrPortFrom(x.Addr(), x.Port()+1)
		case *pairKey:
			x.ports++
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// BenchmarkSameInfo: a parallel run's worker asks it for every record, of
// a session and its last copy, which are the same; the first-failure
// messages compared as arrays of strings (as before) and by where they
// lie (sameStrings).
func BenchmarkSameInfo(b *testing.B) {
	s := Session{ID: "dtls:198.18.0.1:12346>203.0.113.13:12446#55", Client: netip.MustParseAddrPort("198.18.0.1:12346")}
	s.fail(ReasonNoKey, "no key for client random %x", [4]byte{1, 2, 3, 4})
	var c Session
	s.CopyInfo(&c)
	b.Run("SameInfo", func(b *testing.B) {
		for b.Loop() {
			if !s.SameInfo(&c) {
				b.Fatal("not the same")
			}
		}
	})
	b.Run("firstFailure/arrays", func(b *testing.B) {
		for b.Loop() {
			if s.firstFailure != c.firstFailure {
				b.Fatal("not the same")
			}
		}
	})
	b.Run("firstFailure/sameStrings", func(b *testing.B) {
		for b.Loop() {
			if !sameStrings(&s.firstFailure, &c.firstFailure) {
				b.Fatal("not the same")
			}
		}
	})
}
