// Package dissect turns packets into decoded control-plane messages:
// capture sources (package capture), link/IP/UDP/TCP decoding with
// defragmentation and TCP reassembly (package flow), DTLS/TLS session
// tracking and passive decryption (package tlsdec), and the codecs of the
// plaintext: vdaemon (package vdaemon) and OMP encoding v1 (package omp),
// with the enumerations they share (package sdwan).
//
// This package ties the codecs together (DecodeMessage) and runs the
// pipeline source → packets → records → messages.
package dissect
