package http_test

import (
	"context"
	"testing"

	"github.com/onexbus/onexbus/core"
)

// An HTTP pull group is a Subscription of the bus: on a bus whose
// subscribers hold retention (core.WithSubscribersHoldRetention, the
// memory bus's default), retention keeps every message the group has not
// acked, and receive hands them all out.
func TestPullGroupHoldsRetention(t *testing.T) {
	const bound, n = 3, 12
	e := newEnv(t, []core.Option{
		core.WithSubscribersHoldRetention(true),
		core.WithDefaultTopicConfig(core.TopicConfig{Partitions: 1, Retention: core.Retention{MaxMessages: bound}}),
	})
	e.declarePull("workers", map[string]any{"pattern": "jobs", "start": "earliest"})
	for range n {
		e.publish("jobs", "", "j")
	}
	if err := e.bus.Sync(context.Background()); err != nil { // a commit round: retention runs
		t.Fatal(err)
	}
	if start, err := e.bus.StartOffset("jobs", 0); err != nil || start != 0 {
		t.Fatalf("start offset %d (%v) while the pull group has acked nothing, want 0", start, err)
	}
	seen := map[int64]bool{}
	for len(seen) < n {
		ms := e.receive("workers", "max=100&wait=5s")
		if len(ms) == 0 {
			t.Fatalf("received nothing after %d of %d", len(seen), n)
		}
		var ids []string
		for _, m := range ms {
			seen[m.Offset] = true
			ids = append(ids, m.LeaseID)
		}
		e.leaseCall("ack", "workers", map[string]any{"lease_ids": ids})
	}
	for off := range int64(n) {
		if !seen[off] {
			t.Fatalf("offset %d never received (got %v)", off, seen)
		}
	}
}
