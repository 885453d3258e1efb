package omp

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ompscope/ompscope/dissect/internal/hexvec"
)

// FuzzDecode: no input panics; whatever decodes re-encodes to the same
// bytes and decodes again to the same value (decode→encode→decode is
// stable), and its JSON form marshals.
func FuzzDecode(f *testing.F) {
	for _, file := range []string{"testdata/vectors.hex"} {
		vs, err := hexvec.Read(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, v := range vs {
			f.Add(v.Bytes)
		}
	}
	attrs, err := hexvec.Read("testdata/attributes.hex")
	if err != nil {
		f.Fatal(err)
	}
	for _, a := range attrs {
		// each attribute inside a route-ipv4 UPDATE with one NLRI
		body := append([]byte{3, 0, 0, 0, byte(len(a.Bytes))}, a.Bytes...)
		body = append(body, 0, 0, 0, 1, 0, 0, 0, 10, 24, 10, 1, 2)
		f.Add(append([]byte{1, 3, 0, byte(4 + len(body))}, body...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, n, err := Decode(data)
		if err != nil {
			if _, ok := err.(*DecodeError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		enc, err := Marshal(m)
		if err != nil {
			t.Fatalf("decoded %x but cannot encode it: %v", data[:n], err)
		}
		if !bytes.Equal(enc, data[:n]) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", data[:n], enc)
		}
		m2, _, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(canon(m), canon(m2)) {
			t.Fatalf("decode→encode→decode changed the value:\n %#v\n %#v", m, m2)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("json: %v", err)
		}
		_ = Summary(m)
		DecodeAll(data)
	})
}
