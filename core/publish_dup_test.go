package core_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
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
