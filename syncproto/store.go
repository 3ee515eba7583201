package syncproto

import (
	"context"
	"errors"
)

// ErrNotFound means a store holds no such entry or record.
var ErrNotFound = errors.New("not found")

// Store is what the core needs from storage. Implementations: MemStore
// here, and the encrypted badger store in package store. Both pass the suite
// in package syncproto/storetest.
type Store interface {
	// ApplyVerified merges entries that the caller has verified (structure,
	// signature, authorization, clock), in order. Each entry is applied
	// atomically with the pruning it causes. A store may commit a long call
	// in several transactions: on error, a prefix of the entries may have
	// been applied, and applying the whole call again is safe.
	ApplyVerified(ctx context.Context, entries []Entry) (ApplyResult, error)
	// Get returns the kept entry with hash h, or ErrNotFound.
	Get(ctx context.Context, h EntryHash) (Entry, error)
	// Record returns the kept entries of a record, ordered by field path and
	// then hash; a deleted record returns its tombstone alone. A record the
	// store has never heard of gives ErrNotFound.
	Record(ctx context.Context, collection string, id RecordID) ([]Entry, error)
	// Records calls fn for each record of a collection, in ID order, from
	// the first ID >= start. deleted is true for a tombstoned record.
	// Iteration stops at the first error from fn, which Records returns.
	Records(ctx context.Context, collection string, start RecordID, fn func(id RecordID, deleted bool) error) error
	// ScanSyncOrder calls fn for each kept entry in (time, hash) order,
	// starting after the key after (nil: from the start).
	ScanSyncOrder(ctx context.Context, after *SyncKey, fn func(SyncKey, Entry) error) error
	// Summary describes the merged state.
	Summary(ctx context.Context) (Summary, error)
}

// Summary describes a store's merged state.
type Summary struct {
	Digest    Digest
	LastWrite HLC // the newest timestamp of any entry ever kept
}

// ApplyResult counts what one ApplyVerified call did.
type ApplyResult struct {
	Added   int
	Pruned  int
	Dropped [4]int // indexed by DropReason; Dropped[Kept] is unused
}

// DroppedTotal is the number of entries that were not kept.
func (r ApplyResult) DroppedTotal() int { return r.Dropped[1] + r.Dropped[2] + r.Dropped[3] }

// Add accumulates another result.
func (r *ApplyResult) Add(o ApplyResult) {
	r.Added += o.Added
	r.Pruned += o.Pruned
	for i := range r.Dropped {
		r.Dropped[i] += o.Dropped[i]
	}
}

// MergeTx is what Merge needs from a store inside one write transaction.
type MergeTx interface {
	// Tombstone returns the record's tombstone, or nil.
	Tombstone(collection string, id RecordID) (*Held, error)
	// Siblings returns the kept entries of one field.
	Siblings(collection string, id RecordID, field string) ([]Held, error)
	// Put keeps an entry.
	Put(e *Entry, h EntryHash) error
	// Delete removes a kept entry.
	Delete(e *Entry, h EntryHash) error
	// DeleteRecord removes every kept entry of a record and returns how many.
	DeleteRecord(collection string, id RecordID) (int, error)
}

// Merge applies the merge rules for each entry, in order, through tx. Stores
// call it inside their write transaction so that every store merges alike.
func Merge(tx MergeTx, entries []Entry) (ApplyResult, error) {
	var res ApplyResult
	for i := range entries {
		e := &entries[i]
		h := e.Hash()
		tomb, err := tx.Tombstone(e.Collection, e.Record)
		if err != nil {
			return res, err
		}
		ex := Existing{Tombstone: tomb}
		if e.Kind != KindTombstone && tomb == nil {
			sib, err := tx.Siblings(e.Collection, e.Record, e.Field)
			if err != nil {
				return res, err
			}
			ex.Siblings = sib
		}
		d := Decide(ex, e, h)
		if d.Drop != Kept {
			res.Dropped[d.Drop]++
			continue
		}
		if d.PruneRecord {
			n, err := tx.DeleteRecord(e.Collection, e.Record)
			if err != nil {
				return res, err
			}
			res.Pruned += n
		}
		for _, ph := range d.Prune {
			old := tomb
			for j := range ex.Siblings {
				if ex.Siblings[j].Hash == ph {
					old = &ex.Siblings[j]
				}
			}
			if old == nil || old.Hash != ph {
				panic("bug: merge pruned an entry it was not shown")
			}
			if err := tx.Delete(&old.Entry, ph); err != nil {
				return res, err
			}
			res.Pruned++
		}
		if err := tx.Put(e, h); err != nil {
			return res, err
		}
		res.Added++
	}
	return res, nil
}
