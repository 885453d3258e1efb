// Package hexvec reads the hand-written hex test vector files of the
// codecs: "== name" starts a vector, hex follows with any whitespace, and
// '#' starts a comment.
package hexvec

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// Vector is one named byte vector.
type Vector struct {
	Name  string
	Bytes []byte
}

// Read parses a vector file.
func Read(path string) ([]Vector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Vector
	var name string
	var sb strings.Builder
	flush := func() error {
		if name == "" {
			return nil
		}
		b, err := hex.DecodeString(sb.String())
		if err != nil {
			return fmt.Errorf("%s: vector %q: %v", path, name, err)
		}
		out = append(out, Vector{name, b})
		sb.Reset()
		return nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.HasPrefix(line, "==") {
			if err := flush(); err != nil {
				return nil, err
			}
			name = strings.TrimSpace(line[2:])
			continue
		}
		for _, fld := range strings.Fields(line) {
			sb.WriteString(fld)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, sc.Err()
}

// Map is Read as a map by name.
func Map(path string) (map[string][]byte, error) {
	vs, err := Read(path)
	if err != nil {
		return nil, err
	}
	m := make(map[string][]byte, len(vs))
	for _, v := range vs {
		if _, dup := m[v.Name]; dup {
			return nil, fmt.Errorf("%s: duplicate vector %q", path, v.Name)
		}
		m[v.Name] = v.Bytes
	}
	return m, nil
}
