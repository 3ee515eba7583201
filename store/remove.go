package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"

	sp "github.com/floe-north/floe/syncproto"
)

// Remove deletes the kept entries with the given hashes, as if they had
// never been applied: each entry's 'e', 'r', 'o' and 'x' rows, the 'c' row
// of a field that is no longer in conflict without it, and the entry's
// hash in the digest of the state row. It exists for revocation: every node
// forgets the entries a revoked device wrote after its revocation, and
// nodes that held the same entries then hold the same set, and the same
// state hash, whatever order they learned things in.
//
// Hashes the store does not hold (never applied, pruned, or removed
// already, by this call too: a transaction sees its own deletes) are
// ignored; removed is how many entries went. A removed tombstone leaves
// its record with no entries: what the tombstone pruned is not restored
// here. It can come back only from a peer that still holds it. The state
// row's LastWrite is not lowered. It is the newest timestamp ever kept,
// and the node's clock has already observed it.
//
// Like ApplyVerified, Remove works in as few write transactions as
// badger's size cap allows. Each one removes whole entries together with
// their index rows, conflict rows and the state row, so the store is
// consistent after each commit. On error, the entries removed before the
// failing transaction stay removed (removed counts them), and removing
// the same hashes again is safe. The context is checked between
// transactions.
func (s *Store) Remove(ctx context.Context, hashes []sp.EntryHash) (removed int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	release, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer release()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	committed := false
	for len(hashes) > 0 {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if err := checkFree(s.dataDir, s.dir, &s.opts, committed); err != nil {
			return removed, err
		}
		r, n, err := s.removeTxn(hashes)
		if err != nil {
			return removed, s.writeError(err, committed)
		}
		removed += r
		committed = committed || r > 0
		hashes = hashes[n:]
	}
	if !committed {
		return 0, nil
	}
	// One sync for the whole call, as in ApplyVerified.
	if err := s.db.Sync(); err != nil {
		return removed, s.writeError(err, true)
	}
	return removed, nil
}

// removeTxn removes as many of hashes as fit in one transaction and commits
// them. It returns how many entries it removed, and how many of hashes it
// dealt with, removed or not held.
func (s *Store) removeTxn(hashes []sp.EntryHash) (int, int, error) {
	limit := len(hashes)
	for {
		removed, n, err := s.tryRemoveTxn(hashes[:limit])
		if !errors.Is(err, badger.ErrTxnTooBig) {
			return removed, n, err
		}
		if n == 0 {
			return 0, 0, fmt.Errorf("removing entry %s changes more rows than one transaction can hold (%d KiB); it was not removed",
				hashes[0].Short(), s.db.MaxBatchSize()>>10)
		}
		// The same first n hashes fit before, and will fit again: writes
		// are serialized, so the store has not changed.
		limit = n
	}
}

// tryRemoveTxn removes the entries of hashes in one transaction and commits.
// It stops early when the transaction is as full as tryApplyTxn lets one
// grow. If the transaction grows too big, it discards it and returns
// badger.ErrTxnTooBig and the number of hashes that fitted. A transaction
// that removed nothing is not committed.
func (s *Store) tryRemoveTxn(hashes []sp.EntryHash) (removed, n int, err error) {
	defer func() {
		// As in tryApplyTxn: badger can panic on damaged data while
		// reading; the transaction is discarded.
		if r := recover(); r != nil {
			if msg, ok := r.(string); ok && strings.HasPrefix(msg, "bug:") {
				panic(r)
			}
			removed, n, err = 0, 0, s.integrity("a removal", "the database failed while reading: %v", r)
		}
	}()
	m := &mergeTx{
		s:       s,
		txn:     s.db.NewTransaction(true),
		scanned: map[string][]string{},
		touched: map[string]map[string]bool{},
		puts:    map[sp.EntryHash]*sp.Entry{},
	}
	defer m.txn.Discard()
	// Writes are serialized, so this read-only transaction sees the same
	// snapshot as m.txn (see mergeTx).
	m.snap = s.db.NewTransaction(false)
	defer m.snap.Discard()
	if m.state, err = s.readState(m.txn); err != nil {
		return 0, 0, err
	}
	maxCount := s.db.MaxBatchCount() * txnFillPercent / 100
	maxSize := s.db.MaxBatchSize() * txnFillPercent / 100
	for i, h := range hashes {
		e, err := s.getEntry(m.txn, h)
		if errors.Is(err, sp.ErrNotFound) {
			n++
			continue
		}
		if err == nil {
			err = m.remove(&e, h)
		}
		if err != nil {
			if errors.Is(err, badger.ErrTxnTooBig) {
				return 0, i, err
			}
			return 0, 0, err
		}
		removed++
		n++
		if m.count >= maxCount || m.size >= maxSize {
			break
		}
	}
	if removed == 0 {
		return 0, n, nil
	}
	k, v := s.sealRow(metaState, &m.state)
	if err := m.txn.Set(k, v); err != nil {
		if errors.Is(err, badger.ErrTxnTooBig) {
			return 0, n - 1, err
		}
		return 0, 0, err
	}
	if err := m.txn.Commit(); err != nil {
		return 0, 0, err
	}
	return removed, n, nil
}

// remove deletes a kept entry e, with hash h, and its rows (Delete), and
// re-derives the conflict row of its field from the entries that remain.
// A removal can end a conflict but never start one. Apply deletes the 'c'
// row when fewer than two entries remain after a prune. Here the field
// had one entry more than remains, so the row exists and must go exactly
// when one entry remains. With none left there was no row, and deleting
// it would only write a badger tombstone.
func (m *mergeTx) remove(e *sp.Entry, h sp.EntryHash) error {
	if err := m.Delete(e, h); err != nil {
		return err
	}
	if e.Kind != sp.KindValue || !conflictField(e.Field) {
		return nil
	}
	rows, err := m.rows(e.Collection, e.Record, fieldPrefix(e.Collection, e.Record, e.Field))
	if err != nil {
		return err
	}
	if len(rows) == 1 {
		return m.del(conflictKey(e.Collection, e.Record, e.Field))
	}
	return nil
}
