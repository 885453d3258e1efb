package analyze

import (
	"net/netip"
	"slices"

	"github.com/ompscope/ompscope/dissect/sdwan"
)

// duplicate-system-ip: two devices claim one system-ip at once: sessions
// of one system-ip whose ends differ in device type, site-id, chassis id,
// organization, or that connect to the same controller from two addresses
// at once. The core keeps each device's claims (the sessions that name
// it). The detector keeps the signatures of each device's claims (what the
// comparison reads): a device whose claims are all alike costs a new claim
// nothing; otherwise the new claim is compared with the others, never
// every pair.

// KindDuplicateSystemIP names the notice of this detector.
const KindDuplicateSystemIP Kind = "duplicate-system-ip"

var dupDetDef = detectorDef{name: "duplicate-system-ip", make: func(a *Analyzer) detector {
	return &dupDet{a: a, sigs: map[*device]map[dupSig]int{}, of: map[*side]claimSig{}}
}}

type dupDet struct {
	a    *Analyzer
	sigs map[*device]map[dupSig]int // the signatures of each device's claims
	of   map[*side]claimSig         // each claim's device and signature
}

// dupSig is what dupReason compares of a claim. Two claims with one
// signature are never two devices (every reason needs a difference in
// it), so a device whose claims all share one is no duplicate, without a
// comparison: a vSmart's thousands of sessions, an edge's to its
// controllers from one address.
type dupSig struct {
	dev    sdwan.DeviceType
	site   uint32
	siteOK bool
	uuid   string
	org    string
	client bool
	addr   netip.Addr
}

type claimSig struct {
	d   *device
	sig dupSig
}

func sigOf(sd *side) dupSig {
	s := dupSig{dev: sd.dev, site: sd.site, siteOK: sd.siteOK, uuid: sd.uuid, client: sd.idx == 0, addr: sd.addr.Addr()}
	if sd.hs != nil {
		s.org = sd.hs.org
	}
	return s
}

// track moves sd's signature into device d (nil: out of every device).
func (u *dupDet) track(sd *side, d *device) {
	if old, ok := u.of[sd]; ok {
		m := u.sigs[old.d]
		if m[old.sig]--; m[old.sig] <= 0 {
			delete(m, old.sig)
			if len(m) == 0 {
				delete(u.sigs, old.d)
			}
		}
		delete(u.of, sd)
	}
	if d == nil {
		return
	}
	sig := sigOf(sd)
	m := u.sigs[d]
	if m == nil {
		m = map[dupSig]int{}
		u.sigs[d] = m
	}
	m[sig]++
	u.of[sd] = claimSig{d, sig}
}

func (u *dupDet) event(e *coreEvent) {
	switch e.kind {
	case evClaim, evIdentity:
		d := u.a.device(ip4(e.sd.sys), e.now)
		u.track(e.sd, d)
		u.eval(d, e.now, e.frame, e.sd, false)
	case evUnclaim:
		u.track(e.sd, nil)
		if e.sd.sys.IsValid() {
			if d := u.a.devices[ip4(e.sd.sys)]; d != nil {
				u.eval(d, e.now, 0, e.sd, true)
			}
		}
	}
}

// firstDup returns the first pair of claims (in claim order) that are two
// devices, and why.
func firstDup(claims []*side) (string, *side, *side) {
	for i := range claims {
		for j := i + 1; j < len(claims); j++ {
			if r := dupReason(claims[i], claims[j]); r != "" {
				return r, claims[i], claims[j]
			}
		}
	}
	return "", nil, nil
}

// firstDupWith is firstDup over the pairs sd is in (the first such pair
// in the order firstDup walks them).
func firstDupWith(claims []*side, sd *side) (string, *side, *side) {
	k := slices.Index(claims, sd)
	if k < 0 {
		return "", nil, nil
	}
	for i := 0; i < k; i++ {
		if r := dupReason(claims[i], sd); r != "" {
			return r, claims[i], sd
		}
	}
	for j := k + 1; j < len(claims); j++ {
		if r := dupReason(sd, claims[j]); r != "" {
			return r, sd, claims[j]
		}
	}
	return "", nil, nil
}

// dupReason says why two claims of one system-ip are two devices ("" if
// they may be the same device).
func dupReason(x, y *side) string {
	switch {
	case x.dev != y.dev && x.dev != 0 && y.dev != 0:
		return "device types " + x.dev.String() + " and " + y.dev.String()
	case x.siteOK && y.siteOK && x.site != y.site:
		return "site-ids " + itoa(x.site) + " and " + itoa(y.site)
	case x.uuid != "" && y.uuid != "" && x.uuid != y.uuid:
		return "chassis ids " + x.uuid + " and " + y.uuid
	case x.hs != nil && y.hs != nil && x.hs.org != "" && y.hs.org != "" && x.hs.org != y.hs.org:
		return "organizations " + x.hs.org + " and " + y.hs.org
	case x.idx == 0 && y.idx == 0 && x.sess != y.sess && x.other().sys == y.other().sys && x.other().sys.IsValid() &&
		x.addr.Addr() != y.addr.Addr():
		// two devices connecting to the same controller under one
		// system-ip (a device has one OMP session per peer)
		return "two OMP sessions to " + x.other().sys.String() + " at once, from " + x.addr.String() + " and " + y.addr.String()
	}
	return ""
}

// evalDup re-evaluates device d after side sd claimed it, changed what it
// says of itself, or (removed) gave up its claim. Only the pairs sd is in
// are compared, unless sd was one of the pair that made the duplicate: a
// vSmart with thousands of sessions costs each new session one pass over
// the others, not a comparison of every pair.
func (u *dupDet) eval(d *device, now int64, frame uint64, sd *side, removed bool) {
	a := u.a
	var why string
	var x, y *side
	switch {
	case d.dup && sd != d.pair[0] && sd != d.pair[1]:
		why, x, y = "still", d.pair[0], d.pair[1] // the pair that made it stands
	case !d.dup && removed:
		return // dropping a claim makes no duplicate
	case !d.dup && sd != nil && len(u.sigs[d]) <= 1:
		return // every claim alike: no two devices
	case !d.dup && sd != nil:
		why, x, y = firstDupWith(d.claims, sd)
	default:
		why, x, y = firstDup(d.claims)
	}
	k := condKey{KindDuplicateSystemIP, "system-ip " + addrOf4(d.sys).String()}
	if (why != "") != d.dup {
		defer a.tell(&coreEvent{kind: evDup, recv: d.sys, now: now})
	}
	if why == "" {
		if d.dup {
			d.dup, d.pair = false, [2]*side{}
			a.condClear(k, d, now)
		}
		return
	}
	if d.dup {
		if c := a.conds[k]; c != nil {
			c.ev.add(frame, a.cfg.MaxEvidence)
		}
		return
	}
	d.dup, d.pair = true, [2]*side{x, y}
	expl := "Two devices claim system-ip " + addrOf4(d.sys).String() + " at the same time (" + why + ", sessions " +
		x.sess.subject() + " and " + y.sess.subject() + "): OMP cannot tell their routes and TLOCs apart."
	a.condSet(k, d, now, now, frame, 0, SevError, y.sess.id, false, func() string { return expl })
}

var duplicateSystemIPKind = kindDef{kind: KindDuplicateSystemIP, det: &dupDetDef, explainText: explainText{
	sev:     "error",
	subject: "system-ip <ip>",
	meaning: "Two control connections that are up at the same time announce the same system-ip in their OMP " +
		"HANDSHAKE but are evidently different devices: different device types, site-ids, chassis ids, organization " +
		"names, or two connections to the same peer on the same color from different addresses.",
	matters: "The system-ip is a device's identity in OMP: routes, TLOCs and policies are keyed by it. Two devices " +
		"sharing one overwrite each other's routes and TLOCs and take each other's control connections down.",
	check: "show control connections and show omp peers on the vSmarts (look for the system-ip twice); " +
		"show control connections-history (DUPSYSIPDEL, DUPSER); on each device: show system status, " +
		"show running-config system (system-ip, site-id); vManage device inventory.",
	settings: "No setting. The anomaly lasts while both claims are up.",
}}
