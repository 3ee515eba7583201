package fieldkit

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

var (
	fictionalPhone = regexp.MustCompile(`^867-555-01\d\d$`)
	subjectCode    = regexp.MustCompile(`^S-[0-9A-HJKMNP-TV-Z]{4}$`)
	// shelterPublic are the fields a shelter record may have: the public
	// ones and the location.
	shelterPublic = []string{
		FieldNameEN, FieldNameFR, FieldNameIU, FieldKind, FieldCommunity,
		FieldPhone, FieldHours, FieldIntake, FieldLocation,
	}
)

// checkDirectory checks the rules every directory record follows, sample or
// generated.
func checkDirectory(t *testing.T, recs []Record) {
	t.Helper()
	for i, r := range recs {
		where := fmt.Sprintf("record %d (%v)", i, r)
		if r.Collection != CollectionDirectory {
			t.Errorf("%s: collection %q", where, r.Collection)
		}
		for p, v := range r.Fields {
			if !slices.Contains(DirectoryFields, p) {
				t.Errorf("%s: field %q is not a directory field", where, p)
			}
			checkValue(t, where, p, v)
		}
		kind, _ := r.Fields[FieldKind].(string)
		if !slices.Contains(Kinds, kind) {
			t.Errorf("%s: kind %q is not one of %v", where, kind, Kinds)
		}
		for _, p := range []string{FieldNameEN, FieldPhone, FieldHours} {
			if _, ok := r.Fields[p].(string); !ok {
				t.Errorf("%s: no %s", where, p)
			}
		}
		if langs, ok := r.Fields[FieldLanguages].([]string); ok {
			if len(langs) == 0 || !slices.IsSortedFunc(langs, func(a, b string) int {
				return slices.Index(Languages, a) - slices.Index(Languages, b)
			}) || len(slices.Compact(slices.Clone(langs))) != len(langs) {
				t.Errorf("%s: languages %q are not a set in the order of %q", where, langs, Languages)
			}
			for _, l := range langs {
				if !slices.Contains(Languages, l) {
					t.Errorf("%s: language %q is not one of %q", where, l, Languages)
				}
			}
		}
		if fr, ok := r.Fields[FieldNameFR].(string); ok && !strings.HasSuffix(fr, "(fictif)") && !strings.HasSuffix(fr, "(fictive)") {
			t.Errorf("%s: French name %q is not marked fictional", where, fr)
		}
		if iu, ok := r.Fields[FieldNameIU].(string); ok {
			if !strings.HasSuffix(iu, " (sample)") {
				t.Errorf("%s: Inuktitut name %q is not marked as a sample", where, iu)
			}
			if !strings.ContainsFunc(iu, func(c rune) bool { return unicode.Is(unicode.Canadian_Aboriginal, c) }) {
				t.Errorf("%s: Inuktitut name %q has no syllabics", where, iu)
			}
		}

		loc, hasLoc := r.Fields[FieldLocation]
		if kind != KindShelter {
			if hasLoc {
				t.Errorf("%s: a %s has a location", where, kind)
			}
		} else {
			s, _ := loc.(string)
			if !strings.HasPrefix(s, CanaryMarker+": fictional ") {
				t.Errorf("%s: shelter location does not start with the marker and a fictional description", where)
			}
			for p := range r.Fields {
				if !slices.Contains(shelterPublic, p) {
					t.Errorf("%s: shelter has field %q, which is not public", where, p)
				}
			}
			for _, p := range []string{FieldCommunity, FieldIntake} {
				if _, ok := r.Fields[p]; !ok {
					t.Errorf("%s: shelter has no %s", where, p)
				}
			}
		}

		// Everything but a public hotline is fictional.
		if kind == KindHotline && r.Fields[FieldCommunity] == nil {
			continue
		}
		if name, _ := r.Fields[FieldNameEN].(string); !strings.HasSuffix(name, "(fictional)") {
			t.Errorf("%s: name %q is not marked fictional", where, name)
		}
		if phone, _ := r.Fields[FieldPhone].(string); !fictionalPhone.MatchString(phone) {
			t.Errorf("%s: phone %q is not a fictional 867-555-01xx number", where, phone)
		}
		community, _ := r.Fields[FieldCommunity].(string)
		c, ok := communityByName(community)
		if !ok {
			t.Errorf("%s: community %q is not in Nunavut", where, community)
		}
		if region, ok := r.Fields[FieldRegion]; ok && region != c.Region {
			t.Errorf("%s: region %q, but %s is in %s", where, region, community, c.Region)
		}
	}
}

// checkValue checks that a value has one of the types a Record may hold.
func checkValue(t *testing.T, where, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case string:
		if v == "" || strings.TrimSpace(v) != v {
			t.Errorf("%s: %s is %q", where, path, v)
		}
	case bool, int64:
	case []string:
		if path != FieldLanguages {
			t.Errorf("%s: %s is a set, but only %s is", where, path, FieldLanguages)
		}
	default:
		t.Errorf("%s: %s has type %T", where, path, v)
	}
}

// checkNoLeak checks that no field but a location holds the marker, or the
// part of any record's location that describes the place: each clause after
// the first ("fictional safe house"), and each "the fictional ..." landmark.
func checkNoLeak(t *testing.T, recs []Record) {
	t.Helper()
	descs := map[string]bool{}
	for _, r := range recs {
		loc, ok := r.Fields[FieldLocation].(string)
		if !ok {
			continue
		}
		clauses := strings.Split(strings.TrimPrefix(loc, CanaryMarker+": "), ", ")
		if len(clauses) < 2 {
			t.Fatalf("location %q does not describe a place after its first clause", loc)
		}
		for _, c := range clauses[1:] {
			descs[c] = true
			if i := strings.Index(c, "the fictional "); i >= 0 {
				descs[c[i:]] = true
			}
		}
	}
	for i, r := range recs {
		for p, v := range r.Fields {
			if p == FieldLocation {
				continue
			}
			var texts []string
			switch v := v.(type) {
			case string:
				texts = []string{v}
			case []string:
				texts = v
			}
			for _, s := range texts {
				if strings.Contains(s, CanaryMarker) {
					t.Errorf("record %d (%v): %s holds the canary marker", i, r, p)
				}
				for d := range descs {
					if strings.Contains(s, d) {
						t.Errorf("record %d (%v): %s holds a location's text", i, r, p)
					}
				}
			}
		}
	}
}

// checkOutreach checks the rules every outreach record follows.
func checkOutreach(t *testing.T, recs []Record, services []string) {
	t.Helper()
	for i, r := range recs {
		where := fmt.Sprintf("record %d (%v)", i, r)
		if r.Collection != CollectionOutreach {
			t.Errorf("%s: collection %q", where, r.Collection)
		}
		for p, v := range r.Fields {
			if !slices.Contains(OutreachFields, p) {
				t.Errorf("%s: field %q is not an outreach field", where, p)
			}
			checkValue(t, where, p, v)
		}
		for _, p := range OutreachFields {
			if _, ok := r.Fields[p]; !ok && p != FieldFollowUp {
				t.Errorf("%s: no %s", where, p)
			}
		}
		date, err := time.Parse(time.DateOnly, fmt.Sprint(r.Fields[FieldDate]))
		if err != nil {
			t.Errorf("%s: date: %v", where, err)
		}
		if fu, ok := r.Fields[FieldFollowUp]; ok {
			d, err := time.Parse(time.DateOnly, fmt.Sprint(fu))
			if err != nil || !d.After(date) {
				t.Errorf("%s: follow-up %v is not a date after %v", where, fu, r.Fields[FieldDate])
			}
		}
		if c, _ := r.Fields[FieldContact].(string); !slices.Contains(ContactKinds, c) {
			t.Errorf("%s: contact %q is not one of %v", where, c, ContactKinds)
		}
		if s, _ := r.Fields[FieldSubject].(string); !subjectCode.MatchString(s) {
			t.Errorf("%s: subject %q is not a pseudonymous code", where, s)
		}
		if ref, _ := r.Fields[FieldReferredTo].(string); !slices.Contains(services, ref) {
			t.Errorf("%s: referral %q is not in the sample directory", where, ref)
		}
		if c, _ := r.Fields[FieldCommunity].(string); !slices.ContainsFunc(Communities(), func(x Community) bool { return x.Name == c }) {
			t.Errorf("%s: community %q is not in Nunavut", where, c)
		}
		if _, ok := r.Fields[FieldUrgent].(bool); !ok {
			t.Errorf("%s: urgent is %T, want bool", where, r.Fields[FieldUrgent])
		}
	}
}

func directoryNames(recs []Record) []string {
	var names []string
	for _, r := range recs {
		names = append(names, r.Fields[FieldNameEN].(string))
	}
	return names
}

func TestSampleDirectory(t *testing.T) {
	recs := SampleDirectory()
	checkDirectory(t, recs)
	checkNoLeak(t, append(recs, SampleOutreach(time.Now())...))

	kinds := map[string]int{}
	phones := map[string]bool{}
	for _, r := range recs {
		kinds[r.Fields[FieldKind].(string)]++
		p := r.Fields[FieldPhone].(string)
		if phones[p] {
			t.Errorf("phone %s is used twice", p)
		}
		phones[p] = true
	}
	if kinds[KindHotline] != len(Hotlines()) {
		t.Errorf("%d hotline records, want one per public hotline (%d)", kinds[KindHotline], len(Hotlines()))
	}
	if kinds[KindShelter] < 3 || kinds[KindShelter] > 4 {
		t.Errorf("%d shelters, want 3 or 4", kinds[KindShelter])
	}
	for _, k := range []string{KindHealth, KindLegal, KindTransport, KindFunds} {
		if kinds[k] == 0 {
			t.Errorf("no %s service", k)
		}
	}
	if n := len(recs) - kinds[KindHotline]; n < 10 || n > 14 {
		t.Errorf("%d fictional services, want about 12", n)
	}

	var accented, syllabics bool
	for _, r := range recs {
		fr, _ := r.Fields[FieldNameFR].(string)
		accented = accented || strings.ContainsAny(fr, "éèàâêîôûç")
		_, ok := r.Fields[FieldNameIU]
		syllabics = syllabics || ok
	}
	if !accented || !syllabics {
		t.Errorf("French names with accents: %v; Inuktitut names: %v; want both", accented, syllabics)
	}
}

func TestSampleDirectoryHotlines(t *testing.T) {
	recs := SampleDirectory()
	for i, h := range Hotlines() {
		r := recs[i]
		want := map[string]any{
			FieldNameEN: h.Name, FieldKind: KindHotline, FieldPhone: h.Phone,
			FieldHours: h.Hours, FieldNotes: h.Notes,
		}
		for p, v := range want {
			if r.Fields[p] != v {
				t.Errorf("%s: %s = %q, want %q", h.Name, p, r.Fields[p], v)
			}
		}
		langs := r.Fields[FieldLanguages].([]string)
		wantLangs := []string{"en", "fr"}
		if h.Name == "Canadian Human Trafficking Hotline" { // notes say "multilingual"
			wantLangs = Languages
		}
		if !slices.Equal(langs, wantLangs) {
			t.Errorf("%s: languages %q, want %q", h.Name, langs, wantLangs)
		}
		for _, p := range []string{FieldCommunity, FieldRegion, FieldLocation} {
			if _, ok := r.Fields[p]; ok {
				t.Errorf("%s: a national hotline has %s", h.Name, p)
			}
		}
	}
}

func TestSampleRecordsAreCopies(t *testing.T) {
	a := SampleDirectory()
	a[0].Fields[FieldNameEN] = "changed"
	a[0].Fields[FieldLanguages].([]string)[0] = "xx"
	b := SampleDirectory()
	if b[0].Fields[FieldNameEN] == "changed" || b[0].Fields[FieldLanguages].([]string)[0] == "xx" {
		t.Error("a caller's change reached the next SampleDirectory")
	}
}

func TestSampleOutreach(t *testing.T) {
	now := time.Date(2026, 3, 15, 23, 30, 0, 0, time.FixedZone("EST", -5*3600))
	recs := SampleOutreach(now)
	if len(recs) < 5 || len(recs) > 8 {
		t.Errorf("%d outreach records, want about 6", len(recs))
	}
	checkOutreach(t, recs, directoryNames(SampleDirectory()))
	if got := recs[0].Fields[FieldDate]; got != "2026-03-14" {
		t.Errorf("first date = %v, want the day before now in now's zone, 2026-03-14", got)
	}
	if got := recs[0].Fields[FieldFollowUp]; got != "2026-03-16" {
		t.Errorf("first follow-up = %v, want 2026-03-16", got)
	}
	urgent := 0
	for _, r := range recs {
		if r.Fields[FieldUrgent] == true {
			urgent++
		}
		if d := r.Fields[FieldDate].(string); d >= "2026-03-15" {
			t.Errorf("date %s is not before now", d)
		}
	}
	if urgent == 0 || urgent == len(recs) {
		t.Errorf("%d of %d records urgent, want a mix", urgent, len(recs))
	}
}

func TestRecordFormattingWithholdsValues(t *testing.T) {
	var shelter Record
	for _, r := range SampleDirectory() {
		if r.Fields[FieldKind] == KindShelter {
			shelter = r
			break
		}
	}
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%10.3v"} {
		fmt.Fprintf(&out, verb+"\n", shelter)
		fmt.Fprintf(&out, verb+"\n", &shelter)
		fmt.Fprintf(&out, verb+"\n", []Record{shelter})
		fmt.Fprintf(&out, verb+"\n", struct{ R Record }{shelter})
	}
	fmt.Fprintln(&out, shelter)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("record", "rec", shelter)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("record", "rec", shelter)
	all := out.String() + logs.String()
	if strings.Contains(all, CanaryMarker) || strings.Contains(all, "fictional") {
		t.Errorf("formatting a record printed its values:\n%s", all)
	}
	if !strings.Contains(logs.String(), FieldLocation) || !strings.Contains(out.String(), "directory{") {
		t.Errorf("formatting a record should still name its collection and fields:\n%s", all)
	}
}
