// Package jsonname holds the test of a promise the JSON writers make:
// the names of enumeration values (message types, families, colors, ...)
// are copied into JSON with jsonw.Name, without escaping, which is right
// only if no value of the type has a name with a character JSON escapes.
// The codecs' tests call Check for every value of their types.
package jsonname

import (
	"fmt"
	"testing"

	"github.com/ompscope/ompscope/dissect/jsonw"
)

// Check fails the test if v's name is empty or is written differently by
// jsonw.Name (no escaping) and jsonw.String (escaping).
func Check(t testing.TB, v fmt.Stringer) {
	t.Helper()
	n := v.String()
	if got, want := string(jsonw.Name(nil, n)), string(jsonw.String(nil, n)); got != want || n == "" {
		t.Fatalf("%T %v: name %q written %s, escaped %s", v, v, n, got, want)
	}
}
