package store

import (
	"testing"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

// When the indexing policy changes (a field becomes searchable, or stops
// being: made sensitive), the next open rebuilds the search index, so that
// search follows the new policy and pruning removes what was indexed.
func TestIndexRebuiltWhenPolicyChanges(t *testing.T) {
	opts := testOptions()
	opts.IndexVersion = "names-only"
	s := newStore(t, opts)
	dir := s.Dir()
	d := storetest.NewDevice(1)
	id := sp.NewRecordID()
	mustApply(t, s,
		d.Set("directory", id, "name/en", "Example Clinic"),
		d.Set("directory", id, "notes", "walk-in tuesdays"))
	if got := search(t, s, "tuesdays"); len(got) != 0 {
		t.Fatal("notes were searchable before the policy said so")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	withNotes := opts
	withNotes.IndexVersion = "names-and-notes"
	withNotes.IndexText = func(e *sp.Entry) string {
		if e.Field == "notes" {
			v, _ := sp.DecodeValue(e.Value)
			s, _ := v.(string)
			return s
		}
		return directoryText(e)
	}
	s2, err := Open(ctx, dir, testPass, withNotes)
	if err != nil {
		t.Fatal(err)
	}
	if got := search(t, s2, "tuesdays"); len(got) != 1 || got[0] != id {
		t.Fatalf("after the policy gained notes, search found %v", got)
	}
	mustVerify(t, s2)
	// Overwriting the note prunes its postings under the new policy.
	mustApply(t, s2, d.Set("directory", id, "notes", "walk-in fridays"))
	if got := search(t, s2, "tuesdays"); len(got) != 0 {
		t.Fatal("a pruned note is still found")
	}
	s2.Close()

	// Back to names only: the notes stop being findable.
	s3, err := Open(ctx, dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if got := search(t, s3, "fridays"); len(got) != 0 {
		t.Fatal("a field taken out of the index is still findable after reopening")
	}
	if got := search(t, s3, "clinic"); len(got) != 1 {
		t.Fatal("names are no longer found after the rebuild")
	}
	mustVerify(t, s3)
}
