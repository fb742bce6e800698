package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/testutil"
	memstore "github.com/onexbus/onexbus/store/memory"
)

// A handler owns the message it is given: one that overwrites, appends
// to and keeps its Key and Value (and fails once, so its retry is
// delivered too) changes nothing that History, another group, a group
// replaying from the start or its own retry reads.
func TestHandlerChangesStayWithItsCopy(t *testing.T) {
	for _, o := range orderings {
		t.Run(o.name, func(t *testing.T) {
			ctx := context.Background()
			b, err := core.New(core.WithStore(memstore.New()), core.WithDurability(core.DurabilityNone, 0),
				core.WithRetry(core.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Max: time.Millisecond}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close(ctx) })
			if _, err := b.CreateTopic(ctx, "t1", core.TopicConfig{Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			const n = 20
			key := func(i int) []byte { return fmt.Appendf(nil, "key-%02d", i) }
			value := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 256) }

			var mu sync.Mutex
			kept := map[int64]*core.Message{}     // the mutator's messages, kept past the call
			retried := map[int64][]byte{}         // what the mutator's second attempt saw
			seen := map[string]map[int64][]byte{} // by group: the values as delivered
			record := func(group string, m *core.Message) {
				mu.Lock()
				defer mu.Unlock()
				if seen[group] == nil {
					seen[group] = map[int64][]byte{}
				}
				seen[group][m.Offset] = bytes.Clone(m.Value)
			}
			mutate := func(_ context.Context, m *core.Message) error {
				mu.Lock()
				first := kept[m.Offset] == nil
				if !first {
					retried[m.Offset] = bytes.Clone(m.Value)
				}
				kept[m.Offset] = m
				mu.Unlock()
				for i := range m.Key {
					m.Key[i] = 'X'
				}
				for i := range m.Value {
					m.Value[i] = 'Y'
				}
				m.Key = append(m.Key, "-grown"...)
				m.Value = append(m.Value[:1], "short"...)
				if first {
					return errors.New("fail once after changing the message")
				}
				return nil
			}
			if _, err := b.Subscribe(ctx, "t1", "mutator", mutate, o.opt, core.SubscribeStart(core.StartEarliest)); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Subscribe(ctx, "t1", "reader", func(_ context.Context, m *core.Message) error {
				record("reader", m)
				return nil
			}, o.opt, core.SubscribeStart(core.StartEarliest)); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if _, err := b.Publish(ctx, &core.Message{Topic: "t1", Key: key(i), Value: value(i)}); err != nil {
					t.Fatal(err)
				}
			}
			testutil.Eventually(t, 10*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(retried) == n && len(seen["reader"]) == n
			}, "every message retried by the mutator and read by the other group")
			// A group that starts now replays the partition from the start.
			if _, err := b.Subscribe(ctx, "t1", "replay", func(_ context.Context, m *core.Message) error {
				record("replay", m)
				return nil
			}, o.opt, core.SubscribeStart(core.StartEarliest)); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 10*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(seen["replay"]) == n
			}, "the replaying group read every message")

			hist, err := b.History(ctx, "t1", n)
			if err != nil || len(hist) != n {
				t.Fatalf("history: %d messages, %v", len(hist), err)
			}
			mu.Lock()
			defer mu.Unlock()
			for i, m := range hist {
				off := int64(i)
				if m.Offset != off || !bytes.Equal(m.Key, key(i)) || !bytes.Equal(m.Value, value(i)) {
					t.Fatalf("history at %d: offset %d key %q value %.8q...", i, m.Offset, m.Key, m.Value)
				}
				for _, g := range []string{"reader", "replay"} {
					if !bytes.Equal(seen[g][off], value(i)) {
						t.Fatalf("group %s read %.8q... at offset %d, want %.8q...", g, seen[g][off], off, value(i))
					}
				}
				if !bytes.Equal(retried[off], value(i)) {
					t.Fatalf("the retry at offset %d saw %.8q..., want the message as published", off, retried[off])
				}
				if k := kept[off]; string(k.Key) != "XXXXXX-grown" || string(k.Value) != "Yshort" {
					t.Fatalf("the mutator's own copy at %d is key %q value %q", off, k.Key, k.Value)
				}
			}
		})
	}
}
