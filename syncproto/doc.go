// Package syncproto owns Floe's replicated data: entries, their canonical
// encoding and signatures, the hybrid logical clock, and the merge (a join
// over sets of entries) that every node applies in the same way.
//
// The package is pure. It never reads the clock, touches the disk or the
// network, or starts goroutines: time is passed in, and storage is reached
// through the small Store interface defined here. An in-memory Store
// (MemStore) sits beside the interface; the badger-backed store in package
// store passes the same conformance suite (package syncproto/storetest).
//
// A caller that writes entries has these duties, in order:
//
//  1. Stamp the entry with Clock.Now and fill its causal context from the
//     current siblings of the field (Context).
//  2. Sign it (Entry.Sign) and check it (Entry.Verify) before it is stored.
//  3. Hand only verified entries to Store.ApplyVerified. Entries that come
//     from outside must also pass Clock.Check, which refuses an entry stamped
//     too far in the future, and the clock must Observe every applied entry.
package syncproto
