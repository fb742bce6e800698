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
type onexbusAsync struct {
	*onexbusDurable
	slots chan struct{}
	wg    sync.WaitGroup
	// done is o.finish, made once: one callback serves every publish, as
	// an application's would, so the harness allocates no closure a
	// message (it did, a third of its own cost per message).
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
	o := &onexbusAsync{onexbusDurable: inst.(*onexbusDurable), slots: make(chan struct{}, asyncWindow)}
	o.done = o.finish
	return o, nil
}

func (o *onexbusAsync) publish(ctx context.Context, payload []byte) error {
	if o.failed.Load() {
		return o.firstErr()
	}
	select {
	case o.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	o.wg.Add(1)
	err := o.bus.PublishAsync(ctx, &core.Message{Topic: o.topic, Value: payload}, o.done)
	if err != nil {
		<-o.slots
		o.wg.Done()
	}
	return err
}

// finish is every publish's callback.
func (o *onexbusAsync) finish(_ *core.Message, err error) {
	if err != nil {
		o.mu.Lock()
		if o.err == nil {
			o.err = err
			o.failed.Store(true)
		}
		o.mu.Unlock()
	}
	<-o.slots
	o.wg.Done()
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

func (o *onexbusAsync) flush(context.Context) error {
	o.wg.Wait()
	return o.firstErr()
}

func (o *onexbusAsync) close() error {
	o.wg.Wait()
	return o.onexbusDurable.close()
}
