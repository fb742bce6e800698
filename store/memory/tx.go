package memory

import "github.com/onexbus/onexbus/store"

// undo kinds.
const (
	undoPut          = iota // key was absent: delete it
	undoReplace             // restore old
	undoDelete              // restore old
	undoCreateBucket        // remove b
	undoDeleteBucket        // restore b
)

// undo is one step of the undo log: what to do to revert one write.
type undo struct {
	kind int
	b    *bucket
	old  entry
}

// writeTx is the Tx of an Update. Its fields are protected by the store's
// write lock, held for as long as active is true.
type writeTx struct {
	s      *Store
	active bool
	undo   []undo
}

// rollbackLocked reverts every write of the transaction, newest first.
func (t *writeTx) rollbackLocked() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		u := t.undo[i]
		switch u.kind {
		case undoPut:
			u.b.data.del(u.old.key())
		case undoReplace, undoDelete:
			u.b.data.put(u.old)
		case undoCreateBucket:
			t.s.removeLocked(u.b)
		case undoDeleteBucket:
			t.s.insertLocked(u.b)
		}
	}
}

func (t *writeTx) Bucket(name []byte) store.Bucket {
	if b := t.s.buckets[string(name)]; b != nil {
		return &b.w
	}
	return nil
}

func (t *writeTx) CreateBucket(name []byte) (store.Bucket, error) {
	if !t.active {
		return nil, store.ErrTxClosed
	}
	if len(name) == 0 {
		return nil, store.ErrBucketNameRequired
	}
	if b := t.s.buckets[string(name)]; b != nil {
		return &b.w, nil
	}
	b := t.s.newBucketLocked(string(name))
	t.s.insertLocked(b)
	t.undo = append(t.undo, undo{kind: undoCreateBucket, b: b})
	return &b.w, nil
}

func (t *writeTx) DeleteBucket(name []byte) error {
	if !t.active {
		return store.ErrTxClosed
	}
	b := t.s.buckets[string(name)]
	if b == nil {
		return store.ErrBucketNotFound
	}
	// The bucket's data stays untouched, so restoring it is enough.
	t.s.removeLocked(b)
	t.undo = append(t.undo, undo{kind: undoDeleteBucket, b: b})
	return nil
}

func (t *writeTx) ForEachBucket(fn func(name []byte) error) error {
	return t.s.forEachBucketLocked(fn)
}

// writeBucket is the Bucket handle of an Update.
type writeBucket struct {
	b  *bucket
	tx *writeTx
}

func (w *writeBucket) Get(key []byte) []byte {
	if e, ok := w.b.data.get(key); ok {
		return e.value()
	}
	return nil
}

func (w *writeBucket) Put(key, value []byte) error {
	return w.put(key, value, false)
}

// PutRetained implements store.Retainer: the store keeps value itself,
// which the caller must never modify again, instead of a copy.
func (w *writeBucket) PutRetained(key, value []byte) error {
	return w.put(key, value, true)
}

func (w *writeBucket) put(key, value []byte, retain bool) error {
	switch {
	case !w.tx.active:
		return store.ErrTxClosed
	case len(key) == 0:
		return store.ErrKeyRequired
	case len(key) > store.MaxKeySize:
		return store.ErrKeyTooLarge
	case len(value) > store.MaxValueSize:
		return store.ErrValueTooLarge
	}
	var e entry
	if retain {
		e = retainedEntry(key, value)
	} else {
		e = newEntry(key, value)
	}
	old, replaced := w.b.data.put(e)
	if replaced {
		w.tx.undo = append(w.tx.undo, undo{kind: undoReplace, b: w.b, old: old})
	} else {
		w.tx.undo = append(w.tx.undo, undo{kind: undoPut, b: w.b, old: e})
	}
	return nil
}

func (w *writeBucket) Delete(key []byte) error {
	if !w.tx.active {
		return store.ErrTxClosed
	}
	if old, ok := w.b.data.del(key); ok {
		w.tx.undo = append(w.tx.undo, undo{kind: undoDelete, b: w.b, old: old})
	}
	return nil
}

func (w *writeBucket) Cursor() store.Cursor { return &cursor{d: &w.b.data} }
