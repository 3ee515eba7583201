// Package store owns a Floe node's directory on disk: the key file that
// wraps the node's master key under the passphrase, the encrypted badger
// database that holds the kept entries, the indexes kept beside them (by
// record, in sync order, and for directory search), and the integrity checks
// over all of it. *Store implements syncproto.Store and passes the
// conformance suite in syncproto/storetest.
//
// A node directory DIR holds:
//
//	DIR/floe.key   the key file (see keyfile.go): CBOR, the master key
//	               wrapped with XChaCha20-Poly1305 under an argon2id key
//	DIR/data/      badger, encrypted with AES-256 under a key derived
//	               from the master key (see keys.go for what is inside)
//	DIR/data.seal  while the node is shut down: the sizes and hashes of
//	               the files in DIR/data, sealed (see seal.go)
//	DIR/floe.lockout  only if set: how many wrong passphrases in a row
//	               wipe the node, and how many there have been (plain
//	               JSON, see wipe.go)
//
// Wipe crypto-erases a node: the key file goes first, and with it every
// way to read the rest.
//
// No data in DIR is in plaintext: badger encrypts its tables, write-ahead logs
// and value logs, and every value the store writes is authenticated as well
// (entries by their content hash and a MAC, index rows by a MAC over the
// key, meta rows by AEAD), so that damage is reported as ErrIntegrity and
// never read back as a wrong value.
//
// The caller's duties:
//
//  1. Create a node once with Create, then Open it with the passphrase
//     each time the node starts. One process at a time may hold a node open.
//  2. Hand ApplyVerified only entries that were verified (see
//     syncproto.Store). Options.IndexText decides what text of an entry is
//     searchable; it must never return a sealed field's value, and it must
//     return the same text for the same entry for the life of the store.
//  3. Close the store before the process exits.
package store
