package wal

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Handled marks (AtomicCursor with Handled) in memory: per cursor, the
// offsets above it that atomic ops marked handled, ascending, so that
// the cursor passing them drops them in time proportional to what it
// drops. A parallel delivery loop holds up to its window of them (4096 a
// partition); kept with the failure histories (Log.attempts), every
// cursor move would walk them all. They are stored in the attempts
// bucket as an Attempt with Count handledCount, written by the commit
// that stores their op, and read back into Log.attempts at Open (where
// the few a crash left behind go as the cursor passes them).
//
// Changes hold Log.curMu (they queue store writes in its dirty set) and
// then mu; the delivery engine's lookup (Attempts, once per delivery)
// takes only mu for reading, so that deliveries running in parallel do
// not queue on curMu behind the atomic ops.
type handledMarks struct {
	mu    sync.RWMutex          // protects byKey; taken after Log.curMu
	byKey map[cursorKey][]int64 // offsets, ascending
	n     atomic.Int64          // marks held, read without the lock
}

// markHandledLocked marks record off of k handled and queues the mark
// for the next commit. The caller holds curMu.
func (l *Log) markHandledLocked(k cursorKey, off int64, a *Attempt) {
	m := &l.marks
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byKey == nil {
		m.byKey = make(map[cursorKey][]int64)
	}
	offs := m.byKey[k]
	i, found := slices.BinarySearch(offs, off)
	if !found {
		m.byKey[k] = slices.Insert(offs, i, off)
		m.n.Add(1)
	}
	l.dirtyAttempts[attemptKey{k, off}] = a
}

// handled reports whether record off of k is marked handled.
func (l *Log) handled(k cursorKey, off int64) bool {
	if l.marks.n.Load() == 0 {
		return false
	}
	l.marks.mu.RLock()
	defer l.marks.mu.RUnlock()
	_, found := slices.BinarySearch(l.marks.byKey[k], off)
	return found
}

// dropMarksBelowLocked forgets, in memory and in the store, the marks of
// k below cursor. The caller holds curMu.
func (l *Log) dropMarksBelowLocked(k cursorKey, cursor int64) {
	if l.marks.n.Load() == 0 {
		return
	}
	l.marks.mu.Lock()
	defer l.marks.mu.Unlock()
	offs := l.marks.byKey[k]
	n, _ := slices.BinarySearch(offs, cursor)
	if n == 0 {
		return
	}
	for _, off := range offs[:n] {
		l.dirtyAttempts[attemptKey{k, off}] = nil
	}
	l.marks.n.Add(-int64(n))
	if n == len(offs) {
		delete(l.marks.byKey, k)
		return
	}
	l.marks.byKey[k] = slices.Delete(offs, 0, n)
}

// dropMarksLocked forgets every mark of the cursors match accepts and
// reports whether there was one. The caller holds curMu.
func (l *Log) dropMarksLocked(match func(cursorKey) bool) bool {
	l.marks.mu.Lock()
	defer l.marks.mu.Unlock()
	found := false
	for k, offs := range l.marks.byKey {
		if !match(k) {
			continue
		}
		for _, off := range offs {
			l.dirtyAttempts[attemptKey{k, off}] = nil
		}
		l.marks.n.Add(-int64(len(offs)))
		delete(l.marks.byKey, k)
		found = true
	}
	return found
}
