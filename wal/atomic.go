package wal

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/onexbus/onexbus/internal/kbatch"
)

// Atomic ops: records for several partitions (of one topic or many, in
// either format) and consumer-group cursor moves, stored by one store
// transaction. The committer takes its whole queue in one snapshot under
// Log.roundMu; an op queues everything under the same lock, so the
// snapshot holds all of it or none of it, and the commit that writes the
// snapshot is one store transaction: after a crash both are stored or
// neither is. A commit that fails keeps its records queued and puts its
// group state back (commit.go), so the next commit again takes the whole
// op, or nothing of it is ever stored.

// AtomicWrite is one partition's part of AppendAtomic.
type AtomicWrite struct {
	// Topic and Part name the partition.
	Topic string
	Part  int32
	// Records are the records of a FormatFrames partition, as Append
	// takes them: AppendAtomic sets their Partition, Offset and
	// Duplicate, drops those whose MessageID the topic saw within the
	// dedup window, and copies Payload.
	Records []Record
	// Batch is one of the bus's own batches (producer id -1) for a
	// FormatKafka partition, with IDs the message ids of its records, as
	// AppendOwnBatch takes them; the log copies it.
	Batch []byte
	IDs   []BatchID
	// Rebuild is called, for a Batch, when some of IDs were seen within
	// the dedup window: it returns the batch and ids without the records
	// dups names (Index is their position in the batch last given), or
	// a nil batch when none is left. It runs with the log's atomic fence
	// held and must not call the Log. A nil Rebuild, or one that fails
	// or returns a batch that does not parse, leaves the batch stored as
	// it was, duplicates and all: an op is never cut in two.
	Rebuild func(dups []BatchDuplicate) ([]byte, []BatchID, error)

	// BaseOffset is set by AppendAtomic to the offset of the batch's first
	// record (-1 when every record was a duplicate).
	BaseOffset int64
}

// AtomicCursor is one cursor move of AppendAtomic.
type AtomicCursor struct {
	// Group, Topic and Part name the cursor.
	Group string
	Topic string
	Part  int32
	// Offset is the cursor's new position, the next record to deliver;
	// like CommitCursor, it only moves forward. With Handled, Offset
	// names a record instead: it is marked handled for Group (an Attempt
	// whose Handled reports true) and the cursor does not move. A
	// delivery engine whose cursor moves only over a contiguous prefix
	// (parallel delivery) marks records so, and skips a marked record
	// when it meets it again after a crash.
	Offset  int64
	Handled bool
}

// handledCount is the Count of an Attempt that marks a handled record;
// it fits the stored uint32 and an int on every platform.
const handledCount = math.MaxInt32

// Handled reports whether the attempt is the mark of a record handled by
// an atomic op (AtomicCursor with Handled): its delivery is done and must
// not run again. The mark goes once the group's cursor passes the record.
func (a Attempt) Handled() bool { return a.Count == handledCount }

// AppendAtomic stores writes and cursors in one store transaction: after
// a crash, all of them are stored or none is. Writes to one partition
// keep their order, and a partition may appear more than once.
//
// Durability follows the log's policy. Under PolicySync it returns once
// the transaction holding the op committed, and readers see the records
// and the cursor moves (Cursor) only then. Under PolicyInterval and
// PolicyNone it returns once the op is queued, and readers see records
// and cursors at once: the next commit writes the whole op. Handled
// marks are internal to the delivery engine and set at once. A cursor
// move of the op may be overtaken in the store by a commit of an older
// position made by another caller while the op waits (CommitCursor is
// forward-only against what readers see): a group moved by atomic ops
// should have no other committer.
//
// Everything is checked before anything is queued: it returns an error
// wrapping ErrUnknownTopic, ErrInvalidPartition, ErrWrongFormat,
// ErrRecordTooLarge, ErrInvalidBatch, ErrInvalidOption (a bad group) or
// ErrInvalidCursor (an offset past what the partition will hold), or
// ErrClosed, and then nothing was queued. Once queued, it returns the
// context's error or an error wrapping ErrCommit while waiting: the op
// stays queued whole, and a later commit (Sync) may still store it all.
// A topic deleted while the op runs loses its records with it; the rest
// is stored and the error wraps ErrUnknownTopic.
func (l *Log) AppendAtomic(ctx context.Context, writes []AtomicWrite, cursors []AtomicCursor) error {
	if l.closed.Load() {
		return ErrClosed
	}
	type target struct {
		t *topicLog
		p *partition
		h kbatch.Header
	}
	targets := make([]target, len(writes))
	adds := map[*partition]int64{} // offsets each partition gains at most
	for i := range writes {
		w := &writes[i]
		t, p, err := l.partition(w.Topic, w.Part)
		if err != nil {
			return fmt.Errorf("wal: atomic append: %w", err)
		}
		targets[i] = target{t: t, p: p}
		if err := l.checkAtomicWrite(w, p, &targets[i].h); err != nil {
			return fmt.Errorf("wal: atomic append to %s/%d: %w", w.Topic, w.Part, err)
		}
		if w.Batch != nil {
			adds[p] += int64(targets[i].h.Records())
		} else {
			adds[p] += int64(len(w.Records))
		}
	}
	for _, c := range cursors {
		if err := validGroup(c.Group); err != nil {
			return fmt.Errorf("wal: atomic append: %w", err)
		}
		_, p, err := l.partition(c.Topic, c.Part)
		if err != nil {
			return fmt.Errorf("wal: atomic append: cursor of %s: %w", c.Group, err)
		}
		p.mu.Lock()
		end := p.next + adds[p]
		p.mu.Unlock()
		if c.Offset < 0 || c.Offset > end || c.Handled && c.Offset == end {
			return fmt.Errorf("wal: atomic append: cursor of %s: %w: %s/%d: offset %d not in [0, %d]",
				c.Group, ErrInvalidCursor, c.Topic, c.Part, c.Offset, end)
		}
	}
	// Back-pressure before the fence: waiting for the committer while
	// holding it would wait for ourselves.
	for i := range writes {
		if err := l.waitRoom(ctx, writes[i].Topic, writes[i].Part); err != nil {
			return err
		}
	}

	l.roundMu.Lock()
	if l.closed.Load() {
		// Close's final commit takes the fence too: an op that got in
		// before the flag is in it whole, and one that sees the flag
		// queues nothing.
		l.roundMu.Unlock()
		return ErrClosed
	}
	ends := make(map[*partition]int64, len(adds))
	var deleted error
	kick := false
	now := l.cfg.now().UnixNano()
	for i := range writes {
		w, tg := &writes[i], &targets[i]
		p := tg.p
		var ready []*watcher
		var notify chan struct{}
		var end, queued int64
		var pending int
		p.mu.Lock()
		switch {
		case p.deleted:
			deleted = errors.Join(deleted, fmt.Errorf("%w: %s (deleted)", ErrUnknownTopic, w.Topic))
			p.mu.Unlock()
			continue
		case w.Batch != nil:
			end, queued, pending, ready = l.queueAtomicBatchLocked(w, tg.t, p, &tg.h)
		default:
			end, queued, pending, ready, notify = l.queueFramesLocked(tg.t, p, w.Part, w.Records, now)
		}
		p.mu.Unlock()
		wake(notify)
		fireAll(ready)
		ends[p] = max(ends[p], end)
		kick = kick || l.shouldKick(pending > l.cfg.maxPendingBytes, queued, pending)
	}
	var version uint64
	var shown []cursorShow // PolicySync: moves to show once stored
	if len(cursors) > 0 {
		at := l.cfg.now()
		l.curMu.Lock()
		for _, c := range cursors {
			k := cursorKey{group: c.Group, topic: c.Topic, part: c.Part}
			if c.Handled {
				l.markHandledLocked(k, c.Offset, &Attempt{Count: handledCount, First: at, Last: at})
				continue
			}
			if cur, ok := l.cursors[k]; ok && cur.Offset >= c.Offset {
				continue
			}
			v := CursorValue{Offset: c.Offset, LeaderEpoch: -1, CommitTime: at.UnixMilli()}
			if l.cfg.policy != PolicySync {
				l.setCursorLocked(k, v) // visible at once, as the records are
				continue
			}
			// Under PolicySync readers see the records once they are
			// stored: the cursor is shown then too (showCursors), so that
			// no reader sees the group past its input before it can see
			// the outputs. The commit writes it from the dirty set.
			if d, ok := l.dirtyCursor[k]; ok && !d.del && d.val.Offset >= c.Offset {
				continue
			}
			l.dirtyCursor[k] = cursorChange{val: v}
			l.dropAttemptsBelowLocked(k, c.Offset)
			shown = append(shown, cursorShow{k, v})
		}
		version = l.changedLocked()
		l.curMu.Unlock()
	}
	l.roundMu.Unlock()

	if l.cfg.policy != PolicySync {
		if kick {
			l.kickCommitter()
		}
		return deleted
	}
	err := l.waitAtomic(ctx, ends, version)
	if !errors.Is(err, ErrCommit) {
		// Stored, or still queued while the caller stopped waiting (it is
		// stored whole by the next commit or never, and never means the
		// process died): readers may see the moves. After a failed
		// commit they are not shown until a later move of the cursor
		// shows them; the store has them once a later commit succeeds.
		l.showCursors(shown)
	}
	return errors.Join(err, deleted)
}

// waitAtomic waits until the partitions hold their ends and the group
// state of version is committed.
func (l *Log) waitAtomic(ctx context.Context, ends map[*partition]int64, version uint64) error {
	for p, end := range ends {
		if err := l.waitStored(ctx, p, end); err != nil {
			return err
		}
	}
	if version > 0 {
		return l.waitCommitted(ctx, version)
	}
	return nil
}

// cursorShow is a cursor move AppendAtomic shows after the wait.
type cursorShow struct {
	k cursorKey
	v CursorValue
}

// showCursors sets the in-memory cursors of moves, forward only.
func (l *Log) showCursors(moves []cursorShow) {
	if len(moves) == 0 {
		return
	}
	l.curMu.Lock()
	defer l.curMu.Unlock()
	for _, m := range moves {
		if cur, ok := l.cursors[m.k]; !ok || cur.Offset < m.v.Offset {
			l.cursors[m.k] = m.v
		}
	}
}

// checkAtomicWrite checks one write as Append or AppendOwnBatch would,
// parsing a batch's header into h.
func (l *Log) checkAtomicWrite(w *AtomicWrite, p *partition, h *kbatch.Header) error {
	if w.Batch == nil {
		if p.format != FormatFrames {
			return fmt.Errorf("%w: records for a %s topic (give a Batch)", ErrWrongFormat, p.format)
		}
		for i := range w.Records {
			if len(w.Records[i].Payload) > l.cfg.maxRecordBytes {
				return fmt.Errorf("%w: %d bytes, the limit is %d", ErrRecordTooLarge, len(w.Records[i].Payload), l.cfg.maxRecordBytes)
			}
		}
		return nil
	}
	if p.format != FormatKafka {
		return fmt.Errorf("%w: a batch for a %s topic (give Records)", ErrWrongFormat, p.format)
	}
	if len(w.Records) > 0 {
		return fmt.Errorf("%w: both records and a batch", ErrInvalidBatch)
	}
	if err := parseOwnBatch(w.Batch, w.IDs, h); err != nil {
		return err
	}
	if len(w.Batch) > l.cfg.maxRecordBytes {
		return fmt.Errorf("%w: batch of %d bytes, the limit is %d", ErrRecordTooLarge, len(w.Batch), l.cfg.maxRecordBytes)
	}
	return nil
}

// parseOwnBatch checks the framing AppendBatch relies on, and that batch
// is one of the bus's own with one id per record.
func parseOwnBatch(batch []byte, ids []BatchID, h *kbatch.Header) error {
	var err error
	if *h, err = kbatch.ParseHeader(batch); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}
	switch {
	case h.Len() != len(batch):
		return fmt.Errorf("%w: header says %d bytes, got %d", ErrInvalidBatch, h.Len(), len(batch))
	case h.NumRecords < 1 || h.LastOffsetDelta < h.NumRecords-1:
		return fmt.Errorf("%w: last offset delta %d, %d records", ErrInvalidBatch, h.LastOffsetDelta, h.NumRecords)
	case h.ProducerID >= 0 || len(ids) != int(h.NumRecords):
		return fmt.Errorf("%w: own batch of %d records (producer id %d) with %d ids", ErrInvalidBatch, h.NumRecords, h.ProducerID, len(ids))
	}
	return nil
}

// queueAtomicBatchLocked queues w's batch in p, rebuilding it without the
// records whose ids the dedup window holds. The caller holds the fence
// and p.mu.
func (l *Log) queueAtomicBatchLocked(w *AtomicWrite, t *topicLog, p *partition, h *kbatch.Header) (end, queued int64, pending int, ready []*watcher) {
	batch, ids := w.Batch, w.IDs
	if ids == nil {
		ids = []BatchID{}
	}
	for range len(w.IDs) + 1 { // each rebuild drops at least one record
		q := l.queueBatchLocked(t, p, w.Part, h, batch, ids)
		if q.dups == nil {
			// A batch with producer id -1 is never refused nor a
			// producer's duplicate: it is queued.
			w.BaseOffset = q.base
			return q.end, q.queued, q.pending, q.ready
		}
		if w.Rebuild == nil {
			break
		}
		nb, nids, err := w.Rebuild(q.dups)
		if err != nil {
			break
		}
		if nb == nil {
			w.BaseOffset = -1
			return p.next, p.next - p.stored, p.tail.bytes, nil
		}
		var nh kbatch.Header
		if parseOwnBatch(nb, nids, &nh) != nil || len(nb) > l.cfg.maxRecordBytes {
			break
		}
		batch, ids, *h = nb, nids, nh
	}
	// Stored as it is, without the dedup check (see AtomicWrite.Rebuild).
	q := l.queueBatchLocked(t, p, w.Part, h, batch, nil)
	w.BaseOffset = q.base
	return q.end, q.queued, q.pending, q.ready
}
