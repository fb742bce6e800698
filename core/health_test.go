package core_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/store"
	memstore "github.com/onexbus/onexbus/store/memory"
)

// stoppingStore fails every Update with store.ErrCommitFailed once
// stopped is set, as store/bolt does after a commit failed with an I/O
// error.
type stoppingStore struct {
	store.Store
	stopped *atomic.Bool
}

func (s stoppingStore) Update(fn func(store.Tx) error) error {
	if s.stopped.Load() {
		return fmt.Errorf("test: update: %w", store.ErrCommitFailed)
	}
	return s.Store.Update(fn)
}

// TestHealthReportsAStoppedStore: once the store refuses writes until it
// is reopened, Health says so (an embedded user has no /readyz), and a
// healthy store reports nothing.
func TestHealthReportsAStoppedStore(t *testing.T) {
	st := stoppingStore{memstore.New(), new(atomic.Bool)}
	b, err := core.New(core.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	ctx := context.Background()
	if _, err := b.Publish(ctx, msg("t", "before")); err != nil {
		t.Fatal(err)
	}
	if err := b.Health().StoreStopped; err != nil {
		t.Fatalf("Health().StoreStopped = %v on a writable store, want nil", err)
	}
	st.stopped.Store(true)
	if _, err := b.Publish(ctx, msg("t", "after")); !errors.Is(err, store.ErrCommitFailed) {
		t.Fatalf("publish with the store stopped: %v, want ErrCommitFailed", err)
	}
	if err := b.Health().StoreStopped; !errors.Is(err, store.ErrCommitFailed) {
		t.Fatalf("Health().StoreStopped = %v, want ErrCommitFailed", err)
	}
}
