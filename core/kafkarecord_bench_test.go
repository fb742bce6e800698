package core_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/memory"
)

// benchFormats are the storage formats the bus's benchmarks compare.
var benchFormats = []struct {
	name   string
	format core.Format
}{
	{"frames", core.FormatFrames},
	{"kafka", core.FormatKafka},
}

// BenchmarkFormatEndToEnd is BenchmarkEndToEnd (memory bus, one publisher,
// one subscriber, 256 B values) with every topic in each storage format.
func BenchmarkFormatEndToEnd(b *testing.B) {
	for _, f := range benchFormats {
		b.Run("format="+f.name, func(b *testing.B) {
			ctx := context.Background()
			bus, err := memory.New(core.WithDefaultTopicConfig(core.TopicConfig{Partitions: 1, Format: f.format}))
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Close(ctx)
			value := make([]byte, 256)
			done := make(chan struct{})
			n, target := 0, b.N
			if _, err := bus.Subscribe(ctx, "bench", "g", func(context.Context, *core.Message) error {
				if n++; n == target {
					close(done)
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			for range b.N {
				if _, err := bus.Publish(ctx, &core.Message{Topic: "bench", Value: value}); err != nil {
					b.Fatal(err)
				}
			}
			<-done
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkDurablePublishAsync measures PublishAsync on a bbolt file with
// the sync policy (every done after its fsync'd group commit): 4
// publishers each keeping up to 64 messages in flight, 256 B values, no
// subscriber, per storage format. One op is one message.
func BenchmarkDurablePublishAsync(b *testing.B) {
	for _, f := range benchFormats {
		b.Run("format="+f.name, func(b *testing.B) {
			ctx := context.Background()
			bus, err := core.New(core.WithDataDir(b.TempDir()), core.WithDefaultTopicConfig(core.TopicConfig{Partitions: 1, Format: f.format}))
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Close(ctx)
			value := make([]byte, 256)
			if _, err := bus.Publish(ctx, &core.Message{Topic: "bench", Value: value}); err != nil {
				b.Fatal(err)
			}
			const pubs, window = 4, 64
			b.ReportAllocs()
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := range pubs {
				n := b.N / pubs
				if p < b.N%pubs {
					n++
				}
				wg.Go(func() {
					inflight := make(chan struct{}, window)
					for range n {
						inflight <- struct{}{}
						if err := bus.PublishAsync(ctx, &core.Message{Topic: "bench", Value: value}, func(_ *core.Message, err error) {
							if err != nil {
								b.Error(err)
							}
							<-inflight
						}); err != nil {
							b.Error(fmt.Errorf("publish: %w", err))
							return
						}
					}
					for range window {
						inflight <- struct{}{}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
