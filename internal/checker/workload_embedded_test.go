package checker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/checker"
)

const (
	embTopic = "checker-embedded"
	embParts = 3
)

// embeddedGroups consume while the producers publish: one group per
// ordering mode; only the partition-ordered one is checked for offset
// order within a session (the others run partitions' keys in parallel).
var embeddedGroups = []struct {
	name     string
	ordering core.Ordering
}{
	{"e-partition", core.OrderPartition},
	{"e-key", core.OrderKey},
}

// TestEmbeddedWorkload runs the checker's workload on the embedded bus
// over a bbolt file: Publish and PublishAsync producers with their own
// keys, two consumer groups, three restarts (Close and reopen) under
// load, the history checked after each; at the end both groups drain and
// every acknowledged value must have been delivered to each.
func TestEmbeddedWorkload(t *testing.T) {
	dir := t.TempDir()
	h := &checker.History{}
	opts := checker.Options{Unordered: map[string]bool{"e-key": true}}
	const cycles = 3
	var bus *core.Bus
	for cycle := 0; cycle <= cycles; cycle++ {
		var err error
		bus, err = core.New(core.WithDataDir(dir), core.WithTopic(embTopic, core.TopicConfig{Partitions: embParts}))
		if err != nil {
			t.Fatalf("cycle %d: open: %v", cycle, err)
		}
		finalEmbedded(t, h, bus)
		if r := h.Check(opts); !r.OK() {
			t.Fatalf("cycle %d, after reopen:\n%s", cycle, r)
		}
		for _, g := range embeddedGroups {
			session := fmt.Sprintf("%s-%d", g.name, cycle)
			if _, err := bus.Subscribe(context.Background(), embTopic, g.name, func(ctx context.Context, m *core.Message) error {
				h.Deliver(session, g.name, m.Topic, m.Partition, m.Offset, string(m.Key), string(m.Value))
				return nil
			}, core.SubscribeOrdering(g.ordering, 4), core.SubscribeStart(core.StartEarliest)); err != nil {
				t.Fatal(err)
			}
		}
		if cycle == cycles {
			break
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for p := range 2 {
			name := fmt.Sprintf("sync-%d", p)
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					key, value := fmt.Sprintf("%s/k%d", name, i%5), fmt.Sprintf("%s/%d/%d", name, cycle, i)
					h.Invoke(name, embTopic, key, value)
					m := &core.Message{Topic: embTopic, Key: []byte(key), Value: []byte(value)}
					if _, err := bus.Publish(ctx, m); err != nil {
						h.Fail(name, embTopic, key, value, err)
						continue
					}
					h.Ack(name, embTopic, m.Partition, m.Offset, key, value)
				}
			})
			name2 := fmt.Sprintf("async-%d", p)
			wg.Go(func() {
				var inflight sync.WaitGroup
				defer inflight.Wait()
				for i := 0; ctx.Err() == nil; i++ {
					key, value := fmt.Sprintf("%s/k%d", name2, i%5), fmt.Sprintf("%s/%d/%d", name2, cycle, i)
					h.Invoke(name2, embTopic, key, value)
					inflight.Add(1)
					err := bus.PublishAsync(ctx, &core.Message{Topic: embTopic, Key: []byte(key), Value: []byte(value)}, func(m *core.Message, err error) {
						defer inflight.Done()
						if err != nil {
							h.Fail(name2, embTopic, key, value, err)
							return
						}
						h.Ack(name2, embTopic, m.Partition, m.Offset, key, value)
					})
					if err != nil {
						inflight.Done()
						h.Fail(name2, embTopic, key, value, err)
					}
					if i%64 == 63 {
						inflight.Wait() // bound what is in flight
					}
				}
			})
		}
		time.Sleep(300 * time.Millisecond) // load while the groups consume
		cancel()
		wg.Wait()
		if err := bus.Close(context.Background()); err != nil {
			t.Fatalf("cycle %d: close: %v", cycle, err)
		}
	}
	defer bus.Close(context.Background())
	deadline := time.Now().Add(30 * time.Second)
	for {
		finalEmbedded(t, h, bus)
		for _, g := range embeddedGroups {
			h.Drained(g.name)
		}
		r := h.Check(opts)
		if r.OK() {
			t.Logf("embedded workload, %d restarts: %s", cycles, r)
			return
		}
		if r.Counts["lost"] == 0 || time.Now().After(deadline) {
			t.Fatalf("after the drain:\n%s", r)
		}
		time.Sleep(20 * time.Millisecond) // the groups are still draining
	}
}

// finalEmbedded reads every partition of embTopic into the history.
func finalEmbedded(t *testing.T, h *checker.History, bus *core.Bus) {
	t.Helper()
	h.ClearFinal()
	for p := range int32(embParts) {
		msgs, err := bus.History(context.Background(), embTopic, 1<<30, core.InPartition(p))
		if err != nil {
			t.Fatalf("final read of %s/%d: %v", embTopic, p, err)
		}
		recs := make([]checker.Record, len(msgs))
		for i, m := range msgs {
			recs[i] = checker.Record{Offset: m.Offset, Key: string(m.Key), Value: string(m.Value)}
		}
		h.Final(embTopic, p, recs)
	}
}
