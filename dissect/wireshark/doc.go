// Package wireshark holds ompscope.lua, the Wireshark dissector for
// vdaemon and OMP encoding v1, and the tests that hold it to ompscope's own
// decoding: its ports are dissect's defaults (TestLuaPorts), and on every
// sample, record by record, tshark with the dissector reads the same
// values as `ompscope dissect -T json` through the field mapping of
// docs/wireshark.md (TestLuaAgainstOmpscope, skipped without tshark).
package wireshark
