package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ompscope/ompscope/dissect"
)

func init() {
	register(&command{
		name:    "decode",
		summary: "decode vdaemon/OMP messages given as hex",
		run:     cmdDecode,
	})
}

// decodeSchema is the schema version of decode's JSON objects.
const decodeSchema = "ompscope.decode/3"

func cmdDecode(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("decode", "decode [flags] [HEX ...]",
		"Decodes vdaemon messages (the plaintext of one DTLS/TLS record each, with the OMP\n"+
			"messages inside DATA) given as hex: as arguments, or one per line on standard input\n"+
			"when there is no argument. Whitespace and ':' inside the hex are ignored; lines that\n"+
			"are empty or start with '#' are skipped. A message that fails to decode prints an\n"+
			"error naming its line (or argument) and decoding goes on; the exit status is then 1.",
		stderr)
	format := fs.StringP("format", "T", "auto", "output: text or json (auto: text on a terminal, json otherwise)")
	if st, done := parseFlags(fs, args, stdout); done {
		return st
	}
	f, err := outputFormat(*format, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "ompscope decode: %v\n", err)
		return exitUsage
	}
	bw := bufio.NewWriter(stdout)
	defer bw.Flush()
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	failed := false
	one := func(where string, line int, text string) {
		b, err := parseHex(text)
		var m dissect.Message
		if err == nil {
			m = dissect.DecodeMessage(b)
			err = m.Err
		}
		if err != nil {
			failed = true
		}
		if f == "json" {
			obj := struct {
				Schema string `json:"schema"`
				Line   int    `json:"line"`
				dissect.MessageJSON
			}{decodeSchema, line, m.JSON()}
			if m.VDaemon == nil && err != nil {
				obj.Error = err.Error()
			}
			enc.Encode(obj)
			return
		}
		fmt.Fprintf(bw, "# %s\n", where)
		if m.VDaemon == nil && err != nil {
			fmt.Fprintf(bw, "error: %v\n", err)
		} else {
			m.WriteText(bw, "")
		}
	}
	if fs.NArg() > 0 {
		for i, a := range fs.Args() {
			one(fmt.Sprintf("argument %d", i+1), i+1, a)
		}
	} else {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		n := 0
		for sc.Scan() {
			n++
			t := strings.TrimSpace(sc.Text())
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			one(fmt.Sprintf("line %d", n), n, t)
		}
		if err := sc.Err(); err != nil {
			bw.Flush()
			fmt.Fprintf(stderr, "ompscope decode: reading standard input after line %d: %v\n", n, err)
			return exitRuntime
		}
	}
	if failed {
		return exitRuntime
	}
	return exitOK
}

// parseHex reads hex with optional whitespace and ':' separators and an
// optional 0x prefix.
func parseHex(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', ':', '\r':
		default:
			clean = append(clean, c)
		}
	}
	if len(clean) == 0 {
		return nil, fmt.Errorf("no hex digits")
	}
	out := make([]byte, hex.DecodedLen(len(clean)))
	if _, err := hex.Decode(out, clean); err != nil {
		return nil, fmt.Errorf("bad hex: %v", err)
	}
	return out, nil
}
