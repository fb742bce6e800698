package metrics_test

import (
	"context"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/metrics"
	"github.com/onexbus/onexbus/transport/memory"
)

// BenchmarkEndToEndHooks is the memory bus end to end (one publisher, one
// subscriber) without hooks and with the Prometheus metrics attached: the
// hooks' cost.
func BenchmarkEndToEndHooks(b *testing.B) {
	for _, c := range []struct {
		name string
		opts func() []core.Option
	}{
		{"none", func() []core.Option { return nil }},
		{"prometheus", func() []core.Option {
			m, _ := metrics.New()
			return []core.Option{core.WithHooks(m)}
		}},
	} {
		b.Run("hooks="+c.name, func(b *testing.B) {
			bus, err := memory.New(c.opts()...)
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Close(context.Background())
			ctx := context.Background()
			got := make(chan struct{}, 1024)
			if _, err := bus.Subscribe(ctx, "bench", "g", func(context.Context, *core.Message) error {
				got <- struct{}{}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 256)
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for i := 0; i < b.N; i++ {
					if _, err := bus.Publish(ctx, &core.Message{Topic: "bench", Value: value}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
			for i := 0; i < b.N; i++ {
				<-got
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
