package fieldkit

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// Record is one record as plain fields, the shape the node writes: each key
// is a field path and each value is a string, a bool or an int64. A set
// field (languages) is given as a []string of its elements; the node writes
// one entry per element, at the set's path plus the element key.
//
// Formatting a Record with any fmt verb, and logging it with slog, shows the
// collection and the field paths but never the values, so printing or
// logging a record cannot leak a shelter's location. Read Fields to see
// values.
type Record struct {
	Collection string
	Fields     map[string]any
}

// Collections the sample records belong to.
const (
	CollectionDirectory = "directory"
	CollectionOutreach  = "outreach"
)

// Field paths of directory records.
const (
	FieldNameEN    = "name/en"
	FieldNameFR    = "name/fr"
	FieldNameIU    = "name/iu" // Inuktitut, in syllabics
	FieldKind      = "kind"    // one of Kinds
	FieldCommunity = "community"
	FieldRegion    = "region"
	FieldPhone     = "phone"
	FieldHours     = "hours"
	FieldLanguages = "languages" // set of language codes: "en", "fr", "iu"
	FieldIntake    = "intake"    // intake instructions
	FieldNotes     = "notes"
	// FieldLocation is where a shelter is. It is the sensitive field: the
	// node must seal it, and only shelters have it.
	FieldLocation = "location"
)

// Field paths of outreach records, beside FieldCommunity. No outreach field
// holds a person's name; Subject is a pseudonymous code.
const (
	FieldDate       = "date"        // YYYY-MM-DD
	FieldContact    = "contact"     // one of ContactKinds
	FieldReferredTo = "referred_to" // a directory service's name
	FieldFollowUp   = "follow_up"   // YYYY-MM-DD
	FieldSubject    = "subject"     // pseudonymous code, e.g. "S-7K3Q"
	FieldUrgent     = "urgent"      // bool
)

// Service kinds, the values of FieldKind.
const (
	KindHotline   = "hotline"
	KindShelter   = "shelter"
	KindHealth    = "health"
	KindLegal     = "legal"
	KindTransport = "transport"
	KindFunds     = "funds"
)

var (
	// Kinds lists the values of a directory record's kind field.
	Kinds = []string{KindHotline, KindShelter, KindHealth, KindLegal, KindTransport, KindFunds}
	// ContactKinds lists the values of an outreach record's contact field.
	ContactKinds = []string{"in-person", "phone", "text", "video", "other"}
	// Languages lists the language codes the sample data uses.
	Languages = []string{"en", "fr", "iu"}

	// DirectoryFields lists every field path a directory record may have.
	DirectoryFields = []string{
		FieldNameEN, FieldNameFR, FieldNameIU, FieldKind, FieldCommunity, FieldRegion,
		FieldPhone, FieldHours, FieldLanguages, FieldIntake, FieldNotes, FieldLocation,
	}
	// OutreachFields lists every field path an outreach record may have.
	OutreachFields = []string{
		FieldDate, FieldCommunity, FieldContact, FieldReferredTo, FieldFollowUp, FieldSubject, FieldUrgent,
	}
)

// paths returns the record's field paths, sorted.
func (r Record) paths() []string {
	ps := make([]string, 0, len(r.Fields))
	for p := range r.Fields {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// String names the collection and field paths, never the values.
func (r Record) String() string {
	return r.Collection + "{" + strings.Join(r.paths(), " ") + "} (values withheld)"
}

// GoString is String, so that %#v withholds values too.
func (r Record) GoString() string { return "fieldkit.Record " + r.String() }

// Format implements fmt.Formatter, so that every verb withholds values:
// without it, %d or %x would print the map.
func (r Record) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, r.GoString())
		return
	}
	io.WriteString(f, r.String())
}

// LogValue implements slog.LogValuer: the collection and field paths, never
// the values.
func (r Record) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("collection", r.Collection),
		slog.String("fields", strings.Join(r.paths(), " ")),
	)
}
