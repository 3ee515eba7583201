package fieldkit

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// PCG streams, so that one seed gives unrelated directory and outreach data.
const (
	directoryStream = 0x666c6f652d646972 // "floe-dir"
	outreachStream  = 0x666c6f652d6f7574 // "floe-out"
)

// Shares of generated records, in percent.
const (
	shelterPercent  = 5
	nameFRPercent   = 60
	nameIUPercent   = 40
	notesPercent    = 70
	followUpPercent = 70
	urgentPercent   = 10
)

// generatedKinds are the kinds of generated records that are not shelters.
var generatedKinds = []string{KindHotline, KindHealth, KindLegal, KindTransport, KindFunds}

// subjectAlphabet is Crockford's base 32: no I, L, O or U to misread.
const subjectAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// referralNames are the names outreach records refer to.
var referralNames = sync.OnceValue(func() []string {
	var names []string
	for _, r := range SampleDirectory() {
		names = append(names, r.Fields[FieldNameEN].(string))
	}
	return names
})

// GenerateDirectory calls fn with n synthetic directory records, one at a
// time, so that a run of millions never holds them all. The records depend
// only on seed. They are spread over the real communities of Nunavut and
// are all fictional; about 5% are shelters, each with a location that holds
// CanaryMarker and only the public shelter fields beside it. Text mixes
// English, French and syllabics, at roughly the sizes real entries have: a
// name of 20 to 90 bytes, intake instructions of one to three sentences and,
// on most records, notes of one to four.
//
// Each record and its map are new, the caller's to keep. GenerateDirectory
// stops at the first error from fn and returns it unchanged.
func GenerateDirectory(seed uint64, n int, fn func(Record) error) error {
	if n < 0 {
		return fmt.Errorf("generating directory records: n is %d; it must be 0 or more", n)
	}
	g := newGen(seed, directoryStream)
	cs := loadCommunities()
	for range n {
		if err := fn(g.directory(cs)); err != nil {
			return err
		}
	}
	return nil
}

// GenerateOutreach calls fn with n synthetic outreach records, one at a
// time. The records depend only on seed and start. Their dates fall in the
// 365 days from start (in start's time zone), most have a follow-up date 1
// to 30 days later, about 10% are urgent, subjects are pseudonymous codes,
// and every referral names a service in SampleDirectory.
//
// Each record and its map are new, the caller's to keep. GenerateOutreach
// stops at the first error from fn and returns it unchanged.
func GenerateOutreach(seed uint64, n int, start time.Time, fn func(Record) error) error {
	if n < 0 {
		return fmt.Errorf("generating outreach records: n is %d; it must be 0 or more", n)
	}
	g := newGen(seed, outreachStream)
	cs := loadCommunities()
	refs := referralNames()
	for range n {
		if err := fn(g.outreach(cs, refs, start)); err != nil {
			return err
		}
	}
	return nil
}

// gen draws synthetic records from one PCG stream.
type gen struct {
	r  *rand.Rand
	sb strings.Builder
}

func newGen(seed, stream uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, stream))}
}

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) chance(percent int) bool { return g.r.IntN(100) < percent }

func (g *gen) directory(cs []Community) Record {
	c := cs[g.r.IntN(len(cs))]
	kind := KindShelter
	if !g.chance(shelterPercent) {
		kind = g.pick(generatedKinds)
	}
	words := serviceWords[kind]
	sw := words[g.r.IntN(len(words))]
	hasFR, hasIU := g.chance(nameFRPercent), g.chance(nameIUPercent)

	f := make(map[string]any, len(DirectoryFields))
	f[FieldKind] = kind
	f[FieldCommunity] = c.Name
	f[FieldPhone] = fmt.Sprintf("867-555-01%02d", g.r.IntN(100))
	f[FieldHours] = g.pick(hoursChoices)

	if kind == KindShelter {
		// Public fields only. The alias names the kind of shelter and a
		// number, nothing about the place.
		num := 1 + g.r.IntN(99)
		f[FieldNameEN] = fmt.Sprintf("%s %d (fictional)", sw.en, num)
		if hasFR {
			f[FieldNameFR] = fmt.Sprintf("%s %d (%s)", sw.fr, num, fictif(sw.fem))
		}
		if hasIU {
			f[FieldNameIU] = g.words(wordsIU, 1, 2) + " (sample)"
		}
		f[FieldIntake] = g.text(1, 3)
		f[FieldLocation] = g.location()
		return Record{Collection: CollectionDirectory, Fields: f}
	}

	f[FieldNameEN] = c.Name + " " + g.pick(nameWordsEN) + " " + sw.en + " (fictional)"
	if hasFR {
		f[FieldNameFR] = sw.fr + " « " + g.pick(nameWordsFR) + " » " + frenchOf(c.Name) + " (" + fictif(sw.fem) + ")"
	}
	if hasIU {
		f[FieldNameIU] = g.words(wordsIU, 1, 3) + " (sample)"
	}
	f[FieldRegion] = c.Region
	langs := make([]string, 1, 3)
	langs[0] = "en"
	if hasFR || g.chance(20) {
		langs = append(langs, "fr")
	}
	if hasIU || g.chance(30) {
		langs = append(langs, "iu")
	}
	f[FieldLanguages] = langs
	f[FieldIntake] = g.text(1, 3)
	if g.chance(notesPercent) {
		f[FieldNotes] = g.text(1, 4)
	}
	return Record{Collection: CollectionDirectory, Fields: f}
}

func (g *gen) outreach(cs []Community, refs []string, start time.Time) Record {
	day := start.AddDate(0, 0, g.r.IntN(365))
	f := make(map[string]any, len(OutreachFields))
	f[FieldDate] = day.Format(time.DateOnly)
	f[FieldCommunity] = cs[g.r.IntN(len(cs))].Name
	f[FieldContact] = g.pick(ContactKinds)
	f[FieldReferredTo] = g.pick(refs)
	if g.chance(followUpPercent) {
		f[FieldFollowUp] = day.AddDate(0, 0, 1+g.r.IntN(30)).Format(time.DateOnly)
	}
	var subject [6]byte
	subject[0], subject[1] = 'S', '-'
	for i := 2; i < len(subject); i++ {
		subject[i] = subjectAlphabet[g.r.IntN(len(subjectAlphabet))]
	}
	// The node requires a digit in every subject code, so that a code can
	// never be a name.
	subject[2+g.r.IntN(len(subject)-2)] = subjectAlphabet[g.r.IntN(10)]
	f[FieldSubject] = string(subject[:])
	f[FieldUrgent] = g.chance(urgentPercent)
	return Record{Collection: CollectionOutreach, Fields: f}
}

// location describes a fictional place, after CanaryMarker, in words no
// other field uses.
func (g *gen) location() string {
	g.sb.Reset()
	g.sb.WriteString(CanaryMarker)
	g.sb.WriteString(": fictional ")
	g.sb.WriteString(g.pick(locPlaces))
	g.sb.WriteString(", ")
	g.sb.WriteString(g.pick(locColours))
	g.sb.WriteByte(' ')
	g.sb.WriteString(g.pick(locThings))
	g.sb.WriteByte(' ')
	g.sb.WriteString(g.pick(locRelations))
	g.sb.WriteString(" the fictional ")
	g.sb.WriteString(g.pick(locLandmarks))
	return g.sb.String()
}

// words joins lo to hi words from list.
func (g *gen) words(list []string, lo, hi int) string {
	g.sb.Reset()
	for i := range lo + g.r.IntN(hi-lo+1) {
		if i > 0 {
			g.sb.WriteByte(' ')
		}
		g.sb.WriteString(g.pick(list))
	}
	return g.sb.String()
}

// text makes lo to hi sentences of 5 to 16 words, each in English (60%),
// French (25%) or syllabics (15%).
func (g *gen) text(lo, hi int) string {
	g.sb.Reset()
	for i := range lo + g.r.IntN(hi-lo+1) {
		if i > 0 {
			g.sb.WriteByte(' ')
		}
		list := wordsEN
		switch p := g.r.IntN(100); {
		case p >= 85:
			list = wordsIU
		case p >= 60:
			list = wordsFR
		}
		for j := range 5 + g.r.IntN(12) {
			w := g.pick(list)
			if j == 0 {
				r, size := utf8.DecodeRuneInString(w)
				g.sb.WriteRune(unicode.ToUpper(r))
				w = w[size:]
			} else {
				g.sb.WriteByte(' ')
			}
			g.sb.WriteString(w)
		}
		g.sb.WriteByte('.')
	}
	return g.sb.String()
}

// fictif is "fictional" in French, agreeing with the noun.
func fictif(feminine bool) string {
	if feminine {
		return "fictive"
	}
	return "fictif"
}

// frenchOf is "de Pangnirtung", "d'Iqaluit": French for "of" a community.
func frenchOf(community string) string {
	if strings.ContainsRune("AEIOUaeiou", rune(community[0])) {
		return "d'" + community
	}
	return "de " + community
}
