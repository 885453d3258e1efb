package synth

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Options configure one simulated capture. The zero value of a field means
// "the scenario's default".
type Options struct {
	// Scenario is the scenario name (see Scenarios).
	Scenario string
	// Seed drives everything the simulator decides: fabric, addresses,
	// routes, timings, message contents. The same seed (and options) give
	// the same decrypted message sequence and the same manifest.
	Seed int64
	// Edges is the number of edge routers (default 6, or the scenario's
	// DefaultEdges: 4 for churn; at least the scenario's MinEdges, 2 or
	// 3; at most 4000).
	Edges int
	// Routes, when not 0, is the total number of route paths (prefix ×
	// TLOC, as `show omp routes received` counts them) the edges
	// originate, spread evenly over the edges; 0 gives each edge a small
	// hand-made table (a few routes per VPN), or the scenario's
	// DefaultRoutes when it has one (churn: 5 000).
	Routes int
	// Duration is the virtual length of the capture: whole milliseconds,
	// 30 s to 24 h, and long enough for the scenario (the default: the
	// longer of 30 s and the time the edges take to boot and converge,
	// about 20 s/edges apart and at most 0.8 s, plus the scenario's Tail,
	// rounded up to the second).
	Duration time.Duration
	// TLSFraction is the share of edges whose vManage and vSmart control
	// connections run TLS over TCP 23456 instead of DTLS (default 0.2,
	// at least one edge when it is above 0; set NoTLS for none).
	TLSFraction float64
	NoTLS       bool
	// IPv6Fraction is the share of edges whose primary TLOC, and so whose
	// control connections, use an IPv6 underlay (default 0.2, at least
	// one edge when above 0; NoIPv6 for none).
	IPv6Fraction float64
	NoIPv6       bool
	// Suites restricts the cipher suites (IANA names). DTLS sessions take
	// the pion/dtls suites of the list in turn, TLS sessions the
	// crypto/tls ones, the PSK session the PSK ones. Empty: all.
	Suites []string
	// NoPSK drops the one DTLS session that uses a pre-shared key.
	NoPSK bool
	// Impair is the rate p (0 to 0.5) of datagram impairments, DTLS
	// only: a DTLS session loses its first handshake datagram with
	// probability 5p (pion retransmits it); a client's vdaemon HELLO is
	// lost before the capture point with probability p; an application
	// datagram is duplicated with probability p/2; a DATA datagram of a
	// burst is overtaken by the next with probability p/2. Default 0.02;
	// NoImpair for none.
	Impair   float64
	NoImpair bool
	// Background is the rate of unrelated packets per second (DNS, ICMP,
	// NTP, other UDP and TCP). Default 2; NoBackground for none.
	Background   float64
	NoBackground bool
	// VLAN tags the frames of vSmart 2's sessions with this 802.1Q VLAN
	// id (default 102; NoVLAN for untagged frames).
	VLAN   int
	NoVLAN bool
	// MTU is the underlay MTU (default 1500); larger datagrams are sent as
	// IP fragments, TCP segments are cut at MTU-40 (-60 for IPv6).
	MTU int
	// MaxUpdate is the largest OMP UPDATE the speakers send, and the
	// largest vdaemon DATA payload UPDATEs are packed into, in bytes
	// (default 4000, at most 8000 so a DTLS record fits pion's 8 KiB
	// receive buffer).
	MaxUpdate int
	// Tables is "full" (list every path of every final table in the
	// manifest), "counts" (counts only) or "" (full unless the scenario
	// is scale and the run has more than 20 000 route paths).
	Tables string
	// Progress, when not nil, receives a progress line about every
	// second of wall time.
	Progress io.Writer
}

// Scenario describes one scenario.
type Scenario struct {
	Name      string
	Summary   string   // one line, for --list
	Anomalies []string // the anomaly kinds its manifest lists
	// Tail is how long the scenario's events need once the fabric has
	// converged.
	Tail     time.Duration
	MinEdges int
	// DefaultEdges and DefaultRoutes, when not 0, replace the defaults of
	// Options.Edges (6) and Options.Routes (the hand-made tables).
	DefaultEdges  int
	DefaultRoutes int
	VSmarts       int    // vSmarts in the fabric: 2 (0: 2) or 3
	HoldTime      uint16 // OMP hold time of every device; 0: the default 60 s
	GRTimer       uint32 // graceful-restart timer of every device; 0: the default 43 200 s
	// prepare changes the fabric before the sessions are planned;
	// build plans the scenario's events after.
	prepare func(sm *sim) error
	build   func(sm *sim) error
	// noSample: no sample of it is committed in pcaps/ (Samples leaves
	// it out): its captures are too large.
	noSample bool
}

// Scenarios lists the scenarios in a fixed order.
func Scenarios() []Scenario {
	out := make([]Scenario, len(scenarioList))
	copy(out, scenarioList)
	return out
}

// FindScenario returns the scenario with that name.
func FindScenario(name string) (Scenario, bool) {
	for _, s := range scenarioList {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// resolved options: every default filled in.
type config struct {
	Options
	sc         Scenario
	dtlsSuites []string
	tlsSuites  []string
	pskSuites  []string
	track      bool // keep every final table path (not only counts)
}

func (o Options) resolve() (*config, error) {
	sc, ok := FindScenario(o.Scenario)
	if !ok {
		return nil, fmt.Errorf("unknown scenario %q (try --list)", o.Scenario)
	}
	c := &config{Options: o, sc: sc}
	if c.Edges == 0 {
		c.Edges = 6
		if sc.DefaultEdges != 0 {
			c.Edges = sc.DefaultEdges
		}
	}
	if c.Routes == 0 {
		c.Routes = sc.DefaultRoutes
	}
	if c.Edges < sc.MinEdges {
		return nil, fmt.Errorf("scenario %s needs at least %d edges, have %d", sc.Name, sc.MinEdges, c.Edges)
	}
	if c.Edges > maxEdges {
		return nil, fmt.Errorf("at most %d edges, have %d", maxEdges, c.Edges)
	}
	if c.Routes < 0 || c.Routes > maxRoutes {
		return nil, fmt.Errorf("--routes must be between 0 and %d, have %d", maxRoutes, c.Routes)
	}
	if c.Routes > 0 && c.Routes < c.Edges {
		return nil, fmt.Errorf("--routes %d is below one route per edge (%d edges)", c.Routes, c.Edges)
	}
	need := time.Duration(steadyBound(c.Edges)) + sc.Tail
	if c.Duration == 0 {
		c.Duration = max(30*time.Second, need.Truncate(time.Second)+time.Second)
	}
	if c.Duration < 30*time.Second || c.Duration > 24*time.Hour {
		return nil, fmt.Errorf("--duration must be between 30s and 24h, have %v", c.Duration)
	}
	if c.Duration < need {
		return nil, fmt.Errorf("scenario %s with %d edges needs a --duration of at least %v, have %v", sc.Name, c.Edges, need.Round(time.Second), c.Duration)
	}
	if c.Duration%time.Millisecond != 0 {
		return nil, fmt.Errorf("--duration %v is not a whole number of milliseconds", c.Duration)
	}
	frac := func(name string, v *float64, def float64, off bool) error {
		if off {
			*v = 0
			return nil
		}
		if *v == 0 {
			*v = def
		}
		if *v < 0 || *v > 1 || math.IsNaN(*v) {
			return fmt.Errorf("%s must be between 0 and 1, have %v", name, *v)
		}
		return nil
	}
	if err := frac("--tls", &c.TLSFraction, 0.2, c.NoTLS); err != nil {
		return nil, err
	}
	if err := frac("--ipv6", &c.IPv6Fraction, 0.2, c.NoIPv6); err != nil {
		return nil, err
	}
	if err := frac("--impair", &c.Impair, 0.02, c.NoImpair); err != nil {
		return nil, err
	}
	if c.Impair > 0.5 {
		return nil, fmt.Errorf("--impair must be at most 0.5, have %v", c.Impair)
	}
	if c.NoBackground {
		c.Background = 0
	} else if c.Background == 0 {
		c.Background = 2
	}
	if c.Background < 0 || c.Background > 10000 || math.IsNaN(c.Background) {
		return nil, fmt.Errorf("--background must be between 0 and 10000 packets a second, have %v", c.Background)
	}
	if c.NoVLAN {
		c.VLAN = 0
	} else if c.VLAN == 0 {
		c.VLAN = 102
	}
	if c.VLAN < 0 || c.VLAN > 4094 {
		return nil, fmt.Errorf("--vlan must be between 1 and 4094, have %d", c.VLAN)
	}
	if c.MTU == 0 {
		c.MTU = 1500
	}
	if c.MTU < 1280 || c.MTU > 9000 {
		return nil, fmt.Errorf("--mtu must be between 1280 and 9000, have %d", c.MTU)
	}
	if c.MaxUpdate == 0 {
		c.MaxUpdate = 4000
	}
	if c.MaxUpdate < 200 || c.MaxUpdate > 8000 {
		return nil, fmt.Errorf("--max-update must be between 200 and 8000 bytes, have %d", c.MaxUpdate)
	}
	names := c.Suites
	if len(names) == 0 {
		c.dtlsSuites, c.tlsSuites, c.pskSuites = defaultDTLSSuites, defaultTLSSuites, defaultPSKSuites
	} else {
		d, t, p, err := splitSuites(names)
		if err != nil {
			return nil, err
		}
		c.dtlsSuites, c.tlsSuites, c.pskSuites = d, t, p
		if len(d) == 0 {
			return nil, fmt.Errorf("--suites names no DTLS certificate suite; DTLS carries most sessions (need one of %s)", strings.Join(defaultDTLSSuites, ", "))
		}
		if len(t) == 0 && c.TLSFraction > 0 {
			return nil, fmt.Errorf("--suites names no TLS suite while some sessions use TLS (add one, or --no-tls)")
		}
		if len(p) == 0 {
			c.NoPSK = true
		}
	}
	switch c.Tables {
	case "full":
		c.track = true
	case "counts":
		if sc.Name != "scale" {
			return nil, fmt.Errorf("--tables counts is only for the scale scenario (the others change their tables as they run, so they keep every path)")
		}
		c.track = false
	case "":
		c.track = sc.Name != "scale" || c.Routes <= 20000
	default:
		return nil, fmt.Errorf("--tables takes full or counts, not %q", c.Tables)
	}
	if c.track {
		// Every path a vSmart reflects is kept (to diff and to list in the
		// manifest), about 1 KiB of memory and 200 bytes of manifest each.
		paths := int64(c.Routes) + 4*int64(c.Edges)
		if c.Routes == 0 {
			paths = 20 * int64(c.Edges) // the hand-made tables: routes, TLOCs, services
		}
		est := paths * int64(c.Edges+1) * 2
		if sc.Name == "scale" {
			est = paths * 6
		}
		if est > maxTracked {
			if sc.Name == "scale" {
				return nil, fmt.Errorf("--tables full with %d route paths would keep about %d paths (at most %d): use --tables counts", c.Routes, est, maxTracked)
			}
			return nil, fmt.Errorf("scenario %s reflects every path to every edge: with %d edges and these tables, the vSmarts would keep about %d paths (at most %d); "+
				"use fewer --edges or --routes, or the scale scenario, whose regional policy keeps the tables linear", sc.Name, c.Edges, est, maxTracked)
		}
	}
	return c, nil
}

// maxTracked bounds the paths a run keeps in full (memory, manifest size).
const maxTracked = 600000

const (
	maxEdges  = 4000
	maxRoutes = 4000000
)

// params renders the options as manifest params (every knob, so that a
// manifest says how to make its capture again).
func (c *config) params() map[string]any {
	p := map[string]any{
		"edges":              c.Edges,
		"routes":             c.Routes,
		"duration":           c.Duration.String(),
		"tls_fraction":       c.TLSFraction,
		"ipv6_fraction":      c.IPv6Fraction,
		"impair":             c.Impair,
		"background":         c.Background,
		"vlan":               c.VLAN,
		"mtu":                c.MTU,
		"max_update":         c.MaxUpdate,
		"psk":                !c.NoPSK,
		"suites":             strings.Join(c.Suites, ","),
		"tables":             map[bool]string{true: "full", false: "counts"}[c.track],
		"hold_time":          c.holdTime(),
		"gr_timer":           c.grTimer(),
		"hello_interval_ms":  1000,
		"hello_tolerance_ms": 12000,
	}
	return p
}

func (c *config) holdTime() int {
	if c.sc.HoldTime != 0 {
		return int(c.sc.HoldTime)
	}
	return 60
}

func (c *config) grTimer() int {
	if c.sc.GRTimer != 0 {
		return int(c.sc.GRTimer)
	}
	return 43200
}

// OptionsFromParams rebuilds the Options that made a manifest (its
// scenario, seed and params), so a capture can be made again.
func OptionsFromParams(scenario string, seed int64, p map[string]any) (Options, error) {
	o := Options{Scenario: scenario, Seed: seed}
	num := func(k string) (float64, error) {
		v, ok := p[k]
		if !ok {
			return 0, fmt.Errorf("manifest params: %q missing", k)
		}
		f, ok := v.(float64)
		if !ok {
			if i, ok2 := v.(int); ok2 {
				return float64(i), nil
			}
			return 0, fmt.Errorf("manifest params: %q is %T, want a number", k, v)
		}
		return f, nil
	}
	str := func(k string) (string, error) {
		v, ok := p[k].(string)
		if !ok {
			return "", fmt.Errorf("manifest params: %q missing or not a string", k)
		}
		return v, nil
	}
	var err error
	var f float64
	if f, err = num("edges"); err != nil {
		return o, err
	}
	o.Edges = int(f)
	if f, err = num("routes"); err != nil {
		return o, err
	}
	o.Routes = int(f)
	d, err := str("duration")
	if err != nil {
		return o, err
	}
	if o.Duration, err = time.ParseDuration(d); err != nil {
		return o, fmt.Errorf("manifest params: duration: %v", err)
	}
	setFrac := func(k string, v *float64, off *bool) error {
		f, err := num(k)
		if err != nil {
			return err
		}
		if f == 0 {
			*off = true
		}
		*v = f
		return nil
	}
	if err = setFrac("tls_fraction", &o.TLSFraction, &o.NoTLS); err != nil {
		return o, err
	}
	if err = setFrac("ipv6_fraction", &o.IPv6Fraction, &o.NoIPv6); err != nil {
		return o, err
	}
	if err = setFrac("impair", &o.Impair, &o.NoImpair); err != nil {
		return o, err
	}
	if err = setFrac("background", &o.Background, &o.NoBackground); err != nil {
		return o, err
	}
	if f, err = num("vlan"); err != nil {
		return o, err
	}
	o.VLAN = int(f)
	o.NoVLAN = o.VLAN == 0
	if f, err = num("mtu"); err != nil {
		return o, err
	}
	o.MTU = int(f)
	if f, err = num("max_update"); err != nil {
		return o, err
	}
	o.MaxUpdate = int(f)
	psk, ok := p["psk"].(bool)
	if !ok {
		return o, fmt.Errorf("manifest params: \"psk\" missing or not a bool")
	}
	o.NoPSK = !psk
	s, err := str("suites")
	if err != nil {
		return o, err
	}
	if s != "" {
		o.Suites = strings.Split(s, ",")
	}
	if o.Tables, err = str("tables"); err != nil {
		return o, err
	}
	return o, nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

func itoa(i int) string { return strconv.Itoa(i) }

// Validate reports what is wrong with the options, without running.
func (o Options) Validate() error {
	_, err := o.resolve()
	return err
}
