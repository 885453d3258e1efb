package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/flow"
)

// TestMergedCaptures: a capture split in two files by flow (as two
// sensors would see it) and read back with -r A -r B (or -r A B) gives the
// records of the whole capture, each naming its file and frame there;
// with -j 2 the same.
func TestMergedCaptures(t *testing.T) {
	r, err := capture.Open("../../pcaps/baseline.pcap")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var ws [2]*capture.PcapngWriter
	var fs [2]*os.File
	var first capture.Packet
	if err := r.Next(&first); err != nil {
		t.Fatal(err)
	}
	first.Data = slices.Clone(first.Data)
	for i := range ws {
		if fs[i], err = os.Create(filepath.Join(dir, []string{"a.pcapng", "b.pcapng"}[i])); err != nil {
			t.Fatal(err)
		}
		if ws[i], err = capture.NewPcapngWriter(fs[i], first.LinkType); err != nil {
			t.Fatal(err)
		}
	}
	type origin struct {
		file  int
		frame uint64
	}
	var origins []origin // by original frame
	count := [2]uint64{}
	for n := 0; ; n++ {
		var p capture.Packet
		if n == 0 {
			p = first
		} else if err := r.Next(&p); err != nil {
			break
		}
		i := int(flow.ShardKey(p.Data, p.LinkType) % 2)
		count[i]++
		origins = append(origins, origin{i, count[i]})
		if err := ws[i].WritePacket(&p); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	for i := range ws {
		if err := ws[i].Close(); err != nil {
			t.Fatal(err)
		}
		fs[i].Close()
	}
	if count[0] == 0 || count[1] == 0 {
		t.Fatalf("the split put %v packets in each file", count)
	}
	a, b := filepath.Join(dir, "a.pcapng"), filepath.Join(dir, "b.pcapng")
	records := func(args ...string) []map[string]any {
		code, out, errs := runCmd(t, "", append([]string{"dissect", "-T", "json", "--keylog", "../../pcaps/baseline.keys"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		var recs []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, m)
		}
		return recs
	}
	whole := records("-r", "../../pcaps/baseline.pcap")
	merged := records("-r", a, "-r", b)
	if len(merged) != len(whole) {
		t.Fatalf("%d records merged, %d in the whole capture", len(merged), len(whole))
	}
	// the same records (ignoring which frame number they got, and the
	// order of packets with the same time in the two files)
	key := func(m map[string]any) string {
		c := map[string]any{}
		for k, v := range m {
			if k != "frame" && k != "file" && k != "file_frame" {
				c[k] = v
			}
		}
		j, _ := json.Marshal(c)
		return string(j)
	}
	var kw, km []string
	for i := range whole {
		kw, km = append(kw, key(whole[i])), append(km, key(merged[i]))
		// each merged record names its file and frame there, which is
		// where the whole capture's packet went
		f, ff := int(merged[i]["file"].(float64)), uint64(merged[i]["file_frame"].(float64))
		o := origins[int(whole[i]["frame"].(float64))-1]
		if key(merged[i]) == key(whole[i]) && (o.file != f || o.frame != ff) {
			t.Errorf("record %d: file %d frame %d, but it came from file %d frame %d", i, f, ff, o.file, o.frame)
		}
	}
	slices.Sort(kw)
	slices.Sort(km)
	if !slices.Equal(kw, km) {
		t.Error("the merged files do not give the whole capture's records")
	}
	positional := records("-j", "2", "-r", a, b)
	if len(positional) != len(merged) {
		t.Fatalf("-r A B with -j 2: %d records, -r A -r B: %d", len(positional), len(merged))
	}
	for i := range merged {
		if key(positional[i]) != key(merged[i]) || positional[i]["file_frame"] != merged[i]["file_frame"] {
			t.Fatalf("record %d differs between -r A -r B and -j 2 -r A B", i)
		}
	}
	if code, _, errs := runCmd(t, "", "dissect", "-r", a, "-r", "-"); code != exitUsage || !strings.Contains(errs, "standard input") {
		t.Errorf("-r A -r -: %d %s", code, errs)
	}
}
