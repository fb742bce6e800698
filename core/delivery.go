package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/onexbus/onexbus/internal/backoff"
	"github.com/onexbus/onexbus/internal/breaker"
	"github.com/onexbus/onexbus/wal"
)

// loop delivers one topic-partition to one consumer group, in order. It is
// the only goroutine that moves the group's cursor on that partition, so
// its own state needs no lock.
type loop struct {
	bus      *Bus
	group    *group
	topic    string
	part     int32
	assigned atomic.Pointer[Subscription] // the member receiving, nil if none
	kick     chan struct{}                // buffer 1: assignment changed
	breaker  *breaker.Breaker             // of the (topic, group) subscriber
	// stop is closed when the loop must exit: the bus closes, or the
	// group has no member left for the topic. stopped (guarded by
	// Bus.mu) makes closing it idempotent.
	stop    chan struct{}
	stopped bool
	// ctx is cancelled with stop, so that a loop blocked in the log, a
	// dead-letter publish or a publish gate lets go when it must exit.
	ctx    context.Context
	cancel context.CancelFunc
	// prev is the loop this one replaces on the same partition (retired
	// when the group's last member left); done closes when a loop exits.
	// A new loop waits for prev, so two loops never deliver one partition.
	prev *loop
	done chan struct{}

	ordering    Ordering
	concurrency int

	// suspectEnd is the end of the range that was in flight when the
	// process last stopped: a record below it may have crashed the
	// process, so its attempt is recorded durably before each call.
	suspectEnd int64
	// marked is the end of the range this loop last marked in flight.
	marked int64
}

// inFlightAhead is how far past the cursor a mark reaches. Marking ahead
// saves a durable commit per batch (under the sync policy, a second fsync
// for every message a caught-up group delivers); the price is that after
// a crash up to this many records are delivered one durable attempt at a
// time.
const inFlightAhead = 256

// markInFlight makes sure records [cursor, end) are marked in flight
// before a handler sees them, marking ahead when it must write.
func (l *loop) markInFlight(cursor, end int64) error {
	if end <= l.marked {
		return nil
	}
	to := max(end, cursor+inFlightAhead)
	if err := l.bus.log.MarkInFlight(l.ctx, l.group.name, l.topic, l.part, cursor, to); err != nil {
		return err
	}
	l.marked = to
	return nil
}

// retireLocked tells the loop to exit after the message in hand.
func (l *loop) retireLocked() {
	if !l.stopped {
		l.stopped = true
		close(l.stop)
		l.cancel()
	}
}

func (l *loop) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

const deliveryBatch = 64

func (l *loop) run() {
	b := l.bus
	defer b.loops.Done()
	defer close(l.done)
	if l.prev != nil {
		select {
		case <-l.prev.done:
			l.prev = nil
		case <-l.stop:
			return
		}
	}
	log := b.cfg.logger.With("group", l.group.name, "topic", l.topic, "partition", l.part)
	cursor, _, err := b.log.Cursor(l.group.name, l.topic, l.part)
	if err != nil {
		log.Error("cannot read cursor; delivery stopped", "error", err)
		return
	}
	l.suspectEnd = b.log.InFlight(l.group.name, l.topic, l.part)
	if l.ordering != OrderPartition {
		l.runParallel(cursor, log)
		return
	}
	batch := make([]*item, 0, deliveryBatch)
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		if l.assigned.Load() == nil {
			if !l.waitFor(nil) {
				return
			}
			continue
		}
		batch = batch[:0]
		next, err := b.log.Read(l.ctx, l.topic, l.part, cursor, deliveryBatch, func(e *wal.Entry) error {
			batch = append(batch, l.decode(e))
			return nil
		})
		var corrupt *wal.CorruptError
		switch {
		case errors.As(err, &corrupt) && len(batch) == 0:
			// Nothing can be delivered from a damaged record; say where
			// it is and go on past it so the rest of the log still flows.
			log.Error("skipping corrupt records", "offset", corrupt.Offset, "resume", corrupt.Next, "reason", corrupt.Reason)
			cursor = corrupt.Next
			l.commit(cursor)
			continue
		case errors.Is(err, wal.ErrClosed):
			return
		case err != nil && len(batch) == 0:
			log.Error("read failed; retrying", "error", err)
			if !l.sleep(time.Second) {
				return
			}
			continue
		}
		if len(batch) == 0 {
			if next > cursor {
				log.Warn("messages removed by retention before delivery", "from", cursor, "to", next)
				cursor = next
				l.commit(cursor)
				continue
			}
			ch, err := b.log.Notify(l.topic, l.part, cursor)
			if err != nil {
				return
			}
			if !l.waitFor(ch) {
				return
			}
			continue
		}
		if first := batch[0].Offset; first > cursor {
			log.Warn("messages removed by retention before delivery", "from", cursor, "to", first)
		}
		// Mark the batch in flight before any handler sees it: if one
		// of them crashes the process, the restart knows where to look.
		end := batch[len(batch)-1].Offset + 1
		if err := l.markInFlight(cursor, end); err != nil {
			if errors.Is(err, wal.ErrClosed) {
				return
			}
			log.Error("cannot mark deliveries in flight; retrying", "error", err)
			if !l.sleep(time.Second) {
				return
			}
			continue
		}
		// The cursor is committed once per batch: on a crash the group
		// redelivers at most one batch. Records that may have crashed
		// the process before commit one by one, so that the durable
		// attempt of the next one never blames one that passed.
		start := cursor
		for _, m := range batch {
			if !l.deliver(m, log) {
				break
			}
			cursor = m.Offset + 1
			if m.Offset < l.suspectEnd {
				l.commit(cursor)
			}
		}
		if cursor > start {
			l.commit(cursor)
		}
	}
}

func (l *loop) commit(cursor int64) {
	if err := l.bus.log.CommitCursor(l.group.name, l.topic, l.part, cursor, false); err != nil && !errors.Is(err, wal.ErrClosed) {
		l.bus.cfg.logger.Error("cannot commit cursor", "group", l.group.name, "topic", l.topic, "partition", l.part, "error", err)
	}
}

// waitFor blocks until ch is closed, the assignment changes or the bus
// stops; it returns false when the bus stops.
func (l *loop) waitFor(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-l.kick:
		return true
	case <-l.stop:
		return false
	}
}

// sleep waits d, waking early if the assignment changes; false when the
// bus stops. A kick left over from an earlier change does not cut it short.
func (l *loop) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	assigned := l.assigned.Load()
	for {
		select {
		case <-t.C:
			return true
		case <-l.kick:
			if l.assigned.Load() != assigned {
				return true
			}
		case <-l.stop:
			return false
		}
	}
}

type logger interface {
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// deliver hands m to the assigned member until it succeeds or is
// dead-lettered, retrying failures with backoff and waiting while the
// subscriber's breaker is open. It returns true when the cursor may move
// past m, and false, leaving the cursor where it is, when the bus stops or
// no member is assigned. The handler owns m; a retry hands over a fresh
// copy read back from the log, so a handler that changed m before failing
// sees the message as published.
func (l *loop) deliver(it *item, log logger) bool {
	m := it.Message
	b := l.bus
	attempt, _ := b.log.Attempts(l.group.name, l.topic, l.part, m.Offset)
	var lastErr error
	for {
		select {
		case <-l.stop:
			return false
		default:
		}
		sub := l.assigned.Load()
		if sub == nil {
			return false
		}
		if it.undecodable != nil {
			// Intact on disk (its CRC passed) but not a message this
			// version can read: no handler can take it, so it goes to the
			// dead-letter queue as raw bytes, never skipped.
			return l.deadLetter(m, attempt, it.undecodable, log)
		}
		if replayedElsewhere(m, l.group.name) {
			return true // a replay for one other group: acknowledged unseen
		}
		policy := sub.cfg.retry
		if attempt.Count >= policy.MaxAttempts {
			// The attempts ran out, here or in an earlier life of the
			// process (a handler that crashes it is never called again).
			if lastErr == nil {
				lastErr = fmt.Errorf("%d deliveries started without an outcome: the process stopped in the handler", attempt.Count)
			}
			return l.deadLetter(m, attempt, lastErr, log)
		}
		grant, changed, wait := l.breaker.Acquire()
		if !grant.OK() {
			// Open: the message waits and no attempt is spent.
			if !l.waitBreaker(changed, wait) {
				return false
			}
			continue
		}
		if attempt.Count > 0 {
			if fresh, err := b.Fetch(l.ctx, l.topic, l.part, m.Offset, 1); err == nil && len(fresh) == 1 && fresh[0].Offset == m.Offset {
				m = fresh[0]
			}
		}
		counted := false
		if m.Offset < l.suspectEnd {
			// This record may have crashed the process before: count the
			// attempt durably before the handler can do it again.
			attempt = l.countAttempt(attempt, nil)
			if err := b.log.RecordAttempt(l.ctx, l.group.name, l.topic, l.part, m.Offset, attempt, true); err != nil {
				l.breaker.Cancel(grant)
				if errors.Is(err, wal.ErrClosed) {
					return false
				}
				log.Error("cannot record delivery attempt; retrying", "offset", m.Offset, "error", err)
				if !l.sleep(time.Second) {
					return false
				}
				continue
			}
			counted = true
		}
		n := attempt.Count + 1
		if counted {
			n = attempt.Count
		}
		err := sub.call(m, DeliveryInfo{Group: l.group.name, Attempt: n})
		if errors.Is(err, errNotActive) {
			l.breaker.Cancel(grant)
			continue
		}
		if errors.Is(err, ErrReleased) {
			// Given back, not failed: try again once the member set
			// changes, or shortly, without spending an attempt.
			l.breaker.Cancel(grant)
			if !l.sleep(releasedRetry) {
				return false
			}
			continue
		}
		l.breaker.Release(grant, err == nil, err)
		if err == nil {
			return true
		}
		lastErr = err
		if !counted {
			attempt = l.countAttempt(attempt, err)
		} else {
			attempt.Last = b.cfg.now()
		}
		if IsPermanent(err) {
			return l.deadLetter(m, attempt, err, log)
		}
		if err := b.log.RecordAttempt(l.ctx, l.group.name, l.topic, l.part, m.Offset, attempt, true); err != nil && !errors.Is(err, wal.ErrClosed) {
			log.Error("cannot record delivery attempt", "offset", m.Offset, "error", err)
		}
		if attempt.Count >= policy.MaxAttempts {
			continue
		}
		log.Warn("handler failed; will retry", "offset", m.Offset, "attempt", attempt.Count, "error", err)
		if l.breaker.State() == breaker.Open {
			continue // the breaker's wait replaces the backoff
		}
		if !l.sleep(max(retryDelay(policy, attempt.Count-1), retryFloor(err))) {
			return false
		}
	}
}

// releasedRetry is how soon a released message is offered again when
// the group's members do not change.
const releasedRetry = 100 * time.Millisecond

// item is one record a loop delivers: its message, and why its stored
// bytes did not decode when they did not (Value then holds them raw).
type item struct {
	*Message
	undecodable error
}

// decode turns an entry into the item to deliver. One that does not
// decode becomes a message holding the raw payload as its Value, marked
// so that deliver dead-letters it.
func (l *loop) decode(e *wal.Entry) *item {
	m, err := decodeEntry(l.topic, l.part, e)
	if err != nil {
		return &item{Message: &Message{Topic: l.topic, Partition: l.part, Offset: e.Offset,
			Value: bytes.Clone(e.Payload)}, undecodable: err}
	}
	return &item{Message: m}
}

// countAttempt adds one attempt to a, with its failure time.
func (l *loop) countAttempt(a wal.Attempt, _ error) wal.Attempt {
	now := l.bus.cfg.now()
	a.Count++
	if a.First.IsZero() {
		a.First = now
	}
	a.Last = now
	return a
}

// waitBreaker waits until an open breaker may half-open or changes state;
// false when the bus stops.
func (l *loop) waitBreaker(changed <-chan struct{}, wait time.Duration) bool {
	var timer <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-changed:
	case <-timer:
	case <-l.kick:
	case <-l.stop:
		return false
	}
	return true
}

// deadLetter hands m to the dead-letter queue and returns true once the
// queue confirmed it. A failed write holds the cursor: it is retried with
// backoff until it succeeds or the bus stops (then false).
func (l *loop) deadLetter(m *Message, a wal.Attempt, cause error, log logger) bool {
	var st deadLetterState
	for n := 0; ; n++ {
		err := l.bus.deadLetter(l.ctx, &st, m, l.group.name, a, cause)
		if err == nil {
			log.Warn("message dead-lettered", "offset", m.Offset, "attempts", a.Count, "error", cause)
			return true
		}
		log.Error("dead-letter write failed; the message is held and retried", "offset", m.Offset, "error", err)
		sub := l.assigned.Load()
		policy := l.bus.cfg.retry
		if sub != nil {
			policy = sub.cfg.retry
		}
		if !l.sleep(retryDelay(policy, n)) {
			return false
		}
	}
}

// retryDelay is the delay before retry n (from 0): Base * 2^n scaled by
// a random factor in [0.5, 1.5), capped at Max.
func retryDelay(p RetryPolicy, n int) time.Duration {
	return backoff.Delay(p.Base, p.Max, n)
}
