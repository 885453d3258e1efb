package tlsdec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder collects the follower's updates.
type recorder struct {
	mu      sync.Mutex
	updates []*KeyLogUpdate
}

func (r *recorder) add(u *KeyLogUpdate) {
	r.mu.Lock()
	r.updates = append(r.updates, u)
	r.mu.Unlock()
}

// take returns and forgets the updates so far.
func (r *recorder) take() []*KeyLogUpdate {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.updates
	r.updates = nil
	return u
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

func errStrings(u *KeyLogUpdate) []string {
	var s []string
	for _, e := range u.Errors {
		s = append(s, e.Error())
	}
	return s
}

func TestKeyLogFollowerGrows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.log")
	appendFile(t, path, "# SSL/TLS secrets log file\n"+keyLine(1)+keyLine(2))
	ks := NewKeyStore()
	var rec recorder
	f := NewKeyLogFollower(path, ks, rec.add)

	if n := f.Check(); n != 2 {
		t.Fatalf("first check added %d keys, want 2", n)
	}
	us := rec.take()
	if len(us) != 1 || us[0].Added != 2 || string(us[0].Lines) != keyLine(1)+keyLine(2) || len(us[0].Errors) != 0 || us[0].Restarted {
		t.Fatalf("first update %+v", us)
	}

	// A half-written line is not loaded.
	l3 := keyLine(3)
	appendFile(t, path, l3[:50])
	if n := f.Check(); n != 0 || len(rec.take()) != 0 || ks.Counts().MasterSecrets != 2 {
		t.Fatalf("a partial line was loaded (%d keys in the store)", ks.Counts().MasterSecrets)
	}
	// Finished, with a malformed line (line 5), a blank line and another key.
	appendFile(t, path, l3[50:]+"CLIENT_RANDOM 1234 5678\n\n"+keyLine(4))
	if n := f.Check(); n != 2 {
		t.Fatalf("added %d, want 2", n)
	}
	us = rec.take()
	if len(us) != 1 {
		t.Fatalf("%d updates", len(us))
	}
	if es := errStrings(us[0]); len(es) != 1 || !strings.HasPrefix(es[0], path+":5: ") || !strings.Contains(es[0], "want 64") {
		t.Errorf("errors %q, want one for line 5", es)
	}
	if string(us[0].Lines) != l3+keyLine(4) {
		t.Errorf("lines %q", us[0].Lines)
	}
	if c := ks.Counts().MasterSecrets; c != 4 {
		t.Errorf("store holds %d keys, want 4", c)
	}
	// Nothing new: no update, the malformed line is not reported again.
	if n := f.Check(); n != 0 || len(rec.take()) != 0 {
		t.Error("an unchanged file gave an update")
	}
	// Line numbers keep counting: the next malformed line is line 9.
	appendFile(t, path, keyLine(5)+"garbage\n")
	f.Check()
	us = rec.take()
	if len(us) != 1 || us[0].Added != 1 || len(us[0].Errors) != 1 || !strings.HasPrefix(us[0].Errors[0].Error(), path+":9: ") {
		t.Errorf("update %+v %q", us, errStrings(us[0]))
	}
}

func TestKeyLogFollowerTruncateAndReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.log")
	appendFile(t, path, keyLine(1)+keyLine(2)+keyLine(3))
	ks := NewKeyStore()
	var rec recorder
	f := NewKeyLogFollower(path, ks, rec.add)
	f.Check()
	rec.take()

	// Truncated and rewritten shorter: read again from the start.
	if err := os.WriteFile(path, []byte("bad line\n"+keyLine(10)), 0o644); err != nil {
		t.Fatal(err)
	}
	f.Check()
	us := rec.take()
	if len(us) != 1 || !us[0].Restarted || us[0].Added != 1 || len(us[0].Errors) != 1 || !strings.HasPrefix(us[0].Errors[0].Error(), path+":1: ") {
		t.Fatalf("after truncation: %+v", us)
	}

	// Replaced by another (longer) file, as by rotation: also from the start.
	next := filepath.Join(dir, "keys.new")
	if err := os.WriteFile(next, []byte(keyLine(20)+keyLine(21)+keyLine(22)+keyLine(23)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
	f.Check()
	us = rec.take()
	if len(us) != 1 || !us[0].Restarted || us[0].Added != 4 || string(us[0].Lines) != keyLine(20)+keyLine(21)+keyLine(22)+keyLine(23) {
		t.Fatalf("after replacement: %+v", us)
	}
	if c := ks.Counts().MasterSecrets; c != 3+1+4 {
		t.Errorf("store holds %d keys, want 8", c)
	}
}

func TestKeyLogFollowerMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.log")
	ks := NewKeyStore()
	var rec recorder
	f := NewKeyLogFollower(path, ks, rec.add)
	f.Check()
	us := rec.take()
	if len(us) != 1 || len(us[0].Errors) != 1 || !strings.Contains(us[0].Errors[0].Error(), "does not exist (yet)") {
		t.Fatalf("missing file: %+v", us)
	}
	f.Check()
	if us := rec.take(); len(us) != 0 {
		t.Fatalf("the missing file was reported again: %q", errStrings(us[0]))
	}
	appendFile(t, path, keyLine(1))
	if n := f.Check(); n != 1 {
		t.Fatalf("file appeared: added %d", n)
	}
	rec.take()
	// Removed, then back.
	os.Remove(path)
	f.Check()
	us = rec.take()
	if len(us) != 1 || len(us[0].Errors) != 1 || !us[0].Restarted {
		t.Fatalf("file removed: %+v", us)
	}
	appendFile(t, path, keyLine(2)+keyLine(3))
	if n := f.Check(); n != 2 {
		t.Fatalf("file back: added %d", n)
	}
}

func TestKeyLogFollowerLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.log")
	appendFile(t, path, keyLine(1)+strings.Repeat("x", maxPartialLine+100))
	ks := NewKeyStore()
	var rec recorder
	f := NewKeyLogFollower(path, ks, rec.add)
	f.Check()
	us := rec.take()
	if len(us) != 1 || us[0].Added != 1 || len(us[0].Errors) != 1 || !strings.HasPrefix(us[0].Errors[0].Error(), path+":2: line longer than") {
		t.Fatalf("updates %+v", us)
	}
	appendFile(t, path, strings.Repeat("y", 1000)+"\n"+keyLine(2)+"CLIENT_RANDOM x y\n")
	if n := f.Check(); n != 1 {
		t.Fatalf("after the long line: added %d", n)
	}
	us = rec.take()
	if len(us) != 1 || len(us[0].Errors) != 1 || !strings.HasPrefix(us[0].Errors[0].Error(), path+":4: ") || string(us[0].Lines) != keyLine(2) {
		t.Fatalf("after the long line: %+v %q", us, errStrings(us[0]))
	}
}

// TestKeyLogFollowerBacklog reads a file larger than one chunk: every key
// arrives, in several updates.
func TestKeyLogFollowerBacklog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.log")
	var b strings.Builder
	n := 0
	for b.Len() < keyLogChunk+keyLogChunk/2 {
		b.WriteString(keyLine(n))
		n++
	}
	appendFile(t, path, b.String())
	ks := NewKeyStore()
	var rec recorder
	f := NewKeyLogFollower(path, ks, rec.add)
	if got := f.Check(); got != n {
		t.Fatalf("added %d of %d keys", got, n)
	}
	us := rec.take()
	total := 0
	for _, u := range us {
		total += len(u.Lines)
		if len(u.Errors) != 0 {
			t.Fatalf("errors: %q", errStrings(u))
		}
	}
	if len(us) != 2 || total != b.Len() || ks.Counts().MasterSecrets != n {
		t.Errorf("%d updates, %d bytes of lines, %d keys; want 2, %d, %d", len(us), total, ks.Counts().MasterSecrets, b.Len(), n)
	}
}

// TestFollowKeyLogPolling runs the polling goroutine while the file grows.
func TestFollowKeyLogPolling(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.log")
	appendFile(t, path, keyLine(1))
	ks := NewKeyStore()
	got := make(chan *KeyLogUpdate, 100)
	f := FollowKeyLog(path, ks, 5*time.Millisecond, func(u *KeyLogUpdate) { got <- u })
	if c := ks.Counts().MasterSecrets; c != 1 {
		t.Fatalf("FollowKeyLog returned with %d keys loaded, want 1", c)
	}
	<-got
	for i := 2; i <= 4; i++ {
		appendFile(t, path, keyLine(i))
		select {
		case u := <-got:
			if u.Added != 1 || string(u.Lines) != keyLine(i) {
				t.Fatalf("update %+v", u)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the appended key was not picked up")
		}
	}
	// A key written just before Stop is read by its last check.
	appendFile(t, path, keyLine(5))
	f.Stop()
	f.Stop()
	if c := ks.Counts().MasterSecrets; c != 5 {
		t.Errorf("store holds %d keys after Stop, want 5", c)
	}
	close(got)
	for u := range got {
		if u.Added != 1 {
			t.Errorf("update %+v", u)
		}
	}
}

// keyLine is the i-th of a set of distinct key log lines.
func keyLine(i int) string {
	return fmt.Sprintf("CLIENT_RANDOM %064x %096x\n", i, i+1000)
}

// TestKeyLogFollowerRewrittenInPlace: a key log rewritten in place (same
// file, truncated and written again, as long as before or longer) between
// two polls is read again from its start: no key of the new content is
// missed.
func TestKeyLogFollowerRewrittenInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.log")
	var first, second strings.Builder
	for i := range 5 {
		first.WriteString(keyLine(100 + i))
	}
	for i := range 8 {
		second.WriteString(keyLine(200 + i))
	}
	appendFile(t, path, first.String())
	ks := NewKeyStore()
	var rec recorder
	f := NewKeyLogFollower(path, ks, rec.add)
	if n := f.Check(); n != 5 {
		t.Fatalf("first read: %d keys", n)
	}
	time.Sleep(10 * time.Millisecond) // a later modification time
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString(second.String()); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	rec.take()
	if n := f.Check(); n != 8 {
		t.Fatalf("after the rewrite: %d keys, want 8", n)
	}
	if us := rec.take(); len(us) == 0 || !us[0].Restarted {
		t.Errorf("the rewrite is not reported as a restart: %+v", us)
	}
	// appends after it are read as usual, without a restart
	appendFile(t, path, keyLine(300))
	if n := f.Check(); n != 1 {
		t.Fatalf("append after the rewrite: %d keys", n)
	}
	if us := rec.take(); len(us) != 1 || us[0].Restarted {
		t.Errorf("an append taken for a rewrite: %+v", us)
	}
}
