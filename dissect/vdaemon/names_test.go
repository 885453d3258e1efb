package vdaemon

import (
	"testing"

	"github.com/ompscope/ompscope/dissect/internal/jsonname"
)

// TestNamesNeedNoEscape: the JSON writer copies the names of message
// types and TLV types with jsonw.Name, without escaping, which is right
// only if none has a character JSON escapes, for any value. (The sdwan
// types it also copies so, devices, colors and tear-down codes, are
// checked in sdwan.)
func TestNamesNeedNoEscape(t *testing.T) {
	for v := range 256 {
		jsonname.Check(t, MsgType(v))
	}
	for v := range 1 << 16 {
		jsonname.Check(t, TLVType(v))
	}
}
