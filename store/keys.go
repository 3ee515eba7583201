package store

import (
	"bytes"
	"strings"

	sp "github.com/floe-north/floe/syncproto"
)

// The key layout of the badger database in DIR/data. This file is the one
// place that builds and parses keys: every row the store writes is listed
// here.
//
//	prefix  key                                                      value
//	------  -------------------------------------------------------  ---------------------------------------
//	'e'     'e' hash(32)                                             tag(16) ‖ canonical encoding of the
//	                                                                 whole entry (syncproto.Entry.Encode)
//	'r'     'r' len(coll)(1) coll record(16) field 0x00 hash(32)     tag(16) of the key
//	'o'     'o' HLC(8, big-endian) hash(32)                          tag(16) of key ‖ scope, then the scope:
//	                                                                 author(32) len(coll)(1) coll area
//	'x'     'x' term 0x00 record(16) hash(32)                        tag(16) of the key
//	'c'     'c' len(coll)(1) coll record(16) field                   tag(16) of the key
//	'b'     'b' hash(32)                                             tag(16) ‖ a blob chunk (blob.go)
//	'm'     'm' name                                                 nonce(24) ‖ XChaCha20-Poly1305 sealed
//	                                                                 value, additional data = the key
//
//	'e' entries. The key is the entry's hash, the SHA-256 of its SigBytes.
//	    Entries authenticate themselves: every read checks that the hash of
//	    the decoded entry is the hash in the key. The hash does not cover
//	    the signature, so the value also carries a MAC tag over key and
//	    encoding: a damaged signature is caught too, without an ed25519
//	    verification on every read.
//	'r' one row per kept entry, by record: Record, Records, and the
//	    Tombstone and Siblings reads of a merge are prefix scans. The
//	    length byte keeps one collection's rows from running into another's
//	    (collections are at most 32 bytes). A tombstone has field "", so its
//	    row sorts first in its record: Records tells a deleted record from
//	    the first row alone, and then seeks to the next record ID. Field
//	    paths hold no 0x00 (syncproto.ValidateField allows printable runes
//	    only), so "field 0x00" sorts as the field path does, and rows come
//	    out ordered by field path and then hash, as Store.Record returns
//	    entries.
//	'o' one row per kept entry, in sync order: the key after 'o' is the
//	    syncproto.SyncKey, so ScanSyncOrder is one forward scan. The value
//	    keeps the entry's scope (Scope: author, collection, area), what
//	    decides who may hold it, so that the key list of a filtered
//	    session (SyncScopes) reads this index alone. The tag covers key
//	    and scope. Layout 1 kept these rows under 's' with a tag over the
//	    key only; the upgrade to layout 2 (upgrade.go) replaces them.
//	'x' search postings: one row per (term, entry) for the terms of the
//	    text Options.IndexText returns for the entry. The term is folded
//	    by package textfold (letters and digits only, so never 0x00), and
//	    a query term matches as a prefix of it. The entry hash is in the
//	    key so that pruning one entry removes only its own postings when
//	    another entry of the record has the same term.
//	'c' the conflict index: one row per value field (not a tally, not
//	    a tombstone) that has two or more kept entries, so that listing
//	    conflicts reads these rows and not every record. Kept in the same
//	    transaction as the entries; Verify derives the set from the 'r'
//	    rows and compares.
//	'm' meta rows. Names starting "store." are the store's own: see
//	    metaFormat and metaState. Others belong to the node (GetMeta,
//	    PutMeta).
//
// Every value is authenticated with a key derived from the master key
// (crypto.go): badger's AES-CTR encryption hides the data but does not
// authenticate it. A row that fails its check is reported as ErrIntegrity,
// never used.
//
// Badger checks each block's checksum as it reads it, but a block that
// fails ends an iteration quietly, or makes a Get say "not found" (badger
// v4.9.6, table/iterator.go and level_handler.go). So rows that vanish are
// caught by cross-checks: an index row whose entry is missing is an error,
// a whole ScanSyncOrder must add up to the digest in the state row, the
// state and format rows must be there, and Verify compares the index rows
// with the entries. Damage done while the node is shut down is caught
// before badger opens, by the shutdown seal (seal.go).
//
// The state row is written once per transaction, not per entry: badger
// counts every write of a key toward its transaction cap.
const (
	prefixChunk  byte = 'b'
	prefixEntry  byte = 'e'
	prefixRecord byte = 'r'
	prefixSync   byte = 'o'
	// prefixSyncV1 is the sync-order index of layout 1 ('s' HLC hash,
	// value the tag of the key). Only the upgrade reads and removes it.
	prefixSyncV1   byte = 's'
	prefixSearch   byte = 'x'
	prefixMeta     byte = 'm'
	prefixConflict byte = 'c'
)

// The store's own meta rows.
const (
	// metaReserved starts the names of the store's own meta rows.
	metaReserved = "store."
	// metaFormat holds formatRow: the layout version of this file.
	metaFormat = "store.format"
	// metaState holds stateRow: the digest and last write, updated in the
	// same transaction as every applied entry.
	metaState = "store.state"
	// metaIndex holds indexRow: what the search index was built with.
	metaIndex = "store.index"
	// metaUpgrade holds upgradeRow while the store is being upgraded to
	// a newer layout (upgrade.go); there is none otherwise.
	metaUpgrade = "store.upgrade"
)

// LayoutVersion is the version of the key layout above, kept in the
// metaFormat row. Bump it on any change to this file, and add the upgrade
// from the version before (upgrade.go). History:
//
//	1  2026-11-24  the first layout.
//	2  2026-11-25  the sync-order index ('s' became 'o') keeps each
//	               entry's scope, so a filtered session reads no entries.
const LayoutVersion = 2

const (
	hashLen   = len(sp.EntryHash{})
	recordLen = len(sp.RecordID{})
)

func entryKey(h sp.EntryHash) []byte {
	k := make([]byte, 1+hashLen)
	k[0] = prefixEntry
	copy(k[1:], h[:])
	return k
}

// parseEntryKey returns the hash of an 'e' key.
func parseEntryKey(k []byte) (sp.EntryHash, bool) {
	var h sp.EntryHash
	if len(k) != 1+hashLen || k[0] != prefixEntry {
		return h, false
	}
	copy(h[:], k[1:])
	return h, true
}

// collectionPrefix is 'r' len(coll) coll: every row of a collection.
func collectionPrefix(coll string) []byte {
	k := make([]byte, 0, 2+len(coll)+recordLen+8)
	k = append(k, prefixRecord, byte(len(coll)))
	return append(k, coll...)
}

// recordPrefix is collectionPrefix and the record ID: every row of a record.
func recordPrefix(coll string, id sp.RecordID) []byte {
	return append(collectionPrefix(coll), id[:]...)
}

// fieldPrefix is recordPrefix, the field and 0x00: every row of one field.
// With field "" it is the prefix of the record's tombstone row.
func fieldPrefix(coll string, id sp.RecordID, field string) []byte {
	k := append(recordPrefix(coll, id), field...)
	return append(k, 0)
}

// recordKey is the 'r' row of an entry.
func recordKey(e *sp.Entry, h sp.EntryHash) []byte {
	return append(fieldPrefix(e.Collection, e.Record, e.Field), h[:]...)
}

// recordRow is a parsed 'r' key.
type recordRow struct {
	coll  string
	id    sp.RecordID
	field string
	hash  sp.EntryHash
}

func parseRecordKey(k []byte) (recordRow, bool) {
	var r recordRow
	if len(k) < 2 || k[0] != prefixRecord {
		return r, false
	}
	n := int(k[1])
	// 'r' len coll record field(>=0) 0x00 hash
	if len(k) < 2+n+recordLen+1+hashLen {
		return r, false
	}
	r.coll = string(k[2 : 2+n])
	rest := k[2+n:]
	copy(r.id[:], rest[:recordLen])
	rest = rest[recordLen:]
	field := rest[:len(rest)-hashLen-1]
	if rest[len(rest)-hashLen-1] != 0 || bytes.IndexByte(field, 0) >= 0 {
		return r, false
	}
	r.field = string(field)
	copy(r.hash[:], rest[len(rest)-hashLen:])
	return r, true
}

// nextRecordID is the smallest ID greater than id, or false if id is the
// greatest.
func nextRecordID(id sp.RecordID) (sp.RecordID, bool) {
	for i := len(id) - 1; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			return id, true
		}
	}
	return id, false
}

// Scope is what decides who may hold an entry: its author, collection and
// area. The sync-order index keeps it for every kept entry.
type Scope struct {
	Author     sp.DeviceID
	Collection string
	Area       string
}

// ScopeOf is the scope of an entry.
func ScopeOf(e *sp.Entry) Scope {
	return Scope{Author: e.Author, Collection: e.Collection, Area: e.Area}
}

// appendScope appends the scope of e as an 'o' row keeps it: author(32)
// len(coll)(1) coll area. Collections are at most 32 bytes and areas 64
// (syncproto's limits), so it is at most 129 bytes.
func appendScope(dst []byte, e *sp.Entry) []byte {
	dst = append(dst, e.Author[:]...)
	dst = append(dst, byte(len(e.Collection)))
	dst = append(dst, e.Collection...)
	return append(dst, e.Area...)
}

// splitScope splits the scope bytes of an 'o' row into its parts, without
// copying.
func splitScope(b []byte) (author, coll, area []byte, ok bool) {
	const al = len(sp.DeviceID{})
	if len(b) < al+1 {
		return nil, nil, nil, false
	}
	n := int(b[al])
	if n == 0 || n > sp.MaxCollectionLen || len(b) < al+1+n || len(b)-al-1-n > sp.MaxAreaLen {
		return nil, nil, nil, false
	}
	return b[:al], b[al+1 : al+1+n], b[al+1+n:], true
}

func syncRowKey(k sp.SyncKey) []byte {
	out := make([]byte, 1+len(k))
	out[0] = prefixSync
	copy(out[1:], k[:])
	return out
}

func parseSyncRowKey(k []byte) (sp.SyncKey, bool) {
	var sk sp.SyncKey
	if len(k) != 1+len(sk) || k[0] != prefixSync {
		return sk, false
	}
	copy(sk[:], k[1:])
	return sk, true
}

// syncRowKeyV1 is the key of a sync-order row of layout 1.
func syncRowKeyV1(k sp.SyncKey) []byte {
	out := syncRowKey(k)
	out[0] = prefixSyncV1
	return out
}

// searchPrefix is 'x' and a (partial) term: the postings of every stored
// term that starts with it.
func searchPrefix(term string) []byte {
	return append([]byte{prefixSearch}, term...)
}

func searchKey(term string, id sp.RecordID, h sp.EntryHash) []byte {
	k := make([]byte, 0, 1+len(term)+1+recordLen+hashLen)
	k = append(k, prefixSearch)
	k = append(k, term...)
	k = append(k, 0)
	k = append(k, id[:]...)
	return append(k, h[:]...)
}

// searchRow is a parsed 'x' key.
type searchRow struct {
	term string
	id   sp.RecordID
	hash sp.EntryHash
}

func parseSearchKey(k []byte) (searchRow, bool) {
	var r searchRow
	// 'x' term(>=1) 0x00 record hash
	if len(k) < 1+1+1+recordLen+hashLen || k[0] != prefixSearch {
		return r, false
	}
	tail := len(k) - recordLen - hashLen
	if k[tail-1] != 0 {
		return r, false
	}
	term := k[1 : tail-1]
	if bytes.IndexByte(term, 0) >= 0 {
		return r, false
	}
	r.term = string(term)
	copy(r.id[:], k[tail:tail+recordLen])
	copy(r.hash[:], k[tail+recordLen:])
	return r, true
}

// validTerm reports whether a term can be stored in an 'x' key.
func validTerm(t string) bool {
	return t != "" && len(t) <= 255 && bytes.IndexByte([]byte(t), 0) < 0
}

func metaKey(name string) []byte {
	return append([]byte{prefixMeta}, name...)
}

// conflictKey is the 'c' row of one field.
func conflictKey(coll string, id sp.RecordID, field string) []byte {
	k := make([]byte, 0, 2+len(coll)+recordLen+len(field))
	k = append(k, prefixConflict, byte(len(coll)))
	k = append(k, coll...)
	k = append(k, id[:]...)
	return append(k, field...)
}

// parseConflictKey parses a 'c' key.
func parseConflictKey(k []byte) (coll string, id sp.RecordID, field string, ok bool) {
	if len(k) < 2 || k[0] != prefixConflict {
		return "", id, "", false
	}
	n := int(k[1])
	if len(k) < 2+n+recordLen+1 {
		return "", id, "", false
	}
	coll = string(k[2 : 2+n])
	copy(id[:], k[2+n:2+n+recordLen])
	field = string(k[2+n+recordLen:])
	if sp.ValidateCollection(coll) != nil || sp.ValidateField(field) != nil {
		return "", id, "", false
	}
	return coll, id, field, true
}

// conflictField reports whether a field's kept entries can be in conflict:
// value fields can, tallies (one entry per author) and tombstones cannot.
func conflictField(field string) bool {
	return field != "" && !strings.HasPrefix(field, sp.TallyPrefix)
}
