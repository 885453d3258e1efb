// Package analyze is ompscope's analysis engine: decoded control-plane
// messages in, state tables and events out, and notices ("anomalies") that
// explain themselves. It follows Zeek's model: the dissector feeds it one
// event at a time in capture order, it keeps per-connection and per-fabric
// state, and it emits a stream of timeline events (route.add, peer.state,
// anomaly.start, ...) through Config.OnEvent.
//
// It knows nothing about packets or cryptography. Its input (input.go) is:
//
//   - Message(*Input): the decoded vdaemon message of one record, with the
//     OMP messages of a DATA message, the session it belongs to
//     (*SessionInfo: addresses, transport, suite, version, key source, NULL
//     cipher) and its direction. A decode error is passed in Input.Err.
//   - Gap(*Gap): records of a session that could not be decrypted, with a
//     reason ("no-key", "auth-failed", ...), a count, the direction when
//     known, and Gap.Start when a report covers a span (records that waited
//     for a key and were given up on later).
//   - SessionEnd: the connection closed (TCP FIN/RST, a DTLS/TLS
//     close_notify or fatal alert), with the reason.
//   - Advance: capture time moved (call it for every packet, so timers fire
//     on time even when no record decodes).
//   - Finish: the capture ended.
//
// Capture time never goes back: an input older than the clock is processed
// at the clock.
//
// # State
//
// Per control connection (session): the peer state machine at two layers,
// "control" (connect, challenge, up, down) and "omp" (none, handshake, up,
// down-in-gr, init-in-gr, down), who the two ends are (system-ip, site-id,
// device type, domain, from the OMP HANDSHAKE and the vdaemon header; a
// device whose HANDSHAKE was not seen is named from another session's
// HANDSHAKE from the same address, or, for an edge, from the TLOCs it
// advertises), and the negotiated timers: OMP hold-time (the lower of the two
// HANDSHAKEs; 0 disables it), vdaemon hello interval and tolerance, the
// graceful-restart (GR) timer (GR is on when both ends set the GR flag; the
// timer is the lower of the two, or the timer of a GRACEFUL_RESTART_BEGIN
// INFORM) and send-path-limit (the lower of the two; default 4).
//
// A session goes down on a TEAR_DOWN (with GR unless the code is NOERR), a
// connection close (with GR), silence from one end for the vdaemon hello
// tolerance (with GR), an OMP ALERT (OMP only, no GR), or silence of OMP
// alone for the hold time (OMP only, no GR: the hold-expired anomaly).
//
// Per OMP session direction (sender → receiver): a table of routes (vpn,
// prefix, path-id; the originator is the ORIGINATOR attribute), TLOCs
// (system-ip, color, encap, path-id) and service routes (vpn, service,
// originator, path-id), each row with its attributes. Every row keeps a
// bounded history of versions (Config.HistoryPerRow), so the tables can be
// rebuilt as they stood at any past instant (Snapshot) and compared between
// two instants (Diff). A row's status uses Cisco's vocabulary: R (resolved:
// the receiver holds the route's TLOC, learned from any of its peers), U
// (TLOC unresolved), S (stale: its sender is in graceful restart and has not
// re-advertised it since), Inv (invalid: no TLOC or no ORIGINATOR attribute
// on a route, no TLOC on a service, no address on a TLOC). Withdrawn rows
// stay in the history as long as a detector window needs them (Memory).
//
// When an OMP session is lost with GR negotiated, both directions' tables
// are kept, stale, until the GR timer expires or, once the two devices have a
// new session (which takes the tables over), until each sender's END_OF_RIB
// flushes what it did not re-advertise. Without GR they are flushed at once.
//
// The fabric view (Fabric) says, per device, what it received and what it
// advertised over the live tables.
//
// # Detectors
//
// Each detector is a Kind (see Kinds, and Explain for what each means, why
// it matters and what to check on the devices) with a severity, a canonical
// subject string (the forms of pcaps/manifest), a start and an end in
// capture time, evidence frame numbers and a one-sentence explanation.
// Conditions (unresolved-route, vsmart-divergence, attribute-conflict,
// tloc-clone, stale-after-gr, path-limit-exceeded, duplicate-system-ip,
// hold-expired, flaps, vsmart-mesh-incomplete, not-distributed) start when the condition
// began and end when it stops; those with a grace period or window (Config)
// are raised only once they have held that long, with their true start.
// Occurrence anomalies (alert, teardown, withdraw-unknown, site-id-mismatch,
// decryption-gap, untunnelled-control) merge occurrences closer than
// Config.MergeWindow and end at the last one. At
// Finish, conditions that began at least Config.PendingMinAge before the end
// but could not yet be confirmed are reported with severity info, marked
// "Unconfirmed". Flaps follow the simulator's definition: a path flaps while
// more than N of its changes (a re-advertisement, a change or a withdrawal;
// not its first advertisement, not a session-down flush) lie in the last W.
//
// Analyses that compare tables never trust a table the capture could not
// see whole: tables not observed from their HANDSHAKE (the capture began
// mid-session) or with unreadable records are skipped by vsmart-divergence
// and withdraw-unknown, and every unreadable span is a decryption-gap
// anomaly.
//
// The package pcaps/manifestcheck compares an analysis with a simulator manifest
// (anomalies within a tolerance, final tables row by row).
//
// # Core and detectors
//
// The analyzer is a state core (sessions, peers, tables, interning, the
// clock and timers, notices) and detectors, one file each (detect_*.go,
// listed in registry.go), that the core tells what changed (detector.go)
// and that keep their own indexes: each change costs what it touches.
// docs/analyzer.md describes the design.
//
// # Memory
//
// Memory follows the live tables, not the capture: with Retention 0 (the
// default, for files) a withdrawn row leaves memory once the longest
// detector window (Config.Window) has passed; sessions and tables stay for
// the summary. A row costs 80 bytes plus its place in its table and group
// (older versions, when it changed, apart). Attribute sets are interned,
// so rows that share attributes share memory. Instants asked for with
// Config.SnapshotAt are snapshotted as the capture goes past them, exact
// whatever is pruned. Retention > 0 (live capture) prunes older history,
// dead tables and closed sessions too; Retention < 0 keeps everything.
//
// # Concurrency
//
// An Analyzer is not safe for concurrent use: one goroutine feeds it and
// reads it (as the dissector pipeline does).
package analyze
