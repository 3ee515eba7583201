package fieldkit

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func collectDirectory(t testing.TB, seed uint64, n int) []Record {
	t.Helper()
	var recs []Record
	if err := GenerateDirectory(seed, n, func(r Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return recs
}

func collectOutreach(t testing.TB, seed uint64, n int) []Record {
	t.Helper()
	var recs []Record
	if err := GenerateOutreach(seed, n, start, func(r Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestGenerateDeterministic(t *testing.T) {
	gens := map[string]func(t testing.TB, seed uint64, n int) []Record{
		"directory": collectDirectory,
		"outreach":  collectOutreach,
	}
	for name, collect := range gens {
		t.Run(name, func(t *testing.T) {
			a, b := collect(t, 42, 300), collect(t, 42, 300)
			if !reflect.DeepEqual(a, b) {
				t.Error("one seed gave two different streams")
			}
			c := collect(t, 43, 300)
			same := 0
			for i := range a {
				if reflect.DeepEqual(a[i].Fields, c[i].Fields) {
					same++
				}
			}
			if same > 3 {
				t.Errorf("seeds 42 and 43 gave %d identical records of %d", same, len(a))
			}
			// A shorter run is a prefix of a longer one.
			if short := collect(t, 42, 10); !reflect.DeepEqual(short, a[:10]) {
				t.Error("the first 10 records depend on n")
			}
		})
	}
}

func TestGenerateCount(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1000} {
		if got := len(collectDirectory(t, 1, n)); got != n {
			t.Errorf("GenerateDirectory(n=%d) gave %d records", n, got)
		}
		if got := len(collectOutreach(t, 1, n)); got != n {
			t.Errorf("GenerateOutreach(n=%d) gave %d records", n, got)
		}
	}
	called := false
	fn := func(Record) error { called = true; return nil }
	if err := GenerateDirectory(1, -1, fn); err == nil {
		t.Error("GenerateDirectory(n=-1) gave no error")
	}
	if err := GenerateOutreach(1, -1, start, fn); err == nil {
		t.Error("GenerateOutreach(n=-1) gave no error")
	}
	if called {
		t.Error("fn was called for n=-1")
	}
}

func TestGenerateStopsOnError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	fn := func(Record) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	}
	if err := GenerateDirectory(1, 100, fn); !errors.Is(err, stop) || calls != 3 {
		t.Errorf("GenerateDirectory: error %v after %d calls, want %v after 3", err, calls, stop)
	}
	calls = 0
	if err := GenerateOutreach(1, 100, start, fn); !errors.Is(err, stop) || calls != 3 {
		t.Errorf("GenerateOutreach: error %v after %d calls, want %v after 3", err, calls, stop)
	}
}

func TestGenerateDirectoryRecords(t *testing.T) {
	const n = 4000
	recs := collectDirectory(t, 7, n)
	checkDirectory(t, recs)
	checkNoLeak(t, recs)

	kinds := map[string]int{}
	communities := map[string]bool{}
	var accented, syllabics, frenchNames, iuNames int
	for _, r := range recs {
		kinds[r.Fields[FieldKind].(string)]++
		communities[r.Fields[FieldCommunity].(string)] = true
		if _, ok := r.Fields[FieldNameFR]; ok {
			frenchNames++
		}
		if _, ok := r.Fields[FieldNameIU]; ok {
			iuNames++
		}
		text := r.Fields[FieldIntake].(string) + " " + func() string { s, _ := r.Fields[FieldNotes].(string); return s }()
		if strings.ContainsAny(text, "éèàâêîôûç") {
			accented++
		}
		if strings.ContainsFunc(text, func(c rune) bool { return unicode.Is(unicode.Canadian_Aboriginal, c) }) {
			syllabics++
		}
	}
	if s := kinds[KindShelter]; s < n*3/100 || s > n*7/100 {
		t.Errorf("%d shelters in %d records, want about 5%%", s, n)
	}
	for _, k := range Kinds {
		if kinds[k] == 0 {
			t.Errorf("no %s records", k)
		}
	}
	if len(communities) != len(Communities()) {
		t.Errorf("records use %d communities, want all %d", len(communities), len(Communities()))
	}
	for what, got := range map[string]int{
		"French names": frenchNames, "Inuktitut names": iuNames,
		"accented text": accented, "syllabics text": syllabics,
	} {
		if got < n/10 || got > n*9/10 {
			t.Errorf("%s in %d of %d records, want a mix", what, got, n)
		}
	}
}

func TestGenerateDirectorySizes(t *testing.T) {
	recs := collectDirectory(t, 3, 2000)
	total := 0
	for _, r := range recs {
		name := r.Fields[FieldNameEN].(string)
		if len(name) < 15 || len(name) > 100 {
			t.Errorf("name %q is %d bytes", name, len(name))
		}
		for _, v := range r.Fields {
			if s, ok := v.(string); ok {
				total += len(s)
			}
		}
	}
	// Real directory entries run to a few hundred bytes of text.
	if avg := total / len(recs); avg < 150 || avg > 1000 {
		t.Errorf("records average %d bytes of text, want a few hundred", avg)
	}
}

func TestGenerateOutreachRecords(t *testing.T) {
	const n = 3000
	recs := collectOutreach(t, 9, n)
	checkOutreach(t, recs, directoryNames(SampleDirectory()))
	checkNoLeak(t, recs)
	end := start.AddDate(0, 0, 365).Format(time.DateOnly)
	urgent, followUps := 0, 0
	for _, r := range recs {
		d := r.Fields[FieldDate].(string)
		if d < start.Format(time.DateOnly) || d >= end {
			t.Errorf("date %s is outside the year from %s", d, start.Format(time.DateOnly))
		}
		if r.Fields[FieldUrgent] == true {
			urgent++
		}
		if _, ok := r.Fields[FieldFollowUp]; ok {
			followUps++
		}
	}
	if urgent < n/20 || urgent > n/5 {
		t.Errorf("%d of %d urgent, want about 10%%", urgent, n)
	}
	if followUps < n/2 || followUps > n*9/10 {
		t.Errorf("%d of %d with a follow-up, want about 70%%", followUps, n)
	}
}

func BenchmarkGenerateDirectory(b *testing.B) {
	const n = 1000
	bytes := 0
	b.ReportAllocs()
	for b.Loop() {
		bytes = 0
		err := GenerateDirectory(1, n, func(r Record) error {
			for _, v := range r.Fields {
				if s, ok := v.(string); ok {
					bytes += len(s)
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	b.ReportMetric(float64(bytes)/n, "textbytes/record")
}

func BenchmarkGenerateOutreach(b *testing.B) {
	const n = 1000
	b.ReportAllocs()
	for b.Loop() {
		if err := GenerateOutreach(1, n, start, func(Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}
