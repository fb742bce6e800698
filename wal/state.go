package wal

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/onexbus/onexbus/store"
)

// Consumer-group state besides records: cursors, failed-attempt counts and
// in-flight marks. All of it is held in memory, changed under Log.curMu,
// and written by the next group commit; callers that need it durable
// before they go on wait for that commit (waitState).

var (
	bucketAttempts = []byte("attempts")
	bucketInFlight = []byte("inflight")
)

// Attempt is the failure history of one record in one consumer group.
type Attempt struct {
	// Count is how many deliveries of the record were started (or failed).
	Count int
	// First and Last are the times of the first and last failure.
	First, Last time.Time
}

type attemptKey struct {
	cursorKey
	offset int64
}

// stateChanges is what one commit writes of the group state.
type stateChanges struct {
	cursors  map[cursorKey]cursorChange
	attempts map[attemptKey]*Attempt // nil value: delete
	inflight map[cursorKey]int64     // -1: delete
	version  uint64
}

func (c *stateChanges) empty() bool {
	return len(c.cursors) == 0 && len(c.attempts) == 0 && len(c.inflight) == 0
}

// takeState hands the pending changes to a commit.
func (l *Log) takeState() stateChanges {
	l.curMu.Lock()
	defer l.curMu.Unlock()
	// Each map is handed over only if it holds changes; an empty one stays
	// with the log, which keeps writing to it.
	ch := stateChanges{version: l.stateVersion}
	if len(l.dirtyCursor) > 0 {
		ch.cursors, l.dirtyCursor = l.dirtyCursor, make(map[cursorKey]cursorChange)
	}
	if len(l.dirtyAttempts) > 0 {
		ch.attempts, l.dirtyAttempts = l.dirtyAttempts, make(map[attemptKey]*Attempt)
	}
	if len(l.dirtyInFlight) > 0 {
		ch.inflight, l.dirtyInFlight = l.dirtyInFlight, make(map[cursorKey]int64)
	}
	return ch
}

// restoreState puts back changes whose commit failed, unless newer ones
// replaced them meanwhile.
func (l *Log) restoreState(ch stateChanges) {
	l.curMu.Lock()
	defer l.curMu.Unlock()
	for k, v := range ch.cursors {
		if _, newer := l.dirtyCursor[k]; !newer {
			l.dirtyCursor[k] = v
		}
	}
	for k, v := range ch.attempts {
		if _, newer := l.dirtyAttempts[k]; !newer {
			l.dirtyAttempts[k] = v
		}
	}
	for k, v := range ch.inflight {
		if _, newer := l.dirtyInFlight[k]; !newer {
			l.dirtyInFlight[k] = v
		}
	}
}

func (l *Log) stateCommitted(ch stateChanges) {
	l.curMu.Lock()
	l.committedVersion = max(l.committedVersion, ch.version)
	l.curMu.Unlock()
}

func encodeAttemptKey(k attemptKey) []byte {
	return binary.BigEndian.AppendUint64(encodeCursorKey(k.cursorKey), uint64(k.offset))
}

func (l *Log) writeState(tx store.Tx, ch stateChanges) error {
	if len(ch.cursors) > 0 {
		b, err := tx.CreateBucket(bucketCursors)
		if err != nil {
			return err
		}
		for k, ch := range ch.cursors {
			key := encodeCursorKey(k)
			if ch.del {
				if err := b.Delete(key); err != nil {
					return err
				}
				continue
			}
			if err := b.Put(key, encodeCursorValue(key, ch.val)); err != nil {
				return err
			}
		}
	}
	if len(ch.attempts) > 0 {
		b, err := tx.CreateBucket(bucketAttempts)
		if err != nil {
			return err
		}
		for k, a := range ch.attempts {
			key := encodeAttemptKey(k)
			if a == nil {
				if err := b.Delete(key); err != nil {
					return err
				}
				continue
			}
			v := binary.BigEndian.AppendUint32(nil, uint32(a.Count))
			v = binary.BigEndian.AppendUint64(v, uint64(a.First.UnixNano()))
			v = binary.BigEndian.AppendUint64(v, uint64(a.Last.UnixNano()))
			if err := b.Put(key, v); err != nil {
				return err
			}
		}
	}
	if len(ch.inflight) > 0 {
		b, err := tx.CreateBucket(bucketInFlight)
		if err != nil {
			return err
		}
		for k, end := range ch.inflight {
			if end < 0 {
				if err := b.Delete(encodeCursorKey(k)); err != nil {
					return err
				}
				continue
			}
			if err := b.Put(encodeCursorKey(k), binary.BigEndian.AppendUint64(nil, uint64(end))); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Log) loadState(tx store.Tx) error {
	if b := tx.Bucket(bucketAttempts); b != nil {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) < 8 || len(v) != 20 {
				return fmt.Errorf("%w: attempt entry %q is malformed", ErrCorrupt, k)
			}
			ck, ok := decodeCursorKey(k[:len(k)-8])
			if !ok {
				return fmt.Errorf("%w: attempt entry %q is malformed", ErrCorrupt, k)
			}
			l.attempts[attemptKey{ck, int64(binary.BigEndian.Uint64(k[len(k)-8:]))}] = &Attempt{
				Count: int(binary.BigEndian.Uint32(v)),
				First: time.Unix(0, int64(binary.BigEndian.Uint64(v[4:]))),
				Last:  time.Unix(0, int64(binary.BigEndian.Uint64(v[12:]))),
			}
		}
		l.attemptCount.Store(int64(len(l.attempts)))
	}
	if b := tx.Bucket(bucketInFlight); b != nil {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			ck, ok := decodeCursorKey(k)
			if !ok || len(v) != 8 {
				return fmt.Errorf("%w: in-flight entry %q is malformed", ErrCorrupt, k)
			}
			l.inflight[ck] = int64(binary.BigEndian.Uint64(v))
		}
	}
	return nil
}

// changedLocked notes a state change and returns its version.
func (l *Log) changedLocked() uint64 {
	l.stateVersion++
	return l.stateVersion
}

// waitState waits until the state change of version v is committed.
// Under PolicyInterval and PolicyNone it does not wait: group state is
// then as durable as the records are, written by the next commit.
func (l *Log) waitState(ctx context.Context, v uint64) error {
	if l.cfg.policy != PolicySync {
		return nil // the next commit writes it
	}
	return l.waitCommitted(ctx, v)
}

// waitDurable waits until the state change of version v is stored
// durably by the log's policy: committed (and so fsync'd) under
// PolicySync; committed, then synced by a sync shared with the other
// durable callers, under PolicyInterval; committed under PolicyNone.
func (l *Log) waitDurable(ctx context.Context, v uint64) error {
	if err := l.waitCommitted(ctx, v); err != nil {
		return err
	}
	if l.cfg.policy != PolicyInterval {
		return nil
	}
	select {
	case <-l.done:
		return nil // the committer synced the store after its final commit
	default:
	}
	if err := l.durable.sync(ctx, l.syncStore); err != nil {
		return fmt.Errorf("wal: commit group state: %w", err)
	}
	return nil
}

// waitCommitted kicks the committer and waits until a commit stored the
// state change of version v.
func (l *Log) waitCommitted(ctx context.Context, v uint64) error {
	committed := func() bool {
		l.curMu.Lock()
		defer l.curMu.Unlock()
		return l.committedVersion >= v
	}
	for {
		l.genMu.Lock()
		g := l.gen
		l.genMu.Unlock()
		if committed() {
			return nil
		}
		l.kickCommitter()
		select {
		case <-g.done:
			if g.err != nil && !committed() {
				return fmt.Errorf("wal: commit group state: %w", g.err)
			}
		case <-ctx.Done():
			return fmt.Errorf("wal: commit group state: %w", ctx.Err())
		case <-l.done:
			if committed() {
				return nil
			}
			return ErrClosed
		}
	}
}

// durableSyncs shares store syncs among durable state changes under
// PolicyInterval (where commits do not sync): a caller joins the next
// sync that has not started yet, so one sync covers every caller that
// was waiting when it began, and a sync always starts after the commits
// of the callers it covers. Its locks are never held with another.
type durableSyncs struct {
	mu   sync.Mutex // protects next
	next *syncCall  // the sync that has not started yet
	run  sync.Mutex // held while a sync runs: one at a time
}

type syncCall struct {
	done chan struct{}
	err  error // set before done closes
}

// sync runs fn (the store's sync) for the caller or joins a run that has
// not started yet. The caller that starts a run waits for it whatever
// ctx says (a sync is not cancellable); the others stop waiting when
// ctx ends.
func (d *durableSyncs) sync(ctx context.Context, fn func() error) error {
	d.mu.Lock()
	c := d.next
	leader := c == nil
	if leader {
		c = &syncCall{done: make(chan struct{})}
		d.next = c
	}
	d.mu.Unlock()
	if leader {
		d.run.Lock()
		d.mu.Lock()
		d.next = nil // callers from now on need a sync that starts later
		d.mu.Unlock()
		c.err = fn()
		d.run.Unlock()
		close(c.done)
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Attempts returns the failure history of record off for group, if any.
func (l *Log) Attempts(group, topic string, part int32, off int64) (Attempt, bool) {
	if l.handled(cursorKey{group, topic, part}, off) { // atomic_marks.go
		return Attempt{Count: handledCount}, true
	}
	if l.attemptCount.Load() == 0 {
		return Attempt{}, false // the common case, without the lock
	}
	l.curMu.Lock()
	defer l.curMu.Unlock()
	a, ok := l.attempts[attemptKey{cursorKey{group, topic, part}, off}]
	if !ok || a == nil {
		return Attempt{}, false
	}
	return *a, true
}

// RecordAttempt stores the failure history of record off for group. With
// durable, under PolicySync, it returns once the history is committed and
// fsync'd, so a crash right after cannot undo it. Histories of records
// below the group's cursor are dropped when the cursor passes them.
func (l *Log) RecordAttempt(ctx context.Context, group, topic string, part int32, off int64, a Attempt, durable bool) error {
	if err := validGroup(group); err != nil {
		return err
	}
	if l.closed.Load() {
		return ErrClosed
	}
	k := attemptKey{cursorKey{group, topic, part}, off}
	l.curMu.Lock()
	cp := a
	l.attempts[k] = &cp
	l.attemptCount.Store(int64(len(l.attempts)))
	l.dirtyAttempts[k] = &cp
	v := l.changedLocked()
	l.curMu.Unlock()
	if !durable {
		return nil
	}
	return l.waitState(ctx, v)
}

// MarkInFlight records (durably, under PolicySync) that group is about to deliver records
// [cursor, end) of a partition, and sets its cursor to cursor. After a
// crash, InFlight tells the group which records may have been in a handler
// when the process died. end < 0 clears the mark.
func (l *Log) MarkInFlight(ctx context.Context, group, topic string, part int32, cursor, end int64) error {
	if err := validGroup(group); err != nil {
		return err
	}
	if l.closed.Load() {
		return ErrClosed
	}
	k := cursorKey{group, topic, part}
	l.curMu.Lock()
	if cur, ok := l.cursors[k]; !ok || cursor > cur.Offset {
		l.setCursorLocked(k, CursorValue{Offset: cursor, LeaderEpoch: -1, CommitTime: l.cfg.now().UnixMilli()})
	}
	if end < 0 {
		delete(l.inflight, k)
	} else {
		l.inflight[k] = end
	}
	l.dirtyInFlight[k] = end
	v := l.changedLocked()
	l.curMu.Unlock()
	return l.waitState(ctx, v)
}

// InFlight returns the end of the range group last marked in flight on a
// partition, or -1 if none is marked.
func (l *Log) InFlight(group, topic string, part int32) int64 {
	l.curMu.Lock()
	defer l.curMu.Unlock()
	if end, ok := l.inflight[cursorKey{group, topic, part}]; ok {
		return end
	}
	return -1
}

// dropAttemptsBelowLocked forgets the histories the cursor has passed.
func (l *Log) dropAttemptsBelowLocked(k cursorKey, cursor int64) {
	for ak := range l.attempts {
		if ak.cursorKey == k && ak.offset < cursor {
			delete(l.attempts, ak)
			l.dirtyAttempts[ak] = nil
		}
	}
	l.attemptCount.Store(int64(len(l.attempts)))
}
