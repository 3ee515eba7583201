package syncproto_test

import (
	"errors"
	"strings"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

// An ID made for an area of a collection is in that area of that
// collection, and in no other area or collection; any ID is in area "".
func TestRecordIDInArea(t *testing.T) {
	areas := []string{"kivalliq", "kivalliq/arviat", "kivalliq/arviat/east", "qikiqtaaluk/iqaluit", "a", "0", "-", "nunavik-2"}
	for _, coll := range []string{"outreach", "directory"} {
		for _, a := range areas {
			seen := map[sp.RecordID]bool{}
			for range 20 {
				id := sp.NewRecordIDIn(coll, a)
				if id.IsZero() || seen[id] {
					t.Fatalf("NewRecordIDIn(%q, %q) gave %v, zero or twice", coll, a, id)
				}
				seen[id] = true
				if !sp.RecordInArea(coll, a, id) {
					t.Fatalf("NewRecordIDIn(%q, %q) = %v is not in its own area", coll, a, id)
				}
				if !sp.RecordInArea(coll, "", id) {
					t.Fatalf("%v is not in area \"\", which takes any ID", id)
				}
				for _, other := range areas {
					if other != a && sp.RecordInArea(coll, other, id) {
						t.Fatalf("an ID made for %s:%s passes for %s:%s", coll, a, coll, other)
					}
				}
				for _, oc := range []string{"outreach", "directory", "members", "audit"} {
					if oc != coll && sp.RecordInArea(oc, a, id) {
						t.Fatalf("an ID made for %s:%s passes for %s:%s", coll, a, oc, a)
					}
				}
				// The binding covers all 16 bytes: the random half and
				// the hash half.
				for _, i := range []int{0, 7, 8, 15} {
					bad := id
					bad[i] ^= 1
					if sp.RecordInArea(coll, a, bad) {
						t.Fatalf("%v with byte %d changed still passes for %s:%s", id, i, coll, a)
					}
				}
			}
		}
	}
	// The collection and area are kept apart in the binding.
	id := sp.NewRecordIDIn("ab", "c")
	if sp.RecordInArea("a", "bc", id) || sp.RecordInArea("ab", "c/", id) {
		t.Fatal(`an ID made for ("ab", "c") passes for ("a", "bc") or ("ab", "c/")`)
	}
	// An unbound ID (NewRecordID, or area "") is only in area "".
	for range 20 {
		for _, id := range []sp.RecordID{sp.NewRecordID(), sp.NewRecordIDIn("outreach", "")} {
			if !sp.RecordInArea("outreach", "", id) {
				t.Fatalf("%v is not in area \"\"", id)
			}
			if sp.RecordInArea("outreach", "kivalliq", id) {
				t.Fatalf("an unbound ID %v passes for outreach:kivalliq", id)
			}
		}
	}
	if sp.RecordInArea("outreach", "kivalliq", sp.RecordID{}) {
		t.Fatal("the zero ID passes for an area")
	}
}

func TestValidateArea(t *testing.T) {
	good := []string{
		"", "kivalliq", "kivalliq/arviat", "kivalliq/arviat/east", "a", "0", "-", "a-b", "nunavik-2/kuujjuaq",
		strings.Repeat("a", sp.MaxAreaLen),
		strings.Repeat("a", 20) + "/" + strings.Repeat("b", 20) + "/" + strings.Repeat("c", 22),
	}
	for _, a := range good {
		if err := sp.ValidateArea(a); err != nil {
			t.Errorf("ValidateArea(%q) = %v, want nil", a, err)
		}
	}
	bad := []string{
		"Kivalliq", "KIVALLIQ", "kivalliq/", "/kivalliq", "/", "//", "kivalliq//arviat", "a/b/c/d",
		strings.Repeat("a", sp.MaxAreaLen+1), strings.Repeat("a/", 32) + "a",
		"kivalliq arviat", " kivalliq", "kivalliq\n", "a\x00", "a_b", "a.b", "a:b", "*", "kivalliq/*",
		"ᑭᕙᓪᓕᖅ", "kivallïq", "kivalliq\u200b", "kivalliq\\arviat",
	}
	for _, a := range bad {
		if err := sp.ValidateArea(a); !errors.Is(err, sp.ErrInvalid) {
			t.Errorf("ValidateArea(%q) = %v, want ErrInvalid", a, err)
		}
	}
}

func TestAreaCovers(t *testing.T) {
	cases := []struct {
		grant, rec string
		want       bool
	}{
		{"*", "", true},
		{"*", "kivalliq", true},
		{"*", "kivalliq/arviat/east", true},
		{"", "", true},
		{"", "kivalliq", false},
		{"kivalliq", "", false},
		{"kivalliq", "kivalliq", true},
		{"kivalliq", "kivalliq/arviat", true},
		{"kivalliq", "kivalliq/arviat/east", true},
		{"kivalliq", "kivalliqx", false},
		{"kivalliq", "kivalliq-west", false},
		{"kivalliq", "kivalli", false},
		{"kivalliq", "qikiqtaaluk", false},
		{"kivalliq", "qikiqtaaluk/kivalliq", false},
		{"kivalliq/arviat", "kivalliq", false},
		{"kivalliq/arviat", "kivalliq/arviat", true},
		{"kivalliq/arviat", "kivalliq/arviat/east", true},
		{"kivalliq/arviat", "kivalliq/arviatx", false},
		{"kivalliq/arviat", "kivalliq/baker-lake", false},
		{"kivalliq", "*", false},
	}
	for _, c := range cases {
		if got := sp.AreaCovers(c.grant, c.rec); got != c.want {
			t.Errorf("AreaCovers(%q, %q) = %v, want %v", c.grant, c.rec, got, c.want)
		}
	}
}

// areaEntry is a signed directory entry in area, its record made there.
func areaEntry(t testing.TB, area string) sp.Entry {
	t.Helper()
	e := sp.Entry{
		Collection: "directory",
		Record:     sp.NewRecordIDIn("directory", area),
		Field:      "name/en",
		Time:       sp.MakeHLC(goldenWall, 0),
		Kind:       sp.KindValue,
		Value:      mustValue(t, "Arviat Wellness Centre"),
		Area:       area,
	}
	e.Sign(fixedKey("golden-author"))
	return e
}

// Entry.Validate, and so DecodeEntry, refuse an entry whose area is
// malformed or does not match its record ID; the area is signed, so it
// cannot be dropped to make a record network-wide.
func TestEntryArea(t *testing.T) {
	e := areaEntry(t, "kivalliq/arviat")
	if err := e.Verify(); err != nil {
		t.Fatalf("an entry in its record's area: %v", err)
	}
	got, err := sp.DecodeEntry(e.Encode())
	if err != nil || got.Area != e.Area || got.Hash() != e.Hash() {
		t.Fatalf("DecodeEntry = %q, %v", got.Area, err)
	}
	tomb := sp.Entry{Collection: "directory", Record: e.Record, Time: e.Time + 1, Kind: sp.KindTombstone, Area: e.Area}
	tomb.Sign(fixedKey("golden-author"))
	if err := tomb.Verify(); err != nil {
		t.Fatalf("a tombstone in its record's area: %v", err)
	}

	cases := map[string]func(e *sp.Entry){
		"parent area":             func(e *sp.Entry) { e.Area = "kivalliq" },
		"sibling area":            func(e *sp.Entry) { e.Area = "kivalliq/baker-lake" },
		"child area":              func(e *sp.Entry) { e.Area = "kivalliq/arviat/east" },
		"another collection":      func(e *sp.Entry) { e.Collection = "outreach" },
		"unbound record":          func(e *sp.Entry) { e.Record = sp.NewRecordID() },
		"record of another area":  func(e *sp.Entry) { e.Record = sp.NewRecordIDIn("directory", "kivalliq") },
		"uppercase area":          func(e *sp.Entry) { e.Area = "Kivalliq/Arviat" },
		"area with an empty part": func(e *sp.Entry) { e.Area = "kivalliq//arviat" },
		"area of four parts":      func(e *sp.Entry) { e.Area = "kivalliq/arviat/east/1" },
		"area too long":           func(e *sp.Entry) { e.Area = strings.Repeat("k", sp.MaxAreaLen+1) },
		"wildcard area":           func(e *sp.Entry) { e.Area = "*" },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			bad := areaEntry(t, "kivalliq/arviat")
			edit(&bad)
			if err := bad.Validate(); !errors.Is(err, sp.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			// Signing does not make it acceptable, nor does it pass the door.
			bad.Sign(fixedKey("golden-author"))
			if err := bad.Verify(); !errors.Is(err, sp.ErrInvalid) {
				t.Fatalf("Verify = %v, want ErrInvalid", err)
			}
			if _, err := sp.DecodeEntry(bad.Encode()); !errors.Is(err, sp.ErrInvalid) {
				t.Fatalf("DecodeEntry = %v, want ErrInvalid", err)
			}
		})
	}

	// Area "" takes any ID, so an entry stripped of its area is
	// well-formed; its signature must then fail.
	stripped := areaEntry(t, "kivalliq/arviat")
	stripped.Area = ""
	if err := stripped.Validate(); err != nil {
		t.Fatalf("Validate(stripped) = %v; area \"\" takes any ID", err)
	}
	if err := stripped.Verify(); !errors.Is(err, sp.ErrBadSignature) {
		t.Fatalf("an entry stripped of its area: Verify = %v, want ErrBadSignature", err)
	}
}

// areaParts is an independent model of a valid area: "" or one to three
// non-empty parts of a-z, 0-9 and '-', at most MaxAreaLen bytes in all.
func areaParts(a string) ([]string, bool) {
	if a == "" {
		return nil, true
	}
	if len(a) > sp.MaxAreaLen {
		return nil, false
	}
	parts := strings.Split(a, "/")
	if len(parts) > 3 {
		return nil, false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return nil, false
		}
	}
	return parts, true
}

// FuzzValidateArea checks ValidateArea against the model above (nothing
// else may pass: areas are compared and prefixed as strings, so a stray
// byte would let one area pass for another), the binding of record IDs to
// valid areas, and AreaCovers as a prefix of parts.
func FuzzValidateArea(f *testing.F) {
	for _, s := range []string{
		"", "kivalliq", "kivalliq/arviat", "kivalliq/arviat/east", "a/b/c/d", "Kivalliq", "kivalliq/",
		"/a", "a//b", "*", "-", "ᑭᕙᓪᓕᖅ", "a\x00b", strings.Repeat("a", 64), strings.Repeat("a", 65),
	} {
		f.Add(s, "outreach", "kivalliq")
	}
	f.Add("kivalliq", "directory", "kivalliqx")
	f.Add("kivalliq/arviat", "outreach", "kivalliq/arviat/east")
	f.Add("kivalliq", "Bad Collection", "")
	f.Fuzz(func(t *testing.T, area, coll, other string) {
		// Past the limits, longer inputs behave alike. Clipping them keeps
		// the fuzzer's minimizer, quadratic in input length, from spending
		// the whole run on one long string.
		area, coll, other = clipString(area, 2*sp.MaxAreaLen), clipString(coll, 2*sp.MaxCollectionLen), clipString(other, 2*sp.MaxAreaLen)
		err := sp.ValidateArea(area)
		parts, ok := areaParts(area)
		if (err == nil) != ok {
			t.Fatalf("ValidateArea(%q) = %v; the model says valid: %v", area, err, ok)
		}
		if err != nil {
			if !errors.Is(err, sp.ErrInvalid) {
				t.Fatalf("ValidateArea(%q) = %v, not ErrInvalid", area, err)
			}
			return
		}
		if len(area) > sp.MaxAreaLen || strings.Count(area, "/") > 2 {
			t.Fatalf("ValidateArea accepted %q", area)
		}

		id := sp.NewRecordIDIn(coll, area)
		if !sp.RecordInArea(coll, area, id) || !sp.RecordInArea(coll, "", id) {
			t.Fatalf("NewRecordIDIn(%q, %q) = %v is not in its area", coll, area, id)
		}
		unrelated := "x"
		if area == unrelated {
			unrelated = "y"
		}
		if area != "" && (sp.RecordInArea(coll+"x", area, id) || sp.RecordInArea(coll, area+"x", id) || sp.RecordInArea(coll, unrelated, id)) {
			t.Fatalf("NewRecordIDIn(%q, %q) = %v passes for another collection or area", coll, area, id)
		}
		if sp.ValidateCollection(coll) == nil {
			e := sp.Entry{Collection: coll, Record: id, Field: "name", Time: sp.MakeHLC(goldenWall, 0), Kind: sp.KindValue, Value: mustValue(t, "x"), Area: area}
			if err := e.Validate(); err != nil {
				t.Fatalf("an entry in a record made for its area: %v", err)
			}
		}

		// Coverage is by whole parts.
		if !sp.AreaCovers(area, area) || !sp.AreaCovers("*", area) {
			t.Fatalf("%q does not cover itself, or * does not cover it", area)
		}
		if sp.AreaCovers("", area) != (area == "") {
			t.Fatalf(`AreaCovers("", %q) = %v`, area, !(area == ""))
		}
		for i := 1; i < len(parts); i++ {
			parent := strings.Join(parts[:i], "/")
			if !sp.AreaCovers(parent, area) || sp.AreaCovers(area, parent) {
				t.Fatalf("%q and its parent %q: covers %v, covered %v", area, parent, sp.AreaCovers(parent, area), sp.AreaCovers(area, parent))
			}
		}
		if oparts, ok := areaParts(other); ok {
			want := area == other || len(area) > 0 && len(oparts) > len(parts) && strings.Join(oparts[:len(parts)], "/") == area
			if got := sp.AreaCovers(area, other); got != want {
				t.Fatalf("AreaCovers(%q, %q) = %v, want %v", area, other, got, want)
			}
		}
	})
}

func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
