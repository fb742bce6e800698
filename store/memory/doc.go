// Package memory is a store.Store that keeps everything in RAM: the
// storage of the ephemeral in-memory bus and of tests.
//
// # Model
//
// Each bucket is an ordered sequence of entries cut into leaves of at most
// a few hundred entries; a leaf is a sorted slice and the bucket is a sorted
// slice of leaves. Appending keys in increasing order (the log's offsets)
// is amortised O(1), deleting the first key (retention) is O(1), a Seek or
// Get is two binary searches, and an insert or delete in the middle moves
// at most one leaf and, when a leaf splits or empties, the slice of leaf
// headers. Each entry holds its key and value in one allocation, so a Put
// costs one allocation; the undo log of the write transaction is reused
// from one Update to the next.
//
// # Guarantees
//
// Update holds the store's write lock and View its read lock, so Views run
// alongside each other but wait for a running Update, and an Update waits
// for running Views. A View therefore always sees a committed state. Update
// records an undo entry for every write (bucket creation and deletion too)
// and replays them backwards when fn returns an error or panics, so a
// failed Update leaves no trace. A panic in fn is returned as an error
// wrapping store.ErrTxPanicked.
//
// Nothing is durable: Close drops the data. The store implements neither
// store.Syncer nor store.Compacter. It implements store.Volatile, so the
// log does not re-check the CRCs of what it reads back from it: nothing
// here rests on a medium that could damage it.
//
// # Caveats
//
// Never start a transaction or call Close from inside a transaction's fn:
// the lock is not reentrant and it deadlocks. Leaves that lost entries in
// the middle are not merged back, so a bucket whose keys were deleted at
// random keeps a few half-empty leaves until they empty or the bucket is
// deleted. Byte slices returned by a transaction are never modified by the
// store, but the contract still says they are valid only inside it.
package memory
