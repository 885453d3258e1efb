package analyze

import (
	"net/netip"

	"github.com/ompscope/ompscope/dissect/omp"
)

// site-id-mismatch: a device announces one site-id in its OMP HANDSHAKE
// and another in the vdaemon header of its control messages, or in the
// SITE_ID attribute of the paths it originates.

// KindSiteIDMismatch names the notice of this detector.
const KindSiteIDMismatch Kind = "site-id-mismatch"

var siteIDDetDef = detectorDef{name: "site-id-mismatch", make: func(a *Analyzer) detector {
	return &siteIDDet{a: a, reported: map[*side]uint32{}}
}}

type siteIDDet struct {
	a        *Analyzer
	reported map[*side]uint32 // header site-id already reported as mismatching
}

func (u *siteIDDet) event(e *coreEvent) {
	switch e.kind {
	case evHeader:
		if e.up { // a new HANDSHAKE: report again
			delete(u.reported, e.sd)
		}
		u.header(e.sd, e.now, e.frame)
	case evAttrSite:
		u.attr(e.s, e.at, e.orig, e.what, e.now, e.frame)
	case evDropped:
		if e.s != nil {
			delete(u.reported, e.s.sides[0])
			delete(u.reported, e.s.sides[1])
		}
	}
}

func (u *siteIDDet) header(sd *side, now int64, frame uint64) {
	a := u.a
	if !sd.siteOK || !sd.hdrSeen || sd.hdrSite == 0 || sd.hdrSite == sd.site || u.reported[sd] == sd.hdrSite {
		return
	}
	u.reported[sd] = sd.hdrSite
	expl := sideDesc(sd) + " announces site-id " + itoa(sd.site) + " in its OMP HANDSHAKE but " + itoa(sd.hdrSite) +
		" in the vdaemon header of its control messages."
	a.instant(KindSiteIDMismatch, "site "+itoa(sd.site), SevWarning, now, now, frame, a.cfg.MergeWindow, sd.sess.id,
		func(in *instant) string { return expl })
}

// attr compares the SITE_ID attribute of paths a device originates with
// the site-id of its HANDSHAKE.
func (u *siteIDDet) attr(s *session, at *Attrs, orig netip.Addr, what string, now int64, frame uint64) {
	a := u.a
	if !at.Has(omp.AttrSiteID) || !orig.IsValid() {
		return
	}
	d := a.devices[ip4(orig)]
	if d == nil || !d.siteOK || d.site == at.SiteID {
		return
	}
	site, attr := d.site, at.SiteID
	expl := "Paths originated by " + d.dev.String() + " " + orig.String() + " (" + what + ") carry SITE_ID " + itoa(attr) +
		" but the device announced site-id " + itoa(site) + " in its OMP HANDSHAKE; site-based policies and route selection will misplace them."
	a.instant(KindSiteIDMismatch, "site "+itoa(site), SevWarning, now, now, frame, a.cfg.MergeWindow, s.id,
		func(in *instant) string { return expl })
}

var siteIDMismatchKind = kindDef{kind: KindSiteIDMismatch, det: &siteIDDetDef, explainText: explainText{
	sev:     "warning",
	subject: "site <site-id>  (the site-id the device announces in its OMP HANDSHAKE)",
	meaning: "A device states one site-id in its OMP HANDSHAKE but another in the vdaemon header of its control " +
		"messages, or in the SITE_ID attribute of the routes, TLOCs or services it originates.",
	matters: "Site-ids drive site lists in centralized policies, the default prevention of tunnels inside a site, " +
		"and route selection; a device in the wrong site gets the wrong policy and the wrong tunnels.",
	check: "show running-config system site-id on the device; show omp routes <prefix> detail (SITE-ID) and " +
		"show omp tlocs detail on the vSmarts; vManage device templates (site-id variable).",
	settings: "--merge-window (Config.MergeWindow, default 60s): repeated evidence within the window extends one anomaly.",
}}
