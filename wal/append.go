package wal

import (
	"context"
	"fmt"
)

// Record is one record handed to Append. Append sets Offset and
// Partition; it copies Payload before it returns, so the caller may reuse
// the buffer.
type Record struct {
	// Timestamp is the record's time in Unix nanoseconds; time reads and
	// retention by age use it.
	Timestamp int64
	// MessageID identifies the record for dedup; all zeros means none.
	MessageID [16]byte
	// FreshID says MessageID was generated for this record just now, so
	// no earlier record can carry it: Append remembers it for dedup
	// without looking it up.
	FreshID bool
	// CorrelationID is indexed for correlation queries; zeros means none.
	CorrelationID [16]byte
	// Payload is the opaque record body.
	Payload []byte

	// Partition and Offset are set by Append: where the record is, or for
	// a duplicate, where the first copy is.
	Partition int32
	Offset    int64
	// Duplicate is set by Append when MessageID was appended to the topic
	// within the dedup window; the record was not stored again.
	Duplicate bool
}

// Append adds recs to a partition of topic with consecutive offsets and
// returns once they are durable by the log's policy: committed (fsync'd
// on a durable store) under PolicySync, queued otherwise. Records whose
// MessageID the topic saw within the dedup window are not stored again:
// they get Duplicate and the first copy's position.
//
// It returns ErrUnknownTopic, ErrInvalidPartition, ErrRecordTooLarge,
// ErrClosed, the context's error while waiting, or an error wrapping
// ErrCommit when the store failed (the records stay queued and a later
// commit may still store them).
func (l *Log) Append(ctx context.Context, topic string, part int32, recs []Record) error {
	p, end, err := l.queue(topic, part, recs, nil)
	if err != nil {
		return err
	}
	if l.cfg.policy == PolicySync || end < 0 {
		return l.waitStored(ctx, p, abs(end))
	}
	return nil
}

// AppendAsync queues recs as Append does and returns without waiting:
// done is called once they are durable by the log's policy, with nil, or
// with the error of the commit that failed to store them (the records
// stay queued, as with Append). done runs on the committer's goroutine
// (or, under PolicyInterval and PolicyNone, before AppendAsync returns)
// and must not block or call the Log. Offsets are set before it returns.
// It blocks only for back-pressure, when too much is queued.
func (l *Log) AppendAsync(ctx context.Context, topic string, part int32, recs []Record, done func(error)) error {
	p, end, err := l.queue(topic, part, recs, done)
	if err != nil {
		return err
	}
	if end < 0 {
		if err := l.waitStored(ctx, p, -end); err != nil {
			return err
		}
	}
	if l.cfg.policy != PolicySync {
		done(nil)
	}
	return nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// queue adds recs to the partition's tail and, under PolicySync, done to
// its waiters. It returns the end of what the partition holds, negated
// when the caller must wait for the committer (back-pressure).
func (l *Log) queue(topic string, part int32, recs []Record, done func(error)) (*partition, int64, error) {
	if l.closed.Load() {
		return nil, 0, ErrClosed
	}
	t, p, err := l.partition(topic, part)
	if err != nil {
		return nil, 0, err
	}
	for i := range recs {
		if len(recs[i].Payload) > l.cfg.maxRecordBytes {
			return nil, 0, fmt.Errorf("%w: %d bytes in %s/%d, the limit is %d",
				ErrRecordTooLarge, len(recs[i].Payload), topic, part, l.cfg.maxRecordBytes)
		}
	}
	now := l.cfg.now().UnixNano()

	p.mu.Lock()
	if l.closed.Load() {
		p.mu.Unlock()
		return nil, 0, ErrClosed
	}
	for i := range recs {
		r := &recs[i]
		if l.cfg.dedupWindow > 0 && r.MessageID != ([16]byte{}) {
			pos := position{part: part, offset: p.next}
			if r.FreshID {
				t.dedup.add(r.MessageID, pos, now, l.cfg.dedupMax)
			} else if first, dup := t.dedup.seenOrAdd(r.MessageID, pos, now, l.cfg.dedupWindow, l.cfg.dedupMax); dup {
				r.Partition, r.Offset, r.Duplicate = first.part, first.offset, true
				continue
			}
		}
		r.Partition, r.Offset, r.Duplicate = part, p.next, false
		p.tail.append(r, l.cfg.chunkBytes)
		p.next++
	}
	if limit := p.retention.MaxMessages; limit > 0 && p.next-p.start > limit {
		p.start = p.next - limit
		p.startDirty = true
	}
	end := p.next
	queued := p.next - p.stored
	pending := p.tail.bytes
	if l.cfg.policy != PolicySync {
		p.wakeLocked()
	} else if done != nil {
		p.waiters = append(p.waiters, waiter{end: end, done: done})
	}
	p.mu.Unlock()

	switch {
	case pending > l.cfg.maxPendingBytes:
		// Back-pressure: the committer is behind; wait for it rather
		// than grow without bound.
		return p, -end, nil
	case l.cfg.policy == PolicySync || queued >= int64(l.cfg.chunkRecords) || pending >= l.cfg.chunkBytes:
		l.kickCommitter()
	}
	return p, end, nil
}

func (l *Log) kickCommitter() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// waitStored waits until every offset below end of p is committed.
func (l *Log) waitStored(ctx context.Context, p *partition, end int64) error {
	for {
		l.genMu.Lock()
		g := l.gen
		l.genMu.Unlock()
		p.mu.Lock()
		stored := p.stored
		p.mu.Unlock()
		if stored >= end {
			return nil
		}
		l.kickCommitter()
		select {
		case <-g.done:
			p.mu.Lock()
			stored = p.stored
			p.mu.Unlock()
			if g.err != nil && stored < end {
				return fmt.Errorf("wal: append to %s/%d: %w", p.topic, p.id, g.err)
			}
		case <-ctx.Done():
			return fmt.Errorf("wal: append to %s/%d: %w", p.topic, p.id, ctx.Err())
		case <-l.done:
			p.mu.Lock()
			stored = p.stored
			p.mu.Unlock()
			if stored >= end {
				return nil
			}
			return ErrClosed
		}
	}
}

// Sync commits everything queued so far and waits for it (and, under
// PolicyInterval, syncs the store).
func (l *Log) Sync(ctx context.Context) error {
	if l.closed.Load() {
		return ErrClosed
	}
	l.genMu.Lock()
	g := l.gen
	l.genMu.Unlock()
	l.kickCommitter()
	select {
	case <-g.done:
		if g.err != nil {
			return fmt.Errorf("wal: sync: %w", g.err)
		}
	case <-ctx.Done():
		return fmt.Errorf("wal: sync: %w", ctx.Err())
	case <-l.done:
		return ErrClosed
	}
	return l.syncStore()
}
