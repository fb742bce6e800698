package bench

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/onexbus/onexbus/core"
)

// asyncWindow bounds the PublishAsync calls in flight per instance, so
// that the row's memory is bounded by it, not by the message count. It is
// well above a group commit's size (about a thousand records), so the
// window never starves the committer.
const asyncWindow = 8192

// onexbusAsync is the durable bus (onexbusDurable: bbolt, the sync
// policy) written with PublishAsync: publish returns once the message is
// queued, and its callback runs after the fsync of the group commit that
// holds it. flush waits for every callback.
//
// The window is a free list of asyncWindow messages made once: publish
// takes one (waiting while every one is in flight) and the callback,
// once the bus hands the message back, returns it. So the harness's own
// work per message is one channel send and receive, as an application
// that recycles its messages would do, and as raw bbolt's row does no
// allocation per record; a fresh Message per publish (440 B, zeroed and
// collected) plus a WaitGroup and a separate window channel were about a
// quarter of the publisher's time, none of it the bus's.
type onexbusAsync struct {
	*onexbusDurable
	free chan *core.Message
	// flushMu makes flushes take turns: each takes every message back
	// from free, so two at once would each hold part and wait for ever.
	flushMu sync.Mutex
	// done is o.finish, made once: one callback serves every publish, as
	// an application's would, so the harness allocates no closure a
	// message.
	done   func(*core.Message, error)
	failed atomic.Bool // err is set
	mu     sync.Mutex  // protects err
	err    error
}

func openOnexbusAsync(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	inst, err := openOnexbusDurable(ctx, topic, handled)
	if err != nil {
		return nil, err
	}
	o := &onexbusAsync{onexbusDurable: inst.(*onexbusDurable), free: make(chan *core.Message, asyncWindow)}
	msgs := make([]core.Message, asyncWindow)
	for i := range msgs {
		o.free <- &msgs[i]
	}
	o.done = o.finish
	return o, nil
}

func (o *onexbusAsync) publish(ctx context.Context, payload []byte) error {
	if o.failed.Load() {
		return o.firstErr()
	}
	var m *core.Message
	// A message is most often free: take it without a two-case select
	// (a select on ctx.Done per message was a tenth of the publisher's
	// time, and raw bbolt's loop checks no context per record); wait on
	// both only when the window is full.
	select {
	case m = <-o.free:
	default:
		select {
		case m = <-o.free:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// The bus filled in the previous use's headers, offset and time:
	// start from a new message, as a fresh allocation would.
	*m = core.Message{Topic: o.topic, Value: payload}
	err := o.bus.PublishAsync(ctx, m, o.done)
	if err != nil {
		o.free <- m
	}
	return err
}

// finish is every publish's callback: the bus is done with m.
func (o *onexbusAsync) finish(m *core.Message, err error) {
	if err != nil {
		o.mu.Lock()
		if o.err == nil {
			o.err = err
			o.failed.Store(true)
		}
		o.mu.Unlock()
	}
	o.free <- m
}

func (o *onexbusAsync) firstErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// write publishes n messages asynchronously and returns once every one
// is durable.
func (o *onexbusAsync) write(ctx context.Context, payload []byte, n int) error {
	for range n {
		if err := o.publish(ctx, payload); err != nil {
			return err
		}
	}
	return o.flush(ctx)
}

// flush waits until no publish is in flight: every message is back in
// free.
func (o *onexbusAsync) flush(context.Context) error {
	o.flushMu.Lock()
	defer o.flushMu.Unlock()
	held := make([]*core.Message, 0, asyncWindow)
	for range asyncWindow {
		held = append(held, <-o.free)
	}
	for _, m := range held {
		o.free <- m
	}
	return o.firstErr()
}

func (o *onexbusAsync) close() error {
	o.flush(context.Background())
	return o.onexbusDurable.close()
}
