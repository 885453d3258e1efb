package analyze

import "time"

// kindDefs registers every detector, by the kinds of notice it raises, in
// the order the summary and --explain list them. A detector raising two
// kinds appears twice (it is made once). Each entry lives in its
// detector's file (detect_*.go).
var kindDefs = []*kindDef{
	// the attacks first: critical
	&challengeBypassKind,
	&vHubBypassKind,
	&sshKeyInjectionKind,
	&rogueCertificateKind,
	&unresolvedRouteKind,
	&tLOCFlapKind,
	&routeFlapKind,
	&duplicateSystemIPKind,
	&siteIDMismatchKind,
	&vSmartDivergenceKind,
	&withdrawUnknownKind,
	&staleAfterGRKind,
	&holdExpiredKind,
	&attributeConflictKind,
	&alertKind,
	&teardownKind,
	&pathLimitExceededKind,
	&tLOCCloneKind,
	&decryptionGapKind,
	&captureGapKind,
	&vSmartMeshIncompleteKind,
	&untunnelledControlKind,
	&notDistributedKind,
}

// coreFlags are settings of the core that have a command-line flag.
var coreFlags = []Flag{{Name: "default-hold-time", Usage: "OMP hold time assumed for sessions whose handshake was not captured (negative: no hold expiry for them)",
	Dur: func(c *Config) *time.Duration { return &c.DefaultHoldTime }, DefDur: DefaultOMPHoldTime, Negative: true},
	{Name: "max-paths", Usage: "route, TLOC and service paths held at once (live, or withdrawn within a detector's window; about 120 bytes each); " +
		"a path new past it is not kept: counted on the summary's Limits line; its table is incomplete, and the detectors that judge a path's absence raise no notice it could make false",
		Int: func(c *Config) *int { return &c.MaxPaths }, DefInt: DefaultMaxPaths}}
