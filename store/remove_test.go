package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

// keptHashes is the set of hashes a store keeps, from a full scan.
func keptHashes(t testing.TB, s *Store) map[sp.EntryHash]sp.Entry {
	t.Helper()
	out := map[sp.EntryHash]sp.Entry{}
	err := s.ScanSyncOrder(ctx, nil, func(k sp.SyncKey, e sp.Entry) error {
		out[k.Hash()] = e
		return nil
	})
	if err != nil {
		t.Fatalf("ScanSyncOrder: %v", err)
	}
	return out
}

func conflictSet(t testing.TB, s *Store) map[conflictRow]bool {
	t.Helper()
	out := map[conflictRow]bool{}
	err := s.Conflicts(ctx, func(coll string, id sp.RecordID, field string) error {
		out[conflictRow{coll, id, field}] = true
		return nil
	})
	if err != nil {
		t.Fatalf("Conflicts: %v", err)
	}
	return out
}

// checkConverged checks that s holds exactly what a fresh store holds
// after applying only want: the same digest, and the same rows under
// every data prefix (tags differ between stores, keys must not). Then it
// checks that s passes Verify and a full SyncKeys scan.
func checkConverged(t *testing.T, s *Store, want map[sp.EntryHash]sp.Entry) {
	t.Helper()
	if got := keptHashes(t, s); len(got) != len(want) {
		t.Fatalf("store keeps %d entries, want %d", len(got), len(want))
	}
	fresh := newStore(t, testOptions())
	es := make([]sp.Entry, 0, len(want))
	for _, e := range want {
		es = append(es, e)
	}
	if len(es) > 0 {
		if r := mustApply(t, fresh, es...); r.Added != len(es) {
			t.Fatalf("fresh store kept %d of the %d remaining entries", r.Added, len(es))
		}
	}
	gs, err := s.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := fresh.Summary(ctx)
	if gs.Digest != fs.Digest {
		t.Fatalf("digest after Remove %+v, fresh store with the remaining entries %+v", gs.Digest, fs.Digest)
	}
	for _, p := range []byte{prefixEntry, prefixRecord, prefixSync, prefixSearch, prefixConflict} {
		if !slices.EqualFunc(s.keys(t, p), fresh.keys(t, p), bytes.Equal) {
			t.Fatalf("the %q rows differ from those of a fresh store with the remaining entries", p)
		}
	}
	mustVerify(t, s)
	n := 0
	if err := s.SyncKeys(ctx, func(sp.SyncKey) error { n++; return nil }); err != nil {
		t.Fatalf("SyncKeys: %v", err)
	}
	if n != len(want) {
		t.Fatalf("SyncKeys listed %d keys, want %d", n, len(want))
	}
}

func TestRemove(t *testing.T) {
	a, b, c := storetest.NewDevice(1), storetest.NewDevice(2), storetest.NewDevice(3)
	rec1, rec2, rec3 := sp.RecordID{1}, sp.RecordID{2}, sp.RecordID{3}
	const dir = "directory"

	// rec1: values, a set element, and a two-way conflict on community.
	keep1 := []sp.Entry{
		a.Set(dir, rec1, "name/en", "Iqaluit Crisis Line"),
		a.Set(dir, rec1, "phone", "867-979-3333"),
		a.Set(dir, rec1, "languages/iu", true),
		a.Set(dir, rec1, "community", "Iqaluit"),
	}
	descr := b.Set(dir, rec1, "description", "Qikiqtarjuaq outreach")
	comm := b.Set(dir, rec1, "community", "Pangnirtung")
	// rec2: a three-way conflict on name/en that stays a conflict with
	// two left, a set element and a tally.
	keep2 := []sp.Entry{
		a.Set(dir, rec2, "name/en", "Nunavut Arctic College"),
		b.Set(dir, rec2, "name/en", "Arctic College"),
	}
	name3 := c.Set(dir, rec2, "name/en", "Nunatta Campus")
	lang := b.Set(dir, rec2, "languages/iu", true)
	tally := b.Count(dir, rec2, "tally/contacts", 4)
	// rec3: a value that a tombstone prunes, then the tombstone.
	pruned := a.Set(dir, rec3, "name/en", "Old shelter")
	tomb := a.Delete(dir, rec3)

	all := append(append([]sp.Entry{}, keep1...), descr, comm)
	all = append(all, keep2...)
	all = append(all, name3, lang, tally, pruned, tomb)
	s := newStore(t, testOptions())
	mustApply(t, s, all...)

	// What the test relies on, before the removal.
	if ids, _ := s.Search(ctx, "qikiqtarjuaq", 0); len(ids) != 1 {
		t.Fatalf("before Remove, search found %v", ids)
	}
	wantConf := map[conflictRow]bool{{dir, rec1, "community"}: true, {dir, rec2, "name/en"}: true}
	if got := conflictSet(t, s); !mapsEqual(got, wantConf) {
		t.Fatalf("before Remove, conflicts %v, want %v", got, wantConf)
	}
	if es, err := s.Record(ctx, dir, rec3); err != nil || len(es) != 1 || es[0].Kind != sp.KindTombstone {
		t.Fatalf("before Remove, record 3 is %v, %v", es, err)
	}
	before, _ := s.Summary(ctx)

	gone := []sp.Entry{descr, comm, name3, lang, tally, tomb}
	var hashes []sp.EntryHash
	for _, e := range gone {
		hashes = append(hashes, e.Hash())
	}
	// A repeat, a pruned entry and an entry never applied are ignored.
	never := c.Set(dir, rec1, "phone", "0")
	hashes = append(hashes, descr.Hash(), pruned.Hash(), never.Hash())
	n, err := s.Remove(ctx, hashes)
	if err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if n != len(gone) {
		t.Fatalf("Remove removed %d, want %d", n, len(gone))
	}

	for _, e := range gone {
		if _, err := s.Get(ctx, e.Hash()); !errors.Is(err, sp.ErrNotFound) {
			t.Fatalf("Get of a removed %s entry (field %q): %v, want ErrNotFound", e.Kind, e.Field, err)
		}
	}
	checkRecord := func(id sp.RecordID, want []sp.Entry) {
		t.Helper()
		es, err := s.Record(ctx, dir, id)
		if err != nil {
			t.Fatalf("Record %s: %v", id.Short(), err)
		}
		var got, exp []sp.EntryHash
		for i := range es {
			got = append(got, es[i].Hash())
		}
		for i := range want {
			exp = append(exp, want[i].Hash())
		}
		slices.SortFunc(got, sp.EntryHash.Compare)
		slices.SortFunc(exp, sp.EntryHash.Compare)
		if !slices.Equal(got, exp) {
			t.Fatalf("record %s holds %d entries after Remove, want %d, or others", id.Short(), len(got), len(exp))
		}
	}
	checkRecord(rec1, keep1)
	checkRecord(rec2, keep2)
	if es, err := s.Record(ctx, dir, rec3); !errors.Is(err, sp.ErrNotFound) {
		t.Fatalf("record 3 after its tombstone was removed: %d entries, %v; want ErrNotFound", len(es), err)
	}
	var listed []sp.RecordID
	err = s.Records(ctx, dir, sp.RecordID{}, func(id sp.RecordID, deleted bool) error {
		if deleted {
			t.Errorf("record %s listed as deleted", id.Short())
		}
		listed = append(listed, id)
		return nil
	})
	if err != nil || !slices.Equal(listed, []sp.RecordID{rec1, rec2}) {
		t.Fatalf("Records lists %v, %v; want records 1 and 2", listed, err)
	}

	if ids, err := s.Search(ctx, "qikiqtarjuaq", 0); err != nil || len(ids) != 0 {
		t.Fatalf("search for a removed entry's term: %v, %v", ids, err)
	}
	if ids, err := s.Search(ctx, "nunatta", 0); err != nil || len(ids) != 0 {
		t.Fatalf("search for a removed conflict sibling's term: %v, %v", ids, err)
	}
	if ids, err := s.Search(ctx, "crisis", 0); err != nil || !slices.Equal(ids, []sp.RecordID{rec1}) {
		t.Fatalf("search for a kept term: %v, %v", ids, err)
	}
	wantConf = map[conflictRow]bool{{dir, rec2, "name/en"}: true}
	if got := conflictSet(t, s); !mapsEqual(got, wantConf) {
		t.Fatalf("conflicts after Remove %v, want %v", got, wantConf)
	}

	remaining := map[sp.EntryHash]sp.Entry{}
	for _, e := range append(append([]sp.Entry{}, keep1...), keep2...) {
		remaining[e.Hash()] = e
	}
	after, _ := s.Summary(ctx)
	if after.Digest == before.Digest {
		t.Fatal("Remove did not change the digest")
	}
	if after.LastWrite != before.LastWrite {
		t.Fatalf("Remove changed LastWrite from %v to %v", before.LastWrite, after.LastWrite)
	}
	checkConverged(t, s, remaining)

	s = reopen(t, s)
	checkConverged(t, s, remaining)
	// The store goes on working: a removed entry can be applied again.
	if r := mustApply(t, s, comm); r.Added != 1 {
		t.Fatalf("applying a removed entry again: %+v", r)
	}
	remaining[comm.Hash()] = comm
	checkConverged(t, s, remaining)
	if got := conflictSet(t, s); !got[conflictRow{dir, rec1, "community"}] {
		t.Fatal("the conflict did not come back with its sibling")
	}
}

func mapsEqual[K comparable](a, b map[K]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Removing hashes the store does not hold writes nothing.
func TestRemoveUnknownIsNoOp(t *testing.T) {
	a, b := storetest.NewDevice(1), storetest.NewDevice(2)
	id := sp.RecordID{7}
	old := a.Set("directory", id, "name/en", "Kimmirut Health Centre")
	cur := a.Set("directory", id, "name/en", "Kimmirut Health Centre (Qaqqalik)")
	s := newStore(t, testOptions())
	mustApply(t, s, old, cur, a.Set("directory", id, "phone", "867-939-2217"))
	before, _ := s.Summary(ctx)
	never := b.Set("directory", id, "phone", "0")
	version := s.db.MaxVersion()
	for _, hashes := range [][]sp.EntryHash{
		nil,
		{},
		{{0xde, 0xad}, {0xbe, 0xef}},
		// pruned by cur, and never applied
		{old.Hash(), never.Hash()},
	} {
		n, err := s.Remove(ctx, hashes)
		if err != nil || n != 0 {
			t.Fatalf("Remove(%d unknown hashes) = %d, %v; want 0, nil", len(hashes), n, err)
		}
	}
	if after, _ := s.Summary(ctx); after != before {
		t.Fatalf("summary changed: %+v, was %+v", after, before)
	}
	if v := s.db.MaxVersion(); v != version {
		t.Fatalf("Remove of unknown hashes committed (badger version %d, was %d)", v, version)
	}
	if _, err := s.Get(ctx, cur.Hash()); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, s)
}

// Removing many entries takes several transactions, which Remove must
// split (and, with transactions overfilled, redo) without losing
// consistency.
func TestRemoveAcrossTransactions(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 3))
	// About 600 of these fill a transaction when applied.
	es := signed(9, randomIDs(rng, 1000), func(i int) [][2]string {
		return [][2]string{
			{"name/en", fmt.Sprintf("Community Health Centre number %d of the region, open weekdays", i)},
			{"name/fr", fmt.Sprintf("Centre de santé communautaire numéro %d", i)},
		}
	})
	for _, fill := range []int64{0, txnFillPercent, 1000} {
		t.Run(fmt.Sprintf("fill=%d%%", fill), func(t *testing.T) {
			defer func(old int64) { txnFillPercent = old }(txnFillPercent)
			s := newStore(t, testOptions())
			mustApply(t, s, es...)
			// Remove most of it: every name/en, and name/fr of two
			// records in three.
			txnFillPercent = fill
			var hashes []sp.EntryHash
			remaining := map[sp.EntryHash]sp.Entry{}
			for i, e := range es {
				if fill == 0 && i >= 100 {
					// One transaction per entry: a few are enough.
					remaining[e.Hash()] = e
					continue
				}
				if e.Field == "name/en" || (i/2)%3 != 0 {
					hashes = append(hashes, e.Hash())
				} else {
					remaining[e.Hash()] = e
				}
			}
			version := s.db.MaxVersion()
			n, err := s.Remove(ctx, hashes)
			if err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if n != len(hashes) {
				t.Fatalf("removed %d, want %d", n, len(hashes))
			}
			if commits := s.db.MaxVersion() - version; commits < 2 {
				t.Fatalf("Remove of %d entries committed %d transaction(s); the test wants several", n, commits)
			}
			txnFillPercent = 75
			checkConverged(t, s, remaining)
		})
	}
}

// cancelAfter is a context whose Err reports cancellation from its nth
// call on.
type cancelAfter struct {
	context.Context
	calls, n atomic.Int64
}

func (c *cancelAfter) Err() error {
	if c.calls.Add(1) >= c.n.Load() {
		return context.Canceled
	}
	return nil
}

// A Remove cancelled between transactions keeps what it committed, and the
// store is consistent.
func TestRemoveCancelled(t *testing.T) {
	defer func(old int64) { txnFillPercent = old }(txnFillPercent)
	a := storetest.NewDevice(1)
	var es []sp.Entry
	for i := range 6 {
		es = append(es, a.Set("directory", sp.RecordID{byte(i + 1)}, "name/en", fmt.Sprintf("Shelter %d", i)))
	}
	s := newStore(t, testOptions())
	mustApply(t, s, es...)

	done, cancel := context.WithCancel(ctx)
	cancel()
	if n, err := s.Remove(done, []sp.EntryHash{es[0].Hash()}); !errors.Is(err, context.Canceled) || n != 0 {
		t.Fatalf("Remove with a cancelled context: %d, %v", n, err)
	}
	if _, err := s.Get(ctx, es[0].Hash()); err != nil {
		t.Fatalf("Remove with a cancelled context removed an entry: %v", err)
	}

	// One entry per transaction; cancelled after a few.
	txnFillPercent = 0
	c := &cancelAfter{Context: ctx}
	c.n.Store(4)
	var hashes []sp.EntryHash
	for _, e := range es {
		hashes = append(hashes, e.Hash())
	}
	n, err := s.Remove(c, hashes)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Remove: %v, want context.Canceled", err)
	}
	if n == 0 || n >= len(es) {
		t.Fatalf("Remove removed %d of %d before the cancellation; the test wants some", n, len(es))
	}
	remaining := map[sp.EntryHash]sp.Entry{}
	for i, e := range es {
		_, err := s.Get(ctx, e.Hash())
		switch {
		case i < n && !errors.Is(err, sp.ErrNotFound):
			t.Fatalf("entry %d: %v, want removed", i, err)
		case i >= n && err != nil:
			t.Fatalf("entry %d: %v, want kept", i, err)
		}
		if i >= n {
			remaining[e.Hash()] = e
		}
	}
	txnFillPercent = 75
	checkConverged(t, s, remaining)
}
