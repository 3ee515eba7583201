package syncproto_test

import (
	"fmt"
	"strings"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

func TestRecordIDText(t *testing.T) {
	for range 50 {
		id := sp.NewRecordID()
		s := id.String()
		if len(s) != 32 || strings.ToLower(s) != s {
			t.Fatalf("String = %q, want 32 lowercase hex digits", s)
		}
		got, err := sp.ParseRecordID(s)
		if err != nil || got != id {
			t.Fatalf("ParseRecordID(%q) = %v, %v; want %v", s, got, err, id)
		}
		if !strings.HasPrefix(s, id.Short()) || len(id.Short()) != 8 {
			t.Fatalf("Short = %q, want the first 8 digits of %q", id.Short(), s)
		}
	}
	id := mustRecordID(t, "4b616d617473696171747574e2809331")
	if id.String() != "4b616d617473696171747574e2809331" {
		t.Errorf("String = %q", id.String())
	}
	if (sp.RecordID{}).IsZero() != true || id.IsZero() {
		t.Errorf("IsZero is wrong")
	}
}

func TestParseRecordIDErrors(t *testing.T) {
	for _, s := range []string{
		"",
		"4b616d617473696171747574e28093",     // 30 digits
		"4b616d617473696171747574e2809331aa", // 34 digits
		"4b616d617473696171747574e280933",    // odd length
		"4b616d617473696171747574e280933g",   // not hex
		"4b616d61-7473-6961-7174-7574e2809331",
		"4b616d61 7473696171747574e2809331",
		"0x4b616d617473696171747574e28093",
	} {
		id, err := sp.ParseRecordID(s)
		if err == nil {
			t.Errorf("ParseRecordID(%q) = %v, want an error", s, id)
			continue
		}
		if !strings.Contains(err.Error(), "32 hex digits") {
			t.Errorf("ParseRecordID(%q) error %q does not say what a record ID looks like", s, err)
		}
	}
}

// Record IDs are drawn at random and never collide in practice.
func TestNewRecordIDUnique(t *testing.T) {
	seen := map[sp.RecordID]bool{}
	for range 1000 {
		id := sp.NewRecordID()
		if id.IsZero() {
			t.Fatal("NewRecordID returned the zero ID")
		}
		if seen[id] {
			t.Fatalf("NewRecordID returned %v twice in 1000 draws", id)
		}
		seen[id] = true
	}
}

func TestDeviceIDText(t *testing.T) {
	for _, label := range []string{"a", "b", "golden-author", "iqaluit-laptop"} {
		id := idOf(fixedKey(label))
		s := id.String()
		rest, ok := strings.CutPrefix(s, "dev:")
		if !ok {
			t.Fatalf("String = %q, want the prefix dev:", s)
		}
		if len(rest) != 52 || strings.ToLower(rest) != rest || strings.ContainsAny(rest, "=018") {
			t.Fatalf("String = %q, want 52 unpadded lowercase base32 characters", s)
		}
		got, err := sp.ParseDeviceID(s)
		if err != nil || got != id {
			t.Fatalf("ParseDeviceID(%q) = %v, %v; want %v", s, got, err, id)
		}
		if short := id.Short(); short != s[:12] {
			t.Fatalf("Short = %q, want %q", short, s[:12])
		}
		if !id.Equal(got) || id.Equal(idOf(fixedKey(label+"'"))) {
			t.Fatalf("Equal is wrong")
		}
		if !id.PublicKey().Equal(fixedKey(label).Public()) {
			t.Fatalf("PublicKey is not the device's key")
		}
	}
}

func TestParseDeviceIDErrors(t *testing.T) {
	good := idOf(fixedKey("golden-author")).String()
	rest := strings.TrimPrefix(good, "dev:")
	for _, s := range []string{
		"",
		"dev:",
		rest,                        // no prefix
		"DEV:" + rest,               // prefix in capitals
		"node:" + rest,              // another prefix
		"dev: " + rest,              // space
		good[:len(good)-1],          // one character short
		good + "a",                  // one character long
		good[:len(good)-8],          // five bytes short
		good + "aaaaaaaa",           // five bytes long
		good[:10] + "1" + good[11:], // '1' is not base32
		good[:10] + "0" + good[11:], // nor is '0'
		good[:10] + "=" + good[11:],
		good + "====", // padding
	} {
		if id, err := sp.ParseDeviceID(s); err == nil {
			t.Errorf("ParseDeviceID(%q) = %v, want an error", s, id)
		}
	}
}

// A device has exactly one text form (apart from letter case, which is
// accepted on purpose). Anything that compares device IDs as text (a trust
// list a person typed, logs, grep) would otherwise see one device as two.
func TestDeviceIDTextIsUnique(t *testing.T) {
	id := idOf(fixedKey("golden-author"))
	good := id.String()
	var spellings []string
	for _, c := range "abcdefghijklmnopqrstuvwxyz234567" {
		spellings = append(spellings, good[:len(good)-1]+string(c))
	}
	spellings = append(spellings,
		good+"\n",
		good[:20]+"\n"+good[20:],
		good[:20]+"\r\n"+good[20:],
	)
	// Capitals are accepted on purpose (ParseDeviceID upper-cases), so they
	// are not counted here.
	var second []string
	for _, s := range spellings {
		if got, err := sp.ParseDeviceID(s); err == nil && got.String() != s {
			second = append(second, fmt.Sprintf("%q is %s", s, got))
		}
	}
	if len(second) > 0 {
		t.Errorf("ParseDeviceID accepts %d other spellings of device IDs, e.g.\n%s", len(second), strings.Join(second[:min(4, len(second))], "\n"))
	}
}

func TestEntryHashText(t *testing.T) {
	e, o := goldenEntry(t), tallyEntry(t)
	h, other := e.Hash(), o.Hash()
	s := h.String()
	if len(s) != 64 || strings.ToLower(s) != s {
		t.Fatalf("String = %q, want 64 lowercase hex digits", s)
	}
	got, err := sp.ParseEntryHash(s)
	if err != nil || got != h {
		t.Fatalf("ParseEntryHash(%q) = %v, %v; want %v", s, got, err, h)
	}
	if short := h.Short(); short != s[:12] {
		t.Errorf("Short = %q, want %q", short, s[:12])
	}
	for _, bad := range []string{"", s[:62], s + "00", s[:63] + "z", s[:63], "sha256:" + s} {
		if h, err := sp.ParseEntryHash(bad); err == nil {
			t.Errorf("ParseEntryHash(%q) = %v, want an error", bad, h)
		}
	}
	// Hashes order bytewise, which is also the order of their text.
	if c := h.Compare(other); c != strings.Compare(h.String(), other.String()) || h.Compare(h) != 0 {
		t.Errorf("Compare(%s, %s) = %d, out of step with the text order", h.Short(), other.Short(), c)
	}
}
