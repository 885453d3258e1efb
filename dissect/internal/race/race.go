//go:build race

package race

// Enabled is true when the binary is built with the race detector, which
// makes allocations of its own: allocation-count tests skip then.
const Enabled = true
