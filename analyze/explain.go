package analyze

import "strings"

type explainText struct {
	sev      string
	subject  string
	meaning  string
	matters  string
	check    string
	settings string
}

var explainTexts = map[Kind]explainText{
	KindUnresolvedRoute: {
		sev:     "warning",
		subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip>",
		meaning: "A route's TLOC attribute names a TLOC (system-ip/color/encap) that no session in the capture advertises " +
			"as a TLOC route, for longer than the grace period. (In the tables, a row's status is U when its receiver " +
			"holds no such TLOC from any of its peers; this detector asks the stronger question: does anyone in the fabric " +
			"advertise it?)",
		matters: "A receiver can only install a route whose next hop (the TLOC) it can resolve. An unresolved route is " +
			"dead: traffic falls back to another path or is dropped. Usual causes: the TLOC went down or was withdrawn " +
			"while its routes stayed, a control policy filtered the TLOC but not the routes, a wrong tloc-action or " +
			"TLOC attribute set by policy.",
		check: "show omp routes vpn <vpn> <prefix> detail (status U, the TLOC attribute); show omp tlocs ip <system-ip> " +
			"(is the TLOC there, on which vSmarts?); on the originating edge: show control local-properties, " +
			"show interface for the tunnel; on the vSmarts: the control policy (show running-config policy).",
		settings: "--unresolved-grace (Config.UnresolvedGrace), default 5s. If some sessions could not be decrypted the " +
			"explanation says so: the TLOC may have been advertised there.",
	},
	KindTLOCFlap: {
		sev:     "warning",
		subject: "tloc <system-ip>/<color>/<encap>",
		meaning: "One TLOC path was advertised, changed or withdrawn by UPDATEs more than N times within a window W, " +
			"as seen on one session direction. Withdrawals caused by a session going down are not counted (they are " +
			"peer-state events).",
		matters: "Every TLOC change is re-sent by the vSmarts to every edge, and every edge recomputes its tunnels and " +
			"the routes that use the TLOC: a flapping TLOC churns the whole fabric and drops traffic each time it goes.",
		check: "show omp tlocs ip <system-ip> (on an edge and on the vSmarts); on the device that owns it: " +
			"show control connections, show control connections-history, show interface (transport link flaps), " +
			"show bfd sessions, show tunnel statistics.",
		settings: "--tloc-flap-count N (Config.TLOCFlapCount, default 5) and --tloc-flap-window W " +
			"(Config.TLOCFlapWindow, default 60s): fires on more than N changes within W. The anomaly starts at the " +
			"first change of the window that crossed the threshold and ends at the last change; it closes when W passes " +
			"without a change.",
	},
	KindRouteFlap: {
		sev:     "warning",
		subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip>",
		meaning: "One route path was advertised, changed or withdrawn by UPDATEs more than N times within a window W, " +
			"as seen on one session direction (session-down flushes are not counted).",
		matters: "Each change is reflected to every edge in the VPN and recomputed there; a flapping route costs CPU " +
			"on every device and loses traffic while it is absent. Usual causes: an unstable service-side link or " +
			"routing protocol redistributed into OMP, or a policy that alternates.",
		check: "show omp routes vpn <vpn> <prefix> detail (on the vSmarts and on a receiving edge); on the originating " +
			"edge: show ip route vpn <vpn> <prefix>, the service-side protocol (show ospf neighbor, show bgp summary), " +
			"the redistribution config (omp advertise).",
		settings: "--route-flap-count N (Config.RouteFlapCount, default 5) and --route-flap-window W " +
			"(Config.RouteFlapWindow, default 60s): fires on more than N changes within W.",
	},
	KindDuplicateSystemIP: {
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
	},
	KindSiteIDMismatch: {
		sev:     "warning",
		subject: "site <site-id>  (the site-id the device announces in its OMP HANDSHAKE)",
		meaning: "A device states one site-id in its OMP HANDSHAKE but another in the vdaemon header of its control " +
			"messages, or in the SITE_ID attribute of the routes, TLOCs or services it originates.",
		matters: "Site-ids drive site lists in centralized policies, the default prevention of tunnels inside a site, " +
			"and route selection; a device in the wrong site gets the wrong policy and the wrong tunnels.",
		check: "show running-config system site-id on the device; show omp routes <prefix> detail (SITE-ID) and " +
			"show omp tlocs detail on the vSmarts; vManage device templates (site-id variable).",
		settings: "--merge-window (Config.MergeWindow, default 60s): repeated evidence within the window extends one anomaly.",
	},
	KindVSmartDivergence: {
		sev:     "error",
		subject: "vsmarts <system-ip>,<system-ip> vpn=<vpn>  (lower system-ip first)",
		meaning: "Two vSmarts send a common edge different sets of routes (vpn, prefix, originator, TLOC) in one VPN " +
			"for longer than the convergence window. Only settled, fully observed tables are compared: both sessions " +
			"up, seen from their HANDSHAKE, END_OF_RIB received (or the window passed), no unreadable records.",
		matters: "Edges listen to every vSmart; when the vSmarts disagree, what an edge installs depends on which vSmart " +
			"it heard last, and a vSmart failure changes forwarding. Usual causes: a vSmart-to-vSmart session down, " +
			"different policies on the vSmarts, an edge connected to one vSmart only.",
		check: "show omp peers and show control connections on both vSmarts (is the vSmart mesh complete?); " +
			"show omp routes vpn <vpn> on both vSmarts and on the edge (show omp routes vpn <vpn> detail: FROM PEER); " +
			"compare the active policies (show running-config policy, show policy from-vsmart on the edge).",
		settings: "--convergence-window (Config.ConvergenceWindow), default 10s. A difference resolved inside the window " +
			"is not reported.",
	},
	KindWithdrawUnknown: {
		sev:     "warning",
		subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip> | tloc <system-ip>/<color>/<encap> | service vpn=<vpn> service=<name> originator=<system-ip>",
		meaning: "A peer withdrew a path it had not advertised on this session (or had already withdrawn). The " +
			"originator of a withdrawn route is taken from the path the session had carried, else from an ORIGINATOR " +
			"attribute in the UPDATE, else it is the sender's system-ip. Not reported on tables that were not observed " +
			"from their HANDSHAKE or that lost records to a gap: the advertisement may simply not have been seen.",
		matters: "The two ends disagree about the table: a bug, a lost update, a restart that was not graceful, or two " +
			"devices on one identity. What the receiver holds may not be what the sender believes.",
		check: "show omp routes vpn <vpn> <prefix> detail on both ends; show omp peers (up time, resets); " +
			"show control connections-history; clear omp peer <ip> soft to resynchronize.",
		settings: "--merge-window (Config.MergeWindow, default 60s).",
	},
	KindStaleAfterGR: {
		sev:     "error",
		subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip>",
		meaning: "After graceful restart, a device dropped a path from what it holds (the GR timer expired, or the " +
			"restarted peer's END_OF_RIB did not re-advertise it) but still advertises that path to others longer " +
			"than the grace period, with no other live source for it.",
		matters: "GR keeps forwarding alive while a peer restarts; it must end. A vSmart that keeps reflecting routes it " +
			"no longer holds makes edges send traffic to a site that may be gone (a black hole until the next reset).",
		check: "show omp peers (state, up time), show omp routes vpn <vpn> <prefix> detail on the vSmart (status S, " +
			"FROM PEER) and on the edges receiving it; show omp summary; the graceful-restart timer (omp " +
			"timers graceful-restart-timer); clear omp peer to flush.",
		settings: "--stale-grace (Config.StaleGrace), default 10s. The GR timer is the lower of the two HANDSHAKE values, " +
			"or the timer of a GRACEFUL_RESTART_BEGIN INFORM.",
	},
	KindHoldExpired: {
		sev:     "error",
		subject: "peer <system-ip>  (the device that went silent; the session subject when its system-ip is unknown)",
		meaning: "No OMP message (and no unreadable record) came from one end of an OMP session for the negotiated hold " +
			"time (the lower of the two HANDSHAKE hold-times; the configured default for sessions whose HANDSHAKE was " +
			"not seen), measured in capture time. The other end's hold timer expired; the session is taken down (with " +
			"graceful restart when negotiated). If the silent end is heard again the anomaly ends.",
		matters: "The peer stopped talking: a crash, a congested or broken transport, a firewall or NAT timeout, a CPU " +
			"stall. Its routes go stale (GR) or are withdrawn across the fabric. A capture that lost packets can also " +
			"cause it: check the capture's drop counters.",
		check: "show omp peers (state, last uptime), show control connections and show control connections-history " +
			"(DHSTMO, hello timeouts), show omp summary; on the silent device: show system status, show interface, " +
			"show tunnel statistics.",
		settings: "--default-hold-time (Config.DefaultHoldTime), default 60s, for sessions whose HANDSHAKE was not seen; " +
			"negative disables inference for them.",
	},
	KindAttributeConflict: {
		sev:     "warning",
		subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip> | tloc <system-ip>/<color>/<encap> | service vpn=<vpn> service=<name> originator=<system-ip>",
		meaning: "The same path (a route: vpn, prefix, originator and TLOC; a TLOC: its key; a service: vpn, service, " +
			"originator, TLOC) arrives with different attributes from two sessions, either at the same receiver, or " +
			"from its originator to two vSmarts, for longer than the grace period. For TLOCs, addresses are left to " +
			"tloc-clone and every other attribute is compared. Stale (GR) copies are not compared.",
		matters: "Receivers choose among copies that should be identical; preference, tags or labels that differ " +
			"between vSmarts (policy drift) or between two originals (a cloned device) make best-path selection " +
			"depend on timing.",
		check: "show omp routes vpn <vpn> <prefix> detail on the receiver (one entry per FROM PEER: compare the " +
			"attributes); the control policies on each vSmart; show omp tlocs detail for TLOCs.",
		settings: "--conflict-grace (Config.ConflictGrace), default 10s.",
	},
	KindAlert: {
		sev:     "error (warning for cease)",
		subject: "peer <system-ip>  (the sender of the ALERT)",
		meaning: "A device sent an OMP ALERT (OMP's notification, like BGP's NOTIFICATION) and closed the OMP session. " +
			"The explanation names the code and subcode: message-header-error, handshake-error, update-error, " +
			"hold-timer-expired, state-machine-error, cease (admin-shutdown, peer-deconfigured, admin-reset, " +
			"connection-rejected, other).",
		matters: "The session's routes are withdrawn (no graceful restart on an ALERT). Errors point at a bug or a " +
			"malformed message; cease at an operator or a configuration change.",
		check: "show omp peers, show control connections-history (local and remote error), show logging / " +
			"show log for omp on both ends, the change log in vManage for admin actions.",
		settings: "--merge-window (Config.MergeWindow, default 60s): alerts with the same subject within the window " +
			"extend one anomaly.",
	},
	KindTeardown: {
		sev:     "error",
		subject: "peer <system-ip>  (the sender of the TEAR_DOWN; the session subject when unknown)",
		meaning: "A device tore down a control connection with a vdaemon TEAR_DOWN carrying an error code other than " +
			"NOERR; the explanation gives the code's name (as in show control connections-history) and meaning. " +
			"TEAR_DOWN with NOERR, and DISCVBD on vBond sessions, are normal and not reported.",
		matters: "The control connection and the OMP session over it are gone; routes go stale (GR) or are withdrawn. " +
			"The code says why: certificates, serial numbers, organization names, timeouts, resources.",
		check: "show control connections-history (LOCAL ERROR / REMOTE ERROR), show control connections, " +
			"show certificate validity, show orchestrator valid-vedges / valid-vsmarts, request ... certificate checks.",
		settings: "--merge-window (Config.MergeWindow, default 60s).",
	},
	KindPathLimitExceeded: {
		sev:     "warning",
		subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip>  (originator of the first path beyond the limit, by first sight)",
		meaning: "One session direction carries more live paths for one prefix than the send-path-limit negotiated on " +
			"the session (the lower of the two HANDSHAKE capabilities; default 4).",
		matters: "The sender should never exceed the limit; the receiver may drop the extra paths or reject the UPDATE, " +
			"so ECMP and failover paths silently disappear.",
		check: "show omp routes vpn <vpn> <prefix> (count the paths FROM PEER); show running-config omp " +
			"(send-path-limit) on the vSmart and the edge; show omp peers detail.",
		settings: "No setting; the limit comes from the HANDSHAKEs.",
	},
	KindTLOCClone: {
		sev:     "error",
		subject: "tloc <system-ip>/<color>/<encap>",
		meaning: "The same TLOC key is advertised with different addresses (private or public) on two sessions, either " +
			"to the same receiver or by its owner to two vSmarts, for longer than the grace period.",
		matters: "Edges build tunnels to the addresses of a TLOC; two sets mean two devices using one identity (a cloned " +
			"VM or configuration) or a stale copy. Tunnels go to the wrong box or flap between the two.",
		check: "show omp tlocs ip <system-ip> detail on the vSmarts (private/public addresses per FROM PEER); " +
			"show control connections (the peer addresses); show system status and chassis numbers on the candidates.",
		settings: "--conflict-grace (Config.ConflictGrace), default 10s.",
	},
	KindDecryptionGap: {
		sev:     "warning",
		subject: "session <client ip:port> > <server ip:port>",
		meaning: "Records of this session could not be decrypted or decoded (no key, authentication failure, " +
			"unsupported suite, handshake not seen, malformed plaintext). It starts at the first unreadable record and " +
			"ends at the last one before the session is readable again (open while it stays unreadable).",
		matters: "The analysis can say nothing about what those records carried: routes, TLOCs, state changes and " +
			"anomalies there are missing. It never reports a clean bill of health over them; detectors that compare " +
			"tables skip tables with gaps.",
		check: "The key log (SSLKEYLOGFILE from the device or the lab harness) and --psk for PSK suites; the capture " +
			"(was the handshake captured? packet loss?); ompscope decode on the session to see the reason per record. " +
			"On the devices, show control connections and show omp peers tell whether the session was up, and " +
			"show omp routes received / advertised what it carried.",
		settings: "No setting.",
	},
	KindVSmartMeshIncomplete: {
		sev:     "error; warning or info for a pair never seen",
		subject: "vsmarts <system-ip>,<system-ip>  (lower system-ip first)",
		meaning: "Two vSmarts (devices whose HANDSHAKE says vSmart) are not peering: the OMP session between them was " +
			"seen and has been down for longer than the convergence window; or, reported at the end of the capture, " +
			"the capture never showed a session between them: a warning when the capture evidently sees both vSmarts' " +
			"own traffic (their sessions with edges, or vSmart-to-vSmart sessions not all through one vSmart), else " +
			"info, \"not observed\", which may only mean the capture point does not see their traffic.",
		matters: "vSmarts must form a full mesh to share what each learned; without it an edge attached to one vSmart " +
			"does not learn the routes of edges attached only to the other, and the vSmarts' views diverge.",
		check: "show control connections and show omp peers on each vSmart (the other vSmart should be listed, up); " +
			"show orchestrator connections on the vBond (both vSmarts registered); the vSmarts' reachability, " +
			"certificates (show control connections-history) and the max-control-connections settings.",
		settings: "--convergence-window (Config.ConvergenceWindow), default 15s.",
	},
	KindUntunnelledControl: {
		sev:     "error",
		subject: "session <client ip:port> > <server ip:port>",
		meaning: "A control connection is not tunnelled as Cisco SD-WAN requires: vdaemon/OMP messages seen in the " +
			"clear, outside any DTLS/TLS session (transport plain), a DTLS/TLS session that negotiated a NULL-cipher " +
			"suite (authenticated, not encrypted), or TLS/DTLS older than 1.2 (SSL 3.0, TLS 1.0, TLS 1.1, DTLS 1.0). " +
			"It starts at the first record that shows the problem; every later record of the session is evidence " +
			"(the frames listed) while records keep coming within the merge window.",
		matters: "The control plane carries the whole routing and the TLOCs' IPsec parameters; whoever sees it in the " +
			"clear learns the topology, and in the clear it can be altered. Old (D)TLS versions have known attacks.",
		check: "show control connections (PROTOCOL column: dtls/tls), show control local-properties (the security " +
			"settings), show running-config security control (protocol, TLS port), the device's software version " +
			"(show version); on the path, whether a middlebox terminates or downgrades the session.",
		settings: "--merge-window (Config.MergeWindow, default 60s).",
	},
	KindNotDistributed: {
		sev:     "error",
		subject: "route vpn=<vpn> prefix=<prefix> originator=<system-ip> | tloc <system-ip>/<color>/<encap>",
		meaning: "OMP distributes every route and TLOC; this one was not. Route: an edge E advertised it to a vSmart and " +
			"an edge F never held it (same vpn, prefix and originator, any path, from any vSmart) for the " +
			"distribution window, where F is expected to: F has an up OMP session with a vSmart that the capture saw " +
			"from the vSmart's HANDSHAKE (or END_OF_RIB) with no unreadable record on any of F's sessions with " +
			"vSmarts, F has received some route of that VPN from a vSmart (it is in the VPN), and F has received some " +
			"route or TLOC originated by E from a vSmart (no policy keeps E's paths from F). The explanation lists " +
			"the missing receivers. It ends when the route reaches them or E withdraws it. TLOC: an edge advertised " +
			"its TLOC to a vSmart that has other up, fully observed OMP sessions (to edges or vSmarts) and reflected " +
			"it on none of them for the window. Receivers with decryption gaps, sessions not seen from their start, " +
			"edges outside the VPN and edges a policy isolates from E are not judged (never a false alarm for what " +
			"the capture could not see).",
		matters: "A route that does not reach an edge is traffic that edge cannot send over the overlay: it falls back " +
			"to a default route or is dropped. A TLOC that is not reflected means no edge builds a tunnel to it, so " +
			"every route through it is unresolved. Usual causes: a control policy that rejects more than intended, " +
			"a vSmart that lost or did not process the UPDATE, the vSmarts not in full mesh, a route limit.",
		check: "show omp routes vpn <vpn> <prefix> detail on the vSmarts (received from the originator? status, " +
			"FROM PEER) and on the edges that lack it; show omp tlocs (and show omp tlocs received / advertised) " +
			"on the vSmart and the edges; show omp peers (are the sessions up?); the control policy on the vSmarts " +
			"(show running-config policy, apply-policy) and on the edge show policy from-vsmart.",
		settings: "Config.DistributionWindow, default 30s (no command-line flag yet). A path that arrives inside the " +
			"window is not reported; the capture ending before the window passes reports nothing.",
	},
}

// Explain returns the --explain text of a kind: what it means, why it
// matters, what to check on the devices, its subject form and settings.
func Explain(k Kind) (string, bool) {
	e, ok := explainTexts[k]
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.WriteString(string(k) + " (severity " + e.sev + ")\n\n")
	b.WriteString("Subject: " + e.subject + "\n\n")
	b.WriteString("What it means:\n" + wrap(e.meaning, 76, "  ") + "\n")
	b.WriteString("Why it matters:\n" + wrap(e.matters, 76, "  ") + "\n")
	b.WriteString("What to check on the devices:\n" + wrap(e.check, 76, "  ") + "\n")
	b.WriteString("Settings:\n" + wrap(e.settings, 76, "  "))
	return b.String(), true
}

func wrap(s string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, w := range strings.Fields(s) {
		if len(line) > len(indent) && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += w
	}
	if len(line) > len(indent) {
		b.WriteString(line + "\n")
	}
	return b.String()
}
