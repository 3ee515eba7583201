package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

var ctx = context.Background()

// testKDF is the cheapest setting the floor allows, to keep tests fast.
var testKDF = KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}

var testPass = []byte("correct horse battery staple")

func TestMain(m *testing.M) {
	// Tests must not pay for the real defaults; BenchmarkOpen asks for
	// them explicitly.
	kdfDefaults = testKDF
	code := m.Run()
	cleanupBench()
	os.Exit(code)
}

// testOptions are the options of test stores: cheap KDF, plenty of
// "free space", and the directory index text.
func testOptions() Options {
	return Options{
		KDF:       &testKDF,
		IndexText: directoryText,
		FreeSpace: func(string) (uint64, error) { return 1 << 40, nil },
	}
}

// directoryText indexes the name and description fields of directory
// records, and nothing else.
func directoryText(e *sp.Entry) string {
	if e.Collection != "directory" {
		return ""
	}
	if !strings.HasPrefix(e.Field, "name/") && e.Field != "description" && e.Field != "community" {
		return ""
	}
	v, err := sp.DecodeValue(e.Value)
	if err != nil {
		return ""
	}
	s, _ := v.(string)
	return s
}

func newStore(t testing.TB, opts Options) *Store {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "node")
	s, err := Create(ctx, dir, testPass, opts)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func reopen(t testing.TB, s *Store) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := Open(ctx, s.Dir(), testPass, s.opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Factory{
		New: func(t *testing.T) sp.Store { return newStore(t, testOptions()) },
		Reopen: func(t *testing.T, s sp.Store) sp.Store {
			st := reopen(t, s.(*Store))
			if rep, err := st.Verify(ctx); err != nil {
				t.Fatalf("Verify after reopen: %v (%+v)", err, rep)
			}
			return st
		},
	})
}

// keys lists the badger keys with a prefix byte. Tests use it to look
// inside the store.
func (s *Store) keys(t testing.TB, prefix byte) [][]byte {
	t.Helper()
	var out [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			out = append(out, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustApply(t testing.TB, s sp.Store, es ...sp.Entry) sp.ApplyResult {
	t.Helper()
	r, err := s.ApplyVerified(ctx, es)
	if err != nil {
		t.Fatalf("ApplyVerified: %v", err)
	}
	return r
}

func mustVerify(t testing.TB, s *Store) VerifyReport {
	t.Helper()
	rep, err := s.Verify(ctx)
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, strings.Join(rep.Problems, "\n"))
	}
	return rep
}

// TestMatchesReferenceAcrossTransactions applies long histories in one
// call, so that the store commits several transactions per call, and once
// with every transaction overfilled, so that it must redo them; the result
// must match the in-memory reference either way.
func TestMatchesReferenceAcrossTransactions(t *testing.T) {
	for _, fill := range []int64{txnFillPercent, 1000} {
		t.Run(fmt.Sprintf("fill=%d%%", fill), func(t *testing.T) {
			defer func(old int64) { txnFillPercent = old }(txnFillPercent)
			txnFillPercent = fill
			s := newStore(t, testOptions())
			ref := sp.NewMemStore()
			rng := rand.New(rand.NewPCG(5, 5))
			h := storetest.RandomHistory(rng, 4, 30, 600)
			// About 600 of these fill a transaction.
			es := signed(7, randomIDs(rng, 1000), func(i int) [][2]string {
				return [][2]string{
					{"name/en", fmt.Sprintf("Community Health Centre number %d of the region, open weekdays", i)},
					{"name/fr", fmt.Sprintf("Centre de santé communautaire numéro %d", i)},
				}
			})
			es = append(es, h.Universe...)
			got := mustApply(t, s, es...)
			want, _ := ref.ApplyVerified(ctx, es)
			if got != want {
				t.Fatalf("apply result %+v, reference %+v", got, want)
			}
			gs, _ := s.Summary(ctx)
			ws, _ := ref.Summary(ctx)
			if gs != ws {
				t.Fatalf("summary %+v, reference %+v", gs, ws)
			}
			rep := mustVerify(t, s)
			if rep.SearchRows == 0 {
				t.Fatal("no search postings written")
			}
		})
	}
}

func TestGetMetaPutMeta(t *testing.T) {
	s := newStore(t, testOptions())
	if _, err := s.GetMeta("device.key"); !errors.Is(err, sp.ErrNotFound) {
		t.Fatalf("GetMeta of a missing row: %v, want ErrNotFound", err)
	}
	if err := s.PutMeta("device.key", []byte("secret-device-key")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta("store.state", []byte("x")); err == nil {
		t.Fatal("PutMeta of a reserved name succeeded")
	}
	s = reopen(t, s)
	v, err := s.GetMeta("device.key")
	if err != nil || string(v) != "secret-device-key" {
		t.Fatalf("GetMeta after reopen: %q, %v", v, err)
	}
	mustVerify(t, s)
}

// SyncKeys lists exactly the keys ScanSyncOrder does, in order, without the
// entries; and DeleteMeta removes a row for good.
func TestSyncKeysAndDeleteMeta(t *testing.T) {
	s := newStore(t, testOptions())
	h := storetest.RandomHistory(rand.New(rand.NewPCG(9, 9)), 3, 20, 300)
	mustApply(t, s, h.Universe...)
	var want, got []sp.SyncKey
	if err := s.ScanSyncOrder(ctx, nil, func(k sp.SyncKey, _ sp.Entry) error { want = append(want, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncKeys(ctx, func(k sp.SyncKey) error { got = append(got, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("SyncKeys gave %d keys, ScanSyncOrder %d, or another order", len(got), len(want))
	}
	if err := s.PutMeta("ack/x", []byte("summary")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMeta("ack/x"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMeta("ack/never-there"); err != nil {
		t.Fatalf("deleting a missing row: %v", err)
	}
	s = reopen(t, s)
	if _, err := s.GetMeta("ack/x"); !errors.Is(err, sp.ErrNotFound) {
		t.Fatalf("a deleted meta row came back: %v", err)
	}
	mustVerify(t, s)
}

func TestClosedStore(t *testing.T) {
	s := newStore(t, testOptions())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Summary(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Summary after Close: %v, want ErrClosed", err)
	}
	if _, err := s.ApplyVerified(ctx, []sp.Entry{storetest.NewDevice(1).Set("outreach", sp.NewRecordID(), "kind", "visit")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("ApplyVerified after Close: %v, want ErrClosed", err)
	}
}

// TestTamperedRows changes rows behind the store's back, the way damage
// that badger's checksums do not see would (or someone holding badger's
// key), and checks that each read reports ErrIntegrity.
func TestTamperedRows(t *testing.T) {
	a := storetest.NewDevice(1)
	id := sp.RecordID{0x42}
	e1 := a.Set("directory", id, "name/en", "Iqaluit Crisis Line")
	e2 := a.Set("directory", id, "phone", "867-979-3333")
	set := func(s *Store, k, v []byte) {
		t.Helper()
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) }); err != nil {
			t.Fatal(err)
		}
	}
	del := func(s *Store, k []byte) {
		t.Helper()
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(k) }); err != nil {
			t.Fatal(err)
		}
	}
	get := func(s *Store, k []byte) []byte {
		t.Helper()
		var v []byte
		if err := s.db.View(func(txn *badger.Txn) error {
			item, err := txn.Get(k)
			if err != nil {
				return err
			}
			v, err = item.ValueCopy(nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	fresh := func(t *testing.T) *Store {
		s := newStore(t, testOptions())
		mustApply(t, s, e1, e2)
		return s
	}
	isIntegrity := func(t *testing.T, what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrIntegrity) {
			t.Fatalf("%s: %v, want ErrIntegrity", what, err)
		}
		if !strings.Contains(err.Error(), "restore") {
			t.Fatalf("%s: the message does not say what to do: %v", what, err)
		}
	}
	t.Run("signature", func(t *testing.T) {
		// The hash does not cover the signature; the tag does.
		s := fresh(t)
		k := entryKey(e1.Hash())
		v := get(s, k)
		v[len(v)-1] ^= 1
		set(s, k, v)
		_, err := s.Get(ctx, e1.Hash())
		isIntegrity(t, "Get", err)
		_, err = s.Record(ctx, "directory", id)
		isIntegrity(t, "Record", err)
		isIntegrity(t, "ScanSyncOrder", s.ScanSyncOrder(ctx, nil, func(sp.SyncKey, sp.Entry) error { return nil }))
		_, err = s.Verify(ctx)
		isIntegrity(t, "Verify", err)
	})
	t.Run("entry moved", func(t *testing.T) {
		// A well-tagged entry under another entry's key.
		s := fresh(t)
		set(s, entryKey(e2.Hash()), get(s, entryKey(e1.Hash())))
		_, err := s.Get(ctx, e2.Hash())
		isIntegrity(t, "Get", err)
	})
	t.Run("index tag", func(t *testing.T) {
		s := fresh(t)
		k := recordKey(&e2, e2.Hash())
		set(s, k, make([]byte, tagLen))
		_, err := s.Record(ctx, "directory", id)
		isIntegrity(t, "Record", err)
		// A merge reading the damaged row fails too, and writes nothing.
		before, _ := s.Summary(ctx)
		_, err = s.ApplyVerified(ctx, []sp.Entry{a.Set("directory", id, "phone", "867-979-0000")})
		isIntegrity(t, "ApplyVerified", err)
		if after, _ := s.Summary(ctx); after != before {
			t.Fatal("a failed merge changed the state")
		}
	})
	t.Run("missing sync row", func(t *testing.T) {
		s := fresh(t)
		del(s, syncRowKey(sp.MakeSyncKey(e1.Time, e1.Hash())))
		isIntegrity(t, "ScanSyncOrder", s.ScanSyncOrder(ctx, nil, func(sp.SyncKey, sp.Entry) error { return nil }))
		rep, err := s.Verify(ctx)
		isIntegrity(t, "Verify", err)
		if rep.ProblemCount == 0 {
			t.Fatal("Verify reported no problems")
		}
	})
	t.Run("stale posting", func(t *testing.T) {
		s := fresh(t)
		k := searchKey("stale", id, e2.Hash())
		set(s, k, s.tags.sum(nil, k, nil))
		_, err := s.Verify(ctx)
		isIntegrity(t, "Verify", err)
	})
	t.Run("state row", func(t *testing.T) {
		s := fresh(t)
		k := metaKey(metaState)
		v := get(s, k)
		v[30] ^= 1
		set(s, k, v)
		_, err := s.Summary(ctx)
		isIntegrity(t, "Summary", err)
		_, err = s.ApplyVerified(ctx, []sp.Entry{a.Set("directory", id, "phone", "1")})
		isIntegrity(t, "ApplyVerified", err)
	})
	t.Run("meta row moved", func(t *testing.T) {
		s := fresh(t)
		if err := s.PutMeta("a", []byte("one")); err != nil {
			t.Fatal(err)
		}
		set(s, metaKey("b"), get(s, metaKey("a")))
		_, err := s.GetMeta("b")
		isIntegrity(t, "GetMeta", err)
	})
}
