package syncproto

import (
	"cmp"
	"slices"
)

// FieldView is one field of a record as people read it.
type FieldView struct {
	Field string
	Kind  Kind
	// Current is the field's value: the newest kept entry by
	// (time, author, hash).
	Current Entry
	// Siblings are the other kept entries of a value field, newest first.
	// They are concurrent with Current: nobody who wrote has seen them. A
	// field with siblings is in conflict until someone writes over them.
	Siblings []Entry
	// Parts are the per-author entries of a tally field, and Total their
	// sum.
	Parts []Entry
	Total uint64
}

// Conflict reports whether the field has concurrent values.
func (f *FieldView) Conflict() bool { return len(f.Siblings) > 0 }

// All is every kept entry of the field: Current and its siblings, or the
// tally's parts.
func (f *FieldView) All() []Entry {
	if f.Kind == KindTally {
		return f.Parts
	}
	return append([]Entry{f.Current}, f.Siblings...)
}

// RecordView is a record read as one document.
type RecordView struct {
	Collection string
	ID         RecordID
	// Tombstone is set when the record is deleted; then Fields is empty.
	Tombstone *Entry
	Fields    []FieldView // ordered by field path
}

// Field returns the view of one field, or nil.
func (r *RecordView) Field(path string) *FieldView {
	i, ok := slices.BinarySearchFunc(r.Fields, path, func(f FieldView, p string) int { return cmp.Compare(f.Field, p) })
	if !ok {
		return nil
	}
	return &r.Fields[i]
}

// Fold reads the kept entries of one record (as Store.Record returns them)
// as a document.
func Fold(collection string, id RecordID, entries []Entry) RecordView {
	rv := RecordView{Collection: collection, ID: id}
	byField := map[string][]Held{}
	for i := range entries {
		e := entries[i]
		if e.Kind == KindTombstone {
			rv.Tombstone = &e
			continue
		}
		byField[e.Field] = append(byField[e.Field], Held{Hash: e.Hash(), Entry: e})
	}
	if rv.Tombstone != nil {
		return rv
	}
	for field, hs := range byField {
		slices.SortFunc(hs, func(a, b Held) int {
			if newer(&a.Entry, a.Hash, &b.Entry, b.Hash) {
				return -1
			}
			return 1
		})
		fv := FieldView{Field: field, Kind: hs[0].Entry.Kind, Current: hs[0].Entry}
		var rest []Entry
		for _, h := range hs[1:] {
			rest = append(rest, h.Entry)
		}
		if fv.Kind == KindTally {
			fv.Parts = append([]Entry{fv.Current}, rest...)
			for i := range fv.Parts {
				n, _ := TallyCount(&fv.Parts[i])
				fv.Total += n
			}
		} else {
			fv.Siblings = rest
		}
		rv.Fields = append(rv.Fields, fv)
	}
	slices.SortFunc(rv.Fields, func(a, b FieldView) int { return cmp.Compare(a.Field, b.Field) })
	return rv
}
