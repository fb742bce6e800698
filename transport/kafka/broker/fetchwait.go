package broker

import "sync"

// fetchWaiters holds the wake functions of parked long-poll fetches, so
// that Close answers them at once with what they have.
type fetchWaiters struct {
	mu     sync.Mutex // protects next, wake and closed
	next   uint64
	wake   map[uint64]func()
	closed bool
}

func newFetchWaiters() *fetchWaiters { return &fetchWaiters{wake: make(map[uint64]func())} }

// add registers fn; it returns a function that unregisters it. After
// closeAll, fn is called at once instead.
func (w *fetchWaiters) add(fn func()) (remove func()) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		fn()
		return func() {}
	}
	id := w.next
	w.next++
	w.wake[id] = fn
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(w.wake, id)
		w.mu.Unlock()
	}
}

// closeAll wakes every parked fetch, and every later one at once.
func (w *fetchWaiters) closeAll() {
	w.mu.Lock()
	w.closed = true
	fns := make([]func(), 0, len(w.wake))
	for id, fn := range w.wake {
		fns = append(fns, fn)
		delete(w.wake, id)
	}
	w.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
