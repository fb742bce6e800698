package core_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
)

// commitCounter counts the store transactions that committed: each is
// one group commit of the log, two fdatasyncs on bbolt.
type commitCounter struct {
	store.Store
	commits atomic.Int64
}

// Update runs the wrapped store's Update and counts it if it committed.
func (s *commitCounter) Update(fn func(store.Tx) error) error {
	err := s.Store.Update(fn)
	if err == nil {
		s.commits.Add(1)
	}
	return err
}

// BenchmarkDurableSyncPublish measures group commit as the bus's callers
// see it: publishers goroutines each calling Publish (which returns after
// the fsync of the commit that stored its message) on a bbolt file, 256 B
// values, with and without a live subscriber committing its cursor. One op
// is one message; msgs/commit is how full the group commits are.
func BenchmarkDurableSyncPublish(b *testing.B) {
	for _, pubs := range []int{1, 16, 64} {
		for _, sub := range []bool{false, true} {
			b.Run(fmt.Sprintf("publishers=%d/subscriber=%v", pubs, sub), func(b *testing.B) {
				ctx := context.Background()
				bs, err := bolt.Open(filepath.Join(b.TempDir(), "bus.db"))
				if err != nil {
					b.Fatal(err)
				}
				st := &commitCounter{Store: bs}
				bus, err := core.New(core.WithStore(st))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() {
					if err := bus.Close(ctx); err != nil {
						b.Error(err)
					}
					if err := bs.Close(); err != nil {
						b.Error(err)
					}
				})
				value := make([]byte, 256)
				if _, err := bus.Publish(ctx, &core.Message{Topic: "bench", Value: value}); err != nil {
					b.Fatal(err)
				}
				var handled atomic.Int64
				if sub {
					if _, err := bus.Subscribe(ctx, "bench", "g", func(context.Context, *core.Message) error {
						handled.Add(1)
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(len(value)))
				var next atomic.Int64
				n := int64(b.N)
				st.commits.Store(0)
				b.ResetTimer()
				var wg sync.WaitGroup
				for range pubs {
					wg.Go(func() {
						for next.Add(1) <= n {
							if _, err := bus.Publish(ctx, &core.Message{Topic: "bench", Value: value}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				if c := st.commits.Load(); c > 0 {
					b.ReportMetric(float64(b.N)/float64(c), "msgs/commit")
				}
			})
		}
	}
}
