package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	sp "github.com/floe-north/floe/syncproto"
)

// Upgrading a store to a newer layout, in place, at open.
//
// Layout 1 kept the sync-order index under 's', each row's value the tag
// of its key. Layout 2 keeps it under 'o', each row's value the entry's
// scope (author, collection, area) and a tag over key and scope, so that
// a filtered session's key list reads the index and no entries. The
// upgrade from 1 to 2 goes in steps, each one a transaction that commits
// whole or not at all; the upgrade row (metaUpgrade) says how far it got:
//
//  1. begin: the upgrade row is written, with the store's digest, and
//     synced. The store is still layout 1.
//  2. index: the entries are read in hash order, a batch at a time; each
//     batch writes the 'o' rows of its entries, and, in the same
//     transaction, moves the upgrade row on past them and adds them to
//     its digest of what was indexed. Writing an 'o' row again writes
//     the same bytes, so a batch done twice does no harm. The 's' rows
//     are not touched: until the flip, a Floe of layout 1 still reads the
//     store as it was (it ignores the 'o' rows, and floe verify lists
//     them as rows of an unknown prefix).
//  3. flip: once the digest of what was indexed equals the store's, one
//     transaction sets the layout to 2 and the upgrade row to clean-up;
//     it is synced. From here a Floe of layout 1 refuses the store
//     ("use a newer Floe").
//  4. clean: the 's' rows, which layout 2 never reads, are deleted a
//     batch at a time; the last batch deletes the upgrade row too.
//
// Killed at any point, the store is either layout 1 and whole (before the
// flip) or layout 2 and whole (after it), and the next open finds the
// upgrade row and carries on from the last committed batch. If the store's
// digest is not the one in the upgrade row, an older Floe wrote to it in
// between: the 'o' rows may be stale, so they are deleted and the upgrade
// starts over. Nothing is lost either way.
//
// The upgrade checks free space first, for all of it, and before each
// batch; refused before it begins, it leaves the store exactly as it was.

// OldestLayout is the oldest store layout this Floe opens: it upgrades
// a store of any layout from OldestLayout to LayoutVersion in place.
const OldestLayout = 1

// upgradeRow is the value of the metaUpgrade row. CBOR keys: never
// renumber.
type upgradeRow struct {
	From uint `cbor:"1,keyasint"`
	To   uint `cbor:"2,keyasint"`
	Step uint `cbor:"3,keyasint"` // upgradeIndexing or upgradeCleaning
	// Count and Sum are the store's digest when the upgrade began.
	Count uint64   `cbor:"4,keyasint"`
	Sum   [32]byte `cbor:"5,keyasint"`
	// Next is the entry key to carry on indexing from; empty at first.
	Next []byte `cbor:"6,keyasint,omitempty"`
	// DoneCount and DoneSum are the digest of the entries indexed.
	DoneCount uint64   `cbor:"7,keyasint"`
	DoneSum   [32]byte `cbor:"8,keyasint"`
}

// The steps of an upgrade, as the upgrade row records them.
const (
	upgradeIndexing = 1 // writing the new index; the layout is still the old one
	upgradeCleaning = 2 // the layout is the new one; removing the old rows
)

// UpgradeSteps names the steps after which Options.UpgradeHook is called:
// "begin" once, "index" after each batch of the new index, "flip" once the
// layout is raised, "clean" after each batch of old rows removed.
var UpgradeSteps = []string{"begin", "index", "flip", "clean"}

// upgradeBatch is how many rows one transaction of the upgrade writes or
// deletes: at most about 200 bytes each, well under badger's cap of a
// transaction. A variable so that tests can make many small steps.
var upgradeBatch = 2048

// upgradeBytesPerEntry is the free space the upgrade asks for, beyond
// Options.MinFree, for each entry: an 'o' row is at most 186 bytes, the
// 's' row it replaces stays until compaction, and its deletion leaves a
// marker that does too.
const upgradeBytesPerEntry = 384

// upgrade brings a store of layout from up to LayoutVersion, or carries
// on with the upgrade that up describes.
func (s *Store) upgrade(from uint, up *upgradeRow) error {
	if from != 1 && up == nil || LayoutVersion != 2 {
		return fmt.Errorf("bug: no upgrade from store layout %d to %d", from, LayoutVersion)
	}
	start := time.Now()
	var st stateRow
	err := s.view("the state row", func(txn *badger.Txn) error {
		var err error
		st, err = s.readState(txn)
		return err
	})
	if err != nil {
		return err
	}
	if up != nil && up.Step == upgradeIndexing && (up.Count != st.Count || up.Sum != st.Sum) {
		s.log.Warn("the store changed since its upgrade began (a Floe of layout 1 wrote to it); starting the upgrade over", "entries", st.Count)
		up = nil
	}
	if up == nil || up.Step == upgradeIndexing {
		left := st.Count
		if up != nil {
			left -= min(left, up.DoneCount)
		}
		if err := s.checkUpgradeFree(left, up != nil); err != nil {
			return err
		}
	}
	if up == nil {
		s.log.Info("upgrading the store's layout", "from", from, "to", LayoutVersion, "entries", st.Count)
		// Stale 'o' rows of an earlier, interrupted upgrade go first.
		if err := s.deleteRows(prefixSync, nil); err != nil {
			return s.upgradeError(err, false)
		}
		up = &upgradeRow{From: from, To: LayoutVersion, Step: upgradeIndexing, Count: st.Count, Sum: st.Sum}
		if err := s.commitRow(s.sealRow(metaUpgrade, up)); err != nil {
			return s.upgradeError(err, false)
		}
		if err := s.upgradeStep("begin"); err != nil {
			return err
		}
	} else {
		s.log.Info("carrying on with the store's upgrade", "from", up.From, "to", up.To, "indexed", up.DoneCount, "entries", st.Count)
	}
	if up.Step == upgradeIndexing {
		for {
			done, err := s.upgradeIndexBatch(up)
			if err != nil {
				return s.upgradeError(err, true)
			}
			if err := s.upgradeStep("index"); err != nil {
				return err
			}
			if done {
				break
			}
		}
		if up.DoneCount != st.Count || up.DoneSum != st.Sum {
			return s.integrity("the store's entries", "the upgrade found %d entries, and the store's digest counts %d", up.DoneCount, st.Count)
		}
		if err := s.upgradeFlip(up); err != nil {
			return s.upgradeError(err, true)
		}
		if err := s.upgradeStep("flip"); err != nil {
			return err
		}
	}
	if err := s.deleteRows(prefixSyncV1, func() error { return s.upgradeStep("clean") }); err != nil {
		return s.upgradeError(err, true)
	}
	if err := s.db.Sync(); err != nil {
		return s.upgradeError(err, true)
	}
	s.log.Info("upgraded the store's layout", "to", LayoutVersion, "entries", st.Count, "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// upgradeStep calls the test hook after a step.
func (s *Store) upgradeStep(step string) error {
	if s.opts.UpgradeHook == nil {
		return nil
	}
	if err := s.opts.UpgradeHook(step); err != nil {
		return fmt.Errorf("%w in %s after a step %q (the next open carries on): %w", errUpgradeStopped, s.dir, step, err)
	}
	return nil
}

// errUpgradeStopped is the error of an upgrade that UpgradeHook stopped.
var errUpgradeStopped = errors.New("the store's upgrade was stopped")

// checkUpgradeFree refuses an upgrade that would bring the disk near full.
func (s *Store) checkUpgradeFree(entries uint64, resumed bool) error {
	free := s.opts.FreeSpace
	if free == nil {
		free = diskFree
	}
	n, err := free(s.dataDir)
	if err != nil {
		return nil // unknown: as every write does, go ahead
	}
	need := s.opts.minFree() + entries*upgradeBytesPerEntry
	if n < need {
		return &DiskFullError{Dir: s.dir, Free: n, Need: need, Upgrade: LayoutVersion, Partial: resumed, refused: true}
	}
	return nil
}

// upgradeError maps an error of an upgrade's write.
func (s *Store) upgradeError(err error, partial bool) error {
	var df *DiskFullError
	if errors.As(err, &df) {
		df.Upgrade, df.Partial = LayoutVersion, partial
		return df
	}
	if isDiskFull(err) {
		return &DiskFullError{Dir: s.dir, Upgrade: LayoutVersion, Partial: partial, cause: err}
	}
	var ie *IntegrityError
	if errors.As(err, &ie) || errors.Is(err, errUpgradeStopped) {
		return err
	}
	return fmt.Errorf("upgrading the store in %s to layout %d (the next open carries on): %w", s.dir, LayoutVersion, err)
}

// upgradeIndexBatch writes the 'o' rows of the next batch of entries and
// moves the upgrade row on, in one transaction. done says the entries
// are all indexed.
func (s *Store) upgradeIndexBatch(up *upgradeRow) (done bool, err error) {
	if err := checkFree(s.dataDir, s.dir, &s.opts, true); err != nil {
		return false, err
	}
	type item struct {
		h sp.EntryHash
		e sp.Entry
	}
	var batch []item
	var last []byte
	err = s.view("the store's entries", func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEntry}, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		startKey := up.Next
		if len(startKey) == 0 {
			startKey = []byte{prefixEntry}
		}
		for it.Seek(startKey); it.Valid() && len(batch) < upgradeBatch; it.Next() {
			it := it.Item()
			h, ok := parseEntryKey(it.Key())
			if !ok {
				return s.integrity("an entry key", "it does not parse")
			}
			var e sp.Entry
			err := it.Value(func(v []byte) error {
				var err error
				e, err = s.decodeEntryValue(h, it.Key(), v)
				return err
			})
			if err != nil {
				return s.readError("entry "+h.Short(), err)
			}
			batch = append(batch, item{h, e})
			last = it.KeyCopy(last[:0])
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	next := *up
	d := sp.Digest{Count: next.DoneCount, Sum: next.DoneSum}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for i := range batch {
		b := &batch[i]
		sk := syncRowKey(sp.MakeSyncKey(b.e.Time, b.h))
		if err := txn.Set(sk, s.syncRowValue(sk, &b.e)); err != nil {
			return false, err
		}
		d.Add(b.h)
	}
	if len(batch) > 0 {
		// Entry keys are all one length: the next one sorts after this
		// key and a zero byte.
		next.Next = append(last, 0)
	}
	next.DoneCount, next.DoneSum = d.Count, d.Sum
	if err := txn.Set(s.sealRow(metaUpgrade, &next)); err != nil {
		return false, err
	}
	if err := txn.Commit(); err != nil {
		return false, err
	}
	*up = next
	return len(batch) < upgradeBatch, nil
}

// upgradeFlip raises the layout and moves the upgrade row on to the
// clean-up, in one transaction, and syncs.
func (s *Store) upgradeFlip(up *upgradeRow) error {
	next := *up
	next.Step, next.Next = upgradeCleaning, nil
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := txn.Set(s.sealRow(metaFormat, &formatRow{Layout: up.To})); err != nil {
		return err
	}
	if err := txn.Set(s.sealRow(metaUpgrade, &next)); err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	if err := s.db.Sync(); err != nil {
		return err
	}
	*up = next
	return nil
}

// deleteRows deletes every row under prefix, a batch a transaction. With
// after set (the clean-up of an upgrade), the last transaction deletes the
// upgrade row too, and after is called after each one.
func (s *Store) deleteRows(prefix byte, after func() error) error {
	for {
		if err := checkFree(s.dataDir, s.dir, &s.opts, true); err != nil {
			return err
		}
		var keys [][]byte
		err := s.view("the store's index", func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(keys) < upgradeBatch; it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil {
			return err
		}
		last := len(keys) < upgradeBatch
		if len(keys) == 0 && after == nil {
			return nil
		}
		if last && after != nil {
			keys = append(keys, metaKey(metaUpgrade))
		}
		if err := s.deleteKeys(keys); err != nil {
			return err
		}
		if after != nil {
			if err := after(); err != nil {
				return err
			}
		}
		if last {
			return nil
		}
	}
}

// deleteKeys deletes keys in one transaction.
func (s *Store) deleteKeys(keys [][]byte) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return txn.Commit()
}
