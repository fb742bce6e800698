package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/onexbus/onexbus/wal"
)

// Transactional handlers: the messages a handler publishes through its
// Txn and the group's move past the message it handled are stored in one
// store transaction (wal.AppendAtomic), so a crash keeps both or neither.
// See the package doc (Transactions).

// SubscribeTransactional makes every call of the subscription's handler
// a transaction: TxnFrom(ctx) gives the handler a Txn whose published
// messages are stored, when the handler returns nil, in the same store
// transaction that moves the group past the handled message (or, with
// OrderKey and OrderNone, marks it handled). A handler that returns an
// error, panics, runs past its timeout or calls runtime.Goexit stores
// none of them. See the package doc (Transactions) for the guarantee and
// its limits. It is the member's own setting, not the group's.
func SubscribeTransactional() SubscribeOption {
	return func(c *subConfig) { c.transactional = true }
}

// Txn collects the messages a transactional handler publishes. It is
// safe for concurrent use by the handler's goroutines until the handler
// returns; after that Publish returns ErrTxnDone.
type Txn struct {
	bus   *Bus
	mu    sync.Mutex // protects the fields below
	msgs  []*Message
	fresh []bool // fresh[i]: msgs[i]'s message id was generated
	done  bool
}

// TxnFrom returns the transaction of the transactional handler call
// whose context is ctx (or a context derived from it), and nil for any
// other context. Publish on a nil *Txn returns ErrNotTransactional.
func TxnFrom(ctx context.Context) *Txn {
	d, ok := Delivery(ctx)
	if !ok {
		return nil
	}
	return d.txn
}

// Publish adds msgs to the transaction. Each message is checked and
// filled in at once, as Bus.Publish does (partition, timestamp, header
// defaults; errors wrapping ErrInvalidTopic, ErrInvalidHeaders,
// ErrInvalidPartition and the like), and a bad message adds none of
// msgs. Nothing is stored before the handler returns nil; then every
// message of the transaction is stored together with the group's move,
// and gets its Offset. The bus owns the messages from now on. ctx is the
// handler's context, shown to the publish context hooks (tracing).
func (t *Txn) Publish(ctx context.Context, msgs ...*Message) error {
	if t == nil {
		return ErrNotTransactional
	}
	b := t.bus
	if len(b.hooks.pubCtx) > 0 {
		b.publishContext(ctx, msgs)
	}
	now := b.cfg.now()
	fresh := make([]bool, len(msgs))
	for i, m := range msgs {
		f, err := b.prepare(m, now)
		if err != nil {
			return fmt.Errorf("onexbus: transaction: %w", err)
		}
		fresh[i] = f
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return ErrTxnDone
	}
	t.msgs = append(t.msgs, msgs...)
	t.fresh = append(t.fresh, fresh...)
	return nil
}

// Len returns how many messages the transaction holds.
func (t *Txn) Len() int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.msgs)
}

// close ends the transaction: Publish refuses from now on. It returns
// what the transaction holds.
func (t *Txn) close() ([]*Message, []bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	return t.msgs, t.fresh
}

// commitTxn stores the transaction of a handler call that returned nil
// for m with the group's move past m: the cursor to m's end under
// OrderPartition (m is the first message not delivered), a handled mark
// on m otherwise (the cursor moves over a contiguous prefix only, which
// the loop commits as it always does). A refusal (a gate, a message too
// large) stores nothing and fails the call. A commit that fails leaves
// the whole op queued: it is stored by a later commit or never, so the
// call is retried only by waiting for the store (Sync), not by running
// the handler again (which would publish a second copy).
func (l *loop) commitTxn(t *Txn, m *Message) error {
	msgs, fresh := t.close()
	cur := wal.AtomicCursor{Group: l.group.name, Topic: l.topic, Part: l.part, Offset: m.Offset + 1}
	if l.ordering != OrderPartition {
		cur.Offset, cur.Handled = m.Offset, true
	}
	var start time.Time
	if len(l.bus.hooks.publish) > 0 {
		start = time.Now()
	}
	err := l.bus.publishAtomic(l.ctx, msgs, fresh, []wal.AtomicCursor{cur})
	for n := 0; err != nil && errors.Is(err, wal.ErrCommit); n++ {
		l.bus.cfg.logger.Error("transaction commit failed; it stays queued whole, waiting for the store",
			"group", l.group.name, "topic", l.topic, "partition", l.part, "offset", m.Offset, "error", err)
		if !l.sleep(retryDelay(storeRetry, n)) {
			break
		}
		if serr := l.bus.log.Sync(l.ctx); serr == nil {
			err = nil
		} else if l.exiting(serr) {
			break
		}
	}
	if len(msgs) > 0 {
		l.bus.observePublish(msgs, start, err)
	}
	if err != nil {
		return fmt.Errorf("onexbus: transaction of %s/%d offset %d: %w", l.topic, l.part, m.Offset, err)
	}
	return nil
}

// PublishCommit stores msgs and moves group's positions to offs in one
// store transaction: after a crash both are stored or neither is. It is
// for a consumer that reads with Fetch under a group name (as transports
// do) and publishes what it derived: no output is stored twice, and no
// input is skipped. Messages are checked and filled in as Publish does;
// positions only move forward (a position at or below the stored one is
// left as it is), and each must be in [0, end] of its partition (after
// msgs). It returns once both are durable by the bus's policy.
//
// Nothing is stored when it returns ErrClosed, an error wrapping
// ErrInvalidGroup, ErrUnknownTopic, ErrInvalidPartition, ErrInvalidOffset
// or a message error. A store commit that fails is returned as is; the
// op then stays queued whole and a later commit may store it all: call
// Sync, or publish again with the same message ids (dedup keeps one
// copy). While Kafka-protocol members hold group it returns ErrGroupInUse.
func (b *Bus) PublishCommit(ctx context.Context, msgs []*Message, group string, offs []GroupOffset) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validGroupName(group); err != nil {
		return err
	}
	b.mu.Lock()
	err := b.checkClaimLocked(group)
	b.mu.Unlock()
	if err != nil {
		return err
	}
	cursors := make([]wal.AtomicCursor, len(offs))
	for i, o := range offs {
		if _, ok := b.log.Topic(o.Topic); !ok {
			return fmt.Errorf("onexbus: publish and commit %s on %s/%d: %w", group, o.Topic, o.Partition, ErrUnknownTopic)
		}
		cursors[i] = wal.AtomicCursor{Group: group, Topic: o.Topic, Part: o.Partition, Offset: o.Offset}
	}
	if len(b.hooks.pubCtx) > 0 {
		b.publishContext(ctx, msgs)
	}
	fresh := make([]bool, len(msgs))
	now := b.cfg.now()
	for i, m := range msgs {
		f, err := b.prepare(m, now)
		if err != nil {
			return err
		}
		fresh[i] = f
	}
	var start time.Time
	if len(b.hooks.publish) > 0 {
		start = time.Now()
	}
	err = b.publishAtomic(ctx, msgs, fresh, cursors)
	if len(msgs) > 0 {
		b.observePublish(msgs, start, err)
	}
	if errors.Is(err, wal.ErrInvalidCursor) {
		return fmt.Errorf("onexbus: publish and commit %s: %w: %w", group, ErrInvalidOffset, err)
	}
	return err
}
