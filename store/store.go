package store

// Store is an ordered key-value store of named buckets with all-or-nothing
// transactions. It is the only thing the log (package wal) needs from a
// storage backend, so a new backend implements this and nothing else.
//
// Implementers:
//   - Update runs fn in the only read-write transaction at a time. If fn
//     returns nil the transaction commits, otherwise it rolls back and
//     nothing fn wrote is visible, buckets created or deleted included.
//     If fn panics, Update recovers, rolls back and returns an error
//     wrapping ErrTxPanicked that carries the panic value (and wraps it
//     when it is an error); the panic does not escape. When Update returns
//     nil for a durable store, the data is on stable storage unless the
//     store was opened in a no-sync mode (see Syncer).
//   - View runs fn in a read-only transaction that sees a consistent
//     snapshot: nothing committed after the View began is visible to it.
//     Any number of Views may run alongside each other. A backend may run
//     them alongside one Update (bolt) or make them wait for it (memory),
//     so never start a transaction, or call Close, from inside another
//     transaction's fn: it may deadlock. A panic in fn is returned as an
//     error wrapping ErrTxPanicked, as in Update.
//   - Byte slices returned by a transaction (keys, values, bucket names)
//     are valid only until the transaction ends and must not be modified.
//     Keys and values passed to Put must not be modified until the
//     transaction ends; the store copies them before it returns from
//     Update.
//   - Every method is safe for concurrent use. Close waits for running
//     transactions; after Close, Update and View return ErrClosed.
//   - Writes through a Tx, Bucket or Cursor used after its fn returned
//     fail with ErrTxClosed (where the backend can tell); reads are
//     undefined.
//   - A backend never panics on corrupt data: it returns an error wrapping
//     ErrCorrupt.
type Store interface {
	// Update runs fn in a read-write transaction; see the type's doc.
	Update(fn func(Tx) error) error
	// View runs fn in a read-only transaction; see the type's doc.
	View(fn func(Tx) error) error
	// Close releases the store. It is idempotent.
	Close() error
}

// Tx is a transaction: a consistent view of the buckets, writable inside
// Update. A Tx must only be used by the goroutine running its fn, and
// never after fn returns.
type Tx interface {
	// Bucket returns the named bucket, or nil if it does not exist.
	Bucket(name []byte) Bucket
	// CreateBucket returns the named bucket, creating it if needed. It
	// returns ErrTxNotWritable in a View and ErrBucketNameRequired for an
	// empty name.
	CreateBucket(name []byte) (Bucket, error)
	// DeleteBucket removes the named bucket and all its keys. It returns
	// ErrBucketNotFound if there is no such bucket and ErrTxNotWritable in
	// a View.
	DeleteBucket(name []byte) error
	// ForEachBucket calls fn with each bucket name in ascending byte order
	// and stops at the first error, which it returns.
	ForEachBucket(fn func(name []byte) error) error
}

// Bucket is an ordered set of keys inside a transaction. Keys compare as
// byte strings (bytes.Compare); an empty key is invalid and so is a key
// longer than MaxKeySize.
type Bucket interface {
	// Get returns the value of key, or nil if it is absent. An empty value
	// is returned as a non-nil empty slice.
	Get(key []byte) []byte
	// Put sets key to value (a nil value is stored as an empty one). It
	// returns ErrTxNotWritable in a View, ErrKeyRequired for an empty key,
	// ErrKeyTooLarge past MaxKeySize and ErrValueTooLarge past
	// MaxValueSize, checked in that order.
	Put(key, value []byte) error
	// Delete removes key; deleting an absent key is not an error. It
	// returns ErrTxNotWritable in a View.
	Delete(key []byte) error
	// Cursor returns a cursor over the bucket's keys in ascending order.
	Cursor() Cursor
}

// Cursor walks a bucket's keys in order. Every method returns a nil key
// when it moves past either end. A cursor stays valid only while its
// transaction is open.
//
// Positions, the same in every backend (bolt's raw cursor differs, the
// bolt backend hides it):
//   - A new cursor is unpositioned: Next acts as First and Prev as Last.
//   - After a method returns nil by moving past the last key (Next at the
//     last key, Seek past every key), the cursor is past the end: Next
//     returns nil again and Prev returns the last key.
//   - After Prev returns nil at the first key the cursor is before the
//     start: Prev returns nil again and Next returns the first key.
//   - Writes to the bucket during the walk (Put or Delete, of any key) do
//     not invalidate the cursor: from a key K, Next returns the first key
//     greater than K and Prev the last key less than K as the bucket is
//     now, whether or not K itself was deleted. So deleting the key under
//     the cursor and then calling Next moves to the key after the deleted
//     one, and a loop that deletes every key it visits deletes them all.
type Cursor interface {
	// First moves to the first key.
	First() (key, value []byte)
	// Last moves to the last key.
	Last() (key, value []byte)
	// Seek moves to the first key >= key.
	Seek(key []byte) (k, value []byte)
	// Next moves to the next key.
	Next() (key, value []byte)
	// Prev moves to the previous key.
	Prev() (key, value []byte)
}

// Syncer is implemented by stores that can defer fsync (opened in a
// no-sync mode): Sync makes every committed transaction durable.
type Syncer interface {
	// Sync flushes committed transactions to stable storage.
	Sync() error
}

// Retainer is implemented by buckets that can keep a value without copying
// it. PutRetained is Put, except that the caller hands the value over: it
// must never modify those bytes again, for as long as the store lives.
// The log uses it for chunks whose bytes are immutable anyway.
type Retainer interface {
	// PutRetained sets key to value, keeping value itself.
	PutRetained(key, value []byte) error
}

// Volatile is implemented by stores that keep every value in this
// process's memory and nowhere else (store/memory): a value read back is
// the very bytes that were put, never read from a medium that can damage
// them at rest, and nothing outlives the process. The log skips, on reads
// from such a store, the CRC checks that only catch damage at rest; the
// checks at Open stay. A wrapper that embeds a store.Store hides the
// method, so a test that damages values through Put wraps the store to be
// checked like a disk.
type Volatile interface {
	// Volatile marks the store; it does nothing.
	Volatile()
}

// Compacter is implemented by stores whose files do not shrink on their
// own: Compact rewrites the data so that freed space is returned.
type Compacter interface {
	// Compact returns freed space to the file system. It may block
	// writers while it runs.
	Compact() error
}

// MaxValueSize is the largest value every backend must accept.
const MaxValueSize = 1<<30 - 1

// MaxKeySize is the longest key every backend must accept (bbolt's limit);
// every backend rejects longer keys with ErrKeyTooLarge so that code
// tested on one backend behaves the same on another.
const MaxKeySize = 32768
