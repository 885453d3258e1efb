package analyze

import "time"

// Config holds the analyzer's settings. The zero value of every field
// means its default (listed on the field); use negative values where a
// field documents them to switch something off.
type Config struct {
	// OnEvent receives every timeline event, in capture-time order, as it
	// happens. The event is the caller's to keep. nil: no events are built
	// (faster).
	OnEvent func(*Event)
	// OnEventJSON receives every timeline event, its time and its NDJSON line
	// (without the newline; valid during the call), the same bytes as
	// Event.AppendJSON. With OnEvent nil, row events are then built
	// without allocating (the way `analyze --timeline` writes them).
	OnEventJSON func(t time.Time, line []byte)
	// TimelineFilter keeps, of the timeline (OnEvent, OnEventJSON), the
	// row events of the rows it keeps (VPN, prefix, color, and tables sent
	// or received by Peer), and the session and anomaly events about Peer
	// (all of them when Peer is empty).
	TimelineFilter Filter

	// RouteFlapCount and RouteFlapWindow: route-flap fires when one route
	// path changes (advertised, changed or withdrawn by an UPDATE) more
	// than RouteFlapCount times within RouteFlapWindow, as seen on one
	// session direction. Defaults 5 and 60s.
	RouteFlapCount  int
	RouteFlapWindow time.Duration
	// TLOCFlapCount and TLOCFlapWindow: the same for TLOC paths. Defaults
	// 5 and 60s.
	TLOCFlapCount  int
	TLOCFlapWindow time.Duration

	// ConvergenceWindow: vsmart-divergence fires when two vSmarts send a
	// common receiver different route sets in a VPN for longer than this.
	// Default 15s.
	ConvergenceWindow time.Duration
	// ConflictGrace: attribute-conflict and tloc-clone fire when the
	// condition lasts longer than this (so that a change still travelling
	// through the fabric is not reported). Default 10s.
	ConflictGrace time.Duration
	// DistributionWindow: not-distributed fires when a route or TLOC an
	// edge advertised has not reached, after this long, a receiver the
	// rule expects it at (see Explain(KindNotDistributed) and
	// docs/timeline.md). Default 30s.
	DistributionWindow time.Duration
	// UnresolvedGrace: unresolved-route fires when a route's TLOC has been
	// absent from the whole fabric for this long. Default 5s.
	UnresolvedGrace time.Duration
	// StaleGrace: stale-after-gr fires when a vSmart still advertises a
	// route this long after the GR flush that should have removed it.
	// Default 10s.
	StaleGrace time.Duration
	// MergeWindow: repeated occurrences of an instantaneous anomaly (alert,
	// teardown, withdraw-unknown, site-id-mismatch) with the same subject
	// within this window extend one anomaly. Default 60s.
	MergeWindow time.Duration
	// TrustedIssuers are certificate issuers (RFC 2253 form, "CN=Acme
	// Root CA,O=Acme") taken as the fabric's, besides those the
	// controllers present (rogue-certificate).
	TrustedIssuers []string
	// DefaultHoldTime is the OMP hold time assumed for a session whose
	// HANDSHAKEs were not seen (it started before the capture). Default
	// 60s; negative: do not infer hold expiry for such sessions.
	DefaultHoldTime time.Duration

	// HistoryPerRow is the number of versions kept per row (at least
	// max(RouteFlapCount, TLOCFlapCount)+2). Default 8.
	HistoryPerRow int
	// Retention says how much history is kept. Positive: history older
	// than this (in capture time) is pruned, withdrawn rows, older
	// versions, dead tables and closed sessions alike (live capture).
	// 0 (the default): withdrawn rows leave memory once the longest
	// detector window (Window) has passed, so memory follows the live
	// tables (a live row keeps at most HistoryPerRow versions); sessions
	// and tables stay for the summary. A positive value below Window is
	// taken as Window. Negative: everything is kept (HistoryPerRow still bounds the
	// versions per row), so Snapshot and Diff answer for any past instant.
	// Snapshots at instants listed in SnapshotAt are exact whatever is
	// pruned; others before the horizon are marked inexact.
	Retention time.Duration
	// SnapshotAt lists instants whose tables are wanted after the run
	// (--at, --diff): each is snapshotted as the capture goes past it, so
	// one pass over the capture answers them exactly. Snapshot and Diff at
	// such an instant return what was kept.
	SnapshotAt []Instant
	// MaxAnomalies bounds the anomalies kept (oldest closed ones are
	// dropped first and counted). Default 10000.
	MaxAnomalies int
	// MaxSessions bounds the sessions the analyzer holds at once
	// (default DefaultMaxSessions, 1 048 576; each costs about 2 KB with
	// its detector state, more with its tables). The records, gaps and
	// ends of a session new while it holds as many are not analyzed: they
	// are counted in Stats.SessionsRefused and the summary tells it (as
	// when the capture point does not see a session; detectors that judge
	// a session's absence do not then call it evident). With Retention
	// positive, sessions down for longer than it leave memory and make
	// room again; with Retention 0, sessions stay for the summary.
	MaxSessions int
	// MaxPaths bounds the route, TLOC and service paths (rows: one path in
	// one table, live or kept withdrawn for a detector's window) the
	// analyzer holds at once (default DefaultMaxPaths, 16 777 216: about
	// 2 GB at some 120 bytes each; the 2 000-edge scale capture holds 7.9
	// M). A path new while it holds as many is not kept: counted in
	// Stats.PathsRefused, told on the summary's Limits line, and its table
	// is then incomplete, as one with unreadable records (not-distributed,
	// vsmart-divergence and withdraw-unknown do not judge what it lacks);
	// unresolved-route, once a TLOC path was not kept, and stale-after-gr,
	// once a path of a group's kind was not, raise no new notice.
	MaxPaths int
	// MaxEvidence bounds the evidence frame numbers kept per anomaly (the
	// count is always exact). Default 16.
	MaxEvidence int
	// PendingMinAge: at Finish, a condition that has held at least this
	// long but not yet for its grace or window (the capture ended first)
	// is reported, as unconfirmed with severity info. Default 1s; negative:
	// never.
	PendingMinAge time.Duration

	// Record keeps every version of every row and every session state
	// change, whatever Retention prunes, for History (the report). Off
	// by default.
	Record bool
	// RecordMax bounds the versions Record keeps (default
	// DefaultRecordMax, about 20 bytes each); the rest are counted in
	// History.Dropped.
	RecordMax int

	// reference holds the tests' switches to the slow, plain ways the
	// shortcuts are checked against (per analyzer, so tests may run side
	// by side).
	reference referenceWays
}

// referenceWays: each on, the analyzer works the plain way.
type referenceWays struct {
	// tellAll tells every watcher every event, filter or not: the
	// reference TestEventFiltersChangeNothing holds the filters to.
	tellAll bool
	// allPairs makes every change compare every pair of its buckets
	// (mayConflict): the reference TestConflictMarksMatchAllPairs holds
	// mayConflictWith to.
	allPairs bool
	// wqCompactMin, when not 0, replaces wqCompactMin (1: the withdrawn
	// queue is compacted at every withdrawal; very large: never).
	wqCompactMin int
}

// Instant names a moment of the capture: an absolute time, an offset from
// the capture's first input, or its end.
type Instant struct {
	Time   time.Time     // absolute (when not zero)
	Offset time.Duration // from the capture start (when Time is zero and End is false)
	End    bool          // the end of the capture (Finish)
}

// Window is the longest time a detector looks back: withdrawn rows and
// superseded versions older than this are no longer needed by any
// detector (Retention 0).
func (c Config) Window() time.Duration {
	return max(c.RouteFlapWindow, c.TLOCFlapWindow, c.ConvergenceWindow, c.ConflictGrace, c.DistributionWindow,
		c.UnresolvedGrace, c.StaleGrace)
}

// Defaults of Config.
const (
	DefaultFlapCount          = 5
	DefaultFlapWindow         = 60 * time.Second
	DefaultConvergenceWindow  = 15 * time.Second
	DefaultConflictGrace      = 10 * time.Second
	DefaultUnresolvedGrace    = 5 * time.Second
	DefaultDistributionWindow = 30 * time.Second
	DefaultStaleGrace         = 10 * time.Second
	DefaultMergeWindow        = 60 * time.Second
	DefaultOMPHoldTime        = 60 * time.Second
	DefaultHistoryPerRow      = 8
	DefaultMaxAnomalies       = 10000
	DefaultMaxEvidence        = 16
	DefaultMaxSessions        = 1 << 20
	DefaultMaxPaths           = 1 << 24
)

func (c Config) withDefaults() Config {
	if c.RouteFlapCount <= 0 {
		c.RouteFlapCount = DefaultFlapCount
	}
	if c.RouteFlapWindow <= 0 {
		c.RouteFlapWindow = DefaultFlapWindow
	}
	if c.TLOCFlapCount <= 0 {
		c.TLOCFlapCount = DefaultFlapCount
	}
	if c.TLOCFlapWindow <= 0 {
		c.TLOCFlapWindow = DefaultFlapWindow
	}
	if c.ConvergenceWindow <= 0 {
		c.ConvergenceWindow = DefaultConvergenceWindow
	}
	if c.ConflictGrace <= 0 {
		c.ConflictGrace = DefaultConflictGrace
	}
	if c.DistributionWindow <= 0 {
		c.DistributionWindow = DefaultDistributionWindow
	}
	if c.UnresolvedGrace <= 0 {
		c.UnresolvedGrace = DefaultUnresolvedGrace
	}
	if c.StaleGrace <= 0 {
		c.StaleGrace = DefaultStaleGrace
	}
	if c.MergeWindow <= 0 {
		c.MergeWindow = DefaultMergeWindow
	}
	if c.DefaultHoldTime == 0 {
		c.DefaultHoldTime = DefaultOMPHoldTime
	}
	if c.HistoryPerRow <= 0 {
		c.HistoryPerRow = DefaultHistoryPerRow
	}
	if m := max(c.RouteFlapCount, c.TLOCFlapCount) + 2; c.HistoryPerRow < m {
		c.HistoryPerRow = m
	}
	if c.MaxAnomalies <= 0 {
		c.MaxAnomalies = DefaultMaxAnomalies
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxPaths <= 0 {
		c.MaxPaths = DefaultMaxPaths
	}
	if c.MaxEvidence <= 0 {
		c.MaxEvidence = DefaultMaxEvidence
	}
	if c.PendingMinAge == 0 {
		c.PendingMinAge = time.Second
	}
	return c
}
