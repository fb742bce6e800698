package wal

import (
	"context"
	"fmt"

	"github.com/onexbus/onexbus/internal/kbatch"
)

// BatchResult is what AppendBatch reports once a batch is durable.
type BatchResult struct {
	// BaseOffset is the offset of the batch's first record: the one the log
	// wrote into it, or for a duplicate, the original's.
	BaseOffset int64
	// Duplicate says the batch was an idempotent producer's retry of a
	// batch already appended: it was not stored again.
	Duplicate bool
	// Err is the commit's error (the batch stays queued and may still be
	// stored, as with Append), or ErrClosed.
	Err error
}

// AppendBatch appends one Kafka v2 record batch to a partition of a
// FormatKafka topic. batch must be one whole batch its caller validated
// (kbatch.Validate: CRC, record framing, counts); the log checks the
// framing it relies on, copies the bytes, and writes the partition's next
// offset as BaseOffset and 0 as PartitionLeaderEpoch into its copy (both
// outside the CRC). The batch takes LastOffsetDelta+1 offsets.
//
// done is called exactly once, never with a lock of the log held, once
// the batch is durable by the log's policy: after the fsync of the group
// commit that stored it under PolicySync, once queued otherwise. It runs
// on the committer's goroutine or before AppendBatch returns, and must not
// block or call the Log.
//
// It blocks only for back-pressure, before queueing anything. When it
// returns an error, nothing was queued and done is never called: ctx's
// error, ErrClosed, ErrUnknownTopic, ErrInvalidPartition, ErrWrongFormat
// (a FormatFrames topic), ErrRecordTooLarge (a batch over the maximum
// record size), ErrInvalidBatch, or the idempotent producer's errors.
func (l *Log) AppendBatch(ctx context.Context, topic string, part int32, batch []byte, done func(BatchResult)) error {
	_, err := l.appendBatch(ctx, topic, part, batch, nil, done)
	return err
}

// appendBatch is AppendBatch, and AppendOwnBatch when ids is not nil: then
// ids seen within the dedup window are returned as duplicates and nothing
// is queued (see ownbatch.go).
func (l *Log) appendBatch(ctx context.Context, topic string, part int32, batch []byte, ids []BatchID, done func(BatchResult)) ([]BatchDuplicate, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	t, p, err := l.partition(topic, part)
	if err != nil {
		return nil, err
	}
	if p.format != FormatKafka {
		return nil, fmt.Errorf("%w: AppendBatch to %s/%d, a %s topic", ErrWrongFormat, topic, part, p.format)
	}
	h, err := kbatch.ParseHeader(batch)
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%d: %w", ErrInvalidBatch, topic, part, err)
	}
	if h.Len() != len(batch) {
		return nil, fmt.Errorf("%w: %s/%d: header says %d bytes, got %d", ErrInvalidBatch, topic, part, h.Len(), len(batch))
	}
	if h.NumRecords < 1 || h.LastOffsetDelta < h.NumRecords-1 {
		// The batch's offsets must hold its records (Kafka allows more,
		// for compacted batches, never fewer).
		return nil, fmt.Errorf("%w: %s/%d: last offset delta %d, %d records", ErrInvalidBatch, topic, part, h.LastOffsetDelta, h.NumRecords)
	}
	if len(batch) > l.cfg.maxRecordBytes {
		return nil, fmt.Errorf("%w: batch of %d bytes in %s/%d, the limit is %d",
			ErrRecordTooLarge, len(batch), topic, part, l.cfg.maxRecordBytes)
	}
	if err := l.waitRoom(ctx, topic, part); err != nil {
		return nil, err
	}

	p.mu.Lock()
	if l.closed.Load() {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if p.deleted {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: %s (deleted)", ErrUnknownTopic, topic)
	}
	q := l.queueBatchLocked(t, p, part, &h, batch, ids)
	if q.err != nil || q.dups != nil {
		p.mu.Unlock()
		return q.dups, q.err
	}
	if q.duplicate {
		// The original may still be queued (a retry after a failed
		// commit): answer once it is durable.
		p.mu.Unlock()
		l.answerWhenStored(p, q.end, BatchResult{BaseOffset: q.base, Duplicate: true}, done)
		return nil, nil
	}
	p.mu.Unlock()
	fireAll(q.ready)

	if l.shouldKick(q.pending > l.cfg.maxPendingBytes, q.queued, q.pending) {
		l.kickCommitter()
	}
	l.answerWhenStored(p, q.end, BatchResult{BaseOffset: q.base}, done)
	return nil, nil
}

// queuedBatch is what queueBatchLocked did with a batch.
type queuedBatch struct {
	dups      []BatchDuplicate // own-batch ids seen in the dedup window: nothing queued
	err       error            // the idempotent producer's refusal: nothing queued
	duplicate bool             // a producer's retry: nothing queued, base and end are the original's
	base, end int64            // the batch's offsets [base, end)
	queued    int64            // records the partition's tail holds
	pending   int              // bytes the partition's tail holds
	ready     []*watcher       // readers to wake once p.mu is released
}

// queueBatchLocked is the part of appendBatch under p.mu, shared with
// AppendAtomic (atomic.go): own-batch dedup (ids not nil), the idempotent
// producer's check, offsets, the tail and retention by count.
func (l *Log) queueBatchLocked(t *topicLog, p *partition, part int32, h *kbatch.Header, batch []byte, ids []BatchID) queuedBatch {
	base := p.next
	if ids != nil {
		if dups := l.ownBatchIDsLocked(t, part, base, ids); dups != nil {
			return queuedBatch{dups: dups}
		}
	}
	original, dup, err := l.admitBatchLocked(p, h, base)
	if err != nil {
		return queuedBatch{err: fmt.Errorf("wal: append batch to %s/%d: %w", p.topic, part, err)}
	}
	if dup {
		return queuedBatch{duplicate: true, base: original, end: original + int64(h.Records())}
	}
	span := int64(h.Records())
	p.tail.appendBatch(l.limits(p), batch, base, span)
	p.next += span
	l.retainCountLocked(p)
	q := queuedBatch{base: base, end: p.next, queued: p.next - p.stored, pending: p.tail.bytes}
	if l.cfg.policy != PolicySync {
		p.wakeLocked()
		q.ready = p.takeWatchersLocked(q.end, false)
	}
	return q
}

// answerWhenStored calls done with res once offsets below end of p are
// durable by the log's policy (at once unless PolicySync), with the
// commit's error in res.Err if one failed to store them.
func (l *Log) answerWhenStored(p *partition, end int64, res BatchResult, done func(BatchResult)) {
	if l.cfg.policy != PolicySync {
		done(res)
		return
	}
	l.whenStored(p, end, func(err error) {
		res.Err = err
		done(res)
	})
}
