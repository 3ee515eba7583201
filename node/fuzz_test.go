package node

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	sp "github.com/floe-north/floe/syncproto"
)

// changeSeeds are changes as people type them on the command line, and
// near misses of each kind of field.
var changeSeeds = []string{
	// The README's examples.
	"name=Kamatsiaqtut Help Line", "kind=hotline", "phone=1-800-265-3333", "hours=24/7",
	"languages=en,iu", "date=2026-11-24", "community=Igloolik", "contact=phone",
	"subject=S-7K3Q", "referred_to=Kamatsiaqtut Help Line",
	// Per-language and set fields.
	"name/iu=ᑲᒪᑦᓯᐊᖅᑐᑦ", "name/fr=Ligne d'écoute", "name/sr-Latn=x", "name/EN=x", "name/=x",
	"languages+=fr", "languages-=iu", "languages=", "languages= en , fr ,,en",
	"languages/iu=true", "languages/iu=no", "languages/iu=", "tags/ᐃᓄᒃᑎᑐᑦ=yes",
	"tags/" + strings.Repeat("ᐃ", 32) + "=true", "tags/a.b_c-d=1", "tags/-a=1", "tags/a b=1",
	"tags=" + strings.Repeat("ᐃ", 32) + ",b",
	// Elements near syncproto.MaxFieldLen (128 bytes): a letter outside the
	// Basic Multilingual Plane takes 4 bytes.
	"languages/" + strings.Repeat("𐐀", 29) + "=true", "tags=" + strings.Repeat("𝐀", 30),
	// Text limits and control characters.
	"notes=" + strings.Repeat("ᐃ", 4000), "notes=" + strings.Repeat("a", 4001),
	"notes=line one\nline two\tend", "notes=bell\a", "notes=\xff\xfe", "intake=del\x7f",
	"location=12 Hidden Road", "location/x=1",
	// Enums, dates, booleans, subjects.
	"kind=Hotline", "kind=", "contact=in-person", "urgent=TRUE", "urgent=Yes", "urgent=2",
	"follow_up=2026-02-30", "follow_up=2026-2-3", "date=0000-01-01", "date=2026-11-24T00:00:00Z",
	"subject=s-7k3q", "subject=S-KQ", "subject=Jane Doe", "subject=S-7K3Q\n", "subject=S", "subject=-7",
	"subject=" + strings.Repeat("S", 15) + "7",
	// Not changes, and unknown fields.
	"", "=", "=x", "+=x", "-=x", "name", "name+=x", "kind-=hotline", "a==b", "unknown=1",
	"name/en/x=1", "name//en=1", "\x00=1",
}

// FuzzParseChange feeds ParseChange text as a person types it, and then
// resolves the change against both collections' schemas and checks its
// value, as Add and Update do. Nothing may panic. What is accepted must be
// storable: paths pass syncproto.ValidateField, values encode with
// syncproto.EncodeValue and keep to the field's limits, a subject code
// holds no lowercase letter or space, and a sensitive field is never
// indexed.
func FuzzParseChange(f *testing.F) {
	for _, s := range changeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		c, err := ParseChange(arg)
		if err != nil {
			return
		}
		suffix := map[Op]string{OpSet: "", OpAdd: "+", OpRemove: "-"}[c.Op]
		if again := c.Field + suffix + "=" + c.Value; again != arg {
			t.Fatalf("ParseChange(%q) = %+v, which reads back as %q", arg, c, again)
		}
		for _, coll := range []string{Directory, Outreach} {
			schema, err := SchemaFor(coll)
			if err != nil {
				t.Fatal(err)
			}
			checkResolved(t, schema, c)
			checkWrites(t, schema, c)
			checkIndexed(t, schema, c)
		}
	})
}

// checkIndexed gives IndexText an entry such as a peer might send, with the
// change's field and value: raw, and encoded as a text value. Only
// searchable, non-sensitive directory fields may be indexed.
func checkIndexed(t *testing.T, schema *Schema, c Change) {
	t.Helper()
	enc, err := sp.EncodeValue(c.Value)
	if err != nil {
		enc = nil
	}
	_, spec, rerr := schema.ResolvePath(c.Field)
	for _, v := range [][]byte{[]byte(c.Value), enc} {
		e := sp.Entry{Collection: schema.Collection, Kind: sp.KindValue, Field: c.Field, Value: v}
		text := IndexText(&e)
		if text == "" {
			continue
		}
		if schema.Collection != Directory || rerr != nil || spec.Sensitive || !spec.Searchable {
			t.Fatalf("%s: IndexText indexed %q for field %q", schema.Collection, text, c.Field)
		}
	}
}

// checkResolved checks one change's path and value, one at a time.
func checkResolved(t *testing.T, schema *Schema, c Change) {
	t.Helper()
	coll := schema.Collection
	path, spec, err := schema.ResolvePath(c.Field)
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: ResolvePath(%q) error %q is not a FieldError", coll, c.Field, err)
		}
		return
	}
	if err := sp.ValidateField(path); err != nil {
		t.Fatalf("%s: ResolvePath(%q) accepted the path %q, which syncproto refuses: %v", coll, c.Field, path, err)
	}
	again, spec2, err := schema.ResolvePath(path)
	if err != nil || again != path || spec2 != spec {
		t.Fatalf("%s: the canonical path %q resolves again as %q, %v", coll, path, again, err)
	}
	if top, _, _ := strings.Cut(path, "/"); top != spec.Name {
		t.Fatalf("%s: path %q resolved to the spec of %q", coll, path, spec.Name)
	}
	v, err := spec.CheckValue(coll, path, c.Value)
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: CheckValue(%q, %q) error %q is not a FieldError", coll, path, c.Value, err)
		}
		return
	}
	checkValue(t, coll, path, spec, v)
}

// checkValue checks a value CheckValue accepted for the field spec.
func checkValue(t *testing.T, coll, path string, spec *FieldSpec, v any) {
	t.Helper()
	b, err := sp.EncodeValue(v)
	if err != nil {
		t.Fatalf("%s %s: accepted the value %#v, which does not encode: %v", coll, path, v, err)
	}
	if err := sp.CheckValue(b); err != nil {
		t.Fatalf("%s %s: the encoding of %#v fails CheckValue: %v", coll, path, v, err)
	}
	switch spec.Type {
	case Bool, Set:
		if _, ok := v.(bool); !ok {
			t.Fatalf("%s %s: a %v field's value is %T, not a bool", coll, path, spec.Type, v)
		}
		return
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s %s: value is %T, not a string", coll, path, v)
	}
	if !utf8.ValidString(s) {
		t.Fatalf("%s %s: accepted invalid UTF-8 %q", coll, path, s)
	}
	if spec.MaxLen > 0 && utf8.RuneCountInString(s) > spec.MaxLen {
		t.Fatalf("%s %s: accepted %d characters, over the limit of %d", coll, path, utf8.RuneCountInString(s), spec.MaxLen)
	}
	switch spec.Type {
	case Text:
		if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' }) {
			t.Fatalf("%s %s: accepted control characters in %q", coll, path, s)
		}
	case Enum:
		found := false
		for _, e := range spec.Values {
			found = found || e == s
		}
		if !found {
			t.Fatalf("%s %s: accepted %q, which is not one of %v", coll, path, s, spec.Values)
		}
	case Date:
		if len(s) != len("2006-01-02") {
			t.Fatalf("%s %s: accepted the date %q", coll, path, s)
		}
	case Subject:
		if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsLower(r) || unicode.IsSpace(r) }) {
			t.Fatalf("%s %s: accepted the subject code %q, which holds a lowercase letter or a space", coll, path, s)
		}
		if !strings.ContainsAny(s, "0123456789") || len(s) > 16 {
			t.Fatalf("%s %s: accepted the subject code %q", coll, path, s)
		}
	}
}

// checkWrites checks the entries Add would write for the change (sets given
// whole are split into elements there): each is storable, and a sensitive
// field's value is never indexed.
func checkWrites(t *testing.T, schema *Schema, c Change) {
	t.Helper()
	es, err := fieldWrites(schema, nil, []Change{c})
	if err != nil {
		return
	}
	for i := range es {
		e := &es[i]
		e.Collection = schema.Collection
		if err := sp.ValidateField(e.Field); err != nil {
			t.Fatalf("%s: the change %+v writes field %q, which syncproto refuses: %v", schema.Collection, c, e.Field, err)
		}
		if err := sp.CheckValue(e.Value); err != nil {
			t.Fatalf("%s: the change %+v writes a value syncproto refuses: %v", schema.Collection, c, err)
		}
		_, spec, err := schema.ResolvePath(e.Field)
		if err != nil {
			t.Fatalf("%s: the change %+v writes field %q, which does not resolve: %v", schema.Collection, c, e.Field, err)
		}
		v, err := sp.DecodeValue(e.Value)
		if err != nil {
			t.Fatalf("%s: a written value does not decode: %v", schema.Collection, err)
		}
		checkValue(t, schema.Collection, e.Field, spec, v)
		if spec.Sensitive && IndexText(e) != "" {
			t.Fatalf("%s: the sensitive field %q is indexed", schema.Collection, e.Field)
		}
	}
}
