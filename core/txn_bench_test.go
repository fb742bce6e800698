package core_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	memstore "github.com/onexbus/onexbus/store/memory"
)

// BenchmarkTxnHandler measures consume-process-publish: a handler that
// publishes one output per input, through its Txn (txn: output and
// cursor move in one store transaction) or with Bus.Publish (plain: the
// output's own commit, the cursor riding along later), on the memory
// store (DurabilityNone) and on bbolt (DurabilitySync), in partition and
// key order. One op is one input handled, its output stored and the
// group's cursor past it.
func BenchmarkTxnHandler(b *testing.B) {
	stores := []struct {
		name   string
		open   func(b *testing.B) store.Store
		policy core.Option
	}{
		{"memory", func(*testing.B) store.Store { return memstore.New() }, core.WithDurability(core.DurabilityNone, 0)},
		{"bolt", func(b *testing.B) store.Store {
			st, err := bolt.Open(filepath.Join(b.TempDir(), "bus.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = st.Close() })
			return st
		}, core.WithDurability(core.DurabilitySync, 0)},
	}
	for _, st := range stores {
		for _, ord := range []core.Ordering{core.OrderPartition, core.OrderKey} {
			for _, mode := range []string{"plain", "txn"} {
				b.Run(fmt.Sprintf("store=%s/order=%s/%s", st.name, ord, mode), func(b *testing.B) {
					benchTxnHandler(b, st.open(b), st.policy, ord, mode == "txn")
				})
			}
		}
	}
}

func benchTxnHandler(b *testing.B, st store.Store, policy core.Option, ord core.Ordering, txn bool) {
	ctx := context.Background()
	bus, err := core.New(core.WithStore(st), policy,
		core.WithTopic("bench.in", core.TopicConfig{Partitions: 1}),
		core.WithTopic("bench.out", core.TopicConfig{Partitions: 4}))
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close(ctx)
	n := b.N
	value := make([]byte, 256)
	in := make([]*core.Message, 0, 1000)
	for i := 0; i < n; {
		in = in[:0]
		for ; len(in) < cap(in) && i < n; i++ {
			in = append(in, &core.Message{Topic: "bench.in", Key: []byte(fmt.Sprint("key-", i%100)), Value: value})
		}
		if err := bus.PublishBatch(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	h := func(ctx context.Context, m *core.Message) error {
		out := &core.Message{Topic: "bench.out", Key: m.Key, Value: m.Value}
		if txn {
			return core.TxnFrom(ctx).Publish(ctx, out)
		}
		_, err := bus.Publish(ctx, out)
		return err
	}
	opts := []core.SubscribeOption{core.SubscribeStart(core.StartEarliest), core.SubscribeOrdering(ord, 16)}
	if txn {
		opts = append(opts, core.SubscribeTransactional())
	}
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := bus.Subscribe(ctx, "bench.in", "g", h, opts...); err != nil {
		b.Fatal(err)
	}
	for {
		// Polling is the benchmark's clock, not an assertion: a 100 µs
		// poll is noise against n handled inputs.
		if off, _, _ := bus.CommittedOffset("g", "bench.in", 0); off >= int64(n) {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
