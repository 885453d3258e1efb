// Package mmaptest holds a switch for tests of capture files mapped into
// memory (capture.OpenMapped).
package mmaptest

// ProtectReleased makes the pages a mapped capture gives back
// inaccessible (mprotect PROT_NONE) instead of dropping them
// (MADV_DONTNEED, after which a read finds them again in the page cache):
// a page given back while a packet in it is still held then faults, and
// a test sees it. Set it before the reading starts.
var ProtectReleased bool
