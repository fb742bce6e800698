package core

import (
	"sync"
)

// windowLimit bounds how far past the cursor a parallel loop reads: a
// message that keeps failing holds the cursor, and at most this many
// later messages are taken on meanwhile.
const windowLimit = 4096

// pending is one offset of a parallel loop's window: an item read and not
// yet finished, or (msg nil) an offset with nothing to deliver.
type pending struct {
	msg  *item
	done bool
}

// result is a worker's report on one item.
type result struct {
	offset int64
	ok     bool
}

// runParallel delivers a partition with OrderKey or OrderNone: up to
// l.concurrency handler calls at once on as many worker goroutines, per-key
// order for OrderKey. The cursor is the first offset not finished, so a
// restart redelivers what was in flight (at least once) and never skips.
// It reads through the same path as the sequential loop (read), so a
// failed read is retried and damage is dead-lettered here too.
func (l *loop) runParallel(log logger) {
	var (
		readPos = l.cursor
		window  []pending              // offsets [l.cursor, readPos), in order
		waiting = map[string][]*item{} // by key: in flight (present) and queued behind it
		active  int
		workers int
		jobs    = make(chan *item, l.concurrency)
		results = make(chan result, l.concurrency)
		retry   []*item // not delivered: no member was assigned
		wg      sync.WaitGroup
	)
	start := func(it *item) {
		active++
		if active > workers {
			workers++
			wg.Add(1)
			go l.work(jobs, results, &wg, log)
		}
		jobs <- it // never blocks: at most l.concurrency are active
	}
	// dispatch starts it now, or queues it behind its key.
	dispatch := func(it *item) {
		if l.ordering == OrderKey && len(it.Key) > 0 {
			k := string(it.Key)
			if q, busy := waiting[k]; busy {
				waiting[k] = append(q, it)
				return
			}
			waiting[k] = nil
		}
		start(it)
	}
	// advance moves the cursor over the finished offsets at the head of
	// the window.
	advance := func() {
		n := 0
		for n < len(window) && window[n].done {
			n++
		}
		if n > 0 {
			window = window[n:]
			l.cursor += int64(n)
			l.commit(l.cursor)
		}
	}
	draining := false
	finish := func(r result) {
		active--
		i := int(r.offset - l.cursor)
		it := window[i].msg
		if !r.ok {
			retry = append(retry, it)
			return
		}
		window[i].done = true
		if l.ordering == OrderKey && len(it.Key) > 0 {
			k := string(it.Key)
			if q := waiting[k]; len(q) > 0 && !draining {
				waiting[k] = q[1:]
				start(q[0])
			} else {
				delete(waiting, k)
			}
		}
		advance()
	}
	defer func() {
		// Every item handed out reports once: wait for them, then let the
		// workers go. No handler of the loop runs after this.
		draining = true
		for active > 0 {
			finish(<-results)
		}
		close(jobs)
		wg.Wait()
	}()
	for !l.isStopped() {
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
			// The window and the workers keep pointers to the items:
			// each read has a slice of its own.
			n := min(deliveryBatch, l.concurrency-active, windowLimit-len(window))
			batch, next, ok := l.read(make([]item, 0, n), readPos, n, log)
			if !ok {
				return
			}
			if len(batch) > 0 {
				if !l.mark(batch[len(batch)-1].end(), log) {
					return
				}
				for i := range batch {
					it := &batch[i]
					// Offsets with nothing to deliver (removed by
					// retention) are done at once.
					for range it.Offset - (l.cursor + int64(len(window))) {
						window = append(window, pending{done: true})
					}
					window = append(window, pending{msg: it})
					for range it.end() - it.Offset - 1 {
						// The rest of a damaged stretch: done once its
						// dead letter (the item at its start) is.
						window = append(window, pending{done: true})
					}
					dispatch(it)
				}
				readPos = next
				continue
			}
			if next > readPos {
				for range next - readPos {
					window = append(window, pending{done: true})
				}
				readPos = next
				advance()
				continue
			}
			var err error
			if ch, err = l.bus.notifyDelivery(l.topic, l.part, readPos); err != nil {
				return
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

// work runs deliveries handed out on jobs until jobs is closed. If a
// handler ends the goroutine with runtime.Goexit, the deferred function
// reports the delivery as not done (it is offered again; call recorded
// the failed attempt) and starts a replacement, so the loop never waits
// for a result that cannot come.
func (l *loop) work(jobs <-chan *item, results chan<- result, wg *sync.WaitGroup, log logger) {
	slot := l.bus.enterHandlerGoroutine()
	var it *item
	clean := false
	defer func() {
		l.bus.leaveHandlerGoroutine(slot)
		if !clean {
			results <- result{offset: it.Offset, ok: false}
			go l.work(jobs, results, wg, log)
			return
		}
		wg.Done()
	}()
	for it = range jobs {
		results <- result{offset: it.Offset, ok: l.deliver(it, slot, log)}
	}
	clean = true
}
