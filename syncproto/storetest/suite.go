package storetest

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
)

// Factory opens stores for the suite. Reopen, if set, closes a store and
// opens it again on the same data, to check that state survives.
type Factory struct {
	New    func(t *testing.T) sp.Store
	Reopen func(t *testing.T, s sp.Store) sp.Store
}

// Run is the conformance suite every syncproto.Store must pass.
func Run(t *testing.T, f Factory) {
	t.Run("ApplyGetRecord", func(t *testing.T) { testApplyGet(t, f) })
	t.Run("DuplicatesAreIdempotent", func(t *testing.T) { testDuplicates(t, f) })
	t.Run("ConcurrentWritesAreSiblings", func(t *testing.T) { testConcurrent(t, f) })
	t.Run("TombstoneDestroysRecord", func(t *testing.T) { testTombstone(t, f) })
	t.Run("TalliesPerAuthor", func(t *testing.T) { testTally(t, f) })
	t.Run("RecordsListing", func(t *testing.T) { testRecords(t, f) })
	t.Run("SyncOrder", func(t *testing.T) { testSyncOrder(t, f) })
	t.Run("MatchesReference", func(t *testing.T) { testMatchesReference(t, f) })
	if f.Reopen != nil {
		t.Run("SurvivesReopen", func(t *testing.T) { testReopen(t, f) })
	}
}

var ctx = context.Background()

func apply(t *testing.T, s sp.Store, es ...sp.Entry) sp.ApplyResult {
	t.Helper()
	r, err := s.ApplyVerified(ctx, es)
	if err != nil {
		t.Fatalf("ApplyVerified: %v", err)
	}
	return r
}

func view(t *testing.T, s sp.Store, coll string, id sp.RecordID) sp.RecordView {
	t.Helper()
	es, err := s.Record(ctx, coll, id)
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	return sp.Fold(coll, id, es)
}

func testApplyGet(t *testing.T, f Factory) {
	s := f.New(t)
	a := NewDevice(1)
	id := sp.NewRecordID()
	e1 := a.Set("directory", id, "name/en", "Kamatsiaqtut Help Line")
	e2 := a.Set("directory", id, "phone", "1-800-265-3333")
	if r := apply(t, s, e1, e2); r.Added != 2 {
		t.Fatalf("added %d, want 2", r.Added)
	}
	got, err := s.Get(ctx, e1.Hash())
	if err != nil || !bytes.Equal(got.Encode(), e1.Encode()) {
		t.Fatalf("Get returned %v, %v; want the entry back byte for byte", got, err)
	}
	if _, err := s.Get(ctx, sp.EntryHash{1}); !errors.Is(err, sp.ErrNotFound) {
		t.Fatalf("Get of a missing hash: %v, want ErrNotFound", err)
	}
	if _, err := s.Record(ctx, "directory", sp.NewRecordID()); !errors.Is(err, sp.ErrNotFound) {
		t.Fatalf("Record of a missing record: %v, want ErrNotFound", err)
	}
	rv := view(t, s, "directory", id)
	if f := rv.Field("phone"); f == nil || string(f.Current.Value) != string(e2.Value) {
		t.Fatalf("phone field not read back: %+v", rv)
	}
	sum, _ := s.Summary(ctx)
	if sum.Digest.Count != 2 || sum.LastWrite != e2.Time {
		t.Fatalf("summary %+v, want 2 entries, last write %v", sum, e2.Time)
	}
	// A later write to the same field by the same device replaces it.
	e3 := a.Set("directory", id, "phone", "867-979-3333")
	if r := apply(t, s, e3); r.Added != 1 || r.Pruned != 1 {
		t.Fatalf("overwrite: %+v, want 1 added and 1 pruned", r)
	}
	rv = view(t, s, "directory", id)
	if f := rv.Field("phone"); f.Conflict() || string(f.Current.Value) != string(e3.Value) {
		t.Fatalf("overwrite not read back or reported as a conflict: %+v", f)
	}
}

func testDuplicates(t *testing.T, f Factory) {
	s := f.New(t)
	a := NewDevice(1)
	id := sp.NewRecordID()
	e := a.Set("outreach", id, "community", "Pangnirtung")
	apply(t, s, e)
	before, _ := s.Summary(ctx)
	r := apply(t, s, e, e)
	if r.Added != 0 || r.Dropped[sp.Duplicate] != 2 {
		t.Fatalf("re-applying: %+v, want two duplicates", r)
	}
	after, _ := s.Summary(ctx)
	if before.Digest != after.Digest {
		t.Fatal("state changed when the same entry was applied again")
	}
}

func testConcurrent(t *testing.T, f Factory) {
	s := f.New(t)
	a, b := NewDevice(1), NewDevice(2)
	id := sp.NewRecordID()
	base := a.Set("directory", id, "hours", "9-5")
	b.Receive([]sp.Entry{base})
	ea := a.Set("directory", id, "hours", "24/7")
	b.Tick(1)
	eb := b.Set("directory", id, "hours", "weekdays")
	apply(t, s, base, ea, eb)
	rv := view(t, s, "directory", id)
	fv := rv.Field("hours")
	if fv == nil || len(fv.All()) != 2 {
		t.Fatalf("concurrent writes: got %+v, want both kept", fv)
	}
	want := ea
	if sp.Newer(&eb, &ea) {
		want = eb
	}
	if fv.Current.Hash() != want.Hash() {
		t.Fatal("the field's value is not the newest by (time, author, hash)")
	}
	// A write that has seen both resolves the conflict.
	a.Receive([]sp.Entry{eb})
	fix := a.Set("directory", id, "hours", "24/7 (resolved)")
	if r := apply(t, s, fix); r.Pruned != 2 {
		t.Fatalf("resolving write pruned %d, want 2", r.Pruned)
	}
	if rv := view(t, s, "directory", id); rv.Field("hours").Conflict() {
		t.Fatal("conflict still reported after a resolving write")
	}
	// The superseded entries arriving again are dropped, not resurrected.
	if r := apply(t, s, ea, eb, base); r.Added != 0 || r.Dropped[sp.Superseded] != 3 {
		t.Fatalf("superseded entries re-applied: %+v", r)
	}
}

func testTombstone(t *testing.T, f Factory) {
	s := f.New(t)
	a, b := NewDevice(1), NewDevice(2)
	id := sp.NewRecordID()
	e1 := a.Set("outreach", id, "subject", "S-7K3Q")
	e2 := a.Set("outreach", id, "community", "Igloolik")
	apply(t, s, e1, e2)
	del := a.Delete("outreach", id)
	if r := apply(t, s, del); r.Pruned != 2 || r.Added != 1 {
		t.Fatalf("tombstone: %+v, want 2 pruned and 1 added", r)
	}
	// b never saw the delete, and writes later.
	b.Tick(1e12)
	late := b.Set("outreach", id, "notes", "written after the delete")
	if r := apply(t, s, late, e1); r.Added != 0 || r.Dropped[sp.RecordDeleted] != 2 {
		t.Fatalf("entries for a deleted record: %+v, want both dropped", r)
	}
	es, err := s.Record(ctx, "outreach", id)
	if err != nil || len(es) != 1 || es[0].Kind != sp.KindTombstone {
		t.Fatalf("deleted record holds %v (%v), want its tombstone alone", es, err)
	}
	sum, _ := s.Summary(ctx)
	if sum.Digest.Count != 1 {
		t.Fatalf("store holds %d entries, want only the tombstone", sum.Digest.Count)
	}
	// A second, later tombstone changes nothing; an earlier one replaces it.
	b2 := b.Delete("outreach", id)
	if r := apply(t, s, b2); r.Added != 0 {
		t.Fatalf("a later tombstone was kept: %+v", r)
	}
}

func testTally(t *testing.T, f Factory) {
	s := f.New(t)
	a, b := NewDevice(1), NewDevice(2)
	id := sp.NewRecordID()
	apply(t, s, a.Count("outreach", id, "tally/contacts", 3), b.Count("outreach", id, "tally/contacts", 4))
	old := a.Count("outreach", id, "tally/contacts", 5)
	newer := a.Count("outreach", id, "tally/contacts", 7)
	apply(t, s, newer, old)
	rv := view(t, s, "outreach", id)
	fv := rv.Field("tally/contacts")
	if fv == nil || fv.Total != 11 || len(fv.Parts) != 2 {
		t.Fatalf("tally: %+v, want total 11 over 2 authors", fv)
	}
}

func testRecords(t *testing.T, f Factory) {
	s := f.New(t)
	a := NewDevice(1)
	ids := []sp.RecordID{{0x10, 1}, {0x20, 2}, {0x30, 3}}
	for _, id := range ids {
		apply(t, s, a.Set("directory", id, "kind", "hotline"))
	}
	apply(t, s, a.Set("outreach", sp.RecordID{0x15}, "kind", "phone"))
	apply(t, s, a.Delete("directory", ids[1]))
	var got []sp.RecordID
	var deleted []bool
	err := s.Records(ctx, "directory", sp.RecordID{0x11}, func(id sp.RecordID, del bool) error {
		got = append(got, id)
		deleted = append(deleted, del)
		return nil
	})
	if err != nil || len(got) != 2 || got[0] != ids[1] || got[1] != ids[2] || !deleted[0] || deleted[1] {
		t.Fatalf("Records from 0x11: %v %v %v", got, deleted, err)
	}
	stop := errors.New("stop")
	n := 0
	err = s.Records(ctx, "directory", sp.RecordID{}, func(sp.RecordID, bool) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Records did not stop at the callback's error: n=%d err=%v", n, err)
	}
}

func testSyncOrder(t *testing.T, f Factory) {
	s := f.New(t)
	h := RandomHistory(rand.New(rand.NewPCG(7, 7)), 3, 10, 200)
	apply(t, s, h.Universe...)
	var keys []sp.SyncKey
	err := s.ScanSyncOrder(ctx, nil, func(k sp.SyncKey, e sp.Entry) error {
		if k != sp.MakeSyncKey(e.Time, e.Hash()) {
			t.Fatal("scan key does not match its entry")
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := s.Summary(ctx)
	if uint64(len(keys)) != sum.Digest.Count {
		t.Fatalf("scan saw %d entries, summary says %d", len(keys), sum.Digest.Count)
	}
	for i := 1; i < len(keys); i++ {
		if bytes.Compare(keys[i-1][:], keys[i][:]) >= 0 {
			t.Fatal("scan is not in (time, hash) order")
		}
	}
	mid := keys[len(keys)/2]
	n := 0
	_ = s.ScanSyncOrder(ctx, &mid, func(k sp.SyncKey, _ sp.Entry) error {
		if bytes.Compare(k[:], mid[:]) <= 0 {
			t.Fatal("scan after a key returned that key or an earlier one")
		}
		n++
		return nil
	})
	if n != len(keys)-len(keys)/2-1 {
		t.Fatalf("scan after the middle saw %d, want %d", n, len(keys)-len(keys)/2-1)
	}
}

func testMatchesReference(t *testing.T, f Factory) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		h := RandomHistory(rng, 4, 8, 300)
		s := f.New(t)
		ref := sp.NewMemStore()
		es := append([]sp.Entry(nil), h.Universe...)
		rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
		for len(es) > 0 {
			n := min(len(es), 1+rng.IntN(40))
			apply(t, s, es[:n]...)
			if _, err := ref.ApplyVerified(ctx, es[:n]); err != nil {
				t.Fatal(err)
			}
			es = es[n:]
		}
		got, _ := s.Summary(ctx)
		want, _ := ref.Summary(ctx)
		if got.Digest != want.Digest {
			t.Fatalf("seed %d: store digest %+v, reference %+v", seed, got.Digest, want.Digest)
		}
		var dump bytes.Buffer
		for _, e := range All(s) {
			dump.Write(e.Encode())
		}
		if !bytes.Equal(dump.Bytes(), ref.Dump()) {
			t.Fatalf("seed %d: store state differs from the reference", seed)
		}
	}
}

func testReopen(t *testing.T, f Factory) {
	s := f.New(t)
	h := RandomHistory(rand.New(rand.NewPCG(3, 3)), 3, 6, 150)
	apply(t, s, h.Universe...)
	before, _ := s.Summary(ctx)
	beforeAll := All(s)
	s = f.Reopen(t, s)
	after, _ := s.Summary(ctx)
	if before != after {
		t.Fatalf("summary changed across reopen: %+v -> %+v", before, after)
	}
	afterAll := All(s)
	if len(afterAll) != len(beforeAll) {
		t.Fatalf("%d entries before reopen, %d after", len(beforeAll), len(afterAll))
	}
	for i := range afterAll {
		if !bytes.Equal(afterAll[i].Encode(), beforeAll[i].Encode()) {
			t.Fatal("an entry changed across reopen")
		}
	}
}
