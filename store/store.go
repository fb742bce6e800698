package store

// Store is an ordered key-value store of named buckets with all-or-nothing
// transactions. It is the only thing the log (package wal) needs from a
// storage backend, so a new backend implements this and nothing else.
//
// Implementers:
//   - Update runs fn in the only read-write transaction at a time. If fn
//     returns nil the transaction commits, otherwise (or if fn panics) it
//     rolls back and nothing fn wrote is visible. When Update returns nil
//     for a durable store, the data is on stable storage unless the store
//     was opened in a no-sync mode (see Syncer).
//   - View runs fn in a read-only transaction that sees a consistent
//     snapshot; any number of Views may run alongside each other and
//     alongside one Update.
//   - Byte slices returned by a transaction (keys, values, bucket names)
//     are valid only until the transaction ends and must not be modified.
//     Keys and values passed to Put must not be modified until the
//     transaction ends; the store copies them before it returns from
//     Update.
//   - Every method is safe for concurrent use. Close waits for running
//     transactions; after Close, Update and View return ErrClosed.
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
// byte strings (bytes.Compare); an empty key is invalid.
type Bucket interface {
	// Get returns the value of key, or nil if it is absent.
	Get(key []byte) []byte
	// Put sets key to value. It returns ErrKeyRequired for an empty key,
	// ErrValueTooLarge past MaxValueSize and ErrTxNotWritable in a View.
	Put(key, value []byte) error
	// Delete removes key; deleting an absent key is not an error. It
	// returns ErrTxNotWritable in a View.
	Delete(key []byte) error
	// Cursor returns a cursor over the bucket's keys in ascending order.
	Cursor() Cursor
}

// Cursor walks a bucket's keys in order. Every method returns a nil key
// when it moves past either end. A cursor stays valid only while its
// transaction is open; deleting the key under the cursor and then calling
// Next moves to the key after the deleted one.
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

// Compacter is implemented by stores whose files do not shrink on their
// own: Compact rewrites the data so that freed space is returned.
type Compacter interface {
	// Compact returns freed space to the file system. It may block
	// writers while it runs.
	Compact() error
}

// MaxValueSize is the largest value every backend must accept.
const MaxValueSize = 1<<30 - 1
