package core_test

import (
	"context"
	"errors"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/store"
	memstore "github.com/onexbus/onexbus/store/memory"
)

// TestHealthReportsAStoppedStore: once the store refuses writes until it
// is reopened, Health says so (an embedded user has no /readyz), and a
// healthy store reports nothing.
func TestHealthReportsAStoppedStore(t *testing.T) {
	st := testutil.NewStoppingStore(memstore.New())
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
	st.Stopped.Store(true)
	if _, err := b.Publish(ctx, msg("t", "after")); !errors.Is(err, store.ErrCommitFailed) {
		t.Fatalf("publish with the store stopped: %v, want ErrCommitFailed", err)
	}
	if err := b.Health().StoreStopped; !errors.Is(err, store.ErrCommitFailed) {
		t.Fatalf("Health().StoreStopped = %v, want ErrCommitFailed", err)
	}
}
