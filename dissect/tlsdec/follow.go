package tlsdec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits of the key log follower.
const (
	// keyLogChunk is the most bytes read from the key log per step; a
	// larger backlog is read in several steps, each reported on its own.
	keyLogChunk = 4 << 20
	// maxPartialLine is the longest unterminated last line waited for;
	// a longer one is reported and skipped up to its newline.
	maxPartialLine = 64 << 10
	// DefaultKeyLogPoll is the polling interval used for a zero poll.
	DefaultKeyLogPoll = 250 * time.Millisecond
)

// KeyLogUpdate reports what a KeyLogFollower found in one step.
type KeyLogUpdate struct {
	Path string
	// Added is the number of CLIENT_RANDOM entries added to the key store.
	Added int
	// Lines holds the new complete key log lines that loaded without
	// error (comments and blank lines left out), ready for a pcapng
	// Decryption Secrets Block.
	Lines []byte
	// Errors lists malformed lines as "path:line: problem", with line
	// numbers counted from the start of the file, each reported once; and
	// problems reading the file (a missing file is reported once, until it
	// appears).
	Errors []error
	// Restarted is set when the file shrank, was replaced, or was
	// rewritten in place, and is read again from its start.
	Restarted bool
}

// KeyLogFollower re-reads an NSS key log file as it grows, as browsers
// and pion's KeyLogWriter append to it, and adds the new keys to a
// KeyStore (which is safe for concurrent use). It remembers how
// far it read; only complete lines (ending in a newline) are loaded, so a
// line being written is picked up once it is finished. A file that
// shrinks or is replaced by another one (rotation, an editor's rewrite)
// is read again from the start, and so is one rewritten in place to at
// least its old size: when its modification time changed, the part
// already read is checked against a hash of what was read (FNV-1a); a
// file that does not exist yet is waited for.
//
// The callback receives each update; it runs in the follower's goroutine
// (or in the caller of Check) and must not call Check or Stop. A capture
// loop that owns a dissect.Dissector typically calls Source.Wake from it
// and Dissector.Retry when Next returns ErrTimeout, and writes
// update.Lines with PcapngWriter.WriteSecrets.
type KeyLogFollower struct {
	path     string
	ks       *KeyStore
	onUpdate func(*KeyLogUpdate)

	mu       sync.Mutex // serialises steps
	info     fs.FileInfo
	off      int64
	line     int  // complete lines consumed
	skipping bool // inside an over-long line, up to its newline
	lastErr  string
	sum      uint64    // FNV-1a of the bytes consumed, [0, off)
	mtime    time.Time // the file's modification time at the last step

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// NewKeyLogFollower returns a follower of the key log at path that adds
// keys to ks and reports to onUpdate (which may be nil). Nothing is read
// until Check or Start.
func NewKeyLogFollower(path string, ks *KeyStore, onUpdate func(*KeyLogUpdate)) *KeyLogFollower {
	return &KeyLogFollower{path: path, ks: ks, onUpdate: onUpdate}
}

// FollowKeyLog reads the key log at path once (so that the keys already
// in it are in ks when it returns), then keeps following it every poll
// (0: DefaultKeyLogPoll) until Stop.
func FollowKeyLog(path string, ks *KeyStore, poll time.Duration, onUpdate func(*KeyLogUpdate)) *KeyLogFollower {
	f := NewKeyLogFollower(path, ks, onUpdate)
	f.Check()
	f.Start(poll)
	return f
}

// Start polls the file every poll (0: DefaultKeyLogPoll) in a goroutine
// until Stop. Calling it more than once has no effect.
func (f *KeyLogFollower) Start(poll time.Duration) {
	if poll <= 0 {
		poll = DefaultKeyLogPoll
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stop != nil {
		return
	}
	f.stop, f.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(f.done)
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-f.stop:
				return
			case <-t.C:
				f.Check()
			}
		}
	}()
}

// Stop ends the polling, waits for the goroutine, and makes a last check
// so that keys written just before are not missed.
func (f *KeyLogFollower) Stop() {
	f.stopOnce.Do(func() {
		f.mu.Lock()
		stop, done := f.stop, f.done
		f.mu.Unlock()
		if stop != nil {
			close(stop)
			<-done
		}
		f.Check()
	})
}

// Check reads what was appended since the last step and returns the
// number of keys added. Each chunk read is reported to the callback (only
// when something happened: keys, errors or a restart).
func (f *KeyLogFollower) Check() (added int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		u, more := f.step()
		if u != nil {
			added += u.Added
			if f.onUpdate != nil {
				f.onUpdate(u)
			}
		}
		if !more {
			return added
		}
	}
}

// fail reports a problem with the file once, until another one (or
// success) replaces it.
func (f *KeyLogFollower) fail(u *KeyLogUpdate, err error) *KeyLogUpdate {
	if err.Error() == f.lastErr {
		if u.Restarted {
			return u
		}
		return nil
	}
	f.lastErr = err.Error()
	u.Errors = append(u.Errors, err)
	return u
}

func (f *KeyLogFollower) restart(u *KeyLogUpdate) {
	if f.off > 0 || f.line > 0 || f.skipping {
		u.Restarted = true
	}
	f.off, f.line, f.skipping, f.sum = 0, 0, false, fnvOffset
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnvAdd extends an FNV-1a hash with b.
func fnvAdd(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// rewritten reports whether the bytes already consumed, [0, off), are no
// longer what the file holds there (rewritten in place to at least its old
// size between two polls).
func (f *KeyLogFollower) rewritten(fh *os.File) bool {
	h := uint64(fnvOffset)
	buf := make([]byte, min(f.off, 64<<10))
	for done := int64(0); done < f.off; {
		n, err := fh.ReadAt(buf[:min(int64(len(buf)), f.off-done)], done)
		if n == 0 || (err != nil && !errors.Is(err, io.EOF)) {
			return true
		}
		h = fnvAdd(h, buf[:n])
		done += int64(n)
	}
	return h != f.sum
}

// step reads one chunk. more tells whether more data may be waiting.
func (f *KeyLogFollower) step() (u *KeyLogUpdate, more bool) {
	u = &KeyLogUpdate{Path: f.path}
	fh, err := os.Open(f.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if f.info != nil {
				f.info = nil
				f.restart(u)
			}
			return f.fail(u, fmt.Errorf("key log %s does not exist (yet); it will be read when it appears", f.path)), false
		}
		return f.fail(u, fmt.Errorf("key log: %w", err)), false
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return f.fail(u, fmt.Errorf("key log: %w", err)), false
	}
	if !fi.Mode().IsRegular() {
		return f.fail(u, fmt.Errorf("key log %s is not a regular file", f.path)), false
	}
	switch {
	case f.info != nil && !os.SameFile(f.info, fi):
		f.restart(u) // replaced by another file
	case fi.Size() < f.off:
		f.restart(u) // truncated
	case f.off > 0 && !fi.ModTime().Equal(f.mtime) && f.rewritten(fh):
		f.restart(u) // rewritten in place, as long as before or longer
	}
	if f.info == nil && f.off == 0 {
		f.sum = fnvOffset
	}
	f.info, f.mtime = fi, fi.ModTime()
	f.lastErr = ""
	if fi.Size() == f.off {
		return keep(u), false
	}
	if _, err := fh.Seek(f.off, io.SeekStart); err != nil {
		return f.fail(u, fmt.Errorf("key log: %w", err)), false
	}
	want := min(fi.Size()-f.off, keyLogChunk)
	buf := make([]byte, want)
	n, err := io.ReadFull(fh, buf)
	buf = buf[:n]
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return f.fail(u, fmt.Errorf("key log: %w", err)), false
	}
	more = fi.Size()-f.off > int64(n)

	if f.skipping {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			f.off += int64(len(buf))
			f.sum = fnvAdd(f.sum, buf)
			return keep(u), more
		}
		f.off += int64(i + 1)
		f.sum = fnvAdd(f.sum, buf[:i+1])
		f.line++
		f.skipping = false
		buf = buf[i+1:]
	}
	last := bytes.LastIndexByte(buf, '\n')
	complete, rest := buf[:last+1], buf[last+1:]
	n2, errs := f.ks.LoadKeyLog(bytes.NewReader(complete), f.path)
	u.Added = n2
	bad := map[int]bool{}
	for _, e := range errs {
		rel, rest, ok := splitLineError(e, f.path)
		if !ok {
			u.Errors = append(u.Errors, e)
			continue
		}
		bad[rel] = true
		u.Errors = append(u.Errors, fmt.Errorf("%s:%d:%s", f.path, f.line+rel, rest))
	}
	rel := 0
	for len(complete) > 0 {
		i := bytes.IndexByte(complete, '\n')
		ln := complete[:i+1]
		complete = complete[i+1:]
		rel++
		t := bytes.TrimSpace(ln)
		if len(t) == 0 || t[0] == '#' || bad[rel] {
			continue
		}
		u.Lines = append(u.Lines, ln...)
	}
	f.off += int64(last + 1)
	f.sum = fnvAdd(f.sum, buf[:last+1])
	f.line += rel
	if len(rest) >= maxPartialLine {
		u.Errors = append(u.Errors, fmt.Errorf("%s:%d: line longer than %d bytes without a newline; skipped", f.path, f.line+1, maxPartialLine))
		f.off += int64(len(rest))
		f.sum = fnvAdd(f.sum, rest)
		f.skipping = true
	}
	return keep(u), more
}

// keep returns u if it reports anything.
func keep(u *KeyLogUpdate) *KeyLogUpdate {
	if u.Added > 0 || len(u.Errors) > 0 || u.Restarted || len(u.Lines) > 0 {
		return u
	}
	return nil
}

// splitLineError takes apart a tlsdec key log error "name:line: problem".
func splitLineError(e error, name string) (line int, rest string, ok bool) {
	s, found := strings.CutPrefix(e.Error(), name+":")
	if !found {
		return 0, "", false
	}
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return 0, "", false
	}
	line, err := strconv.Atoi(s[:i])
	if err != nil {
		return 0, "", false
	}
	return line, s[i+1:], true
}
