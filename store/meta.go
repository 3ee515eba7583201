package store

import (
	"errors"
	"fmt"
	"unicode"

	"github.com/dgraph-io/badger/v4"

	sp "github.com/floe-north/floe/syncproto"
)

// formatRow is the value of the metaFormat row. CBOR keys: never renumber.
type formatRow struct {
	Layout uint `cbor:"1,keyasint"`
}

// indexRow is the value of the metaIndex row: what the search index was
// built with (indexID).
type indexRow struct {
	ID string `cbor:"1,keyasint"`
}

// stateRow is the value of the metaState row: the digest of the kept
// entries and the newest timestamp ever kept. CBOR keys: never renumber.
type stateRow struct {
	Count     uint64   `cbor:"1,keyasint"`
	Sum       [32]byte `cbor:"2,keyasint"`
	LastWrite sp.HLC   `cbor:"3,keyasint"`
}

func (r *stateRow) summary() sp.Summary {
	return sp.Summary{Digest: sp.Digest{Count: r.Count, Sum: r.Sum}, LastWrite: r.LastWrite}
}

func (r *stateRow) add(h sp.EntryHash, t sp.HLC) {
	d := sp.Digest{Count: r.Count, Sum: r.Sum}
	d.Add(h)
	r.Count, r.Sum = d.Count, d.Sum
	r.LastWrite = max(r.LastWrite, t)
}

func (r *stateRow) remove(h sp.EntryHash) {
	d := sp.Digest{Count: r.Count, Sum: r.Sum}
	d.Remove(h)
	r.Count, r.Sum = d.Count, d.Sum
}

// sealRow encodes v and seals it for the meta row name.
func (s *Store) sealRow(name string, v any) (key, val []byte) {
	b, err := sp.Marshal(v)
	if err != nil {
		panic("bug: encoding meta row: " + err.Error())
	}
	key = metaKey(name)
	return key, s.seal.seal(key, b)
}

// getMetaTxn reads and opens a meta row in txn. A missing row is
// sp.ErrNotFound.
func (s *Store) getMetaTxn(txn *badger.Txn, name string) ([]byte, error) {
	key := metaKey(name)
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, sp.ErrNotFound
	}
	if err != nil {
		return nil, s.readError("meta row "+name, err)
	}
	var plain []byte
	var ok bool
	err = item.Value(func(v []byte) error {
		plain, ok = s.seal.open(key, v)
		return nil
	})
	if err != nil {
		return nil, s.readError("meta row "+name, err)
	}
	if !ok {
		return nil, s.integrity("meta row "+name, "its seal does not open")
	}
	return plain, nil
}

// readState reads the metaState row in txn.
func (s *Store) readState(txn *badger.Txn) (stateRow, error) {
	var st stateRow
	b, err := s.getMetaTxn(txn, metaState)
	if errors.Is(err, sp.ErrNotFound) {
		return st, s.integrity("the state row", "it is missing")
	}
	if err != nil {
		return st, err
	}
	if err := sp.UnmarshalStrict(b, &st); err != nil {
		return st, s.integrity("the state row", "%v", err)
	}
	return st, nil
}

// initMeta writes the meta rows of a new store.
func (s *Store) initMeta() error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	k, v := s.sealRow(metaFormat, &formatRow{Layout: LayoutVersion})
	if err := txn.Set(k, v); err != nil {
		return s.writeError(err, false)
	}
	k, v = s.sealRow(metaState, &stateRow{})
	if err := txn.Set(k, v); err != nil {
		return s.writeError(err, false)
	}
	k, v = s.sealRow(metaIndex, &indexRow{ID: s.indexID()})
	if err := txn.Set(k, v); err != nil {
		return s.writeError(err, false)
	}
	if err := txn.Commit(); err != nil {
		return s.writeError(err, false)
	}
	if err := s.db.Sync(); err != nil {
		return s.writeError(err, false)
	}
	return nil
}

// checkMeta checks, at open, that the store's own meta rows are there and
// open (a store that lost them has lost data), and returns the layout the
// store is in and its upgrade row, if an upgrade is under way. A store of
// a newer layout is refused before anything else is read.
func (s *Store) checkMeta() (layout uint, up *upgradeRow, err error) {
	err = s.view("opening the store", func(txn *badger.Txn) error {
		b, err := s.getMetaTxn(txn, metaFormat)
		if errors.Is(err, sp.ErrNotFound) {
			return s.integrity("the format row", "it is missing")
		}
		if err != nil {
			return err
		}
		var f formatRow
		if err := sp.UnmarshalStrict(b, &f); err != nil {
			return s.integrity("the format row", "%v", err)
		}
		switch {
		case f.Layout > LayoutVersion:
			return human(ErrNewerStore, "the store in %s has layout version %d, and this Floe reads layouts up to %d: a newer Floe wrote it; use a newer Floe (nothing was changed)", s.dir, f.Layout, LayoutVersion)
		case f.Layout < OldestLayout:
			return s.integrity("the format row", "layout version %d", f.Layout)
		}
		layout = f.Layout
		b, err = s.getMetaTxn(txn, metaUpgrade)
		switch {
		case errors.Is(err, sp.ErrNotFound):
		case err != nil:
			return err
		default:
			up = new(upgradeRow)
			if err := sp.UnmarshalStrict(b, up); err != nil {
				return s.integrity("the upgrade row", "%v", err)
			}
			if up.To > LayoutVersion && up.Step == upgradeIndexing && layout == up.From {
				// A newer Floe began an upgrade and stopped before its
				// flip: the store is still of a layout this one reads.
				// If this Floe writes, the newer one starts over.
				s.log.Warn("a newer Floe began upgrading this store and did not finish; it carries on when it opens the store again", "to", up.To)
				up = nil
				break
			}
			if up.From >= up.To ||
				up.Step == upgradeIndexing && layout != up.From || up.Step == upgradeCleaning && layout != up.To ||
				up.Step != upgradeIndexing && up.Step != upgradeCleaning {
				return s.integrity("the upgrade row", "an upgrade from layout %d to %d in a store of layout %d", up.From, up.To, layout)
			}
		}
		_, err = s.readState(txn)
		return err
	})
	return layout, up, err
}

// maxMetaName and maxMetaValue cap the node's meta rows.
const (
	maxMetaName  = 128
	maxMetaValue = 8 << 20
)

func checkMetaName(name string) error {
	if name == "" || len(name) > maxMetaName {
		return fmt.Errorf("meta row name must be 1 to %d bytes", maxMetaName)
	}
	for _, r := range name {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
			return fmt.Errorf("meta row name %q: only printable ASCII without spaces", name)
		}
	}
	if len(name) >= len(metaReserved) && name[:len(metaReserved)] == metaReserved {
		return fmt.Errorf("meta row name %q: names starting %q are the store's own", name, metaReserved)
	}
	return nil
}

// GetMeta returns the value of one of the node's meta rows, or an error
// matching syncproto.ErrNotFound.
func (s *Store) GetMeta(name string) ([]byte, error) {
	if err := checkMetaName(name); err != nil {
		return nil, err
	}
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	var out []byte
	err = s.view("meta row "+name, func(txn *badger.Txn) error {
		out, err = s.getMetaTxn(txn, name)
		return err
	})
	if errors.Is(err, sp.ErrNotFound) {
		return nil, fmt.Errorf("meta row %q: %w", name, sp.ErrNotFound)
	}
	return out, err
}

// PutMeta sets one of the node's meta rows (its device key, settings and
// the like). The value is sealed with a key derived from the master key.
func (s *Store) PutMeta(name string, v []byte) error {
	if err := checkMetaName(name); err != nil {
		return err
	}
	if len(v) > maxMetaValue {
		return fmt.Errorf("meta row %q: value is %d bytes (limit %d)", name, len(v), maxMetaValue)
	}
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := checkFree(s.dataDir, s.dir, &s.opts, false); err != nil {
		return err
	}
	key := metaKey(name)
	return s.commitRow(key, s.seal.seal(key, v))
}

// DeleteMeta removes one of the node's meta rows; a missing row is not an
// error.
func (s *Store) DeleteMeta(name string) error {
	if err := checkMetaName(name); err != nil {
		return err
	}
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.commitRow(metaKey(name), nil)
}

// putStoreRow writes one of the store's own meta rows.
func (s *Store) putStoreRow(name string, v any) error {
	return s.commitRow(s.sealRow(name, v))
}

// commitRow writes one sealed meta row (or deletes it, for a nil val) in
// its own transaction and syncs. Meta rows are rare and matter (the device
// key is one): on disk before the call returns, as with ApplyVerified.
func (s *Store) commitRow(key, val []byte) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	op := func() error { return txn.Set(key, val) }
	if val == nil {
		op = func() error { return txn.Delete(key) }
	}
	if err := op(); err != nil {
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
