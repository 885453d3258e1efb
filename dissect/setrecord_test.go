package dissect

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/sdwan"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// TestSetRecordSetsEveryField: an Event reused for a record (setRecord,
// then decodeRecord) holds nothing of the Event it was before: the same
// as one built whole. Every field of the Event before is set (a field
// added to Event and not to this test fails it: add it to setRecord or
// decodeRecord too).
func TestSetRecordSetsEveryField(t *testing.T) {
	d := New(Config{ReuseMessages: true}, nil)
	s := &tlsdec.Session{Transport: "dtls", Client: netip.MustParseAddrPort("10.0.0.1:12346"),
		Server: netip.MustParseAddrPort("10.0.0.2:12446")}
	// real plaintexts: the sample's first records (a vdaemon message, an
	// OMP UPDATE), and bytes that decode to an error
	var pts [][]byte
	f := New(Config{}, func(e *Event) {
		if len(pts) < 40 {
			pts = append(pts, slices.Clone(e.Plaintext))
		}
	})
	r, err := capture.Open("../pcaps/route-flap.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := f.RunSource(r, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Finish()
	if len(pts) == 0 {
		t.Fatal("no record in the sample")
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 5, time.UTC)
	for _, pt := range append(pts, []byte{0xff, 0}) {
		want := Event{Time: t0, Frame: 7, Session: s, Dir: tlsdec.FromServer, Epoch: 1, Seq: 9, Decrypted: true,
			Transport: s.Transport, Plaintext: pt}
		d.decodeRecord(&want, s)
		before := Event{Time: t0.Add(time.Hour), Frame: 1, Src: netip.MustParseAddrPort("192.0.2.1:1"),
			Dst: netip.MustParseAddrPort("192.0.2.2:2"), Session: &tlsdec.Session{}, Dir: tlsdec.FromClient + 7, Epoch: 3,
			Seq: 4, Decrypted: false, Transport: "udp", Plaintext: []byte{1}, Msg: Message{Err: errors.New("x")},
			SrcDevice: sdwan.DeviceVSmart, DstDevice: sdwan.DeviceVBond, File: 2, FileFrame: 3}
		v := reflect.ValueOf(before)
		for i := range v.NumField() {
			if f := v.Type().Field(i); v.Field(i).IsZero() && f.Name != "Decrypted" {
				t.Fatalf("the Event before leaves %s zero: set it, and make setRecord or decodeRecord set it", f.Name)
			}
		}
		got := before
		got.setRecord(t0, 7, s, tlsdec.FromServer, 1, 9, true, pt)
		d.decodeRecord(&got, s)
		g, w := reflect.ValueOf(got), reflect.ValueOf(want)
		for i := range g.NumField() {
			if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
				t.Errorf("%s: %v after setRecord and decodeRecord, %v built whole", g.Type().Field(i).Name, g.Field(i), w.Field(i))
			}
		}
	}
}
