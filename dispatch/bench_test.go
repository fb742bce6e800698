package dispatch_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dispatch"
)

// BenchmarkDispatch measures the engine's cost per message against
// calling the same handler directly: 20 routes, the matching one last by
// priority, no outputs.
func BenchmarkDispatch(b *testing.B) {
	ctx := context.Background()
	m := msg("onex.evt.billing.paid.v1", "paid")
	var n int
	h := func(context.Context, *core.Message) ([]*core.Message, error) { n++; return nil, nil }
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = h(ctx, m)
		}
	})
	b.Run("engine", func(b *testing.B) {
		e, _ := dispatch.New(discard{})
		_ = e.RegisterDispatcher(dispatch.Dispatcher{ID: "d", Category: core.CategoryEvent, Handler: h})
		for i := range 19 {
			_ = e.RegisterRoute(dispatch.Route{ID: fmt.Sprint("miss", i), TopicPattern: fmt.Sprintf("onex.evt.other%d.*.v1", i),
				Category: core.CategoryEvent, DispatcherID: "d", Priority: 10})
		}
		_ = e.RegisterRoute(dispatch.Route{ID: "hit", TopicPattern: "onex.evt.billing.*.v1", Category: core.CategoryEvent, DispatcherID: "d"})
		if err := e.Freeze(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if r := e.Dispatch(ctx, m); r.Status != dispatch.StatusSuccess {
				b.Fatal(r.Err)
			}
		}
	})
}

type discard struct{}

func (discard) PublishBatch(context.Context, []*core.Message) error { return nil }
