package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/crypto/blake2b"

	sp "github.com/floe-north/floe/syncproto"
)

// VerifyReport counts the rows Verify checked, and lists what it found
// wrong. Problems name rows and entries by hash, never by content.
type VerifyReport struct {
	Entries    int // 'e' rows
	RecordRows int // 'r' rows
	SyncRows   int // 'o' rows: the sync-order index
	SearchRows int // 'x' rows
	MetaRows   int // 'm' rows
	Chunks     int // 'b' rows: blob chunks
	// ConflictRows are 'c' rows: fields with concurrent values.
	ConflictRows int
	// Problems are the first maxProblems problems found; ProblemCount is
	// how many there were in all.
	Problems     []string
	ProblemCount int
}

// OK reports whether Verify found nothing wrong.
func (r *VerifyReport) OK() bool { return r.ProblemCount == 0 }

const maxProblems = 100

func (r *VerifyReport) problem(format string, args ...any) {
	r.ProblemCount++
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

func (r *VerifyReport) problemErr(err error) {
	var ie *IntegrityError
	if errors.As(err, &ie) {
		r.problem("%s: %s", ie.Where, ie.Detail)
		return
	}
	r.problem("%v", err)
}

// Verify checks the whole store: the checksums of badger's tables, every
// entry's hash and tag, every index row's tag, that each entry has its
// record, sync-order and search rows and that there are no others, that a
// deleted record holds its tombstone alone, every meta row's seal, and that
// the digest recomputed from the entries is the stored one. It reads every
// row once, from one snapshot, without lookups (see keySet); only if the
// index rows and the entries differ does it read them again to say which.
// If it finds a problem, the error is an ErrIntegrity and the report lists
// what it found.
func (s *Store) Verify(ctx context.Context) (VerifyReport, error) {
	var rep VerifyReport
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	release, err := s.acquire()
	if err != nil {
		return rep, err
	}
	defer release()
	if err := s.verifyTables(); err != nil {
		rep.problemErr(err)
	}
	err = s.view("verify", func(txn *badger.Txn) error {
		differ, err := s.verifyScan(ctx, txn, &rep)
		if err != nil || !differ {
			return err
		}
		// The index rows and the entries differ: find which, with a
		// slower pass that looks up each entry's rows.
		return s.verifyRows(ctx, txn, &rep)
	})
	if err != nil {
		var ie *IntegrityError
		if !errors.As(err, &ie) {
			return rep, err
		}
		rep.problemErr(err)
	}
	if rep.ProblemCount > 0 {
		more := ""
		if rep.ProblemCount > 1 {
			more = fmt.Sprintf(" and %d more", rep.ProblemCount-1)
		}
		return rep, s.integrity("a full check", "%s%s", strings.TrimSpace(rep.Problems[0]), more)
	}
	return rep, nil
}

// keySet is a fingerprint of a set of keys: their count and the sum,
// modulo 2^256, of their BLAKE2b-256 hashes. Two sets with the same
// fingerprint are the same set, but for a negligible chance; it is built in
// any order, so the entries and the index rows, which badger returns in
// different orders, can be compared in one scan without lookups.
type keySet struct{ d sp.Digest }

func (k *keySet) add(key []byte) { k.d.Add(blake2b.Sum256(key)) }

// verifyScan reads every row once. It checks each row on its own (tags,
// hashes, seals, a deleted record's rows), the digest, and the fingerprints
// of the index rows against those the entries call for. It reports whether
// the fingerprints differ.
func (s *Store) verifyScan(ctx context.Context, txn *badger.Txn, rep *VerifyReport) (differ bool, err error) {
	var (
		dig                 sp.Digest
		newest              sp.HLC
		wantR, wantS, wantX keySet
		haveR, haveS, haveX keySet
		curRec              string // record prefix of the last 'r' row
		curTomb             bool   // whether that record's first row is a tombstone
		badEntries          int
		// The conflict index is derived from the 'r' rows, which come
		// field by field: curField is the field the last one was in.
		wantC, haveC keySet
		curField     *recordRow
		curCount     int
	)
	// indexRow checks an index row that carries only a tag, and counts it
	// in have if it is sound.
	indexRow := func(item *badger.Item, k []byte, parsed bool, index string, have *keySet) {
		if !parsed {
			rep.problem("a key of %s does not parse", index)
			return
		}
		if err := s.checkTag(item, index); err != nil {
			rep.problemErr(err)
			return
		}
		have.add(k)
	}
	flushField := func() {
		if curField != nil && curCount >= 2 && conflictField(curField.field) {
			wantC.add(conflictKey(curField.coll, curField.id, curField.field))
		}
	}
	it := txn.NewIterator(badger.IteratorOptions{})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		if n++; n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		item := it.Item()
		k := item.KeyCopy(nil)
		switch k[0] {
		case prefixEntry:
			rep.Entries++
			h, ok := parseEntryKey(k)
			if !ok {
				rep.problem("an entry key does not parse")
				badEntries++
				continue
			}
			var e sp.Entry
			err := item.Value(func(v []byte) error {
				e, err = s.decodeEntry(h, k, v, true)
				return err
			})
			if err != nil {
				rep.problemErr(s.readError("entry "+h.Short(), err))
				badEntries++
				continue
			}
			dig.Add(h)
			newest = max(newest, e.Time)
			wantR.add(recordKey(&e, h))
			wantS.add(appendScope(syncRowKey(sp.MakeSyncKey(e.Time, h)), &e))
			for _, t := range s.terms(&e) {
				wantX.add(searchKey(t, e.Record, h))
			}
		case prefixRecord:
			rep.RecordRows++
			row, ok := parseRecordKey(k)
			if !ok {
				rep.problem("a record-index key does not parse")
				continue
			}
			if err := s.checkTag(item, "the record index"); err != nil {
				rep.problemErr(err)
				continue
			}
			haveR.add(k)
			if curField == nil || curField.coll != row.coll || curField.id != row.id || curField.field != row.field {
				flushField()
				r := row
				curField, curCount = &r, 0
			}
			curCount++
			rp := string(recordPrefix(row.coll, row.id))
			if rp != curRec {
				curRec, curTomb = rp, row.field == ""
			} else if curTomb {
				rep.problem("deleted record %s holds entry %s beside its tombstone", row.id.Short(), row.hash.Short())
			}
		case prefixSync:
			// Fingerprinted with the scope it keeps, so a row whose
			// scope is not its entry's shows as a difference.
			rep.SyncRows++
			if _, ok := parseSyncRowKey(k); !ok {
				rep.problem("a key of the sync-order index does not parse")
				break
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				rep.problemErr(s.readError("the sync-order index", err))
				break
			}
			scope, err := s.syncRowScope(k, v)
			if err != nil {
				rep.problemErr(err)
				break
			}
			haveS.add(append(k, scope...))
		case prefixSyncV1:
			rep.problem("a sync-order row of store layout 1 is left over from the upgrade")
		case prefixSearch:
			rep.SearchRows++
			_, ok := parseSearchKey(k)
			indexRow(item, k, ok, "the search index", &haveX)
		case prefixMeta:
			rep.MetaRows++
			if _, err := s.getMetaTxn(txn, string(k[1:])); err != nil {
				rep.problemErr(err)
			}
		case prefixChunk:
			rep.Chunks++
			if len(k) != 1+32 {
				rep.problem("a blob chunk row's key does not parse")
				break
			}
			err := item.Value(func(v []byte) error {
				if len(v) <= tagLen || !s.tags.check(v[:tagLen], k, v[tagLen:]) || !bytes.Equal(sha256Sum(v[tagLen:]), k[1:]) {
					rep.problem("blob chunk %x does not match its tag or hash", k[1:7])
				}
				return nil
			})
			if err != nil {
				rep.problemErr(err)
			}
		case prefixConflict:
			rep.ConflictRows++
			_, _, _, ok := parseConflictKey(k)
			indexRow(item, k, ok, "the conflict index", &haveC)
		default:
			rep.problem("a row with unknown prefix %q", k[0])
		}
	}
	flushField()
	if wantC != haveC {
		rep.problem("the conflict index does not match the record index")
	}
	st, err := s.readState(txn)
	if err != nil {
		rep.problemErr(err)
	} else {
		if st.Count != dig.Count || st.Sum != dig.Sum {
			rep.problem("the stored digest (%d entries) does not match the entries (%d)", st.Count, dig.Count)
		}
		if st.LastWrite < newest {
			rep.problem("the stored last write %v is older than entry time %v", st.LastWrite, newest)
		}
	}
	// Entries that failed their own checks have been reported; their
	// index rows would only repeat it.
	if badEntries > 0 {
		return false, nil
	}
	return wantR != haveR || wantS != haveS || wantX != haveX, nil
}

// verifyRows is the slow pass of Verify, run only when the index rows do
// not match the entries: it looks up each entry's rows, and each index
// row's entry, and reports each that is missing.
func (s *Store) verifyRows(ctx context.Context, txn *badger.Txn, rep *VerifyReport) error {
	before := rep.ProblemCount
	it := txn.NewIterator(badger.IteratorOptions{})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		if n++; n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		item := it.Item()
		k := item.Key()
		switch k[0] {
		case prefixEntry:
			h, _ := parseEntryKey(k)
			e, err := s.getEntry(txn, h)
			if err != nil {
				continue // reported by the scan
			}
			s.verifyRow(txn, rep, recordKey(&e, h), "entry %s has no record-index row", h)
			s.verifySyncRow(txn, rep, &e, h)
			for _, t := range s.terms(&e) {
				s.verifyRow(txn, rep, searchKey(t, e.Record, h), "entry %s lacks a search posting", h)
			}
		case prefixRecord:
			row, ok := parseRecordKey(k)
			if !ok {
				continue
			}
			if _, err := s.recordRowEntry(txn, row); err != nil {
				rep.problemErr(err)
			}
		case prefixSync:
			sk, _ := parseSyncRowKey(k)
			e, err := s.getEntry(txn, sk.Hash())
			if errors.Is(err, sp.ErrNotFound) {
				rep.problem("a sync-order row names entry %s, which is missing", sk.Hash().Short())
			} else if err == nil && e.Time != sk.Time() {
				rep.problem("a sync-order row's time does not match entry %s", sk.Hash().Short())
			} else if err == nil {
				var scope []byte
				err := item.Value(func(v []byte) error {
					var err error
					scope, err = s.syncRowScope(k, v)
					if err == nil && !bytes.Equal(scope, appendScope(nil, &e)) {
						rep.problem("a sync-order row's scope does not match entry %s", sk.Hash().Short())
					}
					return nil
				})
				if err != nil {
					rep.problemErr(s.readError("the sync-order index", err))
				}
			}
		case prefixSearch:
			row, ok := parseSearchKey(k)
			if !ok {
				continue
			}
			e, err := s.getEntry(txn, row.hash)
			if errors.Is(err, sp.ErrNotFound) {
				rep.problem("a search posting names entry %s, which is missing", row.hash.Short())
			} else if err == nil && (e.Record != row.id || !slices.Contains(s.terms(&e), row.term)) {
				rep.problem("a search posting does not belong to entry %s", row.hash.Short())
			}
		}
	}
	if rep.ProblemCount == before {
		rep.problem("the index rows do not match the entries")
	}
	return nil
}

// verifySyncRow checks that entry e (hash h) has its sync-order row, with
// a tag that matches and the entry's scope.
func (s *Store) verifySyncRow(txn *badger.Txn, rep *VerifyReport, e *sp.Entry, h sp.EntryHash) {
	key := syncRowKey(sp.MakeSyncKey(e.Time, h))
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		rep.problem("entry %s has no sync-order row", h.Short())
		return
	}
	if err == nil {
		err = item.Value(func(v []byte) error {
			scope, err := s.syncRowScope(key, v)
			if err == nil && !bytes.Equal(scope, appendScope(nil, e)) {
				rep.problem("the sync-order row of entry %s keeps another scope", h.Short())
			}
			return err
		})
	}
	if err != nil {
		rep.problemErr(s.readError("entry "+h.Short(), err))
	}
}

// verifyRow checks that an index row exists and that its tag matches.
func (s *Store) verifyRow(txn *badger.Txn, rep *VerifyReport, key []byte, missing string, h sp.EntryHash) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		rep.problem(missing, h.Short())
		return
	}
	if err != nil {
		rep.problemErr(s.readError("entry "+h.Short(), err))
		return
	}
	if err := s.checkTag(item, "entry "+h.Short()); err != nil {
		rep.problemErr(err)
	}
}

// verifyTables has badger check the checksum of every block of every
// table. Badger, finding a bad block, can panic before it returns the
// error; that is reported as damage too.
func (s *Store) verifyTables() (err error) {
	defer func() {
		if r := recover(); r != nil {
			// Badger v4.9.6 dereferences the nil block it got back
			// with a failed checksum.
			err = s.integrity("the database tables", "a block failed its checksum (badger stopped with: %v)", r)
		}
	}()
	if err := s.db.VerifyChecksum(); err != nil {
		return s.integrity("the database tables", "%v", err)
	}
	return nil
}

func sha256Sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
