package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	sp "github.com/floe-north/floe/syncproto"
)

// updateSeeds rewrites the seed corpus files in testdata/fuzz.
var updateSeeds = flag.Bool("update", false, "rewrite the fuzz seed corpus in testdata/fuzz")

// The master key and passphrase of every valid key file in the FuzzKeyFile
// seeds, including the corpus files in testdata: fixed, so that a corpus
// file written once stays valid.
var (
	fuzzMaster = []byte("floe fuzz master key: 32 bytes!!")
	fuzzPass   = []byte("fuzz: correct horse battery")
)

// fuzzKeyFileAllocLimit caps what reading and checking one key file may
// allocate. The file is at most maxKeyFileLen bytes; argon2id at the floor
// alone would take 8 MiB, so a derivation run while reading shows up here.
const fuzzKeyFileAllocLimit = 4 << 20

// fuzzUnwrapBudget caps the argon2id cost, in KiB × passes, of the unwraps
// FuzzKeyFile runs, to keep each execution fast. A file with dearer
// parameters that passed the checks is still checked to be within the
// ceiling; its unwrap is skipped.
const fuzzUnwrapBudget = 16 << 10

func fuzzWrap(tb testing.TB, pass []byte, p KDFParams) *keyFile {
	tb.Helper()
	kf, err := wrapKey(fuzzMaster, pass, p)
	if err != nil {
		tb.Fatalf("wrapKey: %v", err)
	}
	return kf
}

// keyFileSeeds are key files for FuzzKeyFile: valid ones (named valid-*),
// and each way readKeyFile refuses a file.
func keyFileSeeds(tb testing.TB) map[string][]byte {
	valid := fuzzWrap(tb, fuzzPass, testKDF)
	enc := valid.encode()
	with := func(change func(kf *keyFile)) []byte {
		kf := *valid
		kf.KDF.Salt = bytes.Clone(valid.KDF.Salt)
		kf.Nonce = bytes.Clone(valid.Nonce)
		kf.Wrapped = bytes.Clone(valid.Wrapped)
		change(&kf)
		return kf.encode()
	}
	params := func(t, m uint32, p uint8) []byte {
		return with(func(kf *keyFile) { kf.KDF.Time, kf.KDF.MemoryKiB, kf.KDF.Threads = t, m, p })
	}
	seeds := map[string][]byte{
		"valid-t1-m8MiB-p1": enc,
		"valid-t1-m8MiB-p4": fuzzWrap(tb, fuzzPass, KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 4}).encode(),
		"valid-t2-m8MiB-p2": fuzzWrap(tb, fuzzPass, KDFParams{Time: 2, MemoryKiB: 8 << 10, Threads: 2}).encode(),
		"other-passphrase":  fuzzWrap(tb, []byte("another passphrase"), testKDF).encode(),

		// Parameters: at the ceiling (accepted, but too dear to unwrap
		// here), above it (refused before any derivation), below the floor.
		"kdf-at-ceiling":      params(kdfMaxTime, kdfMaxMemoryKiB, kdfMaxThreads),
		"kdf-memory-over":     params(1, kdfMaxMemoryKiB+1, 1),
		"kdf-memory-max":      params(1, ^uint32(0), 1),
		"kdf-time-over":       params(kdfMaxTime+1, 8<<10, 1),
		"kdf-time-max":        params(^uint32(0), ^uint32(0), 255),
		"kdf-threads-over":    params(1, 8<<10, kdfMaxThreads+1),
		"kdf-memory-under":    params(1, kdfMinMemoryKiB-1, 1),
		"kdf-time-zero":       params(0, 8<<10, 1),
		"kdf-threads-zero":    params(1, 8<<10, 0),
		"kdf-params-changed":  params(1, 9<<10, 1),
		"kdf-alg-2":           with(func(kf *keyFile) { kf.KDF.Alg = 2 }),
		"version-2":           with(func(kf *keyFile) { kf.Version = 2 }),
		"version-0":           with(func(kf *keyFile) { kf.Version = 0 }),
		"magic-wrong":         with(func(kf *keyFile) { kf.Magic = "floe-kex" }),
		"magic-empty":         with(func(kf *keyFile) { kf.Magic = "" }),
		"salt-short":          with(func(kf *keyFile) { kf.KDF.Salt = kf.KDF.Salt[:saltLen-1] }),
		"salt-none":           with(func(kf *keyFile) { kf.KDF.Salt = nil }),
		"nonce-12":            with(func(kf *keyFile) { kf.Nonce = kf.Nonce[:chacha20poly1305.NonceSize] }),
		"wrapped-short":       with(func(kf *keyFile) { kf.Wrapped = kf.Wrapped[:masterKeyLen] }),
		"wrapped-long":        with(func(kf *keyFile) { kf.Wrapped = append(kf.Wrapped, 0) }),
		"wrapped-bit-flipped": with(func(kf *keyFile) { kf.Wrapped[0] ^= 1 }),
		"nonce-bit-flipped":   with(func(kf *keyFile) { kf.Nonce[0] ^= 1 }),
		"salt-bit-flipped":    with(func(kf *keyFile) { kf.KDF.Salt[0] ^= 1 }),

		// Encodings: trailing bytes, a non-canonical integer, an unknown
		// field, and files over the size limit.
		"trailing-byte":  append(bytes.Clone(enc), 0),
		"noncanonical":   fuzzNonCanonical(tb, enc),
		"unknown-field":  fuzzExtraField(tb, enc),
		"too-long":       append(bytes.Clone(enc), make([]byte, maxKeyFileLen+1-len(enc))...),
		"too-long-by-4k": bytes.Repeat([]byte{0xa0}, 2*maxKeyFileLen),
		"empty":          nil,
		"empty-map":      {0xa0},
		"truncated":      enc[:len(enc)/2],
		"text":           []byte("floe-key"),
		"indefinite-map": {0xbf, 0xff},
		// A map that claims 2^32 pairs, and a byte string that claims 4 GiB.
		"huge-map":   {0xba, 0xff, 0xff, 0xff, 0xff, 0x01},
		"huge-bytes": {0xa1, 0x05, 0x5a, 0xff, 0xff, 0xff, 0xff, 0x00},
		// A tag, and a duplicate key.
		"tagged":        append([]byte{0xd8, 0x37}, enc...),
		"duplicate-key": {0xa2, 0x01, 0x68, 'f', 'l', 'o', 'e', '-', 'k', 'e', 'y', 0x01, 0x68, 'f', 'l', 'o', 'e', '-', 'k', 'e', 'y'},
	}
	return seeds
}

// fuzzNonCanonical re-encodes the version (2: 1) of an encoded key file with
// a one-byte argument (0x18 0x01), which is valid CBOR but not canonical.
func fuzzNonCanonical(tb testing.TB, enc []byte) []byte {
	tb.Helper()
	magic := append([]byte{0x68}, keyFileMagic...)
	i := bytes.Index(enc, magic)
	if i < 0 || !bytes.HasPrefix(enc[i+len(magic):], []byte{0x02, 0x01}) {
		tb.Fatalf("key file encoding is not laid out as expected: %x", enc)
	}
	j := i + len(magic)
	out := append(bytes.Clone(enc[:j]), 0x02, 0x18, 0x01)
	return append(out, enc[j+2:]...)
}

// fuzzExtraField adds field 6 (an empty text) to an encoded key file.
func fuzzExtraField(tb testing.TB, enc []byte) []byte {
	tb.Helper()
	if enc[0] != 0xa5 {
		tb.Fatalf("key file is not a map of 5: %x", enc[:1])
	}
	out := append([]byte{0xa6}, enc[1:]...)
	return append(out, 0x06, 0x60)
}

// FuzzKeyFile feeds readKeyFile, and then unwrap, a key file from disk that
// may be damaged or tampered with. Neither may panic. Reading must not
// allocate more than the file calls for: argon2id parameters above the
// ceiling are refused before anything is derived. A file is either refused
// with ErrBadKeyFile, or unwraps with ErrWrongPassphrase, or unwraps to the
// seeds' master key.
func FuzzKeyFile(f *testing.F) {
	for _, b := range keyFileSeeds(f) {
		f.Add(b)
	}
	// One directory per fuzzing process; executions in it are sequential.
	dir := f.TempDir()
	path := filepath.Join(dir, keyFileName)
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		kf, raw, err := readKeyFile(dir)
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > fuzzKeyFileAllocLimit {
			t.Fatalf("reading a %d-byte key file allocated %d bytes", len(b), n)
		}
		if err != nil {
			if !errors.Is(err, ErrBadKeyFile) || errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("a refused key file gave %q, want ErrBadKeyFile", err)
			}
			if kf != nil || raw != nil {
				t.Fatal("readKeyFile returned a key file with its error")
			}
			return
		}

		// Accepted: the exact bytes, in canonical form, within every limit.
		if !bytes.Equal(raw, b) {
			t.Fatal("readKeyFile returned other bytes than the file holds")
		}
		if enc := kf.encode(); !bytes.Equal(enc, b) {
			t.Fatalf("accepted a key file that is not canonical:\n  in %x\n out %x", b, enc)
		}
		p := kf.KDF.params()
		if err := p.check(); err != nil {
			t.Fatalf("accepted argon2id parameters outside the limits: %v", err)
		}
		if p.MemoryKiB > kdfMaxMemoryKiB || p.Time > kdfMaxTime || p.Threads > kdfMaxThreads {
			t.Fatalf("accepted argon2id parameters above the ceiling: %+v", p)
		}
		if kf.Magic != keyFileMagic || kf.Version != keyFileVersion || kf.KDF.Alg != kdfArgon2id13 ||
			len(kf.KDF.Salt) != saltLen || len(kf.Nonce) != chacha20poly1305.NonceSizeX ||
			len(kf.Wrapped) != masterKeyLen+chacha20poly1305.Overhead {
			t.Fatalf("accepted a key file with a wrong header or length: %+v", kf)
		}

		if uint64(p.MemoryKiB)*uint64(p.Time) > fuzzUnwrapBudget {
			return
		}
		master, err := kf.unwrap(fuzzPass, path)
		if err != nil {
			if !errors.Is(err, ErrWrongPassphrase) || errors.Is(err, ErrBadKeyFile) {
				t.Fatalf("unwrap gave %q, want ErrWrongPassphrase", err)
			}
			return
		}
		if !bytes.Equal(master, fuzzMaster) {
			t.Fatalf("a key file unwrapped to another master key %x", master)
		}
	})
}

// FuzzParseKeys feeds the parsers of badger keys arbitrary bytes, and
// builds keys from parts cut out of them. No parser may panic; a key a
// parser accepts is the key its builder makes from the parsed parts; a key
// a builder makes parses back to its parts; and the orderings and prefix
// scans the store relies on (keys.go) hold.
func FuzzParseKeys(f *testing.F) {
	for _, b := range parseKeySeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzParsedKeys(t, b)
		fuzzBuiltKeys(t, b)
	})
}

// fuzzParsedKeys checks that what a parser accepts is what its builder
// makes, and that no key belongs to two kinds of row.
func fuzzParsedKeys(t *testing.T, b []byte) {
	kinds := 0
	if h, ok := parseEntryKey(b); ok {
		kinds++
		if k := entryKey(h); !bytes.Equal(k, b) {
			t.Fatalf("parseEntryKey accepted %x, which entryKey builds as %x", b, k)
		}
	}
	if r, ok := parseRecordKey(b); ok {
		kinds++
		e := sp.Entry{Collection: r.coll, Record: r.id, Field: r.field}
		if k := recordKey(&e, r.hash); !bytes.Equal(k, b) {
			t.Fatalf("parseRecordKey accepted %x as %+v, which recordKey builds as %x", b, r, k)
		}
		if strings.IndexByte(r.field, 0) >= 0 {
			t.Fatalf("parseRecordKey accepted a field with 0x00: %q", r.field)
		}
		if !bytes.HasPrefix(b, fieldPrefix(r.coll, r.id, r.field)) {
			t.Fatalf("record key %x is not under its field prefix", b)
		}
	}
	if sk, ok := parseSyncRowKey(b); ok {
		kinds++
		if k := syncRowKey(sk); !bytes.Equal(k, b) {
			t.Fatalf("parseSyncRowKey accepted %x, which syncRowKey builds as %x", b, k)
		}
		if sp.MakeSyncKey(sk.Time(), sk.Hash()) != sk {
			t.Fatalf("sync key %x does not split into its time and hash", sk)
		}
	}
	if r, ok := parseSearchKey(b); ok {
		kinds++
		if k := searchKey(r.term, r.id, r.hash); !bytes.Equal(k, b) {
			t.Fatalf("parseSearchKey accepted %x as %+v, which searchKey builds as %x", b, r, k)
		}
		if r.term == "" || strings.IndexByte(r.term, 0) >= 0 {
			t.Fatalf("parseSearchKey accepted the term %q", r.term)
		}
		if !bytes.HasPrefix(b, searchPrefix(r.term)) {
			t.Fatalf("search key %x is not under its term's prefix", b)
		}
	}
	if coll, id, field, ok := parseConflictKey(b); ok {
		kinds++
		if k := conflictKey(coll, id, field); !bytes.Equal(k, b) {
			t.Fatalf("parseConflictKey accepted %x, which conflictKey builds as %x", b, k)
		}
	}
	if kinds > 1 {
		t.Fatalf("%x parses as %d kinds of row", b, kinds)
	}
}

// fuzzCutter cuts parts for keys out of fuzzer bytes. Past the end, it
// gives zeros.
type fuzzCutter struct{ b []byte }

func (c *fuzzCutter) bytes(n int) []byte {
	out := make([]byte, n)
	copy(out, c.b)
	c.b = c.b[min(n, len(c.b)):]
	return out
}

// str cuts a string whose length is the next byte, or what is left if
// that is less.
func (c *fuzzCutter) str() string {
	n := int(c.bytes(1)[0])
	return string(c.bytes(min(n, len(c.b))))
}

func (c *fuzzCutter) id() (id sp.RecordID)   { copy(id[:], c.bytes(len(id))); return }
func (c *fuzzCutter) hash() (h sp.EntryHash) { copy(h[:], c.bytes(len(h))); return }

// fuzzBuiltKeys builds keys from parts cut out of b and checks that they
// parse back, sort and fall under prefixes as keys.go says.
func fuzzBuiltKeys(t *testing.T, b []byte) {
	c := &fuzzCutter{b: b}
	// Collections are at most 32 bytes (syncproto); the length byte would
	// hold up to 255, and str gives no more.
	coll1, coll2 := c.str(), c.str()
	id := c.id()
	f1, f2 := c.str(), c.str()
	h1, h2 := c.hash(), c.hash()
	hlc := sp.HLC(binary.BigEndian.Uint64(c.bytes(8)))

	if got, ok := parseEntryKey(entryKey(h1)); !ok || got != h1 {
		t.Fatalf("entryKey of %x parses as %x, %v", h1, got, ok)
	}
	sk := sp.MakeSyncKey(hlc, h1)
	if got, ok := parseSyncRowKey(syncRowKey(sk)); !ok || got != sk || got.Time() != hlc || got.Hash() != h1 {
		t.Fatalf("syncRowKey %x parses as %x, %v", sk, got, ok)
	}

	fieldOK := func(f string) bool { return strings.IndexByte(f, 0) < 0 }
	if fieldOK(f1) {
		e := sp.Entry{Collection: coll1, Record: id, Field: f1}
		k := recordKey(&e, h1)
		got, ok := parseRecordKey(k)
		if want := (recordRow{coll: coll1, id: id, field: f1, hash: h1}); !ok || got != want {
			t.Fatalf("recordKey %x parses as %+v, %v; want %+v", k, got, ok, want)
		}
		// A collection's prefix holds its own records only.
		if coll2 != coll1 && bytes.HasPrefix(k, collectionPrefix(coll2)) {
			t.Fatalf("a record key of collection %q is under the prefix of %q", coll1, coll2)
		}
		// A tombstone (field "") sorts first in its record.
		tomb := recordKey(&sp.Entry{Collection: coll1, Record: id}, h2)
		if f1 != "" && bytes.Compare(tomb, k) >= 0 {
			t.Fatalf("the tombstone row %x does not sort before field %q's row %x", tomb, f1, k)
		}
		// Rows sort by field path, then by hash.
		if fieldOK(f2) {
			k2 := recordKey(&sp.Entry{Collection: coll1, Record: id, Field: f2}, h2)
			want := strings.Compare(f1, f2)
			if want == 0 {
				want = bytes.Compare(h1[:], h2[:])
			}
			if got := bytes.Compare(k, k2); got != want {
				t.Fatalf("rows (%q, %x) and (%q, %x) compare %d, want %d", f1, h1, f2, h2, got, want)
			}
			// A field's prefix holds that field's rows only.
			if f1 != f2 && bytes.HasPrefix(k2, fieldPrefix(coll1, id, f1)) {
				t.Fatalf("field %q's row is under the prefix of field %q", f2, f1)
			}
		}
	}

	// Search postings: a term must be valid to be stored; a query term
	// (valid too) matches exactly the stored terms it is a prefix of.
	if validTerm(f1) {
		k := searchKey(f1, id, h1)
		got, ok := parseSearchKey(k)
		if want := (searchRow{term: f1, id: id, hash: h1}); !ok || got != want {
			t.Fatalf("searchKey %x parses as %+v, %v; want %+v", k, got, ok, want)
		}
		if validTerm(f2) {
			if under, want := bytes.HasPrefix(k, searchPrefix(f2)), strings.HasPrefix(f1, f2); under != want {
				t.Fatalf("the posting of %q is under the prefix of query %q: %v, want %v", f1, f2, under, want)
			}
		}
	}

	// nextRecordID is the successor, as a 128-bit number.
	next, ok := nextRecordID(id)
	n := new(big.Int).SetBytes(id[:])
	n.Add(n, big.NewInt(1))
	if n.BitLen() > 8*len(id) {
		if ok {
			t.Fatalf("nextRecordID(%x) = %x, want none", id, next)
		}
	} else if want := n.FillBytes(make([]byte, len(id))); !ok || !bytes.Equal(next[:], want) {
		t.Fatalf("nextRecordID(%x) = %x, %v; want %x", id, next, ok, want)
	}
}

// parseKeySeeds are keys of every kind, and near misses.
func parseKeySeeds() map[string][]byte {
	var h sp.EntryHash
	for i := range h {
		h[i] = byte(i)
	}
	id := sp.RecordID{0x3f, 0x9a, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xff}
	rec := func(coll, field string) []byte {
		return recordKey(&sp.Entry{Collection: coll, Record: id, Field: field}, h)
	}
	value := rec("directory", "name/en")
	posting := searchKey("kamatsiaqtut", id, h)
	seeds := map[string][]byte{
		"entry":              entryKey(h),
		"entry-short":        entryKey(h)[:hashLen],
		"record-value":       value,
		"record-tombstone":   rec("directory", ""),
		"record-outreach":    rec("outreach", "subject"),
		"record-no-coll":     rec("", "name/en"),
		"record-coll-32":     rec(strings.Repeat("c", 32), "tags/ᐃᓄᒃᑎᑐᑦ"),
		"record-no-sep":      append(bytes.Clone(value[:len(value)-hashLen-1]), h[:]...),
		"record-zero-field":  rec("directory", "a\x00b"),
		"record-len-over":    append([]byte{prefixRecord, 0xff}, value[2:]...),
		"record-short":       value[:2+len("directory")+recordLen],
		"sync":               syncRowKey(sp.MakeSyncKey(0x0001_8f00_0000_0001, h)),
		"sync-long":          append(syncRowKey(sp.MakeSyncKey(1, h)), 0),
		"search":             posting,
		"search-syllabics":   searchKey("ᑲᒪᑦᓯᐊᖅᑐᑦ", id, h),
		"search-no-term":     append([]byte{prefixSearch, 0}, append(id[:], h[:]...)...),
		"search-no-sep":      append([]byte{prefixSearch, 'a', 'b'}, append(id[:], h[:]...)...),
		"search-zero-term":   searchKey("a\x00b", id, h),
		"meta-state":         metaKey(metaState),
		"meta-node":          metaKey("node.device"),
		"empty":              nil,
		"prefixes":           {prefixEntry, prefixRecord, prefixSync, prefixSearch, prefixMeta},
		"id-max":             append(bytes.Repeat([]byte{0}, 3), bytes.Repeat([]byte{0xff}, 48)...),
		"builder-parts":      []byte("\x09directory\x08outreach3f9a0102030405060708\x07name/en\x05hours"),
		"builder-same-field": []byte("\x01d\x01d0123456789abcdef\x02ab\x02ab"),
	}
	return seeds
}

// TestFuzzSeedCorpus checks the corpus files in testdata/fuzz: each is in
// Go's corpus format, and the valid key files still unwrap to the fuzz
// master key, so that the fuzzer keeps its best starting points. With
// -update it writes them first.
func TestFuzzSeedCorpus(t *testing.T) {
	if *updateSeeds {
		writeCorpus(t, "FuzzKeyFile", keyFileSeeds(t), "valid-t1-m8MiB-p1", "valid-t1-m8MiB-p4",
			"other-passphrase", "kdf-at-ceiling", "kdf-memory-over", "kdf-time-max", "kdf-memory-under", "noncanonical", "unknown-field")
		writeCorpus(t, "FuzzParseKeys", parseKeySeeds(), "entry", "record-value", "record-tombstone",
			"record-len-over", "sync", "search", "search-no-term", "builder-parts")
	}
	for _, target := range []string{"FuzzKeyFile", "FuzzParseKeys"} {
		ents, err := os.ReadDir(filepath.Join("testdata", "fuzz", target))
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		valid := 0
		for _, e := range ents {
			path := filepath.Join("testdata", "fuzz", target, e.Name())
			b := readCorpusFile(t, path)
			if target != "FuzzKeyFile" || !strings.HasPrefix(e.Name(), "valid-") {
				continue
			}
			valid++
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, keyFileName), b, 0o600); err != nil {
				t.Fatal(err)
			}
			kf, _, err := readKeyFile(dir)
			if err != nil {
				t.Fatalf("%s: %v; run with -update", path, err)
			}
			master, err := kf.unwrap(fuzzPass, path)
			if err != nil || !bytes.Equal(master, fuzzMaster) {
				t.Fatalf("%s does not unwrap to the fuzz master key (%v); run with -update", path, err)
			}
		}
		if target == "FuzzKeyFile" && valid == 0 {
			t.Fatal("no valid key file in the FuzzKeyFile corpus; run with -update")
		}
	}
}

func writeCorpus(t *testing.T, target string, seeds map[string][]byte, names ...string) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		b, ok := seeds[name]
		if !ok {
			t.Fatalf("no seed %q", name)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readCorpusFile reads a one-value corpus file of a []byte.
func readCorpusFile(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a one-value corpus file", path)
	}
	q, ok := strings.CutPrefix(lines[1], "[]byte(")
	q, ok2 := strings.CutSuffix(q, ")")
	if !ok || !ok2 {
		t.Fatalf("%s: value is not a []byte", path)
	}
	s, err := strconv.Unquote(q)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}
