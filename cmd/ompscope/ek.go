package main

import (
	"bytes"
	"fmt"
	"io"
)

// bulkWriter writes NDJSON as Elasticsearch/OpenSearch bulk requests (-T
// ek): before every line, the action line that indexes it into index.
// Lines may come in any pieces; each whole line gets its action.
type bulkWriter struct {
	w       io.Writer
	action  []byte
	partial []byte
	out     []byte // what one Write writes (one write to w per call)
}

func newBulk(w io.Writer, index string) *bulkWriter {
	return &bulkWriter{w: w, action: []byte(`{"index":{"_index":"` + index + `"}}` + "\n")}
}

func (b *bulkWriter) Write(p []byte) (int, error) {
	n := len(p)
	out := b.out[:0]
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			b.partial = append(b.partial, p...)
			break
		}
		out = append(append(append(out, b.action...), b.partial...), p[:i+1]...)
		b.partial = b.partial[:0]
		p = p[i+1:]
	}
	b.out = out[:0]
	if len(out) > 0 {
		if _, err := b.w.Write(out); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// outputFormatEK is outputFormat that also takes ek.
func outputFormatEK(flag string, stdout io.Writer) (string, error) {
	if flag == "ek" {
		return "ek", nil
	}
	f, err := outputFormat(flag, stdout)
	if err != nil {
		return "", fmt.Errorf("-T takes text, json or ek, not %q", flag)
	}
	return f, nil
}
