package core_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/memory"
)

// BenchmarkFailingOnePercent measures delivery when a random 1% of
// messages fail once (retry base 1 ms), in partition order and in key order (100 keys):
// in partition order each failure stalls the partition for its backoff;
// in key order only its key waits. One op is one delivered message.
func BenchmarkFailingOnePercent(b *testing.B) {
	for _, o := range []core.Ordering{core.OrderPartition, core.OrderKey} {
		b.Run("order="+o.String(), func(b *testing.B) {
			ctx := context.Background()
			bus, err := memory.New(
				core.WithRetry(core.RetryPolicy{MaxAttempts: 5, Base: time.Millisecond, Max: 10 * time.Millisecond}),
				core.WithBreaker(core.BreakerPolicy{Threshold: 0}))
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Close(ctx)
			// A fixed random 1% of the offsets, spread over the keys.
			rng := rand.New(rand.NewPCG(1, 2))
			n := b.N
			fails := make([]bool, n)
			for i := range fails {
				fails[i] = rng.IntN(100) == 0
			}
			var mu sync.Mutex
			failed := map[int64]bool{}
			delivered := 0
			done := make(chan struct{})
			_, err = bus.Subscribe(ctx, "bench", "g", func(_ context.Context, m *core.Message) error {
				mu.Lock()
				defer mu.Unlock()
				if fails[m.Offset] && !failed[m.Offset] {
					failed[m.Offset] = true
					return errors.New("transient")
				}
				if delivered++; delivered == n {
					close(done)
				}
				return nil
			}, core.SubscribeOrdering(o, 64))
			if err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 256)
			keys := make([][]byte, 100)
			for i := range keys {
				keys[i] = []byte(fmt.Sprint("key-", i))
			}
			b.ResetTimer()
			for i := range n {
				if _, err := bus.Publish(ctx, &core.Message{Topic: "bench", Key: keys[i%len(keys)], Value: value}); err != nil {
					b.Fatal(err)
				}
			}
			<-done
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkEndToEndPlain is BenchmarkEndToEnd without the delivery
// engine: a reader goroutine fetches from the log and calls the handler
// itself, with no group, cursor, in-flight mark, attempt or breaker. The
// difference to BenchmarkEndToEnd is what the engine costs on the happy
// path.
func BenchmarkEndToEndPlain(b *testing.B) {
	ctx := context.Background()
	bus, err := memory.New()
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close(ctx)
	value := make([]byte, 256)
	handled := 0
	handler := func(context.Context, *core.Message) error { handled++; return nil }
	done := make(chan struct{})
	n := b.N
	go func() {
		defer close(done)
		var next int64
		for handled < n {
			if err := bus.WaitForMessages(ctx, "bench", 0, next); err != nil {
				b.Error(err)
				return
			}
			msgs, err := bus.Fetch(ctx, "bench", 0, next, 64)
			if err != nil {
				b.Error(err)
				return
			}
			for _, m := range msgs {
				_ = handler(ctx, m)
				next = m.Offset + 1
			}
		}
	}()
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	for range n {
		if _, err := bus.Publish(ctx, &core.Message{Topic: "bench", Value: value}); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDurableEndToEnd is publish to handler on a bbolt file with the
// sync policy, one publisher: every Publish waits for its fsync, and the
// group's in-flight marks must not add fsyncs of their own.
func BenchmarkDurableEndToEnd(b *testing.B) {
	ctx := context.Background()
	bus, err := core.New(core.WithDataDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close(ctx)
	value := make([]byte, 256)
	handled := make(chan struct{}, 1)
	n, seen := b.N, 0
	if _, err := bus.Subscribe(ctx, "bench", "g", func(context.Context, *core.Message) error {
		if seen++; seen == n {
			handled <- struct{}{}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range n {
		if _, err := bus.Publish(ctx, &core.Message{Topic: "bench", Value: value}); err != nil {
			b.Fatal(err)
		}
	}
	<-handled
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
