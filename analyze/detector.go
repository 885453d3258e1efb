package analyze

import (
	"net/netip"
	"slices"
	"time"

	"github.com/ompscope/ompscope/dissect/omp"
	"github.com/ompscope/ompscope/dissect/vdaemon"
)

// The analysis is a state core (sessions, peers, tables, interning, the
// clock and its timers, the notices) and detectors: policies that watch
// what the core changes, keep their own small indexes, and raise or end
// notices through the core (condSet, condClear, instant). Zeek's model:
// events in, state tables, notices out, policy apart from the core.
//
// A detector is one file (detect_*.go) holding its kinds (name, severity,
// subject form, --explain text), its settings and their command-line
// flags, and its evaluation; registry.go lists them all. A newcomer adds a
// detector by adding a file and a line there.
//
// The core tells a detector what changed through the hooks it implements:
//
//   - rowWatcher: a row was advertised, changed or withdrawn (after the
//     core applied it; called for every row change, so it must cost what
//     it touches);
//   - eventWatcher: anything else the core saw or decided (sessions,
//     messages, GR, TLOCs coming and going, ...; see coreEvent);
//   - ticker: evaluate what changed, once the clock is about to move on
//     (several changes at one instant are evaluated together);
//   - finisher: the capture ended.
type detector interface{}

type rowWatcher interface{ rowChanged(c *rowChange) }
type eventWatcher interface{ event(e *coreEvent) }

// eventFilter is implemented by an eventWatcher that is told only some
// kinds of event: eventKinds returns them as bits (1 << kind). A watcher
// without it is told every event. (Most detectors want one kind, and
// every record is told as three events: the calls that returned at once
// were 3 % of `analyze` on the churn capture.)
type eventFilter interface{ eventKinds() uint64 }

type ticker interface{ tick(now int64) }
type finisher interface{ finish(now int64) }

// groupHolder is implemented by detectors that keep state about groups:
// a group leaves memory only when no detector holds it.
type groupHolder interface{ holdsGroup(g *group) bool }

// rowChange is one change of a row, as the detectors see it.
type rowChange struct {
	r            *row
	old, new     *Attrs // nil: absent (advertised / withdrawn)
	now          int64
	frame        uint64
	why          uint8
	counted      bool // an UPDATE-driven change (flaps count it)
	wasOwn       bool // r was, is one of its owner's own advertisements
	isOwn        bool
	firstInTable bool   // the table's first live path of its kind
	rekey        bool   // not a change: the row's receiver or owner was learned
	oldRK        uint32 // with rekey: the receiver key the row had
}

// evKind says what a coreEvent reports.
type evKind uint8

const (
	// evRecord: a record of session s (decoded or not) was seen.
	evRecord evKind = iota
	// evGap: n records of s (directions dirs) could not be read; reason.
	evGap
	// evCaptureGap: part of the capture could not be read at all (cg).
	evCaptureGap
	// evSessionChanged: the control or OMP state of s changed, or it
	// learned something that changes which tables count (sessions,
	// synced tables, ...).
	evSessionChanged
	// evTableChanged: what table t means changed (GR began or ended, it
	// was adopted, synced or found incomplete).
	evTableChanged
	// evHandshake: side sd sent an OMP HANDSHAKE.
	evHandshake
	// evHeader: a vdaemon header from side sd.
	evHeader
	// evAttrSite: paths originated by orig (what) carry attributes at,
	// sent by their originator on s.
	evAttrSite
	// evTeardown: side d of s sent a TEAR_DOWN.
	evTeardown
	// evAlert: side d of s sent an OMP ALERT.
	evAlert
	// evHoldExpired: the OMP hold timer for side sd expired (om: when).
	evHoldExpired
	// evPeerBack: side sd of s spoke OMP again, or both HANDSHAKEs were
	// exchanged: a hold expiry of sd (or of any side, with sd nil) ends.
	evPeerBack
	// evWithdrawUnknown: a withdraw of a path the sender had not
	// advertised (r: the row, if it was withdrawn before).
	evWithdrawUnknown
	// evTLOC: a TLOC came to the fabric (up) or left it (its last row
	// was withdrawn).
	evTLOC
	// evFlushed: a GR flush withdrew row r, which receiver recv had held.
	evFlushed
	// evClaim, evUnclaim, evIdentity: side sd claims its system-ip, gives
	// up the claim, or says something new about itself (color, chassis).
	evClaim
	evUnclaim
	evIdentity
	// evDup: whether system-ip recv is claimed by two devices changed.
	evDup
	// evDropped: table t (or session s) left memory (Retention > 0):
	// forget what is kept about it.
	evDropped
	// evSessionInfo: s learned facts before any record (its
	// certificates, Analyzer.SessionSeen).
	evSessionInfo
	// evPathLimit: the send-path-limit the tables of s (or table t alone,
	// adopted by s in graceful restart) are held to fell below n, the
	// limit their rows were counted against.
	evPathLimit
	// evVDaemon: side sd of s sent vdaemon message vd (after its evHeader,
	// before the core acted on the body).
	evVDaemon
	// evRefused: the first path of kind n (kRoute, kTLOC, kService) was
	// not kept (Config.MaxPaths): detectors that judge a path's absence
	// let go of the notices they have not raised yet.
	evRefused
	evKinds // the number of kinds
)

// eventKinds' bits hold every kind.
var _ [64 - evKinds]struct{}

// coreEvent is one thing the core saw or decided, for the detectors. Which
// fields are set depends on kind (see the evKind constants).
type coreEvent struct {
	kind   evKind
	now    int64
	since  int64
	frame  uint64
	s      *session
	sd     *side
	d      int
	t      *table
	r      *row
	at     *Attrs
	n      int
	dirs   []int
	what   string
	reason string
	orig   netip.Addr
	up     bool
	any    bool
	tloc   tlocID
	recv   uint32
	td     *vdaemon.TearDown
	vd     *vdaemon.Message
	alert  *omp.Alert
	upd    *omp.Update
	nlri   *omp.NLRI
	cg     *CaptureGap
}

// Flag is a detector setting as a command-line flag: the command
// registers Flags() and writes their values into a Config.
type Flag struct {
	Name  string
	Usage string
	// Int, Dur or Strs points at the Config field the flag sets (one of
	// them; Strs: a repeatable flag, each use adds a value).
	Int  func(*Config) *int
	Dur  func(*Config) *time.Duration
	Strs func(*Config) *[]string
	// DefInt, DefDur are the defaults shown in --help.
	DefInt int
	DefDur time.Duration
	// Negative allows a negative value (it means "off"); otherwise the
	// value must be positive.
	Negative bool
}

// detectorDef is a detector's entry in the registry.
type detectorDef struct {
	name  string
	flags []Flag
	make  func(a *Analyzer) detector
}

// kindDef is one kind of notice: its name, who raises it, and its
// --explain text.
type kindDef struct {
	kind Kind
	det  *detectorDef
	explainText
}

// Flags lists every detector setting that has a command-line flag, in
// registry order.
func Flags() []Flag {
	var out []Flag
	seen := map[*detectorDef]bool{}
	for _, k := range kindDefs {
		if k.det != nil && !seen[k.det] {
			seen[k.det] = true
			out = append(out, k.det.flags...)
		}
	}
	return append(out, coreFlags...)
}

// Kinds lists every detector kind, in the order of the summary.
func Kinds() []Kind {
	out := make([]Kind, len(kindDefs))
	for i, k := range kindDefs {
		out[i] = k.kind
	}
	return out
}

// newDetectors makes one of each registered detector and sorts them into
// the hooks they implement.
func (a *Analyzer) newDetectors() {
	seen := map[*detectorDef]bool{}
	for _, k := range kindDefs {
		if k.det == nil || seen[k.det] {
			continue
		}
		seen[k.det] = true
		d := k.det.make(a)
		a.dets = append(a.dets, d)
		if w, ok := d.(rowWatcher); ok {
			a.rowW = append(a.rowW, w)
		}
		if w, ok := d.(eventWatcher); ok {
			kinds := ^uint64(0)
			if f, ok := d.(eventFilter); ok && !a.cfg.reference.tellAll {
				kinds = f.eventKinds()
			}
			for k := range evKinds {
				if kinds&(1<<k) != 0 {
					a.evByKind[k] = append(a.evByKind[k], w)
				}
			}
		}
		if w, ok := d.(ticker); ok {
			a.tickers = append(a.tickers, w)
		}
		if w, ok := d.(finisher); ok {
			a.finishers = append(a.finishers, w)
		}
		if w, ok := d.(groupHolder); ok {
			a.holders = append(a.holders, w)
		}
	}
}

// tell hands a core event to every detector that watches events.
func (a *Analyzer) tell(e *coreEvent) {
	for _, w := range a.evByKind[e.kind] {
		w.event(e)
	}
}

// tellv tells an event from a slot the analyzer keeps, not the heap: the
// per-record events (three per message) cost an allocation each when
// told as &coreEvent{}. A detector never keeps the pointer past event
// (closures copy what they need); an event told while another is told
// takes the next slot.
func (a *Analyzer) tellv(e coreEvent) {
	if a.evDepth == len(a.evSlots) {
		a.tellDeep(e)
		return
	}
	p := &a.evSlots[a.evDepth]
	*p = e
	a.evDepth++
	a.tell(p)
	a.evDepth--
	*p = coreEvent{}
}

// tellDeep tells e from a copy of its own, past the slots' depth. Apart
// from tellv so that only this copy goes to the heap: with &e taken in
// tellv itself, every event was allocated (a tenth of the analyzer's
// allocations on the churn capture).
//
//go:noinline
func (a *Analyzer) tellDeep(e coreEvent) { a.tell(&e) }

// marks is a set of keys a detector marked for evaluation at the next
// tick. take returns them in the order cmp gives (map order must reach no
// output) and empties the set.
type marks[K comparable] struct {
	m     map[K]struct{}
	order []K
}

func (s *marks[K]) mark(k K) {
	if s.m == nil {
		s.m = map[K]struct{}{}
	}
	s.m[k] = struct{}{}
}

func (s *marks[K]) take(cmp func(x, y K) int) []K {
	if len(s.m) == 0 {
		return nil
	}
	ks := s.order[:0]
	for k := range s.m {
		ks = append(ks, k)
	}
	clear(s.m)
	slices.SortFunc(ks, cmp)
	s.order = ks[:0]
	return ks
}

// detectorOf returns the analyzer's detector of type T, if it has one.
func detectorOf[T any](a *Analyzer) (T, bool) {
	for _, d := range a.dets {
		if x, ok := d.(T); ok {
			return x, true
		}
	}
	var none T
	return none, false
}
