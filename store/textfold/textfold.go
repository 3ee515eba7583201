// Package textfold turns directory text into search terms for the Floe
// directory search index.
//
// Directory entries are written in English, French and Inuktitut (both
// Canadian Aboriginal syllabics, U+1400–U+167F, and roman orthography).
// [Fold] normalises a string so that differences people do not type
// consistently disappear: letter case, accents and other combining marks,
// compatibility forms and ligatures, and the long-vowel dot of syllabics
// (ᐄ is folded to ᐃ, ᑳ to ᑲ, ...). [Terms] splits folded text into the terms
// stored in the index; [QueryTerms] does the same for a user's query.
//
// The index matches each query term as a PREFIX of stored terms: the query
// "inuk" finds the stored term "inuktitut", and the query "1-800-265" (terms
// "1", "800", "265" and "1800265") finds "1-800-265-3333".
package textfold

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Version names the folding rules. It changes whenever Terms would give
// different terms for the same text, so that a search index built with the
// old rules is rebuilt.
const Version = "1"

const (
	// MaxTermBytes is the maximum length of a term in bytes. Longer terms
	// are truncated at a rune boundary.
	MaxTermBytes = 64
	// MaxTerms is the maximum number of terms returned for one input.
	MaxTerms = 256

	// maxDigitGroups bounds how many digit groups are joined into one
	// phone-number-like term.
	maxDigitGroups = 8
	// maxDigitGap is the longest separator, in runes, allowed between two
	// digit groups of one number, e.g. ") " in "(867) 979-5000".
	maxDigitGap = 3
)

// Fold folds s for comparison: Unicode compatibility decomposition (NFKD),
// full case folding, removal of nonspacing combining marks (category Mn),
// expansion of the ligatures œ and æ (ß becomes ss through case folding, ﬁ
// becomes fi through NFKD), and folding of long-vowel syllabics to their
// short-vowel forms. Invalid UTF-8 bytes become U+FFFD.
//
// Fold is idempotent: Fold(Fold(s)) == Fold(s).
func Fold(s string) string {
	if isASCII(s) {
		return asciiLower(s)
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	// Decompose first so that compatibility characters that decompose to
	// capitals (ℌ -> H) are then case-folded, and again after folding
	// because folding may produce composed characters (İ -> i̇).
	s = norm.NFKD.String(s)
	s = cases.Fold().String(s)
	s = norm.NFKD.String(s)

	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
			// dropped
		case r == 'œ':
			b.WriteString("oe")
		case r == 'æ':
			b.WriteString("ae")
		case 0x13F8 <= r && r <= 0x13FD || 0xAB70 <= r && r <= 0xABBF:
			// Cherokee small letters fold to capitals (CaseFolding.txt),
			// but x/text/cases swaps small and capital letters, which
			// would make Fold neither stable nor idempotent.
			b.WriteRune(unicode.ToUpper(r))
		default:
			if short, ok := syllabicShort[r]; ok {
				r = short
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Terms splits s into folded search terms for the index.
//
// A term is a run of letters and digits (combining marks continue a term
// but do not start one). Syllabics are letters, so a syllabics word is one
// term; the syllabics full stop (U+166E), the syllabics hyphen (U+1400) and
// all other punctuation, symbols and spaces separate terms, as do invalid
// UTF-8 bytes.
//
// Digit groups of a phone-number-like sequence such as "1-800-265-3333" or
// "(867) 979-5000" (digit-only terms separated by at most three of space,
// "-", ".", "/", "(", ")" and dashes) are also joined: besides "1", "800",
// "265" and "3333", Terms returns "18002653333", "8002653333" and
// "2653333", so the number is found with or without separators and with or
// without its leading country or area code.
//
// Terms are deduplicated in first-seen order, truncated to [MaxTermBytes]
// bytes at a rune boundary, and at most [MaxTerms] are returned.
func Terms(s string) []string {
	return split(s, true)
}

// QueryTerms splits a user's query into folded terms with the same rules as
// [Terms]. The index matches every query term as a prefix of stored terms.
//
// A phone-number-like query yields its digit groups and their full join,
// so "1-800-265" gives "1", "800", "265" and "1800265", each a prefix of a
// term stored for "1-800-265-3333". Unlike [Terms], QueryTerms does not add
// joins of the trailing groups: the stored suffix joins already make
// "800-265" (join "800265") match.
func QueryTerms(q string) []string {
	return split(q, false)
}

// splitter collects terms for one input.
type splitter struct {
	terms   []string
	seen    map[string]struct{}
	digits  []string // digit groups of the current number
	suffix  bool     // also add joins of the trailing digit groups
	lastEnd int      // end of the last digit group, in the folded text
}

func split(s string, suffix bool) []string {
	f := Fold(s)
	sp := splitter{suffix: suffix, seen: make(map[string]struct{})}
	start := -1 // start of the current word, or -1 between words
	for i, r := range f {
		if isWordStart(r) || (start >= 0 && unicode.IsMark(r)) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			if !sp.word(f, start, i) {
				return sp.terms
			}
			start = -1
		}
	}
	if start >= 0 && !sp.word(f, start, len(f)) {
		return sp.terms
	}
	sp.flushDigits()
	return sp.terms
}

// word handles the word f[start:end]. It reports whether more terms fit.
func (sp *splitter) word(f string, start, end int) bool {
	w := f[start:end]
	if isDigits(w) {
		if len(sp.digits) > 0 && (len(sp.digits) == maxDigitGroups || !isDigitGap(f[sp.lastEnd:start])) {
			sp.flushDigits()
		}
		sp.digits = append(sp.digits, w)
		sp.lastEnd = end
	} else {
		sp.flushDigits()
	}
	sp.add(w)
	return len(sp.terms) < MaxTerms
}

// flushDigits adds the joins of the current digit groups, if there are at
// least two, and starts a new number.
func (sp *splitter) flushDigits() {
	if len(sp.digits) >= 2 {
		for i := 0; i < len(sp.digits)-1; i++ {
			sp.add(strings.Join(sp.digits[i:], ""))
			if !sp.suffix {
				break
			}
		}
	}
	sp.digits = sp.digits[:0]
}

// add appends term t, truncated to MaxTermBytes, unless it is already
// present or MaxTerms terms have been collected.
func (sp *splitter) add(t string) {
	if len(sp.terms) >= MaxTerms {
		return
	}
	t = truncate(t, MaxTermBytes)
	if _, ok := sp.seen[t]; ok {
		return
	}
	sp.seen[t] = struct{}{}
	sp.terms = append(sp.terms, t)
}

func isWordStart(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

func isDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// isDigitGap reports whether gap may separate two digit groups of one
// phone number.
func isDigitGap(gap string) bool {
	if utf8.RuneCountInString(gap) > maxDigitGap {
		return false
	}
	for _, r := range gap {
		switch r {
		case ' ', '-', '.', '/', '(', ')', '‐', '‒', '–', '—', '−':
		default:
			return false
		}
	}
	return true
}

// truncate shortens s to at most n bytes without splitting a rune.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
