//go:build !race

// Package race tells tests whether the race detector is on. Allocation
// counts (testing.AllocsPerRun) are only meaningful without it: the race
// runtime allocates shadow state of its own on paths that allocate nothing
// in a normal build.
package race

// Enabled is true when the binary is built with the race detector.
const Enabled = false
