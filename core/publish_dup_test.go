package core_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/testutil"
)

// Publish says when the dedup window dropped a message: the HTTP API's
// "duplicate" field and idempotent retries rely on it.
func TestPublishReportsDuplicate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(opts ...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		id := uuid.New()
		first := &core.Message{Topic: "t", Value: []byte("a")}
		first.Headers.MessageID = id
		if _, err := b.Publish(ctx, first); err != nil || first.Duplicate {
			t.Fatalf("first publish: duplicate %v, %v", first.Duplicate, err)
		}
		again := &core.Message{Topic: "t", Value: []byte("a")}
		again.Headers.MessageID = id
		off, err := b.Publish(ctx, again)
		if err != nil || !again.Duplicate || off != first.Offset {
			t.Fatalf("second publish: duplicate %v offset %d (first %d), %v", again.Duplicate, off, first.Offset, err)
		}
	})
}

// PublishAsync of a message_id the partition holds already, with nothing
// else queued there, calls done with the first copy's position: no commit
// of that partition is coming, so done must not wait for one (nor for
// Close, which would report ErrClosed for a message that is stored).
func TestPublishAsyncReportsDuplicate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(opts ...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		id := uuid.New()
		first := &core.Message{Topic: "t", Value: []byte("a"), ExplicitPartition: true}
		first.Headers.MessageID = id
		if _, err := b.Publish(ctx, first); err != nil || first.Duplicate {
			t.Fatalf("first publish: duplicate %v, %v", first.Duplicate, err)
		}
		again := &core.Message{Topic: "t", Value: []byte("a"), ExplicitPartition: true}
		again.Headers.MessageID = id
		done := make(chan error, 1)
		if err := b.PublishAsync(ctx, again, func(_ *core.Message, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := testutil.Receive(t, done, wait); err != nil || !again.Duplicate || again.Offset != first.Offset {
			t.Fatalf("async duplicate: duplicate %v offset %d (first %d), %v", again.Duplicate, again.Offset, first.Offset, err)
		}
	})
}
