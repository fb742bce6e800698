package testutil

import (
	"fmt"
	"sync/atomic"

	"github.com/onexbus/onexbus/store"
)

// StoppingStore wraps a store so that every Update fails with
// store.ErrCommitFailed once Stopped is set, as store/bolt does after a
// commit failed with an I/O error.
type StoppingStore struct {
	store.Store
	// Stopped, once set, makes every Update fail.
	Stopped *atomic.Bool
}

// NewStoppingStore wraps st, writable until Stopped is set.
func NewStoppingStore(st store.Store) StoppingStore {
	return StoppingStore{Store: st, Stopped: new(atomic.Bool)}
}

// Update runs fn on the wrapped store, or fails with
// store.ErrCommitFailed once Stopped is set.
func (s StoppingStore) Update(fn func(store.Tx) error) error {
	if s.Stopped.Load() {
		return fmt.Errorf("testutil: update: %w", store.ErrCommitFailed)
	}
	return s.Store.Update(fn)
}
