package store

import (
	"context"
	"crypto/sha256"
	"strings"

	"github.com/dgraph-io/badger/v4"

	sp "github.com/floe-north/floe/syncproto"
)

// Snapshot is a consistent, read-only view of the whole store: every read
// through it sees the store as it was when the snapshot was taken, however
// much is written meanwhile. A backup reads the node through one. Each row
// is checked as it is read (tags, seals, hashes), as any other read does.
//
// While a snapshot is open, Close waits for it: close it promptly, and do
// not call other methods of the store from the goroutine that holds it
// while the store may be closing.
type Snapshot struct {
	s       *Store
	txn     *badger.Txn
	release func()
	done    bool
}

// Snapshot opens a snapshot of the store as it is now.
func (s *Store) Snapshot() (*Snapshot, error) {
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	return &Snapshot{s: s, txn: s.db.NewTransaction(false), release: release}, nil
}

// Close ends the snapshot. It is safe to call more than once.
func (sn *Snapshot) Close() {
	if sn.done {
		return
	}
	sn.done = true
	sn.txn.Discard()
	sn.release()
}

// do runs fn on the snapshot's transaction, as view does: a panic of
// badger's on damaged data is reported as ErrIntegrity.
func (sn *Snapshot) do(ctx context.Context, where string, fn func(txn *badger.Txn) error) (err error) {
	if sn.done {
		return human(ErrClosed, "the snapshot of the store in %s is closed", sn.s.dir)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			if up, ok := r.(userPanic); ok {
				panic(up.v)
			}
			err = sn.s.integrity(where, "the database failed while reading: %v", r)
		}
	}()
	return fn(sn.txn)
}

// Summary is the digest of the kept entries and the newest timestamp ever
// kept, as of the snapshot.
func (sn *Snapshot) Summary(ctx context.Context) (sp.Summary, error) {
	var st stateRow
	err := sn.do(ctx, "the state row", func(txn *badger.Txn) error {
		var err error
		st, err = sn.s.readState(txn)
		return err
	})
	return st.summary(), err
}

// Meta calls fn with every meta row of the node (not the store's own
// rows, which a new store makes for itself), in name order.
func (sn *Snapshot) Meta(ctx context.Context, fn func(name string, value []byte) error) error {
	return sn.do(ctx, "the meta rows", func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixMeta}, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			name := string(item.Key()[1:])
			if strings.HasPrefix(name, metaReserved) {
				continue
			}
			key := item.KeyCopy(nil)
			var plain []byte
			ok := false
			if err := item.Value(func(v []byte) error {
				plain, ok = sn.s.seal.open(key, v)
				return nil
			}); err != nil {
				return sn.s.readError("meta row "+name, err)
			}
			if !ok {
				return sn.s.integrity("meta row "+name, "its seal does not open")
			}
			if err := callUser(func() error { return fn(name, plain) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// Collection calls fn with every kept entry of one collection, by record
// and field.
func (sn *Snapshot) Collection(ctx context.Context, coll string, fn func(sp.Entry) error) error {
	return sn.do(ctx, "the record index", func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: collectionPrefix(coll)})
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%ctxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			row, ok := parseRecordKey(item.Key())
			if !ok || row.coll != coll {
				return sn.s.integrity("the record index", "a key does not parse")
			}
			if err := sn.s.checkTag(item, "the record index"); err != nil {
				return err
			}
			e, err := sn.s.recordRowEntry(txn, row)
			if err != nil {
				return err
			}
			if err := callUser(func() error { return fn(e) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// Entries calls fn with every kept entry, in hash order, each checked
// against its tag. The whole scan is checked against the snapshot's
// digest, so an entry lost to damage is an error, not a gap.
func (sn *Snapshot) Entries(ctx context.Context, fn func(sp.EntryHash, sp.Entry) error) error {
	return sn.do(ctx, "the entries", func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEntry}, PrefetchValues: true})
		defer it.Close()
		var dig sp.Digest
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%ctxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			h, ok := parseEntryKey(item.Key())
			if !ok {
				return sn.s.integrity("the entries", "a key does not parse")
			}
			var e sp.Entry
			err := item.Value(func(v []byte) error {
				var err error
				e, err = sn.s.decodeEntryValue(h, item.Key(), v)
				return err
			})
			if err != nil {
				return sn.s.readError("entry "+h.Short(), err)
			}
			dig.Add(h)
			if err := callUser(func() error { return fn(h, e) }); err != nil {
				return err
			}
		}
		st, err := sn.s.readState(txn)
		if err != nil {
			return err
		}
		if st.Count != dig.Count || st.Sum != dig.Sum {
			return sn.s.integrity("the entries", "a full scan saw %d entries, and the store holds %d", dig.Count, st.Count)
		}
		return nil
	})
}

// Chunks calls fn with every blob chunk, each checked against its tag and
// its hash, in hash order. The bytes passed to fn are valid only during
// the call.
func (sn *Snapshot) Chunks(ctx context.Context, fn func(h ChunkHash, chunk []byte) error) error {
	return sn.do(ctx, "blob chunks", func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}, PrefetchValues: true, PrefetchSize: 8})
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%16 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			k := item.Key()
			var h ChunkHash
			if len(k) != 1+len(h) {
				return sn.s.integrity("blob chunks", "a key does not parse")
			}
			copy(h[:], k[1:])
			// fn's own error (a full backup disk, say) is not damage:
			// it is kept apart from badger's.
			var ferr error
			err := item.Value(func(v []byte) error {
				if len(v) <= tagLen || !sn.s.tags.check(v[:tagLen], k, v[tagLen:]) || sha256.Sum256(v[tagLen:]) != h {
					return sn.s.integrity("blob chunk", "chunk %x does not match its tag or hash", h[:6])
				}
				ferr = callUser(func() error { return fn(h, v[tagLen:]) })
				return nil
			})
			if err != nil {
				return sn.s.readError("blob chunks", err)
			}
			if ferr != nil {
				return ferr
			}
		}
		return nil
	})
}

// RaiseLastWrite makes the store's newest timestamp ever kept at least t.
// A node restored from a backup sets it to what the backed-up node had
// seen, so that its clock, which starts from it, stamps new entries after
// every entry that node ever wrote, even those pruned since. The digest
// (and so the state hash) does not change.
func (s *Store) RaiseLastWrite(t sp.HLC) error {
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	st, err := s.readState(txn)
	if err != nil {
		return err
	}
	if st.LastWrite >= t {
		return nil
	}
	st.LastWrite = t
	k, v := s.sealRow(metaState, &st)
	if err := txn.Set(k, v); err != nil {
		return s.writeError(err, false)
	}
	if err := txn.Commit(); err != nil {
		return s.writeError(err, false)
	}
	if err := s.db.Sync(); err != nil {
		return s.writeError(err, true)
	}
	return nil
}
