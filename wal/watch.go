package wal

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// WatchPos is one partition a Watch waits on: it fires once the
// partition's visible end exceeds After.
type WatchPos struct {
	Topic string
	Part  int32
	After int64
}

// watcher is one Watch call; it fires at most once.
type watcher struct {
	fn    func()
	fired atomic.Bool
	mu    sync.Mutex   // protects parts
	parts []*partition // where it is registered
}

// watchEntry is a watcher registered on one partition.
type watchEntry struct {
	w     *watcher
	after int64
}

// Watch calls fn once, when any of positions' partitions has a visible end
// beyond its After (new records readers can see), or is deleted, or the
// log closes — whichever comes first. It is how a long-poll Kafka fetch
// waits on many partitions without a goroutine each. fn is called without
// any lock of the log held, on the goroutine that made the change (an
// appender, the committer, DeleteTopic, Close), or before Watch returns
// when a position is already past; it must not block or call the Log.
// cancel unregisters the watch; after it returns fn is not called unless
// it already was. cancel is idempotent.
//
// It returns ErrClosed, ErrUnknownTopic or ErrInvalidPartition (nothing is
// registered then).
func (l *Log) Watch(positions []WatchPos, fn func()) (cancel func(), err error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	parts := make([]*partition, len(positions))
	for i, pos := range positions {
		_, p, err := l.partition(pos.Topic, pos.Part)
		if err != nil {
			return nil, fmt.Errorf("wal: watch: %w", err)
		}
		parts[i] = p
	}
	w := &watcher{fn: fn}
	cancel = func() { w.fired.Store(true); w.unregister() }
	for i, p := range parts {
		p.mu.Lock()
		if p.deleted || l.closed.Load() || l.visibleLocked(p) > positions[i].After {
			p.mu.Unlock()
			w.fire()
			return cancel, nil
		}
		p.watchers = append(p.watchers, watchEntry{w: w, after: positions[i].After})
		p.mu.Unlock()
		w.mu.Lock()
		w.parts = append(w.parts, p)
		w.mu.Unlock()
		if w.fired.Load() {
			// Another partition fired it meanwhile, before this one was in
			// w.parts: take this registration back too.
			w.unregister()
			return cancel, nil
		}
	}
	// Close may have run between the checks and the registrations.
	if l.closed.Load() {
		w.fire()
	}
	return cancel, nil
}

// fire calls fn if nobody did yet, after unregistering everywhere.
func (w *watcher) fire() {
	if w.fired.Swap(true) {
		return
	}
	w.unregister()
	w.fn()
}

// unregister removes w from its partitions. It takes their locks one at a
// time, never with another lock of the log held.
func (w *watcher) unregister() {
	w.mu.Lock()
	parts := w.parts
	w.parts = nil
	w.mu.Unlock()
	for _, p := range parts {
		p.mu.Lock()
		kept := p.watchers[:0]
		for _, e := range p.watchers {
			if e.w != w {
				kept = append(kept, e)
			}
		}
		clear(p.watchers[len(kept):])
		p.watchers = kept
		p.mu.Unlock()
	}
}

// takeWatchersLocked removes the watchers of p whose position the visible
// end end has passed (all of them when all is set) and returns them, to be
// fired once p.mu is released (fireAll).
func (p *partition) takeWatchersLocked(end int64, all bool) []*watcher {
	if len(p.watchers) == 0 {
		return nil
	}
	var ready []*watcher
	kept := p.watchers[:0]
	for _, e := range p.watchers {
		if all || end > e.after {
			ready = append(ready, e.w)
		} else {
			kept = append(kept, e)
		}
	}
	clear(p.watchers[len(kept):])
	p.watchers = kept
	return ready
}

func fireAll(ws []*watcher) {
	for _, w := range ws {
		w.fire()
	}
}
