package node_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
)

// The canary sweep: a shelter's location, planted in every form it could
// leak in (an address, coordinates as text, as float64 bytes either way
// round, in base64 and hex, and a phone number tied to the address), is
// written, synced, bundled, searched, listed, put in conflict, revealed,
// deleted and flushed to disk. Then the raw data directory of every node,
// every bundle, every log and every output of the nodes outside the
// audience (including a pack and spreadsheet exports) are searched for
// each form: zero hits. The audience's own node holds it sealed at rest
// too (and the store is encrypted besides).
func TestCanarySweep(t *testing.T) {
	const (
		addr   = "CANARY-7Q 41 Hidden Ptarmigan Road"
		lat    = 61.234567891
		lon    = -94.123456789
		coords = "61.234567891,-94.123456789"
		phone  = "867-555-0199"
	)
	location := addr + "; " + coords + "; back door line " + phone
	var binForms [][]byte
	for _, f := range []float64{lat, lon} {
		le, be := make([]byte, 8), make([]byte, 8)
		binary.LittleEndian.PutUint64(le, math.Float64bits(f))
		binary.BigEndian.PutUint64(be, math.Float64bits(f))
		binForms = append(binForms, le, be)
	}
	textForms := []string{addr, "hidden ptarmigan", coords, "61.2345678", "94.1234567", phone, "8675550199",
		base64.StdEncoding.EncodeToString([]byte(location)), base64.StdEncoding.EncodeToString([]byte(addr)),
		base64.RawURLEncoding.EncodeToString([]byte(addr)), hex.EncodeToString([]byte(addr)), hex.EncodeToString([]byte(location))}
	leaks := func(b []byte) string {
		low := bytes.ToLower(b)
		for _, f := range textForms {
			if bytes.Contains(low, []byte(strings.ToLower(f))) {
				return f
			}
		}
		for _, f := range binForms {
			if bytes.Contains(b, f) {
				return hex.EncodeToString(f) + " (float64 bytes)"
			}
		}
		return ""
	}

	ha := newHarness(t)
	ha.opts.Audiences = nil // the coordinator's laptop is not in the audience
	a := ha.init()
	hs, s := join(t, a, node.RoleShelterStaff, "*:*")
	hw, w := join(t, a, node.RoleOutreach, "outreach:kivalliq/arviat", "directory:*")
	pipeSync := func(x, y *node.Node) {
		t.Helper()
		cx, cy := net.Pipe()
		if _, _, e1, e2 := syncOver(t, x, y, cx, cy, node.SyncOptions{}); e1 != nil || e2 != nil {
			t.Fatal(e1, e2)
		}
	}
	pipeSync(a, s)
	pipeSync(a, w)
	shelter, err := s.Add(ctx, node.Directory, changes(t, "name=Fictional Safe House (sample)", "kind=shelter", "community=Arviat", "phone=867-555-0142"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, node.Directory, shelter, []node.Change{{Field: "location", Value: location}}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Get(ctx, node.Directory, shelter, node.ReadOptions{Reveal: []string{"location"}}); err != nil || r.Get("location") != location {
		t.Fatalf("the audience's reveal: %v", err)
	}
	pipeSync(a, s)
	// A concurrent change on the coordinator's laptop: a sealed conflict.
	if err := a.Update(ctx, node.Directory, shelter, []node.Change{{Field: "location", Value: addr + " (moved)"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, node.Directory, shelter, []node.Change{{Field: "location", Value: location + " rear"}}); err != nil {
		t.Fatal(err)
	}
	pipeSync(a, s)
	pipeSync(a, w)

	var outputs [][]byte
	out := func(v any) {
		b, _ := json.Marshal(v)
		outputs = append(outputs, b)
	}
	var bundles [][]byte
	for _, p := range [][2]*node.Node{{a, w}, {a, s}, {s, a}, {w, a}} {
		b, _ := export(t, p[0], p[1])
		bundles = append(bundles, b)
	}
	importB(t, w, bundles[0])
	// A pack built on the coordinator's laptop from a spreadsheet that
	// holds the location, installed on the worker's; and a spreadsheet
	// export of each.
	sheet := []fieldkit.ServiceRow{{Line: 2, Key: "shelter-1", Fields: map[string]string{
		"kind": "shelter", "name/en": "Fictional Shelter Two (sample)", "phone": "867-555-0142", "location": location}}}
	var pack bytes.Buffer
	if _, err := a.BuildPack(ctx, sheet, false, node.PackBuildOptions{Name: "canary"}, &pack); err != nil {
		t.Fatal(err)
	}
	bundles = append(bundles, pack.Bytes())
	if _, err := w.InstallPack(ctx, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(pack.Bytes())), nil }); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node.Node{a, w} {
		var sheetOut bytes.Buffer
		if _, err := n.ExportDirectory(ctx, &sheetOut); err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, sheetOut.Bytes())
	}
	for _, n := range []*node.Node{a, w} {
		for _, f := range append(textForms, "ptarmigan", "canary", "hidden", "61.23") {
			rs, err := n.Search(ctx, f, 50)
			if err != nil {
				t.Fatal(err)
			}
			out(rs)
		}
		var all []node.Record
		_ = n.List(ctx, node.Directory, func(r node.Record) error { all = append(all, r); return nil })
		out(all)
		r, _ := n.Get(ctx, node.Directory, shelter, node.ReadOptions{})
		out(r)
		_, err := n.Get(ctx, node.Directory, shelter, node.ReadOptions{Reveal: []string{"location"}})
		if err == nil {
			t.Fatal("a node outside the audience revealed the location")
		}
		out(err.Error())
		cs, _ := n.Conflicts(ctx)
		out(cs)
		st, _ := n.Status(ctx)
		out(st)
		out(n.Members())
		log, _ := n.AuditLog(ctx)
		out(log)
	}
	if cs, _ := a.Conflicts(ctx); len(cs) != 1 || cs[0].Field != "location" {
		t.Fatalf("the sealed conflict is not listed: %+v", cs)
	}
	// Delete, sync the tombstone, and close every node so that what was
	// in memory is written to the tables.
	if err := a.Delete(ctx, node.Directory, shelter); err != nil {
		t.Fatal(err)
	}
	pipeSync(a, s)
	pipeSync(a, w)
	for _, n := range []*node.Node{a, s, w} {
		n.Close()
	}
	for i, b := range outputs {
		if f := leaks(b); f != "" {
			t.Fatalf("output %d of a node outside the audience shows %q: %s", i, f, b)
		}
	}
	for i, b := range bundles {
		if f := leaks(b); f != "" {
			t.Fatalf("bundle %d shows %q", i, f)
		}
	}
	for _, h := range []*harness{ha, hs, hw} {
		if f := leaks(h.logs.Bytes()); f != "" {
			t.Fatalf("a log shows %q", f)
		}
		_ = filepath.WalkDir(h.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if f := leaks(raw); f != "" {
				t.Fatalf("%s shows %q", p, f)
			}
			return nil
		})
	}
}
