package memory

import (
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/onexbus/onexbus/store"
)

// Store is an in-memory store.Store. The zero value is not usable; call
// New.
type Store struct {
	// mu protects every field below and the content of every bucket: View
	// holds it for reading, Update and Close for writing.
	mu      sync.RWMutex
	closed  bool
	buckets map[string]*bucket
	// sorted holds the buckets in ascending name order, for ForEachBucket.
	sorted []*bucket
	// rtx is the Tx of every View: it has no state of its own.
	rtx readTx
	// wtx is the Tx of every Update, reused since only one runs at a time.
	wtx writeTx
}

// New returns an empty store.
func New() *Store {
	s := &Store{buckets: make(map[string]*bucket)}
	s.rtx.s = s
	s.wtx.s = s
	return s
}

// Volatile implements store.Volatile: values live only in this process's
// memory and are read back as they were put.
func (s *Store) Volatile() {}

// maxUndoKeep is the capacity of the undo log kept between Updates; a
// larger log (from one huge Update) is dropped to release its memory.
const maxUndoKeep = 1 << 16

// Update runs fn in the read-write transaction; see store.Store. It holds
// the write lock, so it waits for running Views and the previous Update.
// It returns store.ErrClosed after Close, fn's error, or an error wrapping
// store.ErrTxPanicked if fn panicked; in every case but nil the changes
// are undone.
func (s *Store) Update(fn func(store.Tx) error) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	tx := &s.wtx
	tx.active = true
	defer func() {
		tx.active = false
		if r := recover(); r != nil {
			err = panicError("update", r)
		}
		if err != nil {
			tx.rollbackLocked()
		}
		clear(tx.undo)
		if cap(tx.undo) > maxUndoKeep {
			tx.undo = nil
		} else {
			tx.undo = tx.undo[:0]
		}
	}()
	return fn(tx)
}

// View runs fn in a read-only transaction; see store.Store. It holds the
// read lock, so it runs alongside other Views and waits for a running
// Update. It returns store.ErrClosed after Close, fn's error, or an error
// wrapping store.ErrTxPanicked if fn panicked.
func (s *Store) View(fn func(store.Tx) error) (err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	defer func() {
		if r := recover(); r != nil {
			err = panicError("view", r)
		}
	}()
	return fn(&s.rtx)
}

// Close waits for running transactions and drops the data. It is
// idempotent and always returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.buckets = nil
	s.sorted = nil
	return nil
}

// panicError turns a recovered panic value into an error wrapping
// store.ErrTxPanicked, and the value itself when it is an error. The stack
// of the panicking goroutine is part of the message: without it a
// recovered panic is hard to trace.
func panicError(op string, r any) error {
	stack := debug.Stack()
	if e, ok := r.(error); ok {
		return fmt.Errorf("memory: %s: %w: %w\n%s", op, store.ErrTxPanicked, e, stack)
	}
	return fmt.Errorf("memory: %s: %w: %v\n%s", op, store.ErrTxPanicked, r, stack)
}

// bucket is a named bucket with its two handles, kept here so that
// Tx.Bucket does not allocate.
type bucket struct {
	name string
	data data
	r    readBucket
	w    writeBucket
}

func (s *Store) newBucketLocked(name string) *bucket {
	b := &bucket{name: name}
	b.r.b = b
	b.w.b = b
	b.w.tx = &s.wtx
	return b
}

// insertLocked adds b to the map and the sorted list.
func (s *Store) insertLocked(b *bucket) {
	s.buckets[b.name] = b
	i, _ := slices.BinarySearchFunc(s.sorted, b.name, func(x *bucket, name string) int {
		return strings.Compare(x.name, name)
	})
	s.sorted = slices.Insert(s.sorted, i, b)
}

// removeLocked removes b from the map and the sorted list.
func (s *Store) removeLocked(b *bucket) {
	delete(s.buckets, b.name)
	i, found := slices.BinarySearchFunc(s.sorted, b.name, func(x *bucket, name string) int {
		return strings.Compare(x.name, name)
	})
	if found {
		s.sorted = slices.Delete(s.sorted, i, i+1)
	}
}

func (s *Store) forEachBucketLocked(fn func(name []byte) error) error {
	// Copy the list: fn may create or delete buckets.
	for _, b := range slices.Clone(s.sorted) {
		if err := fn([]byte(b.name)); err != nil {
			return err
		}
	}
	return nil
}

// readTx is the Tx of a View.
type readTx struct{ s *Store }

func (t *readTx) Bucket(name []byte) store.Bucket {
	if b := t.s.buckets[string(name)]; b != nil {
		return &b.r
	}
	return nil
}

func (t *readTx) CreateBucket(name []byte) (store.Bucket, error) {
	return nil, store.ErrTxNotWritable
}

func (t *readTx) DeleteBucket(name []byte) error { return store.ErrTxNotWritable }

func (t *readTx) ForEachBucket(fn func(name []byte) error) error {
	return t.s.forEachBucketLocked(fn)
}

// readBucket is the Bucket handle of a View.
type readBucket struct{ b *bucket }

func (r *readBucket) Get(key []byte) []byte {
	if e, ok := r.b.data.get(key); ok {
		return e.value()
	}
	return nil
}

func (r *readBucket) Put(key, value []byte) error { return store.ErrTxNotWritable }
func (r *readBucket) Delete(key []byte) error     { return store.ErrTxNotWritable }
func (r *readBucket) Cursor() store.Cursor        { return &cursor{d: &r.b.data} }
