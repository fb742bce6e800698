package store

import "errors"

// Errors of opening and closing.
var (
	// ErrClosed is returned by Update and View after Close.
	ErrClosed = errors.New("store: closed")
	// ErrCorrupt is wrapped by every error that reports damaged data.
	ErrCorrupt = errors.New("store: data is corrupt")
	// ErrCommitFailed is wrapped by every Update after a commit that
	// failed in the store itself (a write or fsync error, not fn's): what
	// reached the disk is then unknown, so writes stop until the store is
	// reopened and recovers from the file. A full disk is not such a
	// failure: it leaves the file as it was and writes go on once there is
	// room.
	ErrCommitFailed = errors.New("store: a commit failed; writes stop until the store is reopened")
)

// Errors of transactions.
var (
	// ErrTxNotWritable is returned by writes inside View.
	ErrTxNotWritable = errors.New("store: transaction not writable")
	// ErrTxClosed is returned by writes through a Tx, Bucket or Cursor
	// used after the fn of its transaction returned.
	ErrTxClosed = errors.New("store: transaction closed")
	// ErrTxPanicked is wrapped by the error Update and View return when fn
	// panics; the message carries the panic value and the transaction is
	// rolled back.
	ErrTxPanicked = errors.New("store: transaction function panicked")
	// ErrBucketNotFound is returned by DeleteBucket for an absent bucket.
	ErrBucketNotFound = errors.New("store: bucket not found")
	// ErrBucketNameRequired is returned for an empty bucket name.
	ErrBucketNameRequired = errors.New("store: bucket name required")
	// ErrKeyRequired is returned by Put for an empty key.
	ErrKeyRequired = errors.New("store: key required")
	// ErrKeyTooLarge is returned by Put for a key over MaxKeySize.
	ErrKeyTooLarge = errors.New("store: key too large")
	// ErrValueTooLarge is returned by Put for a value over MaxValueSize.
	ErrValueTooLarge = errors.New("store: value too large")
)
