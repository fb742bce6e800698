package watermill

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
)

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	// ConsumerGroup is the bus consumer group every Subscribe call joins:
	// its members share the partitions of a topic, and the group's
	// position survives the subscriber (on a durable bus, restarts too).
	// Empty means each Subscribe call is a group of its own, named
	// "watermill-" and a fresh UUID, that sees every message published
	// from its start position on.
	ConsumerGroup string
	// Options apply to every subscription: core.SubscribeStart (where a
	// group without a position begins; default the bus's, latest),
	// core.SubscribeRetry (how a Nack is retried; default the bus's) and
	// core.SubscribeHandlerTimeout (how long a message may wait for its
	// Ack before it counts as failed; default none).
	Options []core.SubscribeOption
}

// Subscriber receives a bus's messages as Watermill messages. It is safe
// for concurrent use.
//
// Lock order: Subscriber.mu, then the bus's locks.
type Subscriber struct {
	bus *core.Bus
	cfg SubscriberConfig

	mu     sync.Mutex                 // protects closed and subs
	closed bool                       // set by Close
	subs   map[*subscription]struct{} // live subscriptions

	watchers sync.WaitGroup // one goroutine per subscription, watching its context
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a Subscriber on bus. The bus stays the caller's:
// Close does not close it.
func NewSubscriber(bus *core.Bus, cfg SubscriberConfig) *Subscriber {
	cfg.Options = append([]core.SubscribeOption(nil), cfg.Options...)
	return &Subscriber{bus: bus, cfg: cfg, subs: make(map[*subscription]struct{})}
}

// Subscribe joins the consumer group on topic (a topic name, or a bus
// pattern with `*` and `**`) and returns the channel its messages arrive
// on. The channel is unbuffered; the next message of a partition is sent
// once the one before it was Acked. A Nacked message is sent again after
// the retry delay. The channel is closed when ctx ends or Close is
// called; a message in hand then, not yet Acked, goes to another member
// of the group or the next to join. A message's Context derives from ctx
// and ends when the message is acknowledged or the subscription ends.
//
// It returns ErrSubscriberClosed after Close, or the bus's error wrapped
// (core.ErrClosed, core.ErrInvalidPattern, core.ErrInvalidGroup,
// core.ErrInvalidConfig, ctx's error).
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSubscriberClosed
	}
	group := s.cfg.ConsumerGroup
	if group == "" {
		group = "watermill-" + uuid.NewString()
	}
	sub := &subscription{
		ctx:     ctx,
		out:     make(chan *message.Message),
		closing: make(chan struct{}),
	}
	cs, err := s.bus.Subscribe(ctx, topic, group, sub.handle, s.cfg.Options...)
	if err != nil {
		return nil, fmt.Errorf("onexbus/watermill: subscribe to %s as %s: %w", topic, group, err)
	}
	sub.bus = cs
	s.subs[sub] = struct{}{}
	s.watchers.Go(func() {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			delete(s.subs, sub)
			s.mu.Unlock()
			_ = sub.close() // Unsubscribe with a background context cannot fail
		case <-sub.closing:
		}
	})
	return sub.out, nil
}

// Close ends every subscription, waits for their handlers and closes
// their channels. It does not close the bus. It is idempotent; later
// calls return nil.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	var errs []error
	for sub := range subs {
		errs = append(errs, sub.close())
	}
	s.watchers.Wait()
	return errors.Join(errs...)
}

// subscription is one Subscribe call: a member of a bus consumer group
// feeding out.
type subscription struct {
	ctx     context.Context // the Subscribe context
	bus     *core.Subscription
	out     chan *message.Message
	closing chan struct{} // closed first by close: handlers give their message back

	once     sync.Once
	closeErr error // set by once
}

// close ends the subscription: the handler in progress returns, the bus
// stops calling it, and only then is out closed, so no send can race the
// close.
func (s *subscription) close() error {
	s.once.Do(func() {
		close(s.closing)
		if err := s.bus.Unsubscribe(context.Background()); err != nil {
			s.closeErr = fmt.Errorf("onexbus/watermill: unsubscribe %s: %w", s.bus.Pattern(), err)
		}
		close(s.out)
	})
	return s.closeErr
}

// handle is the bus handler: it hands the message over and waits for its
// Ack or Nack. ctx is the bus's handler context, cancelled by the handler
// timeout or when the bus's Close gives up waiting.
func (s *subscription) handle(ctx context.Context, m *core.Message) error {
	wm := fromBus(m)
	mctx, cancel := context.WithCancel(s.ctx)
	defer cancel() // Watermill's contract: the context ends with the Ack
	wm.SetContext(mctx)
	select {
	case s.out <- wm:
	case <-s.closing:
		return ErrUnacked
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrUnacked, ctx.Err())
	}
	select {
	case <-wm.Acked():
		return nil
	case <-wm.Nacked():
		return ErrNacked
	case <-s.closing:
	case <-ctx.Done():
	}
	// An Ack that raced the end still counts: the receiver handled it.
	select {
	case <-wm.Acked():
		return nil
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnacked, err)
	}
	return ErrUnacked
}
