package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

// readout is everything a store holds, read through its API.
type readout struct {
	scan    [][]byte            // encodings in sync order
	records map[string][][]byte // collection/record -> encodings
	summary sp.Summary
}

// readAll reads everything back: a whole sync-order scan, each record, the
// summary, and a Verify. It returns the first error and the step that
// gave it.
func readAll(s *Store, records []string) (readout, string, error) {
	var out readout
	err := s.ScanSyncOrder(ctx, nil, func(_ sp.SyncKey, e sp.Entry) error {
		out.scan = append(out.scan, e.Encode())
		return nil
	})
	if err != nil {
		return out, "scan", err
	}
	out.records = map[string][][]byte{}
	for _, r := range records {
		coll, hexID, _ := strings.Cut(r, "/")
		id, _ := sp.ParseRecordID(hexID)
		es, err := s.Record(ctx, coll, id)
		if errors.Is(err, sp.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, "record", err
		}
		for _, e := range es {
			out.records[r] = append(out.records[r], e.Encode())
		}
	}
	if out.summary, err = s.Summary(ctx); err != nil {
		return out, "summary", err
	}
	if _, err := s.Verify(ctx); err != nil {
		return out, "verify", err
	}
	return out, "", nil
}

func (a readout) equal(b readout) bool {
	eq := func(x, y [][]byte) bool { return slices.EqualFunc(x, y, bytes.Equal) }
	if !eq(a.scan, b.scan) || a.summary != b.summary || len(a.records) != len(b.records) {
		return false
	}
	for k, v := range a.records {
		if !eq(v, b.records[k]) {
			return false
		}
	}
	return true
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// flipOffsets picks up to n offsets in a file of size size,
// deterministically: spread over the file, and denser at its end, where
// badger keeps a table's index and checksums.
func flipOffsets(size int64, n int) []int64 {
	if size <= int64(n) {
		var all []int64
		for i := range size {
			all = append(all, i)
		}
		return all
	}
	seen := map[int64]bool{}
	var out []int64
	add := func(o int64) {
		if o >= 0 && o < size && !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(size), 40))
	spread := n * 3 / 4
	for i := range spread {
		lo := size * int64(i) / int64(spread)
		hi := size * int64(i+1) / int64(spread)
		add(lo + rng.Int64N(max(hi-lo, 1)))
	}
	for k := int64(0); len(out) < n && k*13 < size; k++ {
		add(size - 1 - k*13)
	}
	for k := int64(0); len(out) < n && k < size; k++ {
		add(size - 1 - k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// classify says which check caught a flip: badger's own (its checksums,
// its key registry check, its manifest), the shutdown seal, or the store's
// checks of what badger returned (tags and hashes, missing meta rows, the
// digest of a whole scan).
func classify(step string, err error) string {
	var ie *IntegrityError
	if !errors.As(err, &ie) {
		return step + "/other"
	}
	d := strings.ToLower(ie.Detail)
	src := "ours:tag-or-hash"
	switch {
	case ie.Where == "opening the database" || ie.Where == "the database tables" ||
		strings.Contains(d, "checksum") || strings.Contains(d, "encryption key does not match"):
		src = "badger"
	case strings.Contains(ie.Where, "seal") || strings.HasPrefix(ie.Where, "data file") ||
		strings.Contains(d, "store was closed with"):
		src = "ours:seal"
	case strings.Contains(d, "is missing") || strings.Contains(d, "which is missing"):
		src = "ours:missing-row"
	case strings.Contains(d, "full scan saw") || strings.Contains(d, "digest") || strings.Contains(d, "rows for"):
		src = "ours:digest-or-count"
	}
	return step + "/" + src
}

func TestIntegrityFlips(t *testing.T) {
	if testing.Short() {
		t.Skip("flips bytes in a few hundred copies of a store; skipped with -short")
	}
	opts := testOptions()
	s := newStore(t, opts)
	h := storetest.RandomHistory(rand.New(rand.NewPCG(11, 12)), 4, 40, 500)
	// Searchable text too, so that the search index has rows.
	dev := storetest.NewDevice(9)
	for i := range 20 {
		id := sp.RecordID{byte(i), 0xd1}
		h.Universe = append(h.Universe,
			dev.Set("directory", id, "name/en", fmt.Sprintf("Service %d Crisis Line", i)),
			dev.Set("directory", id, "name/fr", fmt.Sprintf("Ligne d'écoute %d", i)))
	}
	if _, err := s.ApplyVerified(ctx, h.Universe); err != nil {
		t.Fatal(err)
	}
	recSet := map[string]bool{}
	for _, e := range h.Universe {
		recSet[e.Collection+"/"+e.Record.String()] = true
	}
	var records []string
	for r := range recSet {
		records = append(records, r)
	}
	sort.Strings(records)
	want, step, err := readAll(s, records)
	if err != nil {
		t.Fatalf("reading the intact store, %s: %v", step, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	kf, _, err := readKeyFile(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	master, err := kf.unwrap(testPass, "")
	if err != nil {
		t.Fatal(err)
	}

	var files []string
	entries, _ := os.ReadDir(filepath.Join(s.Dir(), dataDirName))
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name() != "LOCK" {
			files = append(files, e.Name())
		}
	}
	if len(files) < 4 {
		t.Fatalf("expected at least an sst, a vlog, MANIFEST and KEYREGISTRY; found %v", files)
	}
	// run flips one byte at each offset of a file in a fresh copy of the
	// node, opens the copy with the master key (the key file is not
	// flipped, and skipping argon2 keeps the test fast), and reads
	// everything back.
	run := func(t *testing.T, name string, offsets []int64, unsealed bool) {
		path := filepath.Join(s.Dir(), dataDirName, name)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for i, off := range offsets {
			dst := filepath.Join(t.TempDir(), "node")
			copyDir(t, s.Dir(), dst)
			if unsealed {
				os.Remove(filepath.Join(dst, sealFileName))
			}
			b := bytes.Clone(orig)
			if i%2 == 0 {
				b[off] ^= 0x01
			} else {
				b[off] ^= 0xff
			}
			if err := os.WriteFile(filepath.Join(dst, dataDirName, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := openData(dst, master, opts, false)
			if err != nil {
				if errors.Is(err, ErrLocked) {
					t.Fatalf("flip at %d of %s: open: %v", off, name, err)
				}
				counts[classify("open", err)]++
				continue
			}
			got, step, err := readAll(c, records)
			c.Close()
			if err != nil {
				counts[classify(step, err)]++
				continue
			}
			if !got.equal(want) {
				t.Errorf("flip at %d of %s (%d bytes, unsealed=%v): every read succeeded but returned different data: scan %d entries (want %d), summary %+v (want %+v)",
					off, name, len(orig), unsealed, len(got.scan), len(want.scan), got.summary, want.summary)
				continue
			}
			counts["no effect"]++
		}
		t.Logf("%s (%d bytes, %d flips, unsealed=%v): %v", name, len(orig), len(offsets), unsealed, counts)
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, err := os.Stat(filepath.Join(s.Dir(), dataDirName, name))
			if err != nil {
				t.Fatal(err)
			}
			run(t, name, flipOffsets(st.Size(), 40), false)
		})
	}
	// Without the shutdown seal (as after a crash), badger's checks and
	// the store's own are all there is. Badger panics in a goroutine of
	// its own on a damaged table footer or last block, which no caller can
	// recover from, so the tables are flipped only in their first half
	// here.
	for _, name := range files {
		t.Run("unsealed/"+name, func(t *testing.T) {
			t.Parallel()
			st, err := os.Stat(filepath.Join(s.Dir(), dataDirName, name))
			if err != nil {
				t.Fatal(err)
			}
			size := st.Size()
			if strings.HasSuffix(name, ".sst") {
				size /= 2
			}
			run(t, name, flipOffsets(size, 20), true)
		})
	}
}
