package syncproto_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sp "github.com/floe-north/floe/syncproto"
)

// update rewrites the golden files and the seed corpus in testdata. Other
// golden tests in this package should use it too rather than define their
// own flag.
var update = flag.Bool("update", false, "rewrite golden files in testdata")

// fixedKey is a device key derived from a label, the same on every run.
func fixedKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("floe test key\x00" + label))
	return ed25519.NewKeyFromSeed(seed[:])
}

func idOf(k ed25519.PrivateKey) sp.DeviceID {
	var d sp.DeviceID
	copy(d[:], k.Public().(ed25519.PublicKey))
	return d
}

func mustValue(t testing.TB, v any) []byte {
	t.Helper()
	b, err := sp.EncodeValue(v)
	if err != nil {
		t.Fatalf("EncodeValue(%#v): %v", v, err)
	}
	return b
}

// rawValue encodes v canonically without EncodeValue's checks, to build
// values that break them.
func rawValue(t testing.TB, v any) []byte {
	t.Helper()
	b, err := sp.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRecordID(t testing.TB, s string) sp.RecordID {
	t.Helper()
	id, err := sp.ParseRecordID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// goldenWall is 2026-01-15T12:00:00Z in milliseconds.
var goldenWall = uint64(time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC).UnixMilli())

// goldenEntry is the fixed entry whose encoding is pinned in
// testdata/entry-v1.golden: a directory listing's English name, written
// having seen two other devices' earlier versions of the field.
func goldenEntry(t testing.TB) sp.Entry {
	t.Helper()
	ctx := []sp.Dot{
		{Author: idOf(fixedKey("iqaluit-laptop")), Time: sp.MakeHLC(goldenWall-90_000, 0)},
		{Author: idOf(fixedKey("kuujjuaq-phone")), Time: sp.MakeHLC(goldenWall-30_000, 1)},
	}
	slices.SortFunc(ctx, func(a, b sp.Dot) int { return bytes.Compare(a.Author[:], b.Author[:]) })
	e := sp.Entry{
		Collection: "directory",
		Record:     mustRecordID(t, "4b616d617473696171747574e2809331"),
		Field:      "name/en",
		Time:       sp.MakeHLC(goldenWall, 2),
		Kind:       sp.KindValue,
		Value:      mustValue(t, "Kamatsiaqtut Help Line"),
		Context:    ctx,
	}
	e.Sign(fixedKey("golden-author"))
	return e
}

func tallyEntry(t testing.TB) sp.Entry {
	t.Helper()
	e := sp.Entry{
		Collection: "outreach",
		Record:     mustRecordID(t, "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
		Field:      "tally/contacts",
		Time:       sp.MakeHLC(goldenWall+5_000, 0),
		Kind:       sp.KindTally,
		Value:      mustValue(t, uint64(17)),
	}
	e.Sign(fixedKey("golden-author"))
	return e
}

func tombstoneEntry(t testing.TB) sp.Entry {
	t.Helper()
	e := sp.Entry{
		Collection: "directory",
		Record:     mustRecordID(t, "4b616d617473696171747574e2809331"),
		Time:       sp.MakeHLC(goldenWall+60_000, 0),
		Kind:       sp.KindTombstone,
	}
	e.Sign(fixedKey("golden-author"))
	return e
}

func kindEntries(t testing.TB) map[string]sp.Entry {
	return map[string]sp.Entry{
		"value":     goldenEntry(t),
		"tally":     tallyEntry(t),
		"tombstone": tombstoneEntry(t),
	}
}

const goldenPath = "testdata/entry-v1.golden"

func readGolden(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(goldenPath)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("%s: bad line %q", goldenPath, line)
		}
		out[k] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The encoding of an entry is the format on the wire and on disk, and its
// hash is the entry's ID: both must stay the same byte for byte, or nodes
// running different builds stop agreeing.
func TestEntryGoldenEncoding(t *testing.T) {
	e := goldenEntry(t)
	got := map[string]string{
		"encode":   hex.EncodeToString(e.Encode()),
		"sigbytes": hex.EncodeToString(e.SigBytes()),
		"hash":     e.Hash().String(),
	}
	if *update {
		var b strings.Builder
		b.WriteString("# Canonical encoding of the fixed entry built by goldenEntry in entry_test.go.\n")
		b.WriteString("# Changing these bytes changes the wire and disk format, and every entry's ID.\n")
		b.WriteString("# Regenerate with: go test ./syncproto -run TestEntryGoldenEncoding -update\n")
		for _, k := range []string{"encode", "sigbytes", "hash"} {
			fmt.Fprintf(&b, "%s %s\n", k, got[k])
		}
		if err := os.WriteFile(goldenPath, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		writeEntrySeeds(t)
	}
	want := readGolden(t)
	for _, k := range []string{"encode", "sigbytes", "hash"} {
		if got[k] != want[k] {
			t.Errorf("%s differs from %s at hex digit %d:\n got %s\nwant %s", k, goldenPath, firstDiff(got[k], want[k]), got[k], want[k])
		}
	}

	// The golden bytes are only stable because ed25519 signatures are
	// deterministic: signing the same entry again gives the same bytes.
	again := goldenEntry(t)
	if !bytes.Equal(again.Sig, e.Sig) {
		t.Errorf("signing the same entry twice gave different signatures")
	}
	if err := e.Verify(); err != nil {
		t.Errorf("golden entry does not verify: %v", err)
	}
	if e.Author != idOf(fixedKey("golden-author")) {
		t.Errorf("Sign did not set the author to the signing key")
	}
	if h := sha256.Sum256(e.SigBytes()); sp.EntryHash(h) != e.Hash() {
		t.Errorf("Hash is not the SHA-256 of SigBytes")
	}
	// The hash is the entry's ID and must not depend on the signature.
	unsigned := e
	unsigned.Sig = nil
	if unsigned.Hash() != e.Hash() || !bytes.Equal(unsigned.SigBytes(), e.SigBytes()) {
		t.Errorf("hash or signed bytes depend on the signature")
	}
	if bytes.Equal(e.SigBytes(), e.Encode()) {
		t.Errorf("SigBytes includes the signature")
	}
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// writeEntrySeeds writes the valid entries of each kind to the fuzz seed
// corpus, in Go's corpus file format.
func writeEntrySeeds(t *testing.T) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeEntry")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, e := range kindEntries(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", e.Encode())
		if err := os.WriteFile(filepath.Join(dir, "valid-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The valid entries in the seed corpus must stay valid, or the fuzzer
// quietly loses its best starting points when the format changes.
func TestEntrySeedCorpusIsCurrent(t *testing.T) {
	for name, e := range kindEntries(t) {
		path := filepath.Join("testdata", "fuzz", "FuzzDecodeEntry", "valid-"+name)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		b := readCorpusBytes(t, path, raw)
		if !bytes.Equal(b, e.Encode()) {
			t.Errorf("%s is not the current encoding of the %s entry; run with -update", path, name)
		}
	}
}

func readCorpusBytes(t *testing.T, path string, raw []byte) []byte {
	t.Helper()
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

// An entry read back from its encoding is the same entry, and still
// verifies, for every kind.
func TestEntryRoundTrip(t *testing.T) {
	for name, e := range kindEntries(t) {
		t.Run(name, func(t *testing.T) {
			if err := e.Verify(); err != nil {
				t.Fatalf("fresh entry does not verify: %v", err)
			}
			got, err := sp.DecodeEntry(e.Encode())
			if err != nil {
				t.Fatalf("DecodeEntry: %v", err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Fatalf("round trip changed the entry:\n got %+v\nwant %+v", got, e)
			}
			if err := got.Verify(); err != nil {
				t.Fatalf("decoded entry does not verify: %v", err)
			}
			if got.Hash() != e.Hash() {
				t.Fatalf("hash changed in the round trip")
			}
		})
	}
}

// Damage in transit or on disk, or a forger's edit, never yields an entry
// that verifies: flipping any bits of any byte is caught when decoding or
// when verifying.
func TestEntryDamageIsDetected(t *testing.T) {
	for name, e := range kindEntries(t) {
		t.Run(name, func(t *testing.T) {
			enc := e.Encode()
			for i := range enc {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					b := bytes.Clone(enc)
					b[i] ^= mask
					got, err := sp.DecodeEntry(b)
					if err != nil {
						continue
					}
					err = got.Verify()
					if err == nil {
						t.Fatalf("byte %d ^ %#02x: damaged entry decodes and verifies: %+v", i, mask, got)
					}
					if !errors.Is(err, sp.ErrBadSignature) {
						t.Errorf("byte %d ^ %#02x: Verify = %v, want ErrBadSignature", i, mask, err)
					}
				}
			}
			// A transfer cut short never decodes.
			for n := range len(enc) {
				if _, err := sp.DecodeEntry(enc[:n]); err == nil {
					t.Fatalf("first %d of %d bytes decode as an entry", n, len(enc))
				}
			}
		})
	}
}

// Claiming someone else wrote an entry, or editing it after signing, fails
// verification.
func TestEntryForgeryFailsVerify(t *testing.T) {
	e := goldenEntry(t)
	other := idOf(fixedKey("someone-else"))

	forged := e
	forged.Author = other
	if err := forged.Verify(); !errors.Is(err, sp.ErrBadSignature) {
		t.Errorf("entry with another author: Verify = %v, want ErrBadSignature", err)
	}
	// The same forgery arriving over the wire decodes (it is well formed)
	// but does not verify.
	got, err := sp.DecodeEntry(forged.Encode())
	if err != nil {
		t.Fatalf("DecodeEntry of re-attributed entry: %v", err)
	}
	if err := got.Verify(); !errors.Is(err, sp.ErrBadSignature) {
		t.Errorf("decoded re-attributed entry: Verify = %v, want ErrBadSignature", err)
	}
	if err := got.Verify(); err != nil && !strings.Contains(err.Error(), other.Short()) {
		t.Errorf("Verify error %q does not name the claimed author %s", err, other.Short())
	}

	edited := e
	edited.Value = mustValue(t, "Kamatsiaqtut Help Line (closed)")
	if err := edited.Verify(); !errors.Is(err, sp.ErrBadSignature) {
		t.Errorf("edited value: Verify = %v, want ErrBadSignature", err)
	}

	later := e
	later.Time++
	if err := later.Verify(); !errors.Is(err, sp.ErrBadSignature) {
		t.Errorf("edited timestamp: Verify = %v, want ErrBadSignature", err)
	}

	dropped := e
	dropped.Context = dropped.Context[:1]
	if err := dropped.Verify(); !errors.Is(err, sp.ErrBadSignature) {
		t.Errorf("context trimmed: Verify = %v, want ErrBadSignature", err)
	}

	unsigned := e
	unsigned.Sig = nil
	if err := unsigned.Verify(); !errors.Is(err, sp.ErrBadSignature) {
		t.Errorf("unsigned entry: Verify = %v, want ErrBadSignature", err)
	}

	// A signature over the bare bytes, without the domain separator, is not
	// an entry signature.
	bare := e
	bare.Sig = ed25519.Sign(fixedKey("golden-author"), e.SigBytes())
	if err := bare.Verify(); !errors.Is(err, sp.ErrBadSignature) {
		t.Errorf("signature without domain separation: Verify = %v, want ErrBadSignature", err)
	}
}

// Minimal CBOR writing, to build encodings the package would never make.

func cborHead(major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return []byte{m | byte(n)}
	case n <= 0xff:
		return []byte{m | 24, byte(n)}
	case n <= 0xffff:
		return []byte{m | 25, byte(n >> 8), byte(n)}
	case n <= 0xffffffff:
		return []byte{m | 26, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	b := []byte{m | 27}
	for s := 56; s >= 0; s -= 8 {
		b = append(b, byte(n>>s))
	}
	return b
}

func cborUint(n uint64) []byte   { return cborHead(0, n) }
func cborBytes(b []byte) []byte  { return append(cborHead(2, uint64(len(b))), b...) }
func cborText(s string) []byte   { return append(cborHead(3, uint64(len(s))), s...) }
func cborCat(p ...[]byte) []byte { return bytes.Join(p, nil) }

type cborPair struct{ k, v []byte }

func cborMap(pairs []cborPair) []byte {
	out := cborHead(5, uint64(len(pairs)))
	for _, p := range pairs {
		out = append(out, p.k...)
		out = append(out, p.v...)
	}
	return out
}

// entryPairs spells out the canonical encoding of a value entry, field by
// field, so that tests can build the same content in other ways.
func entryPairs(e *sp.Entry) []cborPair {
	var dots []byte
	dots = cborHead(4, uint64(len(e.Context)))
	for _, d := range e.Context {
		dots = append(dots, cborMap([]cborPair{
			{cborUint(1), cborBytes(d.Author[:])},
			{cborUint(2), cborUint(uint64(d.Time))},
		})...)
	}
	return []cborPair{
		{cborUint(1), cborText(e.Collection)},
		{cborUint(2), cborBytes(e.Record[:])},
		{cborUint(3), cborText(e.Field)},
		{cborUint(4), cborUint(uint64(e.Time))},
		{cborUint(5), cborBytes(e.Author[:])},
		{cborUint(6), cborUint(uint64(e.Kind))},
		{cborUint(7), e.Value},
		{cborUint(8), dots},
		{cborUint(9), cborBytes(e.Sig)},
	}
}

// Each entry has exactly one encoding. Another encoding of the same
// content would carry a valid signature but a different hash, so two nodes
// would hold the same entry under two IDs and never agree on their state:
// decoding refuses every non-canonical form.
func TestEntryNonCanonicalIsRefused(t *testing.T) {
	e := goldenEntry(t)
	if got := cborMap(entryPairs(&e)); !bytes.Equal(got, e.Encode()) {
		t.Fatalf("test's own CBOR writer disagrees with Encode:\n got %x\nwant %x", got, e.Encode())
	}
	withPairs := func(f func(p []cborPair) []cborPair) []byte {
		return cborMap(f(entryPairs(&e)))
	}
	set := func(i int, v []byte) []byte {
		return withPairs(func(p []cborPair) []cborPair { p[i].v = v; return p })
	}
	dot := func(d sp.Dot) []byte {
		return cborMap([]cborPair{{cborUint(1), cborBytes(d.Author[:])}, {cborUint(2), cborUint(uint64(d.Time))}})
	}
	value := e.Value // "Kamatsiaqtut Help Line", 22 bytes: 0x76 and the text

	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"map keys out of order", withPairs(func(p []cborPair) []cborPair {
			p[0], p[1] = p[1], p[0]
			return p
		}), sp.ErrMalformed},
		{"dot keys out of order", set(7, cborCat(cborHead(4, 2),
			cborHead(5, 2), cborUint(2), cborUint(uint64(e.Context[0].Time)), cborUint(1), cborBytes(e.Context[0].Author[:]),
			dot(e.Context[1]))), sp.ErrMalformed},
		{"kind as a two-byte integer", set(5, []byte{0x18, byte(e.Kind)}), sp.ErrMalformed},
		{"map key as a two-byte integer", withPairs(func(p []cborPair) []cborPair {
			p[2].k = []byte{0x18, 3}
			return p
		}), sp.ErrMalformed},
		{"map length as a two-byte integer", cborCat([]byte{0xb8, 9}, cborMap(entryPairs(&e))[1:]), sp.ErrMalformed},
		{"text length as a two-byte integer", set(0, cborCat([]byte{0x78, byte(len(e.Collection))}, []byte(e.Collection))), sp.ErrMalformed},
		{"value with a non-shortest length", set(6, cborCat([]byte{0x78, byte(len(value) - 1)}, value[1:])), sp.ErrMalformed},
		{"indefinite-length text", set(0, cborCat([]byte{0x7f}, cborText("direc"), cborText("tory"), []byte{0xff})), sp.ErrMalformed},
		{"indefinite-length bytes", set(1, cborCat([]byte{0x5f}, cborBytes(e.Record[:8]), cborBytes(e.Record[8:]), []byte{0xff})), sp.ErrMalformed},
		{"indefinite-length array", set(7, cborCat([]byte{0x9f}, dot(e.Context[0]), dot(e.Context[1]), []byte{0xff})), sp.ErrMalformed},
		{"indefinite-length map", cborCat([]byte{0xbf}, cborMap(entryPairs(&e))[1:], []byte{0xff}), sp.ErrMalformed},
		{"indefinite-length value", set(6, cborCat([]byte{0x7f}, cborText("Kamatsiaqtut "), cborText("Help Line"), []byte{0xff})), sp.ErrMalformed},
		{"duplicate map key", withPairs(func(p []cborPair) []cborPair {
			return slices.Insert(p, 3, p[2])
		}), sp.ErrMalformed},
		{"duplicate key with another value", withPairs(func(p []cborPair) []cborPair {
			return slices.Insert(p, 3, cborPair{cborUint(3), cborText("name/fr")})
		}), sp.ErrMalformed},
		{"tag on the timestamp", set(3, cborCat([]byte{0xc1}, cborUint(uint64(e.Time)))), sp.ErrMalformed},
		{"tag on the value", set(6, cborCat([]byte{0xd8, 0x20}, value)), sp.ErrMalformed},
		{"self-described CBOR", cborCat([]byte{0xd9, 0xd9, 0xf7}, e.Encode()), sp.ErrMalformed},
		{"timestamp as a float", set(3, cborCat([]byte{0xfb}, cborUint(uint64(e.Time))[1:])), sp.ErrMalformed},
		{"float value", set(6, []byte{0xf9, 0x3e, 0x00}), sp.ErrMalformed},
		{"float inside the value", set(6, cborCat(cborHead(4, 2), cborText("x"), []byte{0xfa, 0x3f, 0xc0, 0x00, 0x00})), sp.ErrMalformed},
		{"unknown key 10", withPairs(func(p []cborPair) []cborPair {
			return append(p, cborPair{cborUint(10), cborUint(0)})
		}), sp.ErrMalformed},
		{"unknown key in a dot", set(7, cborCat(cborHead(4, 2), dot(e.Context[0]),
			cborHead(5, 3), cborUint(1), cborBytes(e.Context[1].Author[:]), cborUint(2), cborUint(uint64(e.Context[1].Time)), cborUint(3), cborUint(0))), sp.ErrMalformed},
		{"text key instead of integer", withPairs(func(p []cborPair) []cborPair {
			p[0].k = cborText("1")
			return p
		}), sp.ErrMalformed},
		{"empty field present", withPairs(func(p []cborPair) []cborPair {
			q := tombstoneEntry(t)
			pp := entryPairs(&q)
			return []cborPair{pp[0], pp[1], {cborUint(3), cborText("")}, pp[3], pp[4], pp[5], pp[8]}
		}), sp.ErrMalformed},
		{"empty context present", withPairs(func(p []cborPair) []cborPair {
			q := tallyEntry(t)
			pp := entryPairs(&q)
			return []cborPair{pp[0], pp[1], pp[2], pp[3], pp[4], pp[5], pp[6], {cborUint(8), cborHead(4, 0)}, pp[8]}
		}), sp.ErrMalformed},
		{"short record ID", set(1, cborBytes(e.Record[:15])), sp.ErrMalformed},
		{"long record ID", set(1, cborBytes(append(e.Record[:], 0))), sp.ErrMalformed},
		{"record ID as an array", set(1, func() []byte {
			b := cborHead(4, 16)
			for _, x := range e.Record {
				b = append(b, cborUint(uint64(x))...)
			}
			return b
		}()), sp.ErrMalformed},
		{"kind too large", set(5, cborUint(257)), sp.ErrMalformed},
		{"trailing byte", cborCat(e.Encode(), []byte{0x00}), sp.ErrMalformed},
		{"two entries", cborCat(e.Encode(), e.Encode()), sp.ErrMalformed},
		{"array instead of map", cborCat(cborHead(4, 1), e.Encode()), sp.ErrMalformed},
		{"invalid UTF-8 collection", set(0, cborText("direc\xfftory")), sp.ErrMalformed},
		{"empty input", nil, sp.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := sp.DecodeEntry(c.b)
			if err == nil {
				t.Fatalf("DecodeEntry(%x) accepted a non-canonical encoding: %+v", c.b, got)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("DecodeEntry(%x) = %v, want an error wrapping %v", c.b, err, c.want)
			}
		})
	}
}

// dotsN makes n distinct, sorted dots, all before t.
func dotsN(n int, t sp.HLC) []sp.Dot {
	out := make([]sp.Dot, n)
	for i := range out {
		out[i].Author[0], out[i].Author[1], out[i].Author[31] = byte(i>>8), byte(i), 0x5a
		out[i].Time = t - sp.HLC(i+1)
	}
	return out
}

func nested(depth int) any {
	var v any = "deep"
	for range depth {
		v = []any{v}
	}
	return v
}

// Entries at the limits are accepted, fit in MaxEntryLen, and come back
// unchanged from their encoding: whatever a node lets a person write, every
// other node can read.
func TestEntryAtLimitsRoundTrips(t *testing.T) {
	e0 := goldenEntry(t)
	big := strings.Repeat("ᐃ", (sp.MaxValueLen-3)/3) // 3 bytes each in UTF-8
	big += strings.Repeat("x", sp.MaxValueLen-3-len(big))
	cases := []struct {
		name string
		edit func(e *sp.Entry)
	}{
		{"collection of MaxCollectionLen", func(e *sp.Entry) { e.Collection = strings.Repeat("a", sp.MaxCollectionLen) }},
		{"collection with digits and dashes", func(e *sp.Entry) { e.Collection = "outreach-2026" }},
		{"field of MaxFieldLen", func(e *sp.Entry) { e.Field = "notes/" + strings.Repeat("n", sp.MaxFieldLen-6) }},
		{"field of MaxFieldDepth", func(e *sp.Entry) { e.Field = strings.TrimSuffix(strings.Repeat("p/", sp.MaxFieldDepth), "/") }},
		{"field in syllabics", func(e *sp.Entry) { e.Field = "name/ᐃᓄᒃᑎᑐᑦ" }},
		{"value of MaxValueLen", func(e *sp.Entry) { e.Value = mustValue(t, big) }},
		{"value nested MaxNesting deep", func(e *sp.Entry) { e.Value = mustValue(t, nested(sp.MaxNesting)) }},
		{"map value nested MaxNesting deep", func(e *sp.Entry) {
			var v any = true
			for range sp.MaxNesting {
				v = map[string]any{"k": v}
			}
			e.Value = mustValue(t, v)
		}},
		{"array value of MaxItems", func(e *sp.Entry) { e.Value = mustValue(t, make([]any, sp.MaxItems)) }},
		{"MaxContextDots", func(e *sp.Entry) { e.Context = dotsN(sp.MaxContextDots, e.Time) }},
		{"everything at once", func(e *sp.Entry) {
			e.Collection = strings.Repeat("z", sp.MaxCollectionLen)
			e.Field = "a/b/c/" + strings.Repeat("ᓄ", (sp.MaxFieldLen-6)/3)
			e.Value = mustValue(t, big)
			e.Context = dotsN(sp.MaxContextDots, e.Time)
			e.Time = ^sp.HLC(0)
		}},
		{"tally of zero", func(e *sp.Entry) {
			*e = tallyEntry(t)
			e.Value = mustValue(t, 0)
		}},
		{"tally of 2^64-1", func(e *sp.Entry) {
			*e = tallyEntry(t)
			e.Value = mustValue(t, ^uint64(0))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := e0
			e.Context = slices.Clone(e0.Context)
			c.edit(&e)
			e.Sign(fixedKey("golden-author"))
			if err := e.Verify(); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			enc := e.Encode()
			if len(enc) > sp.MaxEntryLen {
				t.Fatalf("valid entry encodes to %d bytes, over MaxEntryLen %d", len(enc), sp.MaxEntryLen)
			}
			got, err := sp.DecodeEntry(enc)
			if err != nil {
				t.Fatalf("a valid, signed entry does not decode from its own encoding: %v", err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Fatalf("round trip changed the entry")
			}
			if err := got.Verify(); err != nil {
				t.Fatalf("decoded entry does not verify: %v", err)
			}
		})
	}
}

// Validation refuses entries that break a structural rule, both when the
// entry is checked locally and when it arrives from a peer.
func TestEntryValidation(t *testing.T) {
	long := strings.Repeat("v", sp.MaxValueLen-3) // the longest text value
	cases := []struct {
		name string
		base func(testing.TB) sp.Entry
		edit func(e *sp.Entry)
		want error
	}{
		{"zero record", goldenEntry, func(e *sp.Entry) { e.Record = sp.RecordID{} }, sp.ErrInvalid},
		{"zero time", goldenEntry, func(e *sp.Entry) { e.Time = 0; e.Context = nil }, sp.ErrInvalid},
		{"collection with uppercase", goldenEntry, func(e *sp.Entry) { e.Collection = "Directory" }, sp.ErrInvalid},
		{"collection too long", goldenEntry, func(e *sp.Entry) { e.Collection = strings.Repeat("a", sp.MaxCollectionLen+1) }, sp.ErrInvalid},
		{"collection empty", goldenEntry, func(e *sp.Entry) { e.Collection = "" }, sp.ErrInvalid},
		{"collection with a space", goldenEntry, func(e *sp.Entry) { e.Collection = "help lines" }, sp.ErrInvalid},
		{"collection with a slash", goldenEntry, func(e *sp.Entry) { e.Collection = "dir/ectory" }, sp.ErrInvalid},
		{"collection with an accent", goldenEntry, func(e *sp.Entry) { e.Collection = "répertoire" }, sp.ErrInvalid},
		{"field empty", goldenEntry, func(e *sp.Entry) { e.Field = "" }, sp.ErrInvalid},
		{"field with an empty part", goldenEntry, func(e *sp.Entry) { e.Field = "a//b" }, sp.ErrInvalid},
		{"field with a leading slash", goldenEntry, func(e *sp.Entry) { e.Field = "/name" }, sp.ErrInvalid},
		{"field with a trailing slash", goldenEntry, func(e *sp.Entry) { e.Field = "name/" }, sp.ErrInvalid},
		{"field too deep", goldenEntry, func(e *sp.Entry) { e.Field = "a/b/c/d/e" }, sp.ErrInvalid},
		{"field too long", goldenEntry, func(e *sp.Entry) { e.Field = strings.Repeat("n", sp.MaxFieldLen+1) }, sp.ErrTooLong},
		{"field with a space", goldenEntry, func(e *sp.Entry) { e.Field = "name/en us" }, sp.ErrInvalid},
		{"field with a tab", goldenEntry, func(e *sp.Entry) { e.Field = "name/\ten" }, sp.ErrInvalid},
		{"field with a newline", goldenEntry, func(e *sp.Entry) { e.Field = "name/en\n" }, sp.ErrInvalid},
		{"field with NUL", goldenEntry, func(e *sp.Entry) { e.Field = "name\x00en" }, sp.ErrInvalid},
		{"field with DEL", goldenEntry, func(e *sp.Entry) { e.Field = "name\x7f" }, sp.ErrInvalid},
		{"field with a no-break space", goldenEntry, func(e *sp.Entry) { e.Field = "name\u00a0en" }, sp.ErrInvalid},
		{"field with a zero-width space", goldenEntry, func(e *sp.Entry) { e.Field = "name\u200ben" }, sp.ErrInvalid},
		{"value entry without a value", goldenEntry, func(e *sp.Entry) { e.Value = nil }, sp.ErrInvalid},
		{"value entry on a tally path", goldenEntry, func(e *sp.Entry) { e.Field = "tally/contacts" }, sp.ErrInvalid},
		{"value entry on a bare tally path", goldenEntry, func(e *sp.Entry) { e.Field = "tally" }, nil},
		{"tally on a non-tally path", tallyEntry, func(e *sp.Entry) { e.Field = "contacts" }, sp.ErrInvalid},
		{"tally value is text", tallyEntry, func(e *sp.Entry) { e.Value = mustValue(t, "17") }, sp.ErrInvalid},
		{"tally value is negative", tallyEntry, func(e *sp.Entry) { e.Value = mustValue(t, -1) }, sp.ErrInvalid},
		{"tally value is a bool", tallyEntry, func(e *sp.Entry) { e.Value = mustValue(t, true) }, sp.ErrInvalid},
		{"tally value is null", tallyEntry, func(e *sp.Entry) { e.Value = mustValue(t, nil) }, sp.ErrInvalid},
		{"tally without a value", tallyEntry, func(e *sp.Entry) { e.Value = nil }, sp.ErrInvalid},
		{"tally with a context", tallyEntry, func(e *sp.Entry) { e.Context = dotsN(1, e.Time) }, sp.ErrInvalid},
		{"tombstone with a field", tombstoneEntry, func(e *sp.Entry) { e.Field = "name/en" }, sp.ErrInvalid},
		{"tombstone with a value", tombstoneEntry, func(e *sp.Entry) { e.Value = mustValue(t, "gone") }, sp.ErrInvalid},
		{"tombstone with a context", tombstoneEntry, func(e *sp.Entry) { e.Context = dotsN(1, e.Time) }, sp.ErrInvalid},
		{"kind zero", goldenEntry, func(e *sp.Entry) { e.Kind = 0 }, sp.ErrInvalid},
		{"unknown kind", goldenEntry, func(e *sp.Entry) { e.Kind = 4 }, sp.ErrInvalid},
		{"signature of the wrong size", goldenEntry, func(e *sp.Entry) { e.Sig = e.Sig[:63] }, sp.ErrInvalid},
		{"context not sorted", goldenEntry, func(e *sp.Entry) { e.Context[0], e.Context[1] = e.Context[1], e.Context[0] }, sp.ErrInvalid},
		{"context names an author twice", goldenEntry, func(e *sp.Entry) { e.Context[1].Author = e.Context[0].Author }, sp.ErrInvalid},
		{"context time equals entry time", goldenEntry, func(e *sp.Entry) { e.Context[1].Time = e.Time }, sp.ErrInvalid},
		{"context time after entry time", goldenEntry, func(e *sp.Entry) { e.Context[1].Time = e.Time + 1 }, sp.ErrInvalid},
		{"context time zero", goldenEntry, func(e *sp.Entry) { e.Context[0].Time = 0 }, sp.ErrInvalid},
		{"too many context dots", goldenEntry, func(e *sp.Entry) { e.Context = dotsN(sp.MaxContextDots+1, e.Time) }, sp.ErrTooLong},
		{"value over MaxValueLen", goldenEntry, func(e *sp.Entry) { e.Value = rawValue(t, long+"v") }, sp.ErrTooLong},
		{"value not canonical", goldenEntry, func(e *sp.Entry) { e.Value = []byte{0x18, 0x05} }, sp.ErrMalformed},
		{"value is a float", goldenEntry, func(e *sp.Entry) { e.Value = []byte{0xf9, 0x3c, 0x00} }, sp.ErrMalformed},
		{"value holds a tag", goldenEntry, func(e *sp.Entry) { e.Value = []byte{0xc1, 0x01} }, sp.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := c.base(t)
			e.Context = slices.Clone(e.Context)
			// Edit after signing: the only fault is the structural one.
			c.edit(&e)
			if err := e.Validate(); !errorIs(err, c.want) {
				t.Fatalf("Validate = %v, want %v", err, c.want)
			}
			if c.want == nil {
				return
			}
			if err := e.Verify(); !errors.Is(err, c.want) {
				t.Errorf("Verify = %v, want %v", err, c.want)
			}
			// The same entry from a peer is refused at the door.
			if _, err := sp.DecodeEntry(e.Encode()); !errors.Is(err, c.want) {
				t.Errorf("DecodeEntry = %v, want %v", err, c.want)
			}
			// Signing does not make it acceptable.
			if len(e.Sig) != ed25519.SignatureSize {
				return // the fault was in the signature itself
			}
			e.Sign(fixedKey("golden-author"))
			if err := e.Verify(); !errors.Is(err, c.want) {
				t.Errorf("Verify after signing = %v, want %v", err, c.want)
			}
		})
	}
}

func errorIs(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func TestDecodeEntryRefusesOversizedInput(t *testing.T) {
	e := goldenEntry(t)
	e.Value = rawValue(t, strings.Repeat("x", 2*sp.MaxEntryLen))
	b := e.Encode()
	_, err := sp.DecodeEntry(b)
	if !errors.Is(err, sp.ErrTooLong) {
		t.Fatalf("DecodeEntry of %d bytes = %v, want ErrTooLong", len(b), err)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(sp.MaxEntryLen)) {
		t.Errorf("error %q does not say what the limit is", err)
	}
	// One byte over the limit is refused before any parsing.
	_, err = sp.DecodeEntry(make([]byte, sp.MaxEntryLen+1))
	if !errors.Is(err, sp.ErrTooLong) {
		t.Errorf("DecodeEntry of MaxEntryLen+1 zero bytes = %v, want ErrTooLong", err)
	}
}

// Nothing signed may hold a float, at any depth.
func TestEncodeValueRefusesFloats(t *testing.T) {
	cases := []struct {
		name string
		v    any
	}{
		{"float64", 1.5},
		{"integral float64", 2.0},
		{"float32", float32(0.25)},
		{"zero", 0.0},
		{"in an array", []any{"a", 1, 2.5}},
		{"in a nested array", []any{[]any{[]any{1e100}}}},
		{"in a float slice", []float64{1, 2}},
		{"map value", map[string]any{"lat": 63.75}},
		{"nested map value", map[string]any{"where": map[string]any{"lon": -68.5}}},
		{"map of arrays", map[string]any{"coords": []any{63.75, -68.5}}},
		{"struct field", struct{ Lat float64 }{63.75}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := sp.EncodeValue(c.v)
			if err == nil {
				t.Fatalf("EncodeValue(%#v) = %x, want an error", c.v, b)
			}
			if !errors.Is(err, sp.ErrMalformed) {
				t.Errorf("EncodeValue(%#v) = %v, want an error wrapping ErrMalformed", c.v, err)
			}
		})
	}
}

// The values a schema can hold encode, check and decode back to what was
// written.
func TestEncodeValueRoundTrip(t *testing.T) {
	cases := []struct {
		in   any
		want any // as DecodeValue gives it back
	}{
		{"Kamatsiaqtut Help Line", "Kamatsiaqtut Help Line"},
		{"ᑲᒪᑦᓯᐊᖅᑐᑦ", "ᑲᒪᑦᓯᐊᖅᑐᑦ"},
		{"", ""},
		{[]byte{0, 1, 0xff}, []byte{0, 1, 0xff}},
		{true, true},
		{false, false},
		{nil, nil},
		{0, uint64(0)},
		{int64(8_675_550_100), uint64(8_675_550_100)},
		{-42, int64(-42)},
		{^uint64(0), ^uint64(0)},
		{[]any{"iu", "en", "fr"}, []any{"iu", "en", "fr"}},
		{map[string]any{"b": 2, "a": "x"}, map[any]any{"a": "x", "b": uint64(2)}},
	}
	for _, c := range cases {
		b, err := sp.EncodeValue(c.in)
		if err != nil {
			t.Errorf("EncodeValue(%#v): %v", c.in, err)
			continue
		}
		if err := sp.CheckValue(b); err != nil {
			t.Errorf("CheckValue(EncodeValue(%#v)) = %v", c.in, err)
		}
		got, err := sp.DecodeValue(b)
		if err != nil {
			t.Errorf("DecodeValue(%x): %v", b, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("value %#v came back as %#v (%T)", c.in, got, got)
		}
	}
	// Map keys are sorted canonically whatever order they were given in.
	a := mustValue(t, map[string]any{"name": "x", "a": 1, "phone": "867"})
	b := mustValue(t, map[string]any{"phone": "867", "name": "x", "a": 1})
	if !bytes.Equal(a, b) {
		t.Errorf("same map encodes two ways: %x vs %x", a, b)
	}
}

// Values are text, byte strings, booleans, integers, nil, and arrays or
// string-keyed maps of those (EncodeValue's contract). Anything else that
// arrives in a peer's entry is refused, so that every reader (the web app,
// search, exports) only ever meets those types.
func TestCheckValueRefusesOutsideValueModel(t *testing.T) {
	cases := []struct {
		name string
		hex  string
	}{
		{"simple value 16", "f0"},
		{"simple value 0", "e0"},
		{"one-byte simple value 255", "f8ff"},
		{"undefined", "f7"},
		{"map with an integer key", "a10102"},
		{"map with a byte-string key", "a14101f6"},
		{"map with a bool key", "a1f501"},
		{"map with a null key", "a1f601"},
		{"map with an array key", "a1818101f6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, _ := hex.DecodeString(c.hex)
			if err := sp.CheckValue(b); !errors.Is(err, sp.ErrMalformed) {
				v, _ := sp.DecodeValue(b)
				t.Errorf("CheckValue(%s) = %v, want ErrMalformed; it would reach readers as %#v (%T)", c.hex, err, v, v)
			}
		})
	}
	for _, v := range []any{map[int]string{1: "a"}, map[bool]int{true: 1}} {
		if b, err := sp.EncodeValue(v); err == nil {
			t.Errorf("EncodeValue(%#v) = %x, want an error: map keys must be strings", v, b)
		}
	}
}
