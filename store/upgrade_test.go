package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

// rawOpen opens a closed store's database as Open does, but reads no meta
// row and upgrades nothing: tests use it to look at, or set up, a store
// in a given layout. Close writes the seal as usual.
func rawOpen(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	kf, _, err := readKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	master, err := kf.unwrap(testPass, filepath.Join(dir, keyFileName))
	if err != nil {
		t.Fatal(err)
	}
	keys := deriveSubKeys(master)
	s := &Store{dir: dir, dataDir: filepath.Join(dir, dataDirName), log: discardLog(), opts: opts,
		tags: newTagger(keys.tag), seal: newSealer(keys.meta)}
	if s.sealed, err = s.checkSeal(); err != nil {
		t.Fatal(err)
	}
	if s.db, err = badger.Open(badgerOptions(s.dataDir, keys.badger, s.log)); err != nil {
		t.Fatal(err)
	}
	return s
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testLog(w *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// rawLayout reads a store's layout and upgrade row.
func rawLayout(t testing.TB, dir string) (uint, *upgradeRow) {
	t.Helper()
	s := rawOpen(t, dir, testOptions())
	defer s.Close()
	var f formatRow
	var up *upgradeRow
	err := s.db.View(func(txn *badger.Txn) error {
		b, err := s.getMetaTxn(txn, metaFormat)
		if err != nil {
			return err
		}
		if err := sp.UnmarshalStrict(b, &f); err != nil {
			return err
		}
		b, err = s.getMetaTxn(txn, metaUpgrade)
		if errors.Is(err, sp.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		up = new(upgradeRow)
		return sp.UnmarshalStrict(b, up)
	})
	if err != nil {
		t.Fatal(err)
	}
	return f.Layout, up
}

// toLayout1 rewrites a closed store of layout 2 as layout 1 wrote it: the
// sync-order index under 's', each row's value the tag of its key, and
// the format row at 1.
func toLayout1(t testing.TB, dir string) {
	t.Helper()
	s := rawOpen(t, dir, testOptions())
	defer s.Close()
	for {
		var keys [][]byte
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixSync}})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(keys) < 1000; it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			break
		}
		err = s.db.Update(func(txn *badger.Txn) error {
			for _, k := range keys {
				sk, _ := parseSyncRowKey(k)
				old := syncRowKeyV1(sk)
				if err := txn.Set(old, s.tags.sum(nil, old, nil)); err != nil {
					return err
				}
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.putStoreRow(metaFormat, &formatRow{Layout: 1}); err != nil {
		t.Fatal(err)
	}
}

// checkLayout1 checks that a closed store reads as layout 1 did: format
// row 1, and one sound 's' row for each entry, adding up to the digest.
func checkLayout1(t testing.TB, dir string, want sp.Summary) {
	t.Helper()
	if l, _ := rawLayout(t, dir); l != 1 {
		t.Fatalf("layout %d, want 1", l)
	}
	s := rawOpen(t, dir, testOptions())
	defer s.Close()
	var d sp.Digest
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixSyncV1}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if err := s.checkTag(item, "the layout-1 index"); err != nil {
				return err
			}
			var sk sp.SyncKey
			copy(sk[:], item.Key()[1:])
			e, err := s.getEntry(txn, sk.Hash())
			if err != nil {
				return err
			}
			if e.Time != sk.Time() {
				return errors.New("an 's' row's time does not match its entry")
			}
			d.Add(sk.Hash())
		}
		st, err := s.readState(txn)
		if err == nil && st.summary() != want {
			err = fmt.Errorf("state %+v, want %+v", st.summary(), want)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if d != want.Digest {
		t.Fatalf("the layout-1 index holds %d entries, want %d", d.Count, want.Digest.Count)
	}
}

// areaEntry is a signed entry of a record in an area.
func areaEntry(d *storetest.Device, coll, area string, id sp.RecordID, field, v string) sp.Entry {
	val, _ := sp.EncodeValue(v)
	d.Tick(time.Second)
	e := sp.Entry{Collection: coll, Record: id, Field: field, Area: area, Time: d.Clock.Now(d.Now), Kind: sp.KindValue, Value: val}
	e.Sign(d.Key)
	return e
}

// layout1Store makes a closed store of layout 1 holding records of three
// authors in several collections and areas, a conflict, a deleted record
// and a tally, and returns its directory and summary.
func layout1Store(t testing.TB, records int) (string, sp.Summary) {
	t.Helper()
	s := newStore(t, testOptions())
	devs := []*storetest.Device{storetest.NewDevice(1), storetest.NewDevice(2), storetest.NewDevice(3)}
	areas := []string{"", "kivalliq", "kivalliq/arviat", "qikiqtaaluk/iqaluit"}
	var es []sp.Entry
	for i := range records {
		coll := []string{"directory", "outreach", "members"}[i%3]
		area := areas[i%len(areas)]
		d := devs[i%len(devs)]
		id := sp.RecordIDFrom(coll, area, []byte(strconv.Itoa(i)))
		es = append(es, areaEntry(d, coll, area, id, "name/en", fmt.Sprintf("Sample service %d (fictional)", i)),
			areaEntry(d, coll, area, id, "phone", "867-555-0100"))
		if i%10 == 0 { // a concurrent value from another author
			es = append(es, areaEntry(devs[(i+1)%len(devs)], coll, area, id, "phone", "867-555-0101"))
		}
	}
	mustApply(t, s, es...)
	a := storetest.NewDevice(4)
	id := sp.NewRecordID()
	mustApply(t, s, a.Set("directory", id, "name/en", "Example Clinic (fictional)"), a.Count("directory", id, "tally/visits", 3))
	gone := sp.NewRecordID()
	mustApply(t, s, a.Set("outreach", gone, "subject", "S-7K3Q"))
	mustApply(t, s, a.Delete("outreach", gone))
	sum, err := s.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	toLayout1(t, s.Dir())
	checkLayout1(t, s.Dir(), sum)
	return s.Dir(), sum
}

// scopesByEntries lists every entry's sync key and scope, read from the
// entries themselves.
func scopesByEntries(t testing.TB, s *Store) []string {
	t.Helper()
	var out []string
	err := s.ScanSyncOrder(ctx, nil, func(k sp.SyncKey, e sp.Entry) error {
		out = append(out, fmt.Sprintf("%x %v", k, ScopeOf(&e)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// scopesByIndex lists the same from the sync-order index alone.
func scopesByIndex(t testing.TB, s *Store) []string {
	t.Helper()
	var out []string
	if err := s.SyncScopes(ctx, func(k sp.SyncKey, sc Scope) error {
		out = append(out, fmt.Sprintf("%x %v", k, sc))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkUpgraded checks that an open store is layout 2 and whole, holds
// the entries of sum, and that its index keeps every entry's scope.
func checkUpgraded(t testing.TB, s *Store, sum sp.Summary) {
	t.Helper()
	if got, _ := s.Summary(ctx); got != sum {
		t.Fatalf("summary %+v, want %+v", got, sum)
	}
	byEntries, byIndex := scopesByEntries(t, s), scopesByIndex(t, s)
	if uint64(len(byIndex)) != sum.Digest.Count || !slices.Equal(byEntries, byIndex) {
		t.Fatalf("the index keeps %d scopes, the entries give %d, and they differ", len(byIndex), len(byEntries))
	}
	if n := len(s.keys(t, prefixSyncV1)); n != 0 {
		t.Fatalf("%d rows of layout 1 are left", n)
	}
	mustVerify(t, s)
}

// New stores are written in the current layout.
func TestCreateWritesCurrentLayout(t *testing.T) {
	s := newStore(t, testOptions())
	a := storetest.NewDevice(1)
	e := areaEntry(a, "outreach", "kivalliq/arviat", sp.RecordIDFrom("outreach", "kivalliq/arviat", []byte("x")), "subject", "S-2MXD")
	mustApply(t, s, e)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if l, up := rawLayout(t, s.Dir()); l != LayoutVersion || up != nil {
		t.Fatalf("a new store is layout %d (upgrade row %+v), want %d", l, up, LayoutVersion)
	}
	s = reopenDir(t, s.Dir(), testOptions())
	got := scopesByIndex(t, s)
	if len(got) != 1 || !strings.HasSuffix(got[0], fmt.Sprint(Scope{Author: a.ID, Collection: "outreach", Area: "kivalliq/arviat"})) {
		t.Fatalf("the index keeps %q", got)
	}
}

func reopenDir(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(ctx, dir, testPass, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A store of layout 1 is upgraded in place when it is opened: the same
// entries, and an index that keeps each entry's scope.
func TestUpgradeFromLayout1(t *testing.T) {
	dir, sum := layout1Store(t, 300)
	var logs bytes.Buffer
	opts := testOptions()
	opts.Logger = testLog(&logs)
	s := reopenDir(t, dir, opts)
	checkUpgraded(t, s, sum)
	if !strings.Contains(logs.String(), "upgraded the store's layout") {
		t.Errorf("the upgrade was not logged:\n%s", logs.String())
	}
	// It takes writes, and reopens without upgrading again.
	a := storetest.NewDevice(5)
	mustApply(t, s, a.Set("directory", sp.NewRecordID(), "name/en", "Sample Food Bank (fictional)"))
	sum, _ = s.Summary(ctx)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if l, up := rawLayout(t, dir); l != 2 || up != nil {
		t.Fatalf("layout %d, upgrade row %+v after the upgrade", l, up)
	}
	logs.Reset()
	s = reopenDir(t, dir, opts)
	checkUpgraded(t, s, sum)
	if strings.Contains(logs.String(), "upgrad") {
		t.Errorf("a second open upgraded again:\n%s", logs.String())
	}
}

// stopAt is an UpgradeHook that stops the upgrade at its nth step, and
// counts the steps in steps.
func stopAt(n int, steps *[]string) func(string) error {
	return func(step string) error {
		*steps = append(*steps, step)
		if len(*steps) == n {
			return errors.New("stopped by the test")
		}
		return nil
	}
}

// An upgrade stopped after any of its steps leaves a store that is whole:
// layout 1 as it was, before the flip, and layout 2 after it. The next
// open finishes the upgrade, with the same entries.
func TestUpgradeStoppedAtEveryStep(t *testing.T) {
	defer func(n int) { upgradeBatch = n }(upgradeBatch)
	upgradeBatch = 64
	dir, sum := layout1Store(t, 150) // about 330 entries: 6 batches to index
	golden := t.TempDir()
	copyDir(t, dir, golden)

	var all []string
	opts := testOptions()
	opts.UpgradeHook = stopAt(-1, &all)
	checkUpgraded(t, reopenDir(t, dir, opts), sum)
	if len(all) < 10 || all[0] != "begin" || !slices.Contains(all, "flip") || all[len(all)-1] != "clean" {
		t.Fatalf("steps %q", all)
	}
	for n := 1; n <= len(all); n++ {
		t.Run(fmt.Sprintf("%d-%s", n, all[n-1]), func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "node")
			copyDir(t, golden, d)
			var steps []string
			opts := testOptions()
			opts.UpgradeHook = stopAt(n, &steps)
			if _, err := Open(ctx, d, testPass, opts); err == nil || !strings.Contains(err.Error(), "stopped by the test") {
				t.Fatalf("Open: %v", err)
			}
			flipped := slices.Contains(all[:n], "flip")
			layout, up := rawLayout(t, d)
			if up == nil && n < len(all) {
				t.Fatal("no upgrade row: the next open would not know to carry on")
			}
			if !flipped {
				if layout != 1 {
					t.Fatalf("layout %d before the flip", layout)
				}
				// An older Floe still reads it whole.
				checkLayout1(t, d, sum)
			} else if layout != 2 {
				t.Fatalf("layout %d after the flip", layout)
			}
			var rest []string
			opts.UpgradeHook = stopAt(-1, &rest)
			s := reopenDir(t, d, opts)
			checkUpgraded(t, s, sum)
			if got := len(steps) + len(rest); got > len(all)+1 {
				t.Errorf("stopped at step %d, the upgrade took %d steps in all, and %d without a stop; it should carry on, not start over", n, got, len(all))
			}
		})
	}
}

// If a Floe of layout 1 writes to a store whose upgrade was stopped, the
// rows the upgrade wrote may be stale: the next upgrade starts over, and
// the result holds exactly the entries there are.
func TestUpgradeStartsOverAfterAnOlderFloeWrote(t *testing.T) {
	defer func(n int) { upgradeBatch = n }(upgradeBatch)
	upgradeBatch = 64
	dir, _ := layout1Store(t, 150)
	var steps []string
	opts := testOptions()
	opts.UpgradeHook = stopAt(3, &steps) // begin and two batches
	if _, err := Open(ctx, dir, testPass, opts); err == nil {
		t.Fatal("the upgrade did not stop")
	}
	// What a Floe of layout 1 does to it: writes an entry (with its 's'
	// row), and prunes another, leaving that one's 'o' row stale.
	s := rawOpen(t, dir, testOptions())
	a := storetest.NewDevice(6)
	e := a.Set("directory", sp.NewRecordID(), "name/en", "Sample Legal Clinic (fictional)")
	mustApply(t, s, e)
	var pruned sp.EntryHash
	_ = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixSync}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if sk, _ := parseSyncRowKey(it.Item().Key()); sk.Hash() != e.Hash() {
				pruned = sk.Hash()
				return nil
			}
		}
		return nil
	})
	if _, err := s.Remove(ctx, []sp.EntryHash{pruned}); err != nil {
		t.Fatal(err)
	}
	sum, _ := s.Summary(ctx)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Put the entries' 'o' rows back as a Floe of layout 1 would have
	// left them: the new entry in 's', the pruned one's 'o' row stale.
	s = rawOpen(t, dir, testOptions())
	err := s.db.Update(func(txn *badger.Txn) error {
		sk := sp.MakeSyncKey(e.Time, e.Hash())
		if err := txn.Delete(syncRowKey(sk)); err != nil {
			return err
		}
		old := syncRowKeyV1(sk)
		if err := txn.Set(old, s.tags.sum(nil, old, nil)); err != nil {
			return err
		}
		for _, k := range s.keys(t, prefixSyncV1) {
			var kk sp.SyncKey
			copy(kk[:], k[1:])
			if kk.Hash() == pruned {
				if err := txn.Delete(k); err != nil {
					return err
				}
				stale := syncRowKey(kk)
				return txn.Set(stale, s.tags.sum(nil, stale, appendScope(nil, &sp.Entry{Collection: "directory"})))
			}
		}
		return fmt.Errorf("no 's' row of the pruned entry %x among %d", pruned[:4], len(s.keys(t, prefixSyncV1)))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	checkLayout1(t, dir, sum)

	var logs bytes.Buffer
	opts = testOptions()
	opts.Logger = testLog(&logs)
	checkUpgraded(t, reopenDir(t, dir, opts), sum)
	if !strings.Contains(logs.String(), "starting the upgrade over") {
		t.Errorf("the restart was not logged:\n%s", logs.String())
	}
}

// An upgrade that would bring the disk near full is refused before it
// writes anything, with a message that says what to do; the store stays
// layout 1, exactly as it was, and upgrades once there is room.
func TestUpgradeRefusedOnAFullDisk(t *testing.T) {
	dir, sum := layout1Store(t, 100)
	before := snapshotDir(t, dir)
	opts := testOptions()
	opts.FreeSpace = func(string) (uint64, error) { return DefaultMinFree + 1<<10, nil }
	_, err := Open(ctx, dir, testPass, opts)
	var df *DiskFullError
	if !errors.Is(err, ErrDiskFull) || !errors.As(err, &df) || df.Upgrade != 2 || df.Partial {
		t.Fatalf("Open on a full disk: %v", err)
	}
	for _, want := range []string{"upgrading the store to layout 2", "Free some space", "not changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the message %q does not say %q", err, want)
		}
	}
	after := snapshotDir(t, dir)
	if _, ok := after[sealFileName]; !ok {
		t.Error("the refusal left the store without its shutdown seal")
	}
	for name, f := range before {
		if g, ok := after[name]; strings.HasSuffix(name, ".sst") && (!ok || g.sum != f.sum) {
			t.Errorf("%s changed", name)
		}
	}
	if _, up := rawLayout(t, dir); up != nil {
		t.Fatal("a refused upgrade left an upgrade row")
	}
	checkLayout1(t, dir, sum)
	checkUpgraded(t, reopenDir(t, dir, testOptions()), sum)
}

// A store written by a newer Floe (a layout this one does not know) is
// refused with a message that says to use a newer Floe, and nothing in it
// is changed: its tables and manifest are as they were, and it is sealed
// again as closed cleanly. (Badger, opening the store, writes a new
// header into the last value log when that log is empty: the store's
// values are all in the tables.)
func TestNewerLayoutIsRefused(t *testing.T) {
	s := newStore(t, testOptions())
	mustApply(t, s, storetest.NewDevice(1).Set("directory", sp.NewRecordID(), "name/en", "Example Clinic (fictional)"))
	dir := s.Dir()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := rawOpen(t, dir, testOptions())
	if err := r.putStoreRow(metaFormat, &formatRow{Layout: LayoutVersion + 1}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	before := snapshotDir(t, dir)
	_, err := Open(ctx, dir, testPass, testOptions())
	if !errors.Is(err, ErrNewerStore) || !strings.Contains(err.Error(), "use a newer Floe") ||
		!strings.Contains(err.Error(), fmt.Sprintf("layout version %d", LayoutVersion+1)) {
		t.Fatalf("Open of a newer store: %v", err)
	}
	// Everything but the seal and empty value logs (a header of 20
	// bytes, which badger may replace) is as it was.
	kept := func(m map[string]fileState) map[string][32]byte {
		out := map[string][32]byte{}
		for name, f := range m {
			if name != sealFileName && !(strings.HasSuffix(name, ".vlog") && f.size <= 20) {
				out[name] = f.sum
			}
		}
		return out
	}
	if b, a := kept(before), kept(snapshotDir(t, dir)); !maps.Equal(b, a) || len(b) < 4 {
		t.Errorf("the store's files changed: before %v, after %v", slices.Sorted(maps.Keys(b)), slices.Sorted(maps.Keys(a)))
	}
	var logs bytes.Buffer
	opts := testOptions()
	opts.Logger = testLog(&logs)
	if _, err := Open(ctx, dir, testPass, opts); !errors.Is(err, ErrNewerStore) || strings.Contains(logs.String(), "not closed cleanly") {
		t.Fatalf("a second open: %v\n%s", err, logs.String())
	}
	if l, _ := rawLayout(t, dir); l != LayoutVersion+1 {
		t.Fatalf("layout %d after the refusal", l)
	}
}

// A newer Floe that began upgrading a store and stopped before its flip
// leaves a store of this layout: this Floe opens it.
func TestNewerUpgradeStoppedBeforeItsFlip(t *testing.T) {
	s := newStore(t, testOptions())
	mustApply(t, s, storetest.NewDevice(1).Set("directory", sp.NewRecordID(), "name/en", "Example Clinic (fictional)"))
	sum, _ := s.Summary(ctx)
	dir := s.Dir()
	s.Close()
	r := rawOpen(t, dir, testOptions())
	if err := r.putStoreRow(metaUpgrade, &upgradeRow{From: LayoutVersion, To: LayoutVersion + 1, Step: upgradeIndexing, Count: sum.Digest.Count, Sum: sum.Digest.Sum}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	s = reopenDir(t, dir, testOptions())
	if got, _ := s.Summary(ctx); got != sum {
		t.Fatal("the store changed")
	}
}

// The test binary runs this in a child process, which the parent kills
// in the middle of an upgrade.
func TestUpgradeChild(t *testing.T) {
	dir, at := os.Getenv("FLOE_UPGRADE_CHILD_DIR"), os.Getenv("FLOE_UPGRADE_KILL_AT")
	if dir == "" {
		t.Skip("run by TestUpgradeKilledAtEveryStep")
	}
	n, _ := strconv.Atoi(at)
	upgradeBatch = 64
	opts := testOptions()
	steps := 0
	opts.UpgradeHook = func(string) error {
		if steps++; steps == n {
			killSelf()
		}
		return nil
	}
	s, err := Open(ctx, dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// killSelf ends the process at once, as a crash or a pulled plug would:
// no deferred call runs and nothing is closed.
func killSelf() {
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		p.Kill()
	}
	time.Sleep(time.Minute)
	os.Exit(3)
}

// An upgrade whose process is killed after any of its steps (no close, no
// flush) is finished by the next open, with the same entries; before the
// flip, the store is still whole as layout 1.
func TestUpgradeKilledAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process for each step")
	}
	defer func(n int) { upgradeBatch = n }(upgradeBatch)
	upgradeBatch = 64
	dir, sum := layout1Store(t, 150)
	golden := t.TempDir()
	copyDir(t, dir, golden)
	var all []string
	opts := testOptions()
	opts.UpgradeHook = stopAt(-1, &all)
	checkUpgraded(t, reopenDir(t, dir, opts), sum)
	for n := 1; n <= len(all); n++ {
		t.Run(fmt.Sprintf("%d-%s", n, all[n-1]), func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "node")
			copyDir(t, golden, d)
			cmd := exec.Command(os.Args[0], "-test.run=^TestUpgradeChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "FLOE_UPGRADE_CHILD_DIR="+d, "FLOE_UPGRADE_KILL_AT="+strconv.Itoa(n))
			out, _ := cmd.CombinedOutput()
			if !killed(cmd) || bytes.Contains(out, []byte("FAIL")) {
				t.Fatalf("the child was not killed (%v):\n%s", cmd.ProcessState, out)
			}
			if layout, _ := rawLayoutAfterCrash(t, d); !slices.Contains(all[:n], "flip") {
				if layout != 1 {
					t.Fatalf("layout %d before the flip", layout)
				}
				checkLayout1(t, d, sum)
			}
			checkUpgraded(t, reopenDir(t, d, testOptions()), sum)
		})
	}
}

// rawLayoutAfterCrash is rawLayout for a store whose process died: there
// is no seal to check.
func rawLayoutAfterCrash(t testing.TB, dir string) (uint, *upgradeRow) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, sealFileName)); err == nil {
		t.Fatal("a killed process left a shutdown seal")
	}
	return rawLayout(t, dir)
}

// A sync-order row is checked as it is read: a damaged one fails its tag,
// and one that keeps another entry's scope under a sound tag (which only
// a bug could write) is found by ScanSyncOrder and Verify.
func TestSyncOrderRowsKeepTheirScope(t *testing.T) {
	s := newStore(t, testOptions())
	a := storetest.NewDevice(1)
	e := areaEntry(a, "outreach", "kivalliq/arviat", sp.RecordIDFrom("outreach", "kivalliq/arviat", []byte("y")), "subject", "S-9TPA")
	mustApply(t, s, e)
	k := syncRowKey(sp.MakeSyncKey(e.Time, e.Hash()))
	put := func(v []byte) {
		t.Helper()
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) }); err != nil {
			t.Fatal(err)
		}
	}
	isIntegrity := func(t *testing.T, what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrIntegrity) {
			t.Fatalf("%s: %v, want ErrIntegrity", what, err)
		}
	}
	good := s.syncRowValue(k, &e)
	damaged := bytes.Clone(good)
	damaged[len(damaged)-1] ^= 1
	put(damaged)
	isIntegrity(t, "SyncScopes", s.SyncScopes(ctx, func(sp.SyncKey, Scope) error { return nil }))
	isIntegrity(t, "SyncKeys", s.SyncKeys(ctx, func(sp.SyncKey) error { return nil }))

	other := e
	other.Area = "qikiqtaaluk/iqaluit"
	put(s.syncRowValue(k, &other))
	if got := scopesByIndex(t, s); len(got) != 1 || !strings.Contains(got[0], "iqaluit") {
		t.Fatalf("SyncScopes %q", got)
	}
	isIntegrity(t, "ScanSyncOrder", s.ScanSyncOrder(ctx, nil, func(sp.SyncKey, sp.Entry) error { return nil }))
	rep, err := s.Verify(ctx)
	isIntegrity(t, "Verify", err)
	if !strings.Contains(strings.Join(rep.Problems, "\n"), "scope") {
		t.Fatalf("Verify did not name the scope: %q", rep.Problems)
	}
	put(good)
	mustVerify(t, s)
}

// killed reports whether a child process was killed, rather than ending
// on its own. (On Windows a killed process exits with code 1.)
func killed(cmd *exec.Cmd) bool {
	if runtime.GOOS == "windows" {
		return cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 1
	}
	return cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == -1
}

// BenchmarkUpgrade times the upgrade of a store of 100,000 entries (50,000
// directory records) from layout 1 to 2: the open that upgrades, against
// an open of the same store once upgraded. Building the store is not
// timed.
//
//	go test ./store -run '^$' -bench BenchmarkUpgrade -benchtime 1x
func BenchmarkUpgrade(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 100,000-entry store; skipped with -short")
	}
	const records = 50_000
	s := newStore(b, testOptions())
	rng := rand.New(rand.NewPCG(5, 5))
	es := signed(5, randomIDs(rng, records), directoryFields(rng))
	for i := 0; i < len(es); i += 1000 {
		if _, err := s.ApplyVerified(ctx, es[i:min(i+1000, len(es))]); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	toLayout1(b, s.Dir())
	golden := s.Dir()
	before, _ := dirSize(golden)
	b.ResetTimer()
	var upgrade, plain time.Duration
	var after int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := filepath.Join(b.TempDir(), "node")
		copyDir(b, golden, d)
		b.StartTimer()
		t0 := time.Now()
		s, err := Open(ctx, d, testPass, testOptions())
		if err != nil {
			b.Fatal(err)
		}
		upgrade += time.Since(t0)
		b.StopTimer()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		after, _ = dirSize(d)
		t0 = time.Now()
		if s, err = Open(ctx, d, testPass, testOptions()); err != nil {
			b.Fatal(err)
		}
		plain += time.Since(t0)
		s.Close()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(len(es)), "entries")
	b.ReportMetric(upgrade.Seconds()/float64(b.N), "s/upgrade-open")
	b.ReportMetric(plain.Seconds()/float64(b.N), "s/plain-open")
	b.ReportMetric(float64(len(es))/(upgrade-plain).Seconds()*float64(b.N), "entries/s")
	b.ReportMetric(float64(before)/(1<<20), "MiB-before")
	b.ReportMetric(float64(after)/(1<<20), "MiB-after")
}

// dirSize is the apparent size of the files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}
