package core

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

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
	log := b.cfg.logger.With("group", l.group.name, "topic", l.topic, "partition", l.part)
	cursor, _, err := b.log.Cursor(l.group.name, l.topic, l.part)
	if err != nil {
		log.Error("cannot read cursor; delivery stopped", "error", err)
		return
	}
	batch := make([]*Message, 0, deliveryBatch)
	for {
		select {
		case <-b.stopping:
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
		next, err := b.log.Read(context.Background(), l.topic, l.part, cursor, deliveryBatch, func(e *wal.Entry) error {
			m := new(Message)
			if err := DecodeMessageTopic(e.Payload, l.topic, m); err != nil {
				return &wal.CorruptError{Topic: l.topic, Partition: l.part, Offset: e.Offset, Next: e.Offset + 1, Reason: err.Error()}
			}
			m.Topic, m.Partition, m.Offset = l.topic, l.part, e.Offset
			batch = append(batch, m)
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
		for _, m := range batch {
			if !l.deliver(m, log) {
				break
			}
			cursor = m.Offset + 1
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
	case <-l.bus.stopping:
		return false
	}
}

// sleep waits d, waking early if the assignment changes; false when the
// bus stops.
func (l *loop) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.kick:
		return true
	case <-l.bus.stopping:
		return false
	}
}

type logger interface {
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// deliver hands m to the assigned member until it succeeds, retrying
// failures with backoff. It returns false, leaving the cursor where it is,
// when the bus stops or no member is assigned. The handler owns m; a retry
// hands over a fresh copy read back from the log, so a handler that
// changed m before failing sees the message as published.
func (l *loop) deliver(m *Message, log logger) bool {
	attempt := 0
	for {
		select {
		case <-l.bus.stopping:
			return false
		default:
		}
		sub := l.assigned.Load()
		if sub == nil {
			return false
		}
		if attempt > 0 {
			if fresh, err := l.bus.Fetch(context.Background(), l.topic, l.part, m.Offset, 1); err == nil && len(fresh) == 1 && fresh[0].Offset == m.Offset {
				m = fresh[0]
			}
		}
		err := sub.call(m)
		if err == nil {
			return true
		}
		if errors.Is(err, errNotActive) {
			continue
		}
		attempt++
		policy := sub.cfg.retry
		if attempt >= policy.MaxAttempts || IsPermanent(err) {
			// Until a dead-letter queue takes it, a message that used up
			// its attempts is held (never skipped) and retried at the
			// longest delay.
			log.Error("handler failed; message held", "offset", m.Offset, "attempts", attempt, "error", err)
		} else {
			log.Warn("handler failed; will retry", "offset", m.Offset, "attempt", attempt, "error", err)
		}
		if !l.sleep(backoff(policy, attempt-1)) {
			return false
		}
	}
}

// backoff is the delay before retry n (from 0): Base * 2^n scaled by a
// random factor in [0.5, 1.5), capped at Max.
func backoff(p RetryPolicy, n int) time.Duration {
	d := p.Max
	if n < 62 {
		if exp := p.Base << n; exp > 0 && exp < p.Max && exp>>n == p.Base {
			d = exp
		}
	}
	d = time.Duration(float64(d) * (0.5 + rand.Float64()))
	return min(d, p.Max)
}
