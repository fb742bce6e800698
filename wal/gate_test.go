package wal_test

import (
	"sync/atomic"

	"github.com/onexbus/onexbus/store"
)

// gatedStore holds every Update while hold is set: it signals entered,
// then waits for gate to close, so a test can look at the log while a
// commit is in its transaction.
type gatedStore struct {
	store.Store
	hold    atomic.Bool
	gate    chan struct{}
	entered chan struct{}
	once    atomic.Bool
}

func (s *gatedStore) Update(fn func(store.Tx) error) error {
	if s.hold.Load() {
		if s.entered != nil && s.once.CompareAndSwap(false, true) {
			close(s.entered)
		}
		<-s.gate
	}
	return s.Store.Update(fn)
}
