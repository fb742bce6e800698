// Package bolt is the durable store.Store: a bbolt (go.etcd.io/bbolt)
// file, one bbolt top-level bucket per store bucket.
//
// # Model
//
// Open returns a *Store that also implements store.Syncer (with
// WithNoSync) and store.Compacter. Update is a bbolt read-write
// transaction, View a read-only one; Tx, Bucket and Cursor are thin
// wrappers that map bbolt's errors to the store sentinels and fix bbolt's
// cursor where it differs from store.Cursor (after a Delete under the
// cursor bbolt's Next skips a key; after running off an end it moves
// oddly).
//
// # Guarantees
//
// Durability: a commit is fsync'd (fdatasync) before Update returns,
// unless the store was opened WithNoSync(true); then Sync makes every
// committed transaction durable and Close syncs before closing, and a
// power loss can damage the file (see WithNoSync). Open creates a new
// file beside the path (".init"), lets bbolt initialise and fsync it, and
// renames it into place with a directory fsync, so no crash leaves an
// empty file behind; an existing empty file is refused as damaged, never
// opened as a new store. Compact fsyncs the new file and the directory
// around its atomic rename.
//
// Isolation: bbolt is MVCC. Views see the snapshot of their start and run
// alongside each other and the one Update.
//
// Damage: bbolt checksums only its meta pages, and it panics when it
// meets a damaged page; with NoFreelistSync (off by default) it even
// panics in a goroutine of its own at Open, which would kill the process.
// So Open first walks the whole file the way bbolt will (meta pages, page
// ids against the high-water mark, page types, element bounds, key order,
// double references, the freelist) and fails with an error wrapping
// store.ErrCorrupt that names the page. Update, View, Compact and Open
// also recover any bbolt panic (with debug.SetPanicOnFault, so that a
// wild page id is a panic, not a SIGSEGV) and return it wrapped in
// store.ErrCorrupt; after a panic while committing, every later Update
// fails with that error until the store is reopened.
//
// Failed commits: a commit that fails with an I/O error (a write or an
// fdatasync, not fn's error and not a full disk) leaves the file in a
// state only a reopen can read back, so that Update and every later one
// return an error wrapping store.ErrCommitFailed until the store is
// closed and opened again; Views go on. A full disk (ENOSPC, EDQUOT)
// changes nothing on disk and later Updates are tried as usual. Values are not
// checksummed: a flipped bit inside a value is invisible here, which is
// why package wal keeps a CRC per record.
//
// # Caveats
//
//   - Freed pages are reused but the file never shrinks: call Compact.
//   - Keys and values cost space per key and per page: many small keys
//     are much slower than fewer larger values (see the benchmarks), so
//     the log stores record batches, not records.
//   - A value over one page spills onto overflow pages, which are
//     allocated and freed as one run of contiguous pages; large values in
//     a file with fragmented free space make it grow.
//   - A read transaction pins the pages it sees: a long View makes the
//     file grow under a steady Update load, and a commit that must grow
//     the memory mapping waits for all Views to finish.
//   - Never open a transaction, or call Close or Compact, from inside
//     another transaction's fn: bbolt's locks deadlock.
//   - Open's structural check reads every page header and key once, so
//     reopening a large file costs time proportional to its size (about
//     half a second a GiB here); with NoFreelistSync bbolt walks the file
//     a second time to rebuild its freelist.
//   - Compact renames over the open file, which works on Unix only.
//
// # Locks
//
// Store.mu is taken before any bbolt lock: Update, View and Sync hold it
// for reading, Close and Compact for writing.
package bolt
