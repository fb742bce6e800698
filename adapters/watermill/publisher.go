package watermill

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/onexbus/onexbus/core"
)

// Publisher publishes Watermill messages to a bus. It is safe for
// concurrent use.
type Publisher struct {
	bus    *core.Bus
	closed atomic.Bool
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher on bus. The bus stays the caller's:
// Close does not close it.
func NewPublisher(bus *core.Bus) *Publisher {
	return &Publisher{bus: bus}
}

// Publish appends msgs to topic, in order, and returns once the bus holds
// them durably by its policy. Each message's Context bounds the call (a
// batch stops when any of them ends); on error, messages before the
// failing one may have been stored. The topic is created on first use.
// Publish does not keep msgs or their payloads.
//
// It returns ErrPublisherClosed after Close, or the bus's error wrapped
// (core.ErrClosed, core.ErrInvalidTopic, core.ErrMessageTooLarge, a
// context's error).
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if p.closed.Load() {
		return ErrPublisherClosed
	}
	if len(msgs) == 0 {
		return nil
	}
	batch := make([]*core.Message, len(msgs))
	for i, wm := range msgs {
		batch[i] = toBus(topic, wm)
	}
	ctx, stop := publishContext(msgs)
	defer stop()
	err := ctx.Err()
	if err == nil {
		err = p.bus.PublishBatch(ctx, batch)
	}
	if err != nil {
		return fmt.Errorf("onexbus/watermill: publish %d messages to %s: %w", len(msgs), topic, err)
	}
	return nil
}

// publishContext returns a context that ends when any message's context
// ends (already ended if one has), and a function to release it.
func publishContext(msgs []*message.Message) (context.Context, func()) {
	if len(msgs) == 1 {
		return msgs[0].Context(), func() {}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	var stops []func() bool
	var prev context.Context
	for _, m := range msgs {
		mctx := m.Context()
		if mctx == prev {
			continue // the usual case: every message has the same context
		}
		prev = mctx
		if err := context.Cause(mctx); err != nil {
			// AfterFunc would cancel on another goroutine, maybe after
			// the publish began.
			cancel(err)
			break
		}
		stops = append(stops, context.AfterFunc(mctx, func() { cancel(context.Cause(mctx)) }))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel(nil)
	}
}

// Close makes later Publish calls fail with ErrPublisherClosed. Calls
// under way finish. It does not close the bus; it is idempotent and
// returns nil.
func (p *Publisher) Close() error {
	p.closed.Store(true)
	return nil
}
