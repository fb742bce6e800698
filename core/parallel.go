package core

import (
	"errors"
	"time"

	"github.com/onexbus/onexbus/wal"
)

// windowLimit bounds how far past the cursor a parallel loop reads: a
// message that keeps failing holds the cursor, and at most this many
// later messages are taken on meanwhile.
const windowLimit = 4096

// pending is one message a parallel loop has read and not yet finished.
type pending struct {
	msg  *item
	done bool
}

// result is a worker's report on one message.
type result struct {
	offset int64
	ok     bool
}

// runParallel delivers a partition with OrderKey or OrderNone: up to
// l.concurrency handler calls at once, per-key order for OrderKey. The
// cursor is the first offset not finished, so a restart redelivers what
// was in flight (at least once) and never skips.
func (l *loop) runParallel(cursor int64, log logger) {
	b := l.bus
	var (
		readPos = cursor
		window  []pending              // offsets [cursor, readPos), in order
		waiting = map[string][]*item{} // by key: in flight (present) and queued behind it
		active  int
		results = make(chan result, l.concurrency)
		retry   []*item // not delivered: no member was assigned
	)
	start := func(m *item) {
		active++
		go func() { results <- result{m.Offset, l.deliver(m, log)} }()
	}
	// dispatch starts m now, or queues it behind its key.
	dispatch := func(m *item) {
		if l.ordering == OrderKey && len(m.Key) > 0 {
			k := string(m.Key)
			if q, busy := waiting[k]; busy {
				waiting[k] = append(q, m)
				return
			}
			waiting[k] = nil
		}
		start(m)
	}
	finish := func(r result) {
		active--
		i := int(r.offset - cursor)
		m := window[i].msg
		if !r.ok {
			retry = append(retry, m)
			return
		}
		window[i].done = true
		if l.ordering == OrderKey && len(m.Key) > 0 {
			k := string(m.Key)
			if q := waiting[k]; len(q) > 0 {
				waiting[k] = q[1:]
				start(q[0])
			} else {
				delete(waiting, k)
			}
		}
		n := 0
		for n < len(window) && window[n].done {
			n++
		}
		if n > 0 {
			window = window[n:]
			cursor += int64(n)
			l.commit(cursor)
		}
	}
	stopped := func() bool {
		select {
		case <-l.stop:
			return true
		default:
			return false
		}
	}
	defer func() {
		for active > 0 {
			<-results
			active--
		}
	}()
	for !stopped() {
		if len(retry) > 0 && l.assigned.Load() != nil {
			n := 0
			for n < len(retry) && active < l.concurrency {
				start(retry[n])
				n++
			}
			retry = retry[n:]
		}
		var ch <-chan struct{}
		if active < l.concurrency && len(window) < windowLimit && l.assigned.Load() != nil {
			batch, next, err := l.readBatch(readPos, min(deliveryBatch, l.concurrency-active, windowLimit-len(window)), log)
			if errors.Is(err, wal.ErrClosed) {
				return
			}
			if len(batch) > 0 {
				if err := l.markInFlight(cursor, batch[len(batch)-1].Offset+1); err != nil {
					if errors.Is(err, wal.ErrClosed) {
						return
					}
					log.Error("cannot mark deliveries in flight; retrying", "error", err)
					if !l.sleep(time.Second) {
						return
					}
					continue
				}
				for _, m := range batch {
					if gap := m.Offset - (cursor + int64(len(window))); gap > 0 {
						// Records removed by retention or damage: nothing to
						// deliver for them.
						for range gap {
							window = append(window, pending{done: true})
						}
					}
					window = append(window, pending{msg: m})
					dispatch(m)
				}
				readPos = next
				continue
			}
			if next > readPos {
				for range next - readPos {
					window = append(window, pending{done: true})
				}
				readPos = next
				continue
			}
			if err == nil {
				ch, _ = b.log.Notify(l.topic, l.part, readPos)
			}
		}
		select {
		case r := <-results:
			finish(r)
		case <-ch:
		case <-l.kick:
		case <-l.stop:
			return
		}
	}
}

// readBatch reads up to max messages from pos. It returns them, the next
// position, and an error only when nothing could be read; damaged records
// are skipped (and logged) by moving the position past them.
func (l *loop) readBatch(pos int64, max int, log logger) ([]*item, int64, error) {
	var batch []*item
	next, err := l.bus.log.Read(l.ctx, l.topic, l.part, pos, max, func(e *wal.Entry) error {
		batch = append(batch, l.decode(e))
		return nil
	})
	var corrupt *wal.CorruptError
	switch {
	case len(batch) > 0:
		return batch, next, nil
	case errors.As(err, &corrupt):
		log.Error("skipping corrupt records", "offset", corrupt.Offset, "resume", corrupt.Next, "reason", corrupt.Reason)
		return nil, corrupt.Next, nil
	case err != nil && !errors.Is(err, wal.ErrClosed):
		log.Error("read failed; retrying", "error", err)
		l.sleep(time.Second)
	}
	return nil, next, err
}
