package dissect

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// dataRecord is the plaintext of a vdaemon DATA message carrying one
// route UPDATE whose attribute section is made unique by tag.
func dataRecord(t *testing.T, tag uint32) []byte {
	t.Helper()
	u := &omp.Update{Family: omp.FamilyRouteV4, Attrs: []omp.Attribute{
		&omp.Originator{Flag: omp.FlagTransitive, Addr: netip.MustParseAddr("10.255.0.1")},
		&omp.Uint32Attr{Type: omp.AttrTag, Flag: omp.FlagTransitive, Value: tag},
	}, Reachable: []omp.NLRI{{PathID: 1, VPN: 1, Prefix: netip.MustParsePrefix("10.1.0.0/24")}}}
	payload, err := omp.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	b, err := vdaemon.Marshal(&vdaemon.Message{Header: vdaemon.Header{Version: 1, Type: vdaemon.TypeData, Device: sdwan.DeviceVEdge,
		Flags: 0xa0, DomainID: 1, SiteID: 100}, Body: &vdaemon.Data{Payload: payload}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMessageDecoderAttrCache: a MessageDecoder's UPDATEs share one
// attribute cache; sections seen twice are then found in it, the decode
// is the same as a fresh one, and when more sections are kept than the
// cache holds it empties itself, which the statistics say.
func TestMessageDecoderAttrCache(t *testing.T) {
	var md MessageDecoder
	rec := dataRecord(t, 7)
	for range 3 {
		m := md.Decode(rec)
		want := DecodeMessage(rec)
		if !bytes.Equal(m.AppendJSONMembers(nil), want.AppendJSONMembers(nil)) {
			t.Fatal("decode through the cache differs from a fresh one")
		}
	}
	if st := md.AttrCacheStats(); st.Hits != 1 || st.Kept != 1 || st.Misses != 2 || st.Resets != 0 {
		t.Fatalf("after one section three times: %+v", st)
	}
	for i := range 3000 {
		r := dataRecord(t, uint32(1000+i))
		md.Decode(r)
		md.Decode(r)
	}
	st := md.AttrCacheStats()
	if st.Resets == 0 || st.Kept < 3000 {
		t.Fatalf("after 3 000 sections twice: %+v", st)
	}
	d := New(Config{ReuseMessages: true}, nil)
	d.dec = md
	var out bytes.Buffer
	d.WriteStats(&out)
	if !strings.Contains(out.String(), "attribute cache: filled and cleared "+strconv.FormatUint(st.Resets, 10)+" time(s)") {
		t.Fatalf("the statistics do not say the cache was emptied:\n%s", out.String())
	}
}
