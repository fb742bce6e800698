package core

import (
	"context"
	"errors"
	"time"

	"github.com/onexbus/onexbus/internal/breaker"
	"github.com/onexbus/onexbus/wal"
)

// Hook is a value given to WithHooks: it implements any number of the
// one-method hook interfaces below, which the bus finds by type
// assertion (franz-go's kgo hooks are the model). Hooks are called
// synchronously, without the bus's locks held, on the goroutine where the
// event happened: they must be quick and must not block or call the bus
// back. A bus without hooks pays nothing.
type Hook any

// PublishHook is told of every Publish, PublishBatch and PublishAsync
// once it is durable or failed.
type PublishHook interface {
	OnPublish(PublishEvent)
}

// PublishEvent describes one publish call (for PublishBatch, the whole
// batch; its messages may span topics: Topic is the first message's).
type PublishEvent struct {
	Topic      string
	Messages   int
	Bytes      int // keys and values
	Duplicates int // dropped by the dedup window
	// Duration is from the call to durability by the bus's policy.
	Duration time.Duration
	Err      error
}

// CommitHook is told of every group commit of the log.
type CommitHook interface {
	OnCommit(CommitEvent)
}

// CommitEvent describes one group commit: how many messages and bytes it
// wrote in one store transaction, and how long that took (fsync included
// under DurabilitySync).
type CommitEvent struct {
	Messages, Bytes int64
	Duration        time.Duration
	Err             error
}

// RetentionHook is told when retention removes messages.
type RetentionHook interface {
	OnRetentionEviction(RetentionEvent)
}

// RetentionEvent describes messages retention removed from a partition.
type RetentionEvent struct {
	Topic     string
	Partition int32
	Messages  int64
}

// DeliverHook is told when a handler is about to get a message.
type DeliverHook interface {
	OnDeliver(DeliverEvent)
}

// DeliverEvent describes one delivery.
type DeliverEvent struct {
	Topic     string
	Partition int32
	Offset    int64
	Group     string
	Attempt   int
	// Age is the time since the message's timestamp: the end-to-end
	// latency at the moment of delivery.
	Age time.Duration
}

// HandlerDoneHook is told when a handler call ends.
type HandlerDoneHook interface {
	OnHandlerDone(HandlerEvent)
}

// Outcome is how a handler call ended.
type Outcome string

// Outcomes.
const (
	OutcomeAck       Outcome = "ack"       // returned nil
	OutcomeRetry     Outcome = "retry"     // returned an error: retried (or dead-lettered at the limit)
	OutcomePermanent Outcome = "permanent" // returned a Permanent error
	OutcomeTimeout   Outcome = "timeout"   // ran past its timeout
	OutcomePanic     Outcome = "panic"     // panicked
	OutcomeReleased  Outcome = "released"  // gave the message back (ErrReleased)
	OutcomeExited    Outcome = "exited"    // called runtime.Goexit
)

// HandlerEvent describes one handler call.
type HandlerEvent struct {
	Topic     string
	Partition int32
	Offset    int64
	Group     string
	Attempt   int
	Outcome   Outcome
	Duration  time.Duration
}

// BreakerHook is told of every state change of a subscriber's breaker.
type BreakerHook interface {
	OnBreakerTransition(BreakerEvent)
}

// BreakerEvent describes one breaker state change.
type BreakerEvent struct {
	Topic, Group string
	From, To     BreakerState
}

// DeadLetterHook is told of every message the dead-letter queue
// confirmed.
type DeadLetterHook interface {
	OnDeadLetter(DeadLetterEvent)
}

// DeadLetterReason says why a message was dead-lettered.
type DeadLetterReason string

// Reasons.
const (
	ReasonMaxAttempts DeadLetterReason = "max_attempts"
	ReasonPermanent   DeadLetterReason = "permanent"
	ReasonUndecodable DeadLetterReason = "undecodable"
)

// DeadLetterEvent describes one dead-lettered message.
type DeadLetterEvent struct {
	Topic     string
	Partition int32
	Offset    int64
	Group     string
	Attempts  int
	Reason    DeadLetterReason
}

// PublishContextHook sees each message with the publisher's context
// before it is prepared: a tracer injects the caller's trace context
// into the message's headers (traceparent) here.
type PublishContextHook interface {
	OnPublishContext(ctx context.Context, m *Message)
}

// HandlerContextHook wraps each handler call: it returns the context the
// handler runs with (a tracer starts a process span whose parent is the
// producer's context from the message's headers) and a function called
// with the handler's result when it returns.
type HandlerContextHook interface {
	OnHandlerStart(ctx context.Context, m *Message, d DeliveryInfo) (context.Context, func(error))
}

// WithHooks adds hooks (see Hook). A value that implements none of the
// hook interfaces is an ErrInvalidConfig.
func WithHooks(hs ...Hook) Option { return func(c *config) { c.hooks = append(c.hooks, hs...) } }

// hooks holds the hooks by kind; empty slices cost one length check.
type hooks struct {
	publish   []PublishHook
	commit    []CommitHook
	retention []RetentionHook
	deliver   []DeliverHook
	done      []HandlerDoneHook
	breaker   []BreakerHook
	dead      []DeadLetterHook
	pubCtx    []PublishContextHook
	handler   []HandlerContextHook
}

// observesDeliveries says whether any hook wants deliveries reported: a
// bus without them takes no clock reading per delivery.
func (h *hooks) observesDeliveries() bool { return len(h.deliver) > 0 || len(h.done) > 0 }

// errHandlerPanicked wraps the panic of a handler, which counts as its
// error.
var errHandlerPanicked = errors.New("onexbus: handler panicked")

// errNotAHook is reported for a WithHooks value that implements no hook.
var errNotAHook = errors.New("a hook implements none of the hook interfaces")

func buildHooks(hs []Hook) (hooks, error) {
	var h hooks
	for _, x := range hs {
		n := 0
		if v, ok := x.(PublishHook); ok {
			h.publish, n = append(h.publish, v), n+1
		}
		if v, ok := x.(CommitHook); ok {
			h.commit, n = append(h.commit, v), n+1
		}
		if v, ok := x.(RetentionHook); ok {
			h.retention, n = append(h.retention, v), n+1
		}
		if v, ok := x.(DeliverHook); ok {
			h.deliver, n = append(h.deliver, v), n+1
		}
		if v, ok := x.(HandlerDoneHook); ok {
			h.done, n = append(h.done, v), n+1
		}
		if v, ok := x.(BreakerHook); ok {
			h.breaker, n = append(h.breaker, v), n+1
		}
		if v, ok := x.(DeadLetterHook); ok {
			h.dead, n = append(h.dead, v), n+1
		}
		if v, ok := x.(PublishContextHook); ok {
			h.pubCtx, n = append(h.pubCtx, v), n+1
		}
		if v, ok := x.(HandlerContextHook); ok {
			h.handler, n = append(h.handler, v), n+1
		}
		if n == 0 {
			return hooks{}, errNotAHook
		}
	}
	return h, nil
}

// publishContext shows msgs to the publish context hooks.
func (b *Bus) publishContext(ctx context.Context, msgs []*Message) {
	for _, h := range b.hooks.pubCtx {
		for _, m := range msgs {
			if m != nil {
				h.OnPublishContext(ctx, m)
			}
		}
	}
}

// handlerContext runs the handler context hooks for a call: the context
// to run it with and what to call with its result.
func (b *Bus) handlerContext(ctx context.Context, m *Message, d DeliveryInfo) (context.Context, func(error)) {
	if len(b.hooks.handler) == 0 {
		return ctx, nil
	}
	ends := make([]func(error), 0, len(b.hooks.handler))
	for _, h := range b.hooks.handler {
		var end func(error)
		ctx, end = h.OnHandlerStart(ctx, m, d)
		if end != nil {
			ends = append(ends, end)
		}
	}
	return ctx, func(err error) {
		for i := len(ends) - 1; i >= 0; i-- {
			ends[i](err)
		}
	}
}

// observePublish reports a publish of msgs that began at start.
func (b *Bus) observePublish(msgs []*Message, start time.Time, err error) {
	if len(b.hooks.publish) == 0 || len(msgs) == 0 {
		return
	}
	ev := PublishEvent{Topic: msgs[0].Topic, Messages: len(msgs), Duration: time.Since(start), Err: err}
	for _, m := range msgs {
		ev.Bytes += len(m.Key) + len(m.Value)
		if m.Duplicate {
			ev.Duplicates++
		}
	}
	for _, h := range b.hooks.publish {
		h.OnPublish(ev)
	}
}

// walObserver turns the log's reports into commit and retention hooks.
type walObserver struct{ h *hooks }

func (o walObserver) OnCommit(s wal.CommitStats) {
	ev := CommitEvent{Messages: s.Records, Bytes: s.Bytes, Duration: s.Duration, Err: s.Err}
	for _, h := range o.h.commit {
		h.OnCommit(ev)
	}
}

func (o walObserver) OnEvict(topic string, part int32, n int64) {
	ev := RetentionEvent{Topic: topic, Partition: part, Messages: n}
	for _, h := range o.h.retention {
		h.OnRetentionEviction(ev)
	}
}

// breakerChanged reports a breaker's state change (its OnChange).
func (b *Bus) breakerChanged(topic, group string) func(breaker.Change) {
	if len(b.hooks.breaker) == 0 {
		return nil
	}
	return func(c breaker.Change) {
		ev := BreakerEvent{Topic: topic, Group: group, From: BreakerState(c.From), To: BreakerState(c.To)}
		for _, h := range b.hooks.breaker {
			h.OnBreakerTransition(ev)
		}
	}
}

// observeDeliver reports a delivery about to start.
func (l *loop) observeDeliver(m *Message, attempt int) {
	b := l.bus
	if len(b.hooks.deliver) == 0 {
		return
	}
	ev := DeliverEvent{Topic: l.topic, Partition: l.part, Offset: m.Offset, Group: l.group.name, Attempt: attempt,
		Age: b.cfg.now().Sub(m.Timestamp)}
	for _, h := range b.hooks.deliver {
		h.OnDeliver(ev)
	}
}

// observeDone reports a handler call that took d and ended with err.
func (l *loop) observeDone(m *Message, attempt int, err error, d time.Duration, exited bool) {
	b := l.bus
	if len(b.hooks.done) == 0 || errors.Is(err, errNotActive) {
		return
	}
	ev := HandlerEvent{Topic: l.topic, Partition: l.part, Offset: m.Offset, Group: l.group.name, Attempt: attempt,
		Outcome: outcomeOf(err, exited), Duration: d}
	for _, h := range b.hooks.done {
		h.OnHandlerDone(ev)
	}
}

func outcomeOf(err error, exited bool) Outcome {
	switch {
	case exited:
		return OutcomeExited
	case err == nil:
		return OutcomeAck
	case errors.Is(err, ErrReleased):
		return OutcomeReleased
	case errors.Is(err, errHandlerPanicked):
		return OutcomePanic
	case IsPermanent(err):
		return OutcomePermanent
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	}
	return OutcomeRetry
}

// deadLetterReason classifies why a message with attempts attempts went
// to the dead-letter queue.
func deadLetterReason(cause error, attempts, maxAttempts int) DeadLetterReason {
	switch {
	case IsPermanent(cause):
		return ReasonPermanent
	case attempts < maxAttempts:
		return ReasonUndecodable // never handed to a handler: it did not decode
	}
	return ReasonMaxAttempts
}

// observeDeadLetter reports a confirmed dead letter.
func (l *loop) observeDeadLetter(m *Message, attempts int, reason DeadLetterReason) {
	for _, h := range l.bus.hooks.dead {
		h.OnDeadLetter(DeadLetterEvent{Topic: l.topic, Partition: l.part, Offset: m.Offset, Group: l.group.name,
			Attempts: attempts, Reason: reason})
	}
}
