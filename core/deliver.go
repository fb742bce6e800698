package core

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/internal/breaker"
	"github.com/onexbus/onexbus/wal"
)

// errHandlerExited is the failure recorded for a handler call that never
// returned because the handler called runtime.Goexit (as t.Fatal and
// t.FailNow do in a test's handler).
var errHandlerExited = errors.New("onexbus: the handler called runtime.Goexit and never returned (t.Fatal or t.FailNow in a handler?)")

// deliver hands it to the assigned member until it succeeds or is
// dead-lettered, retrying failures with backoff and waiting while the
// subscriber's breaker is open. It returns true when the cursor may move
// past it, and false, leaving the cursor where it is, when the bus stops
// or no member is assigned. The handler owns the message; a retry hands
// over a fresh copy read back from the log, so a handler that changed it
// before failing sees the message as published.
//
// Attempts are stored per record. A record below suspectEnd (in flight
// when the process last stopped) has its attempt stored durably before
// the call, so a record that kills the process runs out of attempts; a
// success forgets the record's attempts, so that a record that succeeded
// is never blamed for a later crash (in the parallel loops it can stay
// above the cursor, and be redelivered, long after its success).
func (l *loop) deliver(it *item, slot *handlerSlot, log logger) bool {
	m := it.Message
	b := l.bus
	attempt, _ := b.log.Attempts(l.group.name, l.topic, l.part, m.Offset)
	if attempt.Handled() {
		// A transactional handler's op stored its outputs and marked the
		// record handled before the process stopped (txn.go): done.
		return true
	}
	policy := l.retry
	var lastErr error
	storeFails := 0
	for {
		if l.isStopped() {
			return false
		}
		sub := l.assigned.Load()
		if sub == nil {
			return false
		}
		switch {
		case it.damage != nil:
			// Nothing can be read there: the stretch is recorded as a dead
			// letter with its location (and counted in Health) before the
			// cursor moves past it.
			b.noteDamage(it)
			cause := fmt.Errorf("%w: offsets %d to %d of %s/%d are damaged in the log and cannot be delivered: %w",
				ErrCorruptMessage, it.Offset, it.next-1, l.topic, l.part, it.damage)
			return l.deadLetter(m, attempt, cause, log)
		case it.undecodable != nil:
			// Intact on disk (its CRC passed) but not a message this
			// version can read: no handler can take it, so it goes to the
			// dead-letter queue as raw bytes, never skipped.
			return l.deadLetter(m, attempt, it.undecodable, log)
		}
		if replayedElsewhere(m, l.group.name) {
			return true // a replay for one other group: acknowledged unseen
		}
		if attempt.Count >= policy.MaxAttempts {
			// The attempts ran out, here or in an earlier life of the
			// process (a handler that crashes it is never called again).
			if lastErr == nil {
				lastErr = l.earlierFailure(m.Offset, attempt)
			}
			l.forgetExit(m.Offset)
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
		before := attempt
		counted := false
		if m.Offset < l.suspectEnd {
			// This record may have crashed the process before: count the
			// attempt durably before the handler can do it again.
			attempt = l.countAttempt(attempt)
			if err := b.log.RecordAttempt(l.ctx, l.group.name, l.topic, l.part, m.Offset, attempt, true); err != nil {
				l.breaker.Cancel(grant)
				attempt = before
				if l.exiting(err) {
					return false
				}
				log.Error("cannot record delivery attempt; retrying", "offset", m.Offset, "error", err)
				if !l.sleep(retryDelay(storeRetry, storeFails)) {
					return false
				}
				storeFails++
				continue
			}
			counted = true
		}
		n := attempt.Count + 1
		if counted {
			n = attempt.Count
		}
		err := l.call(sub, m, DeliveryInfo{Group: l.group.name, Attempt: n}, slot, grant, attempt, counted, it.takeCtxBuf())
		if errors.Is(err, errNotActive) || errors.Is(err, ErrReleased) {
			// Not run, or given back unhandled: nothing failed, so no
			// attempt is spent (the one counted before the call is taken
			// back) and the breaker is not told.
			l.breaker.Cancel(grant)
			if counted {
				if err := b.log.RecordAttempt(l.ctx, l.group.name, l.topic, l.part, m.Offset, before, true); err != nil && !l.exiting(err) {
					log.Error("cannot take back the delivery attempt", "offset", m.Offset, "error", err)
				}
				attempt = before
			}
			if errors.Is(err, ErrReleased) && !l.sleep(releasedRetry) {
				return false
			}
			continue
		}
		l.breaker.Release(grant, err == nil, err)
		if err == nil {
			if attempt.Count > 0 && !sub.cfg.transactional {
				// (A transaction's op moved the cursor past the record,
				// which drops its history, or marked it handled.)
				// Forget the record's failures and suspicion: it may be
				// redelivered (at least once) and must start clean.
				if err := b.log.RecordAttempt(l.ctx, l.group.name, l.topic, l.part, m.Offset, wal.Attempt{}, counted); err != nil && !l.exiting(err) {
					log.Error("cannot clear the attempts of a delivered message", "offset", m.Offset, "error", err)
				}
			}
			l.forgetExit(m.Offset)
			return true
		}
		lastErr = err
		if !counted {
			attempt = l.countAttempt(attempt)
		} else {
			attempt.Last = b.cfg.now()
		}
		if IsPermanent(err) {
			return l.deadLetter(m, attempt, err, log)
		}
		if err := b.log.RecordAttempt(l.ctx, l.group.name, l.topic, l.part, m.Offset, attempt, true); err != nil && !l.exiting(err) {
			log.Error("cannot record delivery attempt", "offset", m.Offset, "error", err)
		}
		if attempt.Count >= policy.MaxAttempts {
			continue
		}
		log.Warn("handler failed; will retry", "offset", m.Offset, "attempt", attempt.Count, "error", dlq.Redact(err.Error()))
		if l.breaker.State() == breaker.Open {
			continue // the breaker's wait replaces the backoff
		}
		if !l.sleep(max(retryDelay(policy, attempt.Count-1), retryFloor(err))) {
			return false
		}
	}
}

// call runs the handler once. If the handler never returns because it
// called runtime.Goexit, the deferred function records that as a failed
// attempt (durably, before the goroutine is gone) and releases the
// breaker's pass; the goroutine's own deferred code then carries on.
func (l *loop) call(sub *Subscription, m *Message, d DeliveryInfo, slot *handlerSlot, grant breaker.Pass, a wal.Attempt, counted bool, ctxBuf *deliveryContext) error {
	returned := false
	hooked := l.bus.hooks.observesDeliveries()
	var start time.Time
	if hooked {
		l.observeDeliver(m, d.Attempt)
		start = time.Now()
	}
	defer func() {
		if !returned {
			if hooked {
				l.observeDone(m, d.Attempt, errHandlerExited, time.Since(start), true)
			}
			l.handlerExited(m, grant, a, counted)
		}
	}()
	if sub.cfg.transactional {
		d.txn = &Txn{bus: l.bus}
	}
	err := sub.call(m, d, slot, ctxBuf)
	if err == nil && d.txn != nil {
		err = l.commitTxn(d.txn, m)
	} else if d.txn != nil {
		d.txn.close() // a failed call's outputs are dropped
	}
	returned = true
	if hooked {
		l.observeDone(m, d.Attempt, err, time.Since(start), false)
	}
	return err
}

// handlerExited records a handler call ended by runtime.Goexit.
func (l *loop) handlerExited(m *Message, grant breaker.Pass, a wal.Attempt, counted bool) {
	b := l.bus
	b.handlerExits.Add(1)
	l.breaker.Release(grant, false, errHandlerExited)
	if !counted {
		a = l.countAttempt(a)
	}
	l.exitMu.Lock()
	if l.exits == nil {
		l.exits = make(map[int64]struct{})
	}
	l.exits[m.Offset] = struct{}{}
	l.exitCount.Store(int32(len(l.exits)))
	l.exitMu.Unlock()
	b.cfg.logger.Error("handler never returned: it called runtime.Goexit; the delivery counts as a failed attempt",
		"group", l.group.name, "topic", l.topic, "partition", l.part, "offset", m.Offset, "attempt", a.Count)
	if err := b.log.RecordAttempt(l.ctx, l.group.name, l.topic, l.part, m.Offset, a, true); err != nil && !l.exiting(err) {
		b.cfg.logger.Error("cannot record delivery attempt", "offset", m.Offset, "error", err)
	}
}

// earlierFailure explains attempts that ran out before this call of
// deliver: a handler's runtime.Goexit seen in this run, or else an
// earlier run of the process that stopped before the last attempt's
// outcome was stored.
func (l *loop) earlierFailure(off int64, a wal.Attempt) error {
	if l.exitCount.Load() > 0 {
		l.exitMu.Lock()
		_, ok := l.exits[off]
		l.exitMu.Unlock()
		if ok {
			return errHandlerExited
		}
	}
	return fmt.Errorf("onexbus: %d delivery attempts were used up before this run of the process; "+
		"the process stopped before the last one's outcome was stored (a crash or kill in or around the handler)", a.Count)
}

// forgetExit drops what handlerExited noted of off.
func (l *loop) forgetExit(off int64) {
	if l.exitCount.Load() == 0 {
		return
	}
	l.exitMu.Lock()
	delete(l.exits, off)
	l.exitCount.Store(int32(len(l.exits)))
	l.exitMu.Unlock()
}

// releasedRetry is how soon a released message is offered again when
// the group's members do not change.
const releasedRetry = 100 * time.Millisecond

// countAttempt adds one attempt to a, with its time.
func (l *loop) countAttempt(a wal.Attempt) wal.Attempt {
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
			log.Warn("message dead-lettered", "offset", m.Offset, "attempts", a.Count, "error", dlq.Redact(cause.Error()))
			l.observeDeadLetter(m, a.Count, deadLetterReason(cause, a.Count, l.retry.MaxAttempts))
			return true
		}
		if l.exiting(err) {
			return false
		}
		log.Error("dead-letter write failed; the message is held and retried", "offset", m.Offset, "error", err)
		if !l.sleep(retryDelay(storeRetry, n)) {
			return false
		}
	}
}

// damageLog counts the damaged stretches of the log that delivery met.
type damageLog struct {
	count atomic.Int64
	seen  sync.Map // damageKey -> struct{}
}

type damageKey struct {
	topic  string
	part   int32
	offset int64
}

// noteDamage counts a damaged stretch once, whichever groups meet it.
func (b *Bus) noteDamage(it *item) {
	if _, dup := b.damage.seen.LoadOrStore(damageKey{it.Topic, it.Partition, it.Offset}, struct{}{}); !dup {
		b.damage.count.Add(1)
	}
}
