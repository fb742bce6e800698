package bolt

import (
	"bytes"
	"errors"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/onexbus/onexbus/store"
)

// emptyValue is what Put stores for a nil value: bbolt keeps the slice
// until commit and would hand a nil back to Get in the same transaction.
var emptyValue = []byte{}

// tx implements store.Tx over a bbolt transaction. Every call into bbolt
// recovers a bbolt panic (a damaged page) into err, so that fn gets a nil
// or an error back and the transaction fails with err whatever fn does.
type tx struct {
	s        *Store
	btx      *bbolt.Tx // nil once fn returned
	writable bool
	// mod counts the writes, so cursors know when bbolt's position may
	// be stale (bbolt skips a key after a Delete under its cursor).
	mod uint64
	// err is the first damage found.
	err error
}

// run calls fn, turning its panic into an error; damage found by a bbolt
// call wins over fn's result, since fn saw nil where data was.
func (t *tx) run(op string, fn func(store.Tx) error) (err error) {
	defer func() {
		t.btx = nil
		if r := recover(); r != nil {
			err = panicError(op, t.s.path, r)
		}
		if t.err != nil {
			err = t.err
		}
	}()
	return fn(t)
}

// guard is deferred by every method that calls bbolt.
func (t *tx) guard(op string) {
	if r := recover(); r != nil && t.err == nil {
		t.err = panicCorrupt(op, t.s.path, r)
	}
}

func (t *tx) Bucket(name []byte) (b store.Bucket) {
	if t.btx == nil || len(name) == 0 {
		return nil
	}
	defer t.guard("bucket")
	bb := t.btx.Bucket(name)
	if bb == nil {
		return nil
	}
	return &bucket{t: t, b: bb}
}

func (t *tx) CreateBucket(name []byte) (b store.Bucket, err error) {
	switch {
	case t.btx == nil:
		return nil, store.ErrTxClosed
	case !t.writable:
		return nil, store.ErrTxNotWritable
	case len(name) == 0:
		return nil, store.ErrBucketNameRequired
	case len(name) > store.MaxKeySize:
		return nil, store.ErrKeyTooLarge
	}
	defer t.guard("create bucket")
	// Most calls find the bucket (the log asks for its buckets on every
	// commit): bbolt's lookup answers from the transaction's cache after
	// the first, where CreateBucketIfNotExists copies the name each time.
	if bb := t.btx.Bucket(name); bb != nil {
		return &bucket{t: t, b: bb}, nil
	}
	bb, err := t.btx.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, t.mapErr(err)
	}
	t.mod++
	return &bucket{t: t, b: bb}, nil
}

func (t *tx) DeleteBucket(name []byte) (err error) {
	switch {
	case t.btx == nil:
		return store.ErrTxClosed
	case !t.writable:
		return store.ErrTxNotWritable
	case len(name) == 0:
		return store.ErrBucketNotFound
	}
	defer t.guard("delete bucket")
	t.mod++
	return t.mapErr(t.btx.DeleteBucket(name))
}

func (t *tx) ForEachBucket(fn func(name []byte) error) (err error) {
	if t.btx == nil {
		return store.ErrTxClosed
	}
	// Collect the names first: fn may create or delete buckets, which
	// would disturb bbolt's cursor.
	var names [][]byte
	func() {
		defer t.guard("for each bucket")
		c := t.btx.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			names = append(names, k)
		}
	}()
	if t.err != nil {
		return t.err
	}
	for _, name := range names {
		if err := fn(name); err != nil {
			return err
		}
	}
	return nil
}

// mapErr turns bbolt's sentinels into the store's.
func (t *tx) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrBucketNotFound):
		return store.ErrBucketNotFound
	case errors.Is(err, berrors.ErrBucketNameRequired):
		return store.ErrBucketNameRequired
	case errors.Is(err, berrors.ErrTxNotWritable):
		return store.ErrTxNotWritable
	case errors.Is(err, berrors.ErrTxClosed):
		return store.ErrTxClosed
	case errors.Is(err, berrors.ErrKeyRequired):
		return store.ErrKeyRequired
	case errors.Is(err, berrors.ErrKeyTooLarge):
		return store.ErrKeyTooLarge
	case errors.Is(err, berrors.ErrValueTooLarge):
		return store.ErrValueTooLarge
	}
	return err
}

// bucket implements store.Bucket over a bbolt bucket.
type bucket struct {
	t *tx
	b *bbolt.Bucket
}

func (b *bucket) Get(key []byte) (v []byte) {
	if b.t.btx == nil {
		return nil
	}
	defer b.t.guard("get")
	return b.b.Get(key)
}

func (b *bucket) Put(key, value []byte) (err error) {
	switch {
	case b.t.btx == nil:
		return store.ErrTxClosed
	case !b.t.writable:
		return store.ErrTxNotWritable
	case len(key) == 0:
		return store.ErrKeyRequired
	case len(key) > store.MaxKeySize:
		return store.ErrKeyTooLarge
	case len(value) > store.MaxValueSize:
		return store.ErrValueTooLarge
	}
	if value == nil {
		value = emptyValue
	}
	defer b.t.guard("put")
	b.t.mod++
	return b.t.mapErr(b.b.Put(key, value))
}

func (b *bucket) Delete(key []byte) (err error) {
	switch {
	case b.t.btx == nil:
		return store.ErrTxClosed
	case !b.t.writable:
		return store.ErrTxNotWritable
	case len(key) == 0:
		return nil
	}
	defer b.t.guard("delete")
	b.t.mod++
	return b.t.mapErr(b.b.Delete(key))
}

func (b *bucket) Cursor() store.Cursor {
	c := &cursor{t: b.t}
	if b.t.btx != nil {
		c.c = b.b.Cursor()
	}
	return c
}

// cursor states; see store.Cursor for what each one means.
const (
	unpositioned = iota
	atKey
	pastEnd
	beforeStart
)

// cursor implements store.Cursor over a bbolt cursor, giving it the
// positions store.Cursor documents: bbolt's own cursor skips a key after
// a Delete under it and moves oddly after running off an end.
type cursor struct {
	t     *tx
	c     *bbolt.Cursor
	state int
	key   []byte // current key while atKey
	mod   uint64 // t.mod when the cursor last moved
}

// set records the position reached; a nil key is off the end in the
// direction given by off.
func (c *cursor) set(k, v []byte, off int) ([]byte, []byte) {
	if k == nil {
		c.state, c.key = off, nil
		return nil, nil
	}
	c.state, c.key, c.mod = atKey, k, c.t.mod
	return k, v
}

// live reports whether the cursor may call bbolt.
func (c *cursor) live() bool { return c.c != nil && c.t.btx != nil }

func (c *cursor) First() (k, v []byte) {
	if !c.live() {
		return nil, nil
	}
	defer c.t.guard("cursor first")
	k, v = c.c.First()
	return c.set(k, v, pastEnd)
}

func (c *cursor) Last() (k, v []byte) {
	if !c.live() {
		return nil, nil
	}
	defer c.t.guard("cursor last")
	k, v = c.c.Last()
	return c.set(k, v, pastEnd)
}

func (c *cursor) Seek(key []byte) (k, v []byte) {
	if !c.live() {
		return nil, nil
	}
	defer c.t.guard("cursor seek")
	k, v = c.c.Seek(key)
	return c.set(k, v, pastEnd)
}

func (c *cursor) Next() (k, v []byte) {
	if !c.live() {
		return nil, nil
	}
	defer c.t.guard("cursor next")
	switch c.state {
	case unpositioned, beforeStart:
		k, v = c.c.First()
	case pastEnd:
		return nil, nil
	default:
		if c.mod != c.t.mod {
			// Find the place again: the first key > c.key.
			k, v = c.c.Seek(c.key)
			if k != nil && bytes.Equal(k, c.key) {
				k, v = c.c.Next()
			}
		} else {
			k, v = c.c.Next()
		}
	}
	return c.set(k, v, pastEnd)
}

func (c *cursor) Prev() (k, v []byte) {
	if !c.live() {
		return nil, nil
	}
	defer c.t.guard("cursor prev")
	switch c.state {
	case unpositioned, pastEnd:
		k, v = c.c.Last()
		return c.set(k, v, pastEnd)
	case beforeStart:
		return nil, nil
	default:
		if c.mod != c.t.mod {
			// Find the place again: the last key < c.key.
			if k, _ = c.c.Seek(c.key); k == nil {
				k, v = c.c.Last()
			} else {
				k, v = c.c.Prev()
			}
		} else {
			k, v = c.c.Prev()
		}
	}
	return c.set(k, v, beforeStart)
}
