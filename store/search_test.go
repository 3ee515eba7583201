package store

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

func search(t *testing.T, s *Store, q string) []sp.RecordID {
	t.Helper()
	ids, err := s.Search(ctx, q, 0)
	if err != nil {
		t.Fatalf("Search(%q): %v", q, err)
	}
	return ids
}

func TestSearch(t *testing.T) {
	s := newStore(t, testOptions())
	a, b := storetest.NewDevice(1), storetest.NewDevice(2)
	helpline := sp.RecordID{0xaa}
	shelter := sp.RecordID{0xbb}
	crisis := sp.RecordID{0xcc}
	helpful := sp.RecordID{0x01} // sorts first by ID
	mustApply(t, s,
		a.Set("directory", helpline, "name/en", "Kamatsiaqtut Help Line"),
		a.Set("directory", helpline, "name/fr", "Ligne d'écoute Kamatsiaqtut"),
		a.Set("directory", helpline, "name/iu", "ᑲᒪᑦᓯᐊᖅᑐᑦ ᐃᑲᔪᖅᑎ"),
		a.Set("directory", helpline, "phone", "1-800-265-3333"),
		a.Set("directory", shelter, "name/en", "Qimaavik Women's Shelter"),
		a.Set("directory", shelter, "community", "Iqaluit"),
		a.Set("directory", crisis, "name/en", "Nunavut Crisis Line"),
		a.Set("directory", crisis, "name/fr", "Ligne de crise du Nunavut"),
		a.Set("directory", helpful, "name/en", "Helpful Neighbours Food Bank"),
		a.Set("outreach", sp.RecordID{0xdd}, "notes", "help line called"), // not indexed
	)
	cases := []struct {
		q    string
		want []sp.RecordID
	}{
		{"ÉCOUTE", []sp.RecordID{helpline}},        // case and accents
		{"ecoute", []sp.RecordID{helpline}},        // accents typed without
		{"kamat", []sp.RecordID{helpline}},         // prefix
		{"ᑳᒪᑦ", []sp.RecordID{helpline}},           // syllabics, long vowel folded
		{"ligne", []sp.RecordID{helpline, crisis}}, // both, by ID
		{"ligne crise", []sp.RecordID{crisis}},     // AND
		{"ligne shelter", nil},                     // AND, across records
		{"help", []sp.RecordID{helpline, helpful}}, // exact match ranks first
		{"iqaluit women", []sp.RecordID{shelter}},  // across fields of a record
		{"", nil},          // empty query
		{"called", nil},    // outreach is not indexed
		{"1-800-265", nil}, // phone is not indexed
		{"  --  ", nil},    // no terms
		{"nunavut crisis line", []sp.RecordID{crisis}}, // all exact
	}
	for _, c := range cases {
		if got := search(t, s, c.q); !slices.Equal(got, c.want) {
			t.Errorf("Search(%q) = %v, want %v", c.q, got, c.want)
		}
	}
	if got, _ := s.Search(ctx, "ligne", 1); len(got) != 1 || got[0] != helpline {
		t.Errorf("Search with limit 1 = %v", got)
	}

	// An overwritten value is no longer found; its replacement is.
	mustApply(t, s, a.Set("directory", helpline, "name/en", "Kamatsiaqtut Support Line"))
	if got := search(t, s, "help"); !slices.Equal(got, []sp.RecordID{helpful}) {
		t.Errorf("after overwrite, Search(help) = %v", got)
	}
	if got := search(t, s, "support"); !slices.Equal(got, []sp.RecordID{helpline}) {
		t.Errorf("after overwrite, Search(support) = %v", got)
	}
	// Concurrent values are both found until a write resolves them.
	b.Receive(storetest.All(s))
	ea := a.Set("directory", crisis, "name/en", "Nunavut Kamatsiaqtut Line")
	eb := b.Set("directory", crisis, "name/en", "Nunavut Distress Line")
	mustApply(t, s, ea, eb)
	if got := search(t, s, "distress"); !slices.Equal(got, []sp.RecordID{crisis}) {
		t.Errorf("a concurrent sibling is not found: %v", got)
	}
	a.Receive([]sp.Entry{eb})
	mustApply(t, s, a.Set("directory", crisis, "name/en", "Nunavut Crisis Line"))
	if got := search(t, s, "distress"); got != nil {
		t.Errorf("a pruned sibling is still found: %v", got)
	}
	// A deleted record is not found, and leaves no postings.
	mustApply(t, s, a.Delete("directory", shelter))
	if got := search(t, s, "shelter"); got != nil {
		t.Errorf("a deleted record is found: %v", got)
	}
	if got := search(t, s, "iqaluit"); got != nil {
		t.Errorf("a deleted record is found: %v", got)
	}
	for _, k := range s.keys(t, prefixSearch) {
		if r, _ := parseSearchKey(k); r.id == shelter {
			t.Errorf("a posting of the deleted record is left: %q", r.term)
		}
	}
	s = reopen(t, s)
	if got := search(t, s, "support line"); !slices.Equal(got, []sp.RecordID{helpline}) {
		t.Errorf("after reopen, Search(support line) = %v", got)
	}
	mustVerify(t, s)

	// Without IndexText nothing is indexed.
	plain := newStore(t, Options{KDF: &testKDF, FreeSpace: testOptions().FreeSpace})
	mustApply(t, plain, a.Set("directory", sp.NewRecordID(), "name/en", "Health Centre"))
	if got := search(t, plain, "health"); got != nil {
		t.Errorf("a store without IndexText found %v", got)
	}
	if n := len(plain.keys(t, prefixSearch)); n != 0 {
		t.Errorf("a store without IndexText wrote %d postings", n)
	}
}

// TestCanaryNeverOnDisk plants a sealed-field value and checks that it is
// in no file of the node directory, in no search key, and not found by
// search.
func TestCanaryNeverOnDisk(t *testing.T) {
	const canary = "CANARY-SEALED-LOCATION-7f3a"
	s := newStore(t, testOptions())
	a := storetest.NewDevice(1)
	id := sp.NewRecordID()
	mustApply(t, s,
		a.Set("directory", id, "name/en", "Safe Harbour Shelter"),
		a.Set("directory", id, "community", "Pangnirtung"),
		a.Set("directory", id, "location", canary),
	)
	forms := [][]byte{[]byte(canary), []byte(strings.ToLower(canary)), []byte(strings.ToUpper(canary))}
	for _, f := range []string{canary, strings.ToLower(canary)} {
		var u16 []byte
		for _, r := range utf16.Encode([]rune(f)) {
			u16 = append(u16, byte(r), byte(r>>8))
		}
		forms = append(forms, u16)
	}
	scan := func(when string) {
		t.Helper()
		err := filepath.Walk(s.Dir(), func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, f := range forms {
				if bytes.Contains(b, f) {
					t.Errorf("%s: the planted location is in %s in plaintext", when, p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// While open, the write-ahead log holds it.
	scan("while open")
	if got := search(t, s, "canary"); got != nil {
		t.Errorf("Search(canary) = %v", got)
	}
	if got := search(t, s, "harbour"); !slices.Equal(got, []sp.RecordID{id}) {
		t.Errorf("Search(harbour) = %v: the record's public fields should be found", got)
	}
	for _, k := range s.keys(t, prefixSearch) {
		lk := bytes.ToLower(k)
		if bytes.Contains(lk, []byte("canary")) || bytes.Contains(lk, []byte("7f3a")) || bytes.Contains(lk, []byte("sealed")) {
			t.Errorf("search key %q holds part of the planted location", k)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	scan("after close")
}
