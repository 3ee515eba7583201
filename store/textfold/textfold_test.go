package textfold

import (
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// inuktitut is ᐃᓄᒃᑎᑐᑦ; inuktituLong is the same word typed with the long
// vowel ᑏ (TII, U+144F) instead of ᑎ (TI, U+144E).
const (
	inuktitut     = "\u1403\u14C4\u1483\u144E\u1450\u1466"
	inuktitutLong = "\u1403\u14C4\u1483\u144F\u1450\u1466"
)

func TestFold(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"ascii lower", "kangiqsujuaq", "kangiqsujuaq"},
		{"roman inuktitut", "Kangiqsujuaq", "kangiqsujuaq"},
		{"accent", "Santé", "sante"},
		{"upper no accent", "SANTE", "sante"},
		{"upper accent", "ÉCOLE", "ecole"},
		{"decomposed accent", "Sante\u0301", "sante"},
		{"cedilla", "Français", "francais"},
		{"ligature oe", "Œuvre cœur", "oeuvre coeur"},
		{"ligature ae", "Æther", "aether"},
		{"sharp s", "Straße", "strasse"},
		{"capital sharp s", "STRAẞE", "strasse"},
		{"compat ligature", "ﬁle", "file"},
		{"fullwidth", "ＳＡＮＴＥ１２", "sante12"},
		{"compat capital", "ℌ", "h"},
		{"dotted capital I", "İ", "i"},
		{"syllabics unchanged", inuktitut, inuktitut},
		{"syllabics long vowel", inuktitutLong, inuktitut},
		{"syllabics II AA OO", "\u1404\u140B\u1406", "\u1403\u140A\u1405"},
		{"syllabics PAA TAA KAA", "\u1439\u1456\u1473", "\u1438\u1455\u1472"},
		{"syllabics nunavik HAA", "\u157A", "\u1579"},
		{"syllabics punctuation kept", "\u1400\u166E", "\u1400\u166E"},
		{"cherokee capital", "\u13A0\u13F0", "\u13A0\u13F0"},
		{"cherokee small", "\uAB70\u13F8", "\u13A0\u13F0"},
		{"invalid utf8", "a\xffB", "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fold(tt.in); got != tt.want {
				t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFoldEqual(t *testing.T) {
	groups := [][]string{
		{"Santé", "SANTE", "santé", "SANTÉ", "Sante\u0301"},
		{"École", "ÉCOLE", "ecole", "école"},
		{inuktitut, inuktitutLong},
	}
	for _, g := range groups {
		for _, s := range g[1:] {
			if Fold(s) != Fold(g[0]) {
				t.Errorf("Fold(%q) = %q, Fold(%q) = %q; want equal", s, Fold(s), g[0], Fold(g[0]))
			}
		}
	}
}

// TestFoldIdempotentRunes checks Fold(Fold(r)) == Fold(r) for every rune.
func TestFoldIdempotentRunes(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		f := Fold(string(r))
		if g := Fold(f); g != f {
			t.Errorf("Fold(%U) = %q, Fold of that = %q", r, f, g)
		}
	}
}

func TestTerms(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"whitespace", " \t\r\n\u00A0\u3000 ", nil},
		{"punctuation only", "--- ... ! ᙮", nil},
		{"french", "Centre de Santé, l'ÉCOLE", []string{"centre", "de", "sante", "l", "ecole"}},
		{"dedupe first seen", "Santé santé SANTE école", []string{"sante", "ecole"}},
		{"ligatures", "Œuvres du cœur; Straße", []string{"oeuvres", "du", "coeur", "strasse"}},
		{"syllabics word", inuktitut, []string{inuktitut}},
		{"syllabics long vowel", inuktitutLong + " " + inuktitut, []string{inuktitut}},
		{"syllabics full stop", "ᐊᐃᑦᑕᖅ᙮ᐃᓄᒃᑎᑐᑦ᙮", []string{"ᐊᐃᑦᑕᖅ", inuktitut}},
		{"syllabics hyphen", "ᐊᐃᑦᑕᖅ\u1400ᐃᓄᒃᑎᑐᑦ", []string{"ᐊᐃᑦᑕᖅ", inuktitut}},
		{"syllabics chi sign", "ᐊᐃᑦᑕᖅ\u166Dᐃᓄᒃᑎᑐᑦ", []string{"ᐊᐃᑦᑕᖅ", inuktitut}},
		{"mixed scripts", "Health Centre / Centre de santé / ᐋᓐᓂᐊᕐᕕᒃ Iqaluit",
			[]string{"health", "centre", "de", "sante", "ᐊᓐᓂᐊᕐᕕᒃ", "iqaluit"}},
		{"script change without space", "abcᐃᓄᒃ", []string{"abcᐃᓄᒃ"}},
		{"combining mark inside word", "Sante\u0301 e\u0301cole", []string{"sante", "ecole"}},
		{"spacing mark inside word", "क\u093Fताब", []string{"क\u093Fताब"}},
		{"mark does not start word", "\u20DDab", []string{"ab"}},
		{"phone", "Call 1-800-265-3333.", []string{
			"call", "1", "800", "265", "3333", "18002653333", "8002653333", "2653333"}},
		{"phone parens", "(867) 979-5000 ext 21", []string{
			"867", "979", "5000", "8679795000", "9795000", "ext", "21"}},
		{"phone dots", "867.979.5000", []string{"867", "979", "5000", "8679795000", "9795000"}},
		{"digits with comma are separate", "1, 2", []string{"1", "2"}},
		{"digits with long gap are separate", "867 -- 979", []string{"867", "979"}},
		{"digits with word between", "10 km 20", []string{"10", "km", "20"}},
		{"alphanumeric not joined", "A1-B2", []string{"a1", "b2"}},
		{"fullwidth digits", "８６７-９７９", []string{"867", "979", "867979"}},
		{"invalid utf8 separates", "sant\xffé\xc3", []string{"sant", "e"}},
		{"invalid utf8 only", "\xff\xfe\xfd", nil},
		{"invalid utf8 between digits", "800\xff265", []string{"800", "265"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Terms(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Terms(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTermsCaps(t *testing.T) {
	long := strings.Repeat("é", 40) // 80 bytes in, 40 bytes folded
	if got := Terms(long); !reflect.DeepEqual(got, []string{strings.Repeat("e", 40)}) {
		t.Errorf("Terms(40 é) = %q", got)
	}

	long = strings.Repeat("ab", 50)
	if got, want := Terms(long), []string{long[:MaxTermBytes]}; !reflect.DeepEqual(got, want) {
		t.Errorf("Terms(100 ASCII bytes) = %q, want %q", got, want)
	}

	// Syllabics are 3 bytes each: 64 bytes hold 21 runes, never a partial one.
	syl := strings.Repeat("ᐃ", 30)
	if got, want := Terms(syl), []string{strings.Repeat("ᐃ", 21)}; !reflect.DeepEqual(got, want) {
		t.Errorf("Terms(30 syllabics) = %q, want %q", got, want)
	}

	// Words that only differ after the cap collapse to one term.
	a, b := strings.Repeat("x", 70)+"a", strings.Repeat("x", 70)+"b"
	if got := Terms(a + " " + b); len(got) != 1 {
		t.Errorf("Terms(two words equal in their first 64 bytes) = %d terms, want 1", len(got))
	}

	var sb strings.Builder
	for i := range 1000 {
		sb.WriteString("w")
		sb.WriteString(strings.Repeat("z", i%7))
		sb.WriteRune(rune('a' + i/7%26))
		sb.WriteRune(rune('a' + i/182))
		sb.WriteString(", ")
	}
	got := Terms(sb.String())
	if len(got) != MaxTerms {
		t.Fatalf("Terms(1000 distinct words) = %d terms, want %d", len(got), MaxTerms)
	}
	if got[0] != "waa" {
		t.Errorf("first term = %q, want %q", got[0], "waa")
	}

	// Long runs of digit groups stay bounded.
	digits := strings.Repeat("12 ", 1000)
	if got := Terms(digits); len(got) > MaxTerms {
		t.Errorf("Terms(1000 digit groups) = %d terms", len(got))
	}
}

func TestQueryTerms(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "   ", nil},
		{"phone prefix", "1-800-265", []string{"1", "800", "265", "1800265"}},
		{"phone no dashes", "18002653333", []string{"18002653333"}},
		{"phone without code", "800-265", []string{"800", "265", "800265"}},
		{"words", "Santé ᐃᓄᒃᑏᑐᑦ", []string{"sante", inuktitut}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := QueryTerms(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("QueryTerms(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestQueryPrefixes checks that every query term is a prefix of some stored
// term, the way the index matches them.
func TestQueryPrefixes(t *testing.T) {
	stored := Terms("Health Centre, Kangiqsujuaq. ᐋᓐᓂᐊᕐᕕᒃ. Tel 1-800-265-3333")
	for _, q := range []string{
		"1-800-265-3333", "18002653333", "1 800 265", "800-265-3333", "8002653333",
		"265-3333", "health cent", "KANGIQ", "ᐋᓐᓂ", "ᐊᓐᓂ",
	} {
		for _, qt := range QueryTerms(q) {
			found := false
			for _, st := range stored {
				if strings.HasPrefix(st, qt) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("query %q: term %q is not a prefix of any of %q", q, qt, stored)
			}
		}
	}
}

func TestSyllabicTable(t *testing.T) {
	if len(syllabicShort) == 0 {
		t.Fatal("empty table")
	}
	for long, short := range syllabicShort {
		if long < 0x1400 || long > 0x167F || short < 0x1400 || short > 0x167F {
			t.Errorf("%U -> %U outside U+1400–U+167F", long, short)
		}
		if !unicode.Is(unicode.Lo, long) || !unicode.Is(unicode.Lo, short) {
			t.Errorf("%U -> %U: not both letters", long, short)
		}
		if _, ok := syllabicShort[short]; ok {
			t.Errorf("%U -> %U: short form is itself mapped", long, short)
		}
	}
}

// TestSyllabicTableMatchesScript re-runs the generator script quoted in
// syllabics_table.go and compares its output with the table.
func TestSyllabicTableMatchesScript(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not available")
	}
	src, err := os.ReadFile("syllabics_table.go")
	if err != nil {
		t.Fatal(err)
	}
	var script, body []string
	inScript, inBody := false, false
	for _, line := range strings.Split(string(src), "\n") {
		switch {
		case line == "//\tpython3 - <<'EOF'":
			inScript = true
		case line == "//\tEOF":
			inScript = false
		case inScript:
			script = append(script, strings.TrimPrefix(line, "//\t"))
		case strings.HasPrefix(line, "var syllabicShort"):
			inBody = true
		case line == "}":
			inBody = false
		case inBody:
			body = append(body, line)
		}
	}
	if len(script) == 0 || len(body) == 0 {
		t.Fatal("could not find the script or the table in syllabics_table.go")
	}
	cmd := exec.Command(python, "-")
	cmd.Stdin = strings.NewReader(strings.Join(script, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("running script: %v", err)
	}
	if got, want := strings.TrimRight(string(out), "\n"), strings.Join(body, "\n"); got != want {
		t.Errorf("script output differs from the table:\n%s", got)
	}
}

func FuzzTerms(f *testing.F) {
	for _, s := range []string{
		"",
		" ",
		"Centre de Santé / Health Centre",
		"ÉCOLE Œuvre Straße ﬁ",
		inuktitut + "᙮" + inuktitutLong + "\u1400ᐋᓐᓂᐊᕐᕕᒃ",
		"Tel. 1-800-265-3333, (867) 979-5000",
		"Kangiqsujuaq, Nunavik",
		"sant\xffé\xc3",
		"İ ℌ ＳＡＮＴＥ ½ ①",
		strings.Repeat("é", 70),
		strings.Repeat("1 ", 300),
		"a\u0301\u0327\u0308",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, terms := range [][]string{Terms(s), QueryTerms(s)} {
			if len(terms) > MaxTerms {
				t.Fatalf("%d terms", len(terms))
			}
			for _, term := range terms {
				switch {
				case term == "":
					t.Fatalf("empty term in %q", terms)
				case !utf8.ValidString(term):
					t.Fatalf("invalid UTF-8 term %q", term)
				case len(term) > MaxTermBytes:
					t.Fatalf("term %q is %d bytes", term, len(term))
				case Fold(term) != term:
					t.Fatalf("Fold(%q) = %q, want it unchanged", term, Fold(term))
				}
			}
		}
		if f := Fold(s); Fold(f) != f {
			t.Fatalf("Fold not idempotent: Fold(%q) = %q, Fold of that = %q", s, f, Fold(f))
		}
	})
}

// entry is a realistic directory entry of about 200 bytes.
const entry = "Centre de santé Iqaluit / Iqaluit Health Centre — ᐃᖃᓗᐃᑦ ᐋᓐᓂᐊᕐᕕᒃ. " +
	"Soins d'urgence 24 h. Tél. 1-867-975-8600. Sans frais : 1-800-265-3333. " +
	"Services en français, English, ᐃᓄᒃᑎᑐᑦ."

func BenchmarkTerms(b *testing.B) {
	b.SetBytes(int64(len(entry)))
	b.ReportAllocs()
	for b.Loop() {
		Terms(entry)
	}
}
