package analyze

import (
	"testing"
	"time"
)

// TestDevicesPrunedKeepNATMark: two edges behind one NAT address mark the
// address shared (no inference from it); with a Retention the mark stays
// after their sessions leave memory, so when one comes back a session of
// the other whose HANDSHAKE is not seen is not named after it. (A review
// found the mark forgotten and e3 named 10.0.0.11.)
func TestDevicesPrunedKeepNATMark(t *testing.T) {
	for _, ret := range []time.Duration{-1, 10 * time.Second} {
		f := newFab(t, Config{Retention: ret})
		e1, e3, v1, v2 := edge(1, 100), edge(3, 300), vsmart(1), vsmart(2)
		e3.addr = e1.addr // one NAT address
		a := f.connect(e1, v1)
		b := f.connect(e3, v1)
		f.at(10)
		a.end()
		b.end()
		f.at(400)
		f.connect(e1, v1) // e1 back: its HANDSHAKE names the address again
		f.at(401)
		x := f.session(e3, v2) // e3, its HANDSHAKE not seen
		x.challenge()
		x.hello(true)
		x.hello(false)
		f.at(402)
		for _, p := range f.a.Peers() {
			if p.Session == x.info.ID && p.Client.SystemIP.IsValid() {
				t.Errorf("retention %v: e3's session named %v (inferred %v)", ret, p.Client.SystemIP, p.Client.Inferred)
			}
		}
	}
}

// TestDevicesPrunedRetryClaims: a HANDSHAKE that came while the devices
// were at their cap claims its system-ip once pruning makes room, so a
// later device of the same system-ip at another site is judged against
// it: duplicate-system-ip. (A review found the claim never retried.)
func TestDevicesPrunedRetryClaims(t *testing.T) {
	f := newFab(t, Config{Retention: 10 * time.Second})
	f.a.maxDev = 100
	handshakeFlood(f, 300)
	f.at(5)
	d1 := edge(50, 100)
	f.connect(d1, vsmart(1)) // untracked: the cap is full
	if f.a.devices[ip4(d1.sys)] != nil {
		t.Fatal("d1 recorded")
	}
	f.at(400)
	d2 := d1
	d2.addr, d2.site = mustAddr("198.18.0.99"), 4242 // another device, same system-ip
	f.connect(d2, vsmart(1))
	f.finish(430)
	if f.a.devices[ip4(d2.sys)] == nil {
		t.Fatal("d2 not recorded")
	}
	if len(f.anomalies(KindDuplicateSystemIP)) == 0 {
		t.Errorf("d1 and d2 up at once with site-ids 100 and 4242: no duplicate-system-ip")
	}
}
