package node

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	sp "github.com/floe-north/floe/syncproto"
)

// Collections in this version.
const (
	Directory = "directory"
	Outreach  = "outreach"
)

// FieldType says what a field holds and how it is checked.
type FieldType int

const (
	Text FieldType = iota
	Enum
	Date // YYYY-MM-DD
	Bool
	Set     // a set of short keys; each element is its own field path
	Subject // a pseudonymous subject code
	// AttachmentRef fields hold a reference to an attached file, one
	// per element (attachments/poster.pdf); written by Attach only.
	AttachmentRef
)

// FieldSpec describes one field of a collection.
type FieldSpec struct {
	Name string
	Type FieldType
	// PerLanguage fields are written as NAME/LANG, e.g. name/fr.
	PerLanguage bool
	// Sensitive fields are never indexed, listed or printed unless asked
	// for by name. The trust layer will seal them.
	Sensitive bool
	// Searchable fields feed the directory search index.
	Searchable bool
	Required   bool
	Values     []string // for Enum
	MaxLen     int      // in characters, for Text
	Help       string
}

// Schema is the set of fields a collection allows.
type Schema struct {
	Collection string
	Fields     []FieldSpec
}

// Kinds of directory service.
var ServiceKinds = []string{"hotline", "shelter", "health", "legal", "transport", "funds", "other"}

// ContactKinds are the kinds of outreach contact.
var ContactKinds = []string{"in-person", "phone", "text", "video", "other"}

// DirectorySchema is the service directory: public facts about services,
// and a sensitive location for shelters.
var DirectorySchema = Schema{Collection: Directory, Fields: []FieldSpec{
	{Name: "name", Type: Text, PerLanguage: true, Searchable: true, Required: true, MaxLen: 200, Help: "service name, per language: name/en, name/fr, name/iu (plain 'name' means name/en)"},
	{Name: "kind", Type: Enum, Values: ServiceKinds, Searchable: true, Required: true, Help: "kind of service"},
	{Name: "community", Type: Text, Searchable: true, MaxLen: 100, Help: "community served"},
	{Name: "region", Type: Text, Searchable: true, MaxLen: 100, Help: "region or territory"},
	{Name: "phone", Type: Text, Searchable: true, MaxLen: 64, Help: "public or intake phone number"},
	{Name: "hours", Type: Text, Searchable: true, MaxLen: 200, Help: "opening hours"},
	{Name: "languages", Type: Set, Searchable: true, Help: "languages spoken, e.g. en,fr,iu"},
	{Name: "intake", Type: Text, PerLanguage: true, Searchable: true, MaxLen: 2000, Help: "how to reach intake, per language: intake/en, intake/fr, intake/iu"},
	{Name: "notes", Type: Text, PerLanguage: true, Searchable: true, MaxLen: 4000, Help: "other notes, per language: notes/en, notes/fr, notes/iu"},
	{Name: "tags", Type: Set, Searchable: true, Help: "free tags"},
	{Name: "attachments", Type: AttachmentRef, Help: "attached files (posters, PDFs, audio): floe dir attach ID FILE"},
	{Name: "location", Type: Text, Sensitive: true, MaxLen: 1000, Help: "where the service is (at most 1022 bytes); sealed to the shelter audience"},
}}

// OutreachSchema is an outreach contact or referral, kept to the minimum:
// no names, only a pseudonymous subject code.
var OutreachSchema = Schema{Collection: Outreach, Fields: []FieldSpec{
	{Name: "date", Type: Date, Required: true, Help: "date of the contact, YYYY-MM-DD"},
	{Name: "community", Type: Text, Required: true, MaxLen: 100, Help: "community"},
	{Name: "contact", Type: Enum, Values: ContactKinds, Required: true, Help: "kind of contact"},
	{Name: "referred_to", Type: Text, MaxLen: 200, Help: "service referred to (name or directory record ID)"},
	{Name: "follow_up", Type: Date, Help: "follow-up due, YYYY-MM-DD"},
	{Name: "subject", Type: Subject, Required: true, Help: "pseudonymous subject code such as S-7K3Q; never a name"},
	{Name: "urgent", Type: Bool, Help: "urgent referral (true/false)"},
}}

// SchemaFor returns the schema of a collection.
func SchemaFor(collection string) (*Schema, error) {
	switch collection {
	case Directory:
		return &DirectorySchema, nil
	case Outreach:
		return &OutreachSchema, nil
	}
	return nil, fmt.Errorf("unknown collection %q (known: %s, %s)", collection, Directory, Outreach)
}

// Spec returns the spec of a top-level field name.
func (s *Schema) Spec(name string) (*FieldSpec, bool) {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i], true
		}
	}
	return nil, false
}

// FieldNames lists the top-level field names.
func (s *Schema) FieldNames() []string {
	var out []string
	for _, f := range s.Fields {
		out = append(out, f.Name)
	}
	return out
}

var (
	langRe    = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z]{4})?$`)
	elemRe    = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N}._-]{0,31}$`)
	subjectRe = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,15}$`)
)

// ErrUnknownField and friends are what a user gets for bad field input.
type FieldError struct {
	Collection, Field, Msg string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s field %q: %s", e.Collection, e.Field, e.Msg)
}

// ResolvePath checks a field path against the schema and returns its
// canonical form and spec: "name" becomes "name/en"; per-language and set
// fields need their element ("name/fr", "languages/iu").
func (s *Schema) ResolvePath(path string) (string, *FieldSpec, error) {
	p, spec, err := s.resolvePath(path)
	if err != nil {
		return "", nil, err
	}
	// The element rules allow paths that are still too long in bytes.
	if err := sp.ValidateField(p); err != nil {
		return "", nil, &FieldError{s.Collection, path, err.Error()}
	}
	return p, spec, nil
}

func (s *Schema) resolvePath(path string) (string, *FieldSpec, error) {
	top, elem, hasElem := strings.Cut(path, "/")
	spec, ok := s.Spec(top)
	if !ok {
		return "", nil, &FieldError{s.Collection, path, "unknown field; known fields: " + strings.Join(s.FieldNames(), ", ")}
	}
	switch {
	case spec.PerLanguage:
		if !hasElem {
			elem = "en"
		}
		if !langRe.MatchString(elem) {
			return "", nil, &FieldError{s.Collection, path, "language must be a code such as en, fr or iu"}
		}
		return top + "/" + elem, spec, nil
	case spec.Type == Set || spec.Type == AttachmentRef:
		if !hasElem || !elemRe.MatchString(elem) {
			return "", nil, &FieldError{s.Collection, path, "set elements are short words of letters, digits, '.', '_' or '-'"}
		}
		return top + "/" + elem, spec, nil
	case hasElem:
		return "", nil, &FieldError{s.Collection, path, "this field has no parts"}
	}
	return top, spec, nil
}

// forbiddenInText reports control characters other than newline and tab,
// and the bidirectional overrides and isolates, which can make a name or a
// phone number display as something else.
func forbiddenInText(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case unicode.IsControl(r):
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// CheckValue parses a value given as text for a field and returns the value
// to store.
func (spec *FieldSpec) CheckValue(coll, path, v string) (any, error) {
	bad := func(format string, a ...any) error {
		return &FieldError{coll, path, fmt.Sprintf(format, a...)}
	}
	switch spec.Type {
	case AttachmentRef:
		return nil, bad("attach a file with 'floe dir attach ID FILE'; it cannot be typed")
	case Text:
		if !utf8.ValidString(v) {
			return nil, bad("not valid UTF-8 text")
		}
		if n := utf8.RuneCountInString(v); n > spec.MaxLen {
			return nil, bad("%d characters is over the limit of %d", n, spec.MaxLen)
		}
		if strings.ContainsFunc(v, forbiddenInText) {
			return nil, bad("holds control or text-direction characters")
		}
		return v, nil
	case Enum:
		if !slices.Contains(spec.Values, v) {
			return nil, bad("%q is not one of: %s", v, strings.Join(spec.Values, ", "))
		}
		return v, nil
	case Date:
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return nil, bad("%q is not a date in the form YYYY-MM-DD", v)
		}
		return v, nil
	case Bool, Set:
		switch strings.ToLower(v) {
		case "true", "yes", "1":
			return true, nil
		case "false", "no", "0":
			return false, nil
		}
		return nil, bad("%q is not true or false", v)
	case Subject:
		if !subjectRe.MatchString(v) || !strings.ContainsAny(v, "0123456789") {
			return nil, bad("must be a pseudonymous code such as S-7K3Q (capital letters, digits and '-', with at least one digit), never a name")
		}
		return v, nil
	}
	panic("bug: unknown field type")
}

// Languages are the directory's languages, in the default fallback order.
var Languages = []string{"en", "fr", "iu"}

// LangOrder is the order in which a per-language field's languages are
// tried for a reader who wants lang: lang first, then the others in the
// default order.
func LangOrder(lang string) []string {
	out := []string{}
	if lang != "" {
		out = append(out, lang)
	}
	for _, l := range Languages {
		if l != lang {
			out = append(out, l)
		}
	}
	return out
}

// Text is the value of a per-language field (name, intake, notes) in the
// first language of LangOrder(lang) that has one, and that language; ""
// when none has.
func (r *Record) Text(top, lang string) (string, string) {
	for _, l := range LangOrder(lang) {
		if v := r.Get(top + "/" + l); v != "" {
			return v, l
		}
	}
	for _, f := range r.Fields {
		if t, l, ok := strings.Cut(f.Path, "/"); ok && t == top {
			return fmt.Sprint(f.Value), l
		}
	}
	return "", ""
}
