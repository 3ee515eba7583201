package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	sp "github.com/floe-north/floe/syncproto"
)

// ctxEvery is how many rows a scan reads between checks of its context.
const ctxEvery = 256

// view runs fn in a read transaction. Badger can panic on data it finds
// damaged before it gets to check a checksum; in the caller's goroutine
// that is recovered and reported as ErrIntegrity.
func (s *Store) view(where string, fn func(txn *badger.Txn) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if up, ok := r.(userPanic); ok {
				panic(up.v)
			}
			err = s.integrity(where, "the database failed while reading: %v", r)
		}
	}()
	return s.db.View(fn)
}

// userPanic carries a panic of a caller's callback through view, which
// must not report it as damage.
type userPanic struct{ v any }

// callUser calls a caller's callback from inside view.
func callUser(fn func() error) error {
	defer func() {
		if r := recover(); r != nil {
			panic(userPanic{r})
		}
	}()
	return fn()
}

// readError maps an error from a badger read. Badger reports a failed
// checksum or a table it cannot decode as a plain error.
func (s *Store) readError(where string, err error) error {
	var ie *IntegrityError
	if errors.As(err, &ie) {
		return err
	}
	if errors.Is(err, badger.ErrDBClosed) {
		return human(ErrClosed, "the store in %s is closed", s.dir)
	}
	return s.integrity(where, "%v", err)
}

// writeError maps an error from a badger write or commit.
func (s *Store) writeError(err error, partial bool) error {
	switch {
	case isDiskFull(err):
		return &DiskFullError{Dir: s.dir, Partial: partial, cause: err}
	case errors.Is(err, badger.ErrTxnTooBig):
		return err
	}
	var ie *IntegrityError
	if errors.As(err, &ie) {
		return err
	}
	return fmt.Errorf("writing to the store in %s: %w", s.dir, err)
}

// entryValue is the value of an 'e' row: a tag over key and encoding, then
// the encoding.
func (s *Store) entryValue(key, enc []byte) []byte {
	v := make([]byte, 0, tagLen+len(enc))
	v = s.tags.sum(v, key, enc)
	return append(v, enc...)
}

// decodeEntryValue checks and decodes the value of the 'e' row of hash h.
// On every read the tag is checked: it covers the key (so the hash) and
// the encoding, so the bytes are what this store wrote, and what it wrote
// was verified. Then the entry is only decoded, with no re-encoding or
// re-hashing: that halves the cost of a read. Verify (full) also checks
// the canonical form, the structure and the hash.
func (s *Store) decodeEntryValue(h sp.EntryHash, key, v []byte) (sp.Entry, error) {
	return s.decodeEntry(h, key, v, false)
}

func (s *Store) decodeEntry(h sp.EntryHash, key, v []byte, full bool) (sp.Entry, error) {
	where := "entry " + h.Short()
	if len(v) <= tagLen || !s.tags.check(v[:tagLen], key, v[tagLen:]) {
		return sp.Entry{}, s.integrity(where, "its tag does not match")
	}
	if !full {
		e, err := sp.DecodeStored(v[tagLen:])
		if err != nil {
			return sp.Entry{}, s.integrity(where, "it does not decode: %v", err)
		}
		return e, nil
	}
	e, err := sp.DecodeEntry(v[tagLen:])
	if err != nil {
		return sp.Entry{}, s.integrity(where, "it does not decode: %v", err)
	}
	if e.Hash() != h {
		return sp.Entry{}, s.integrity(where, "its content does not match its hash")
	}
	return e, nil
}

// getEntry reads, checks and decodes the entry with hash h in txn.
func (s *Store) getEntry(txn *badger.Txn, h sp.EntryHash) (sp.Entry, error) {
	key := entryKey(h)
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return sp.Entry{}, sp.ErrNotFound
	}
	if err != nil {
		return sp.Entry{}, s.readError("entry "+h.Short(), err)
	}
	var e sp.Entry
	err = item.Value(func(v []byte) error {
		e, err = s.decodeEntryValue(h, key, v)
		return err
	})
	if err != nil {
		return sp.Entry{}, s.readError("entry "+h.Short(), err)
	}
	return e, nil
}

// checkTag checks the tag of an index row.
func (s *Store) checkTag(item *badger.Item, where string) error {
	ok := false
	err := item.Value(func(v []byte) error {
		ok = s.tags.check(v, item.Key(), nil)
		return nil
	})
	if err != nil {
		return s.readError(where, err)
	}
	if !ok {
		return s.integrity(where, "a row's tag does not match")
	}
	return nil
}

// indexedEntry reads the entry an index row names, and checks that it is
// the entry the row describes.
func (s *Store) recordRowEntry(txn *badger.Txn, row recordRow) (sp.Entry, error) {
	e, err := s.getEntry(txn, row.hash)
	if errors.Is(err, sp.ErrNotFound) {
		return e, s.integrity("the record index", "a row names entry %s, which is missing", row.hash.Short())
	}
	if err != nil {
		return e, err
	}
	if e.Collection != row.coll || e.Record != row.id || e.Field != row.field || (e.Kind == sp.KindTombstone) != (row.field == "") {
		return e, s.integrity("the record index", "a row does not describe entry %s", row.hash.Short())
	}
	return e, nil
}

// read runs fn in a read-only transaction, once the context and the store
// (not closed) are checked. where names what is read, for errors.
func (s *Store) read(ctx context.Context, where string, fn func(txn *badger.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	return s.view(where, fn)
}

// Get implements syncproto.Store.
func (s *Store) Get(ctx context.Context, h sp.EntryHash) (sp.Entry, error) {
	var e sp.Entry
	err := s.read(ctx, "entry "+h.Short(), func(txn *badger.Txn) error {
		var err error
		e, err = s.getEntry(txn, h)
		return err
	})
	return e, err
}

// Record implements syncproto.Store.
func (s *Store) Record(ctx context.Context, coll string, id sp.RecordID) ([]sp.Entry, error) {
	var out []sp.Entry
	err := s.read(ctx, "record "+id.Short(), func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: recordPrefix(coll, id)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			row, ok := parseRecordKey(item.Key())
			if !ok || row.coll != coll || row.id != id {
				return s.integrity("the record index", "a key does not parse")
			}
			if err := s.checkTag(item, "the record index"); err != nil {
				return err
			}
			e, err := s.recordRowEntry(txn, row)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, sp.ErrNotFound
	}
	return out, nil
}

// Records implements syncproto.Store.
func (s *Store) Records(ctx context.Context, coll string, start sp.RecordID, fn func(id sp.RecordID, deleted bool) error) error {
	return s.read(ctx, "the record index", func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: collectionPrefix(coll)})
		defer it.Close()
		id := start
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			// A tombstone's row sorts first in its record, so the first
			// row says whether the record is deleted; then skip its
			// other rows by seeking to the next record ID.
			it.Seek(recordPrefix(coll, id))
			if !it.Valid() {
				return nil
			}
			item := it.Item()
			row, ok := parseRecordKey(item.Key())
			if !ok || row.coll != coll {
				return s.integrity("the record index", "a key does not parse")
			}
			if err := s.checkTag(item, "the record index"); err != nil {
				return err
			}
			if err := callUser(func() error { return fn(row.id, row.field == "") }); err != nil {
				return err
			}
			next, ok := nextRecordID(row.id)
			if !ok {
				return nil
			}
			id = next
		}
	})
}

// ScanSyncOrder implements syncproto.Store.
func (s *Store) ScanSyncOrder(ctx context.Context, after *sp.SyncKey, fn func(sp.SyncKey, sp.Entry) error) error {
	return s.read(ctx, "the sync-order index", func(txn *badger.Txn) error {
		var buf [tagLen + maxScopeLen]byte
		return s.scanSyncRows(ctx, txn, after, true, func(sk sp.SyncKey, scope []byte) error {
			e, err := s.getEntry(txn, sk.Hash())
			if errors.Is(err, sp.ErrNotFound) {
				return s.integrity("the sync-order index", "a row names entry %s, which is missing", sk.Hash().Short())
			}
			if err != nil {
				return err
			}
			if e.Time != sk.Time() {
				return s.integrity("the sync-order index", "a row's time does not match entry %s", sk.Hash().Short())
			}
			if !bytes.Equal(appendScope(buf[:0], &e), scope) {
				return s.integrity("the sync-order index", "a row's scope does not match entry %s", sk.Hash().Short())
			}
			return callUser(func() error { return fn(sk, e) })
		})
	})
}

// SyncKeys calls fn with the sync key of every kept entry, in sync order,
// without reading the entries: reconciliation needs only the keys. Each
// index row's tag is checked, and a whole scan is checked against the
// store's digest, so damage shows here as in ScanSyncOrder.
func (s *Store) SyncKeys(ctx context.Context, fn func(sp.SyncKey) error) error {
	return s.read(ctx, "the sync-order index", func(txn *badger.Txn) error {
		return s.syncRows(ctx, txn, nil, false, func(sk sp.SyncKey) error {
			return callUser(func() error { return fn(sk) })
		})
	})
}

// SyncScopes calls fn with the sync key and the scope of every kept
// entry, in sync order, reading the sync-order index alone: it is how a
// node lists what it offers a peer that may hold only part of the store,
// without reading every entry. The checks are those of SyncKeys; the tag
// of each row covers its scope.
func (s *Store) SyncScopes(ctx context.Context, fn func(sp.SyncKey, Scope) error) error {
	// Collections and areas are few: one string each, not one a row.
	names := map[string]string{}
	intern := func(b []byte) string {
		if v, ok := names[string(b)]; ok {
			return v
		}
		v := string(b)
		if len(names) < 4096 {
			names[v] = v
		}
		return v
	}
	return s.read(ctx, "the sync-order index", func(txn *badger.Txn) error {
		return s.scanSyncRows(ctx, txn, nil, false, func(sk sp.SyncKey, scope []byte) error {
			author, coll, area, _ := splitScope(scope)
			sc := Scope{Collection: intern(coll), Area: intern(area)}
			copy(sc.Author[:], author)
			return callUser(func() error { return fn(sk, sc) })
		})
	})
}

// maxScopeLen is the longest scope an 'o' row keeps.
const maxScopeLen = len(sp.DeviceID{}) + 1 + sp.MaxCollectionLen + sp.MaxAreaLen

// syncRowValue is the value of the 'o' row key of entry e: a tag over
// the key and the entry's scope, then the scope.
func (s *Store) syncRowValue(key []byte, e *sp.Entry) []byte {
	var buf [maxScopeLen]byte
	scope := appendScope(buf[:0], e)
	v := make([]byte, 0, tagLen+len(scope))
	v = s.tags.sum(v, key, scope)
	return append(v, scope...)
}

// syncRowScope checks the value v of the 'o' row key, and returns the
// scope it keeps (a part of v).
func (s *Store) syncRowScope(key, v []byte) ([]byte, error) {
	if len(v) <= tagLen || !s.tags.check(v[:tagLen], key, v[tagLen:]) {
		return nil, s.integrity("the sync-order index", "a row's tag does not match")
	}
	if _, _, _, ok := splitScope(v[tagLen:]); !ok {
		return nil, s.integrity("the sync-order index", "a row's scope does not parse")
	}
	return v[tagLen:], nil
}

// syncRows is scanSyncRows for callers that need only the keys.
func (s *Store) syncRows(ctx context.Context, txn *badger.Txn, after *sp.SyncKey, values bool, fn func(sp.SyncKey) error) error {
	return s.scanSyncRows(ctx, txn, after, values, func(sk sp.SyncKey, _ []byte) error { return fn(sk) })
}

// scanSyncRows walks the sync-order index after the key after (nil: from
// the start), checks each row's key and tag, and calls fn with its sync
// key and scope (valid only during the call). A walk from the start is
// checked against the store's digest at its end. values says whether the
// rows' entries will be read (prefetching helps).
func (s *Store) scanSyncRows(ctx context.Context, txn *badger.Txn, after *sp.SyncKey, values bool, fn func(sp.SyncKey, []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixSync}, PrefetchValues: values})
	defer it.Close()
	start := []byte{prefixSync}
	if after != nil {
		start = syncRowKey(*after)
	}
	n := 0
	var dig sp.Digest
	var buf []byte
	for it.Seek(start); it.Valid(); it.Next() {
		if n++; n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		item := it.Item()
		sk, ok := parseSyncRowKey(item.Key())
		if !ok {
			return s.integrity("the sync-order index", "a key does not parse")
		}
		if after != nil && sk == *after {
			continue
		}
		var err error
		if buf, err = item.ValueCopy(buf[:0]); err != nil {
			return s.readError("the sync-order index", err)
		}
		scope, err := s.syncRowScope(item.Key(), buf)
		if err != nil {
			return err
		}
		dig.Add(sk.Hash())
		if err := fn(sk, scope); err != nil {
			return err
		}
	}
	if after != nil {
		return nil
	}
	return s.checkFullScan(txn, dig)
}

// checkFullScan checks that a whole scan of the sync-order index saw
// exactly the entries of the store's digest. Badger ends an iteration
// quietly at a block that fails its checksum, so this is where such damage
// shows.
func (s *Store) checkFullScan(txn *badger.Txn, dig sp.Digest) error {
	st, err := s.readState(txn)
	if err != nil {
		return err
	}
	if st.Count != dig.Count || st.Sum != dig.Sum {
		return s.integrity("the sync-order index", "a full scan saw %d entries, and the store holds %d", dig.Count, st.Count)
	}
	return nil
}

// Summary implements syncproto.Store.
func (s *Store) Summary(ctx context.Context) (sp.Summary, error) {
	var st stateRow
	err := s.read(ctx, "the state row", func(txn *badger.Txn) error {
		var err error
		st, err = s.readState(txn)
		return err
	})
	return st.summary(), err
}

// Conflicts calls fn for each field, in every collection, that has two or
// more kept value entries (concurrent values nobody has resolved), in key
// order. Iteration stops at the first error from fn, which Conflicts
// returns.
func (s *Store) Conflicts(ctx context.Context, fn func(coll string, id sp.RecordID, field string) error) error {
	type row struct {
		coll  string
		id    sp.RecordID
		field string
	}
	var rows []row
	err := s.read(ctx, "the conflict index", func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixConflict}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			coll, id, field, ok := parseConflictKey(item.Key())
			if !ok {
				return s.integrity("the conflict index", "a key does not parse")
			}
			if err := s.checkTag(item, "the conflict index"); err != nil {
				return err
			}
			rows = append(rows, row{coll, id, field})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := fn(r.coll, r.id, r.field); err != nil {
			return err
		}
	}
	return nil
}
