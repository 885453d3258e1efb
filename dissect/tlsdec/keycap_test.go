package tlsdec

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// chainLen is how many entries the key of cr holds (the newest and the
// ones it replaced).
func chainLen(ks *KeyStore, cr [32]byte) (n int) {
	e, ok := ks.masters[cr]
	if !ok {
		return 0
	}
	for p := &e; p != nil; p = p.prev {
		n++
	}
	return n
}

// TestRekeyChainBounded: a client random re-keyed 10 000 times with
// different secrets keeps the newest and maxOlderKeys before it; the
// dropped ones are counted; lookups see the newest, and a view of an
// older generation still within the chain sees its own.
func TestRekeyChainBounded(t *testing.T) {
	ks := NewKeyStore()
	var cr [32]byte
	cr[0] = 7
	secret := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8), 1}, 16) }
	var gens []uint64
	const rekeys = 10_000
	for i := 0; i < rekeys; i++ {
		if i%2 == 0 {
			if err := ks.AddMasterSecret(cr[:], secret(i), "test"); err != nil {
				t.Fatal(err)
			}
		} else {
			line := fmt.Sprintf("CLIENT_RANDOM %x %x\n", cr, secret(i))
			if n, errs := ks.LoadDSB([]byte(line)); n != 1 || len(errs) != 0 {
				t.Fatalf("re-key %d: %d added, %v", i, n, errs)
			}
		}
		gens = append(gens, ks.Generation())
	}
	if n := chainLen(ks, cr); n != 1+maxOlderKeys {
		t.Fatalf("the key holds %d entries after %d re-keys, want %d", n, rekeys, 1+maxOlderKeys)
	}
	c := ks.Counts()
	if c.MasterSecrets != 1 || c.OlderDropped != rekeys-1-maxOlderKeys || c.Refused != 0 {
		t.Fatalf("counts %+v", c)
	}
	e, ok := ks.master(&cr, 0)
	if !ok || !bytes.Equal(e.secret, secret(rekeys-1)) {
		t.Fatalf("newest: found %v, secret %s", ok, hex.EncodeToString(e.secret))
	}
	for back := 0; back <= maxOlderKeys; back++ {
		i := rekeys - 1 - back
		e, ok := ks.master(&cr, gens[i])
		if !ok || !bytes.Equal(e.secret, secret(i)) {
			t.Fatalf("view at re-key %d: found %v", i, ok)
		}
	}
	if _, ok := ks.master(&cr, gens[rekeys-2-maxOlderKeys]); ok {
		t.Fatalf("a view older than the kept entries found a key")
	}
	// the same key again changes nothing
	if err := ks.AddMasterSecret(cr[:], secret(rekeys-1), "test"); err != nil || chainLen(ks, cr) != 1+maxOlderKeys {
		t.Fatalf("same key again: %v, %d entries", err, chainLen(ks, cr))
	}
}

// TestKeyStoreCap: past maxMasterSecrets (or maxPSKs) new keys are
// refused, reported as errors (first in a key log's list) and counted;
// re-keying a held client random still works.
func TestKeyStoreCap(t *testing.T) {
	defer func(m, p int) { maxMasterSecrets, maxPSKs = m, p }(maxMasterSecrets, maxPSKs)
	maxMasterSecrets, maxPSKs = 100, 3
	ks := NewKeyStore()
	var log strings.Builder
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&log, "CLIENT_RANDOM %064x %096x\n", i+1, i+1000)
	}
	log.WriteString("garbage\n")
	n, errs := ks.LoadDSB([]byte(log.String()))
	if n != 100 || len(errs) != 2 || !strings.Contains(errs[0].Error(), "50 CLIENT_RANDOM entries refused") {
		t.Fatalf("%d added, errors %v", n, errs)
	}
	var cr [32]byte
	cr[31] = 200
	if err := ks.AddMasterSecret(cr[:], make([]byte, 48), "test"); err == nil {
		t.Fatal("a master secret past the cap was accepted")
	}
	cr[31] = 1 // held: re-keying it is not refused
	if err := ks.AddMasterSecret(cr[:], bytes.Repeat([]byte{9}, 48), "test"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		err := ks.AddPSK(fmt.Sprint("id", i), []byte{1})
		if (i < 3) != (err == nil) {
			t.Fatalf("PSK %d: %v", i, err)
		}
	}
	for _, e := range errs {
		if strings.Contains(e.Error(), fmt.Sprintf("%096x", 1000)) {
			t.Fatalf("an error shows a secret: %v", e)
		}
	}
	c := ks.Counts()
	if c.MasterSecrets != 100 || c.PSKs != 3 || c.Refused != 50+1+1 || c.OlderDropped != 0 {
		t.Fatalf("counts %+v", c)
	}
}

// TestKeyFloor: with a floor (a parallel run whose workers may still look
// at generation g), re-keys past a key's window keep what a view from g on
// needs, and count the entries that left the window as without a floor;
// raising the floor, then lifting it (the run's end), trims the chain back
// to its window.
func TestKeyFloor(t *testing.T) {
	var cr, other [32]byte
	cr[0], other[0] = 9, 10
	secret := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8), 2}, 16) }
	const rekeys = 40
	run := func(floor bool) (*KeyStore, []uint64) {
		ks := NewKeyStore()
		if err := ks.AddMasterSecret(cr[:], secret(0), "test"); err != nil {
			t.Fatal(err)
		}
		gens := []uint64{ks.Pin()}
		if floor {
			ks.SetFloor(ks.Generation())
		}
		for i := 1; i < rekeys; i++ {
			if err := ks.AddMasterSecret(cr[:], secret(i), "test"); err != nil {
				t.Fatal(err)
			}
			gens = append(gens, ks.Pin()) // a packet read at each generation
		}
		return ks, gens
	}
	plain, _ := run(false)
	ks, gens := run(true)
	if a, b := plain.Counts(), ks.Counts(); a != b || a.OlderDropped != rekeys-1-maxOlderKeys {
		t.Fatalf("counts without a floor %+v, with one %+v", a, b)
	}
	if e, ok := ks.master(&cr, gens[0]); !ok || !bytes.Equal(e.secret, secret(0)) {
		t.Fatalf("the view at the floor lost its key (found %v)", ok)
	}
	if _, ok := plain.master(&cr, gens[0]); ok {
		t.Fatal("without a floor the first key was kept")
	}
	if n := chainLen(ks, cr); n != rekeys {
		t.Fatalf("%d entries kept above the floor, want %d", n, rekeys)
	}
	// the floor rises to re-key 20: what views from there need stays
	ks.SetFloor(gens[20])
	if n := chainLen(ks, cr); n != rekeys-20 {
		t.Fatalf("after the floor rose: %d entries, want %d", n, rekeys-20)
	}
	if e, ok := ks.master(&cr, gens[20]); !ok || !bytes.Equal(e.secret, secret(20)) {
		t.Fatal("the view at the new floor lost its key")
	}
	if err := ks.AddMasterSecret(other[:], secret(1), "test"); err != nil { // another key: no effect on cr's chain
		t.Fatal(err)
	}
	ks.SetFloor(gens[10]) // a floor does not fall
	if e, ok := ks.master(&cr, gens[20]); !ok || !bytes.Equal(e.secret, secret(20)) {
		t.Fatal("a lower floor trimmed the chain")
	}
	ks.SetFloor(0) // the run ended: the window alone
	if n := chainLen(ks, cr); n != 1+maxOlderKeys {
		t.Fatalf("after the floor was lifted: %d entries, want %d", n, 1+maxOlderKeys)
	}
	if len(ks.longM) != 0 {
		t.Errorf("%d keys still listed as long", len(ks.longM))
	}
	if c := ks.Counts(); c.OlderDropped != rekeys-1-maxOlderKeys {
		t.Errorf("counts after trimming %+v", c)
	}
}

// TestKeyFloorFloodUnseen: with a floor, re-keys no view was pinned at
// (the lines of one key log, or blocks with no packet between them) keep
// no entry for views: a flood of them leaves the chain as short as the
// window, and costs a step each, while the count is the same as with one
// worker.
func TestKeyFloorFloodUnseen(t *testing.T) {
	var cr [32]byte
	cr[0] = 11
	const rekeys = 50_000
	var b strings.Builder
	for i := range rekeys {
		fmt.Fprintf(&b, "CLIENT_RANDOM %x %x\n", cr, bytes.Repeat([]byte{byte(i), byte(i >> 8), 3}, 16))
	}
	ks := NewKeyStore()
	first := bytes.Repeat([]byte{0xee}, 48)
	if err := ks.AddMasterSecret(cr[:], first, "test"); err != nil {
		t.Fatal(err)
	}
	g0 := ks.Pin()
	ks.SetFloor(g0)
	if n, errs := ks.LoadDSB([]byte(b.String())); n != rekeys || len(errs) != 0 {
		t.Fatalf("%d added, %v", n, errs)
	}
	for i := range 100 { // blocks of one line each, no packet between them
		ks.LoadDSB(fmt.Appendf(nil, "CLIENT_RANDOM %x %x\n", cr, bytes.Repeat([]byte{byte(i), 7, 7}, 16)))
	}
	if n := chainLen(ks, cr); n > 2+maxOlderKeys {
		t.Fatalf("the chain holds %d entries after a flood no view saw", n)
	}
	if e, ok := ks.master(&cr, g0); !ok || !bytes.Equal(e.secret, first) {
		t.Fatal("the view at the floor lost its key")
	}
	if c := ks.Counts(); c.OlderDropped != rekeys+100-maxOlderKeys {
		t.Errorf("counts %+v, want %d dropped", c, rekeys+100-maxOlderKeys)
	}
}
