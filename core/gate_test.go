package core_test

import (
	"context"
	"errors"
	"testing"

	"github.com/onexbus/onexbus/core"
)

// A publish gate sees every publish path and can refuse; removing it lets
// publishes through again. TopicBytes counts what a reader has yet to read.
func TestPublishGateAndTopicBytes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		full := errors.New("backlog full")
		var seen []int
		remove := b.AddPublishGate(func(_ context.Context, topic string, n, bytes int) error {
			if topic != "t1" || n < 1 || bytes < n {
				t.Errorf("gate asked about %d messages of %d bytes to %s", n, bytes, topic)
			}
			seen = append(seen, n)
			if len(seen) > 2 {
				return full
			}
			return nil
		})
		if _, err := b.Publish(ctx, msg("t1", "a")); err != nil {
			t.Fatal(err)
		}
		if err := b.PublishBatch(ctx, []*core.Message{msg("t1", "b"), msg("t1", "c")}); err != nil {
			t.Fatal(err)
		}
		if err := b.PublishAsync(ctx, msg("t1", "d"), func(*core.Message, error) {}); !errors.Is(err, full) {
			t.Fatalf("refused publish: %v", err)
		}
		remove()
		if _, err := b.Publish(ctx, msg("t1", "e")); err != nil {
			t.Fatalf("after removing the gate: %v", err)
		}
		if len(seen) != 3 || seen[1] != 2 {
			t.Fatalf("gate saw %v", seen)
		}
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		all, err := b.TopicBytes("t1", 0, 0)
		if err != nil || all <= 0 {
			t.Fatalf("TopicBytes from 0: %d, %v", all, err)
		}
		if none, _ := b.TopicBytes("t1", 0, 4); none > all {
			t.Fatalf("TopicBytes past the end %d > %d", none, all)
		}
		if n, err := b.TopicBytes("nope", 0, 0); n != 0 || err != nil {
			t.Fatalf("unknown topic: %d, %v", n, err)
		}
	})
}
