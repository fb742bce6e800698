package wal

import (
	"context"
	"errors"
	"fmt"
)

// Reads under read_committed: nothing at or past a partition's last
// stable offset, and the aborted transactions below it named (Kafka
// clients drop those records themselves) or skipped (embedded readers).

// LastStableOffset returns a partition's last stable offset: the first
// offset of its oldest transaction that is open or whose marker is not
// yet durable, else the visible end (the high watermark). A partition
// without transactions has LSO = end. An unknown topic has 0.
func (l *Log) LastStableOffset(topic string, part int32) (int64, error) {
	_, p, err := l.partition(topic, part)
	if errors.Is(err, ErrUnknownTopic) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return l.lsoLocked(p), nil
}

// ReadBatchesIsolated is ReadBatches under an isolation level: with
// readCommitted the batches end at the last stable offset (a batch never
// straddles it: a transaction's first batch starts it). Pass the offsets
// it returns to AbortedTransactions for the aborted ones among them.
func (l *Log) ReadBatchesIsolated(ctx context.Context, topic string, part int32, from int64, maxBytes int, dst []byte, readCommitted bool) ([]byte, int64, error) {
	return l.readBatches(ctx, topic, part, from, maxBytes, dst, readCommitted)
}

// AbortedTransactions returns the aborted transactions of a partition
// with records in [from, to), by ascending marker offset (Kafka's Fetch
// AbortedTransactions). Transactions below the partition's start may be
// forgotten. The entries memory does not hold (WithAbortedIndexMemory)
// are read from the store; it returns the store's error.
func (l *Log) AbortedTransactions(topic string, part int32, from, to int64) ([]AbortedTxn, error) {
	_, p, err := l.partition(topic, part)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	q := p.abortedLocked(from, to)
	p.mu.Unlock()
	out, err := l.abortedFromStore(p, q)
	if err != nil {
		return nil, fmt.Errorf("wal: aborted transactions of %s/%d: %w", topic, part, err)
	}
	return out, nil
}

// errAtLSO stops ReadCommitted's walk at the last stable offset.
var errAtLSO = errors.New("wal: at the last stable offset")

// ReadCommitted is Read under read_committed, for embedded readers: it
// stops before the last stable offset, and passes records of aborted
// transactions with Entry.Aborted set (control records, as with Read,
// with Entry.Batch.Control()), so that a reader counts them as skipped.
func (l *Log) ReadCommitted(ctx context.Context, topic string, part int32, from int64, max int, fn func(*Entry) error) (int64, error) {
	for {
		next, over, err := l.readCommittedWindow(ctx, topic, part, from, max, fn)
		if over < 0 || next != from || over <= from {
			return next, err
		}
		// A gap in the offsets longer than the window: nothing was
		// passed, so look again from the record past it.
		from = over
	}
}

// readCommittedWindow is one ReadCommitted window. over is the offset of
// the record that ended it before the last stable offset, else -1.
func (l *Log) readCommittedWindow(ctx context.Context, topic string, part int32, from int64, max int, fn func(*Entry) error) (next, over int64, err error) {
	_, p, err := l.partition(topic, part)
	if err != nil {
		return from, -1, err
	}
	p.mu.Lock()
	lso := l.lsoLocked(p)
	// The aborted transactions are looked up for the offsets max records
	// from max(from, start) can reach, and the read stops at the end of
	// that window (a gap in the offsets ends it early, never unflagged).
	to := lso
	var q abortedQuery
	if t := &p.prod.txn; len(t.aborted) > 0 || t.storeFrom < t.memFloor {
		if e := max64(from, p.start) + int64(max); e > from && e < to {
			to = e
		}
		q = p.abortedLocked(from, to)
	}
	p.mu.Unlock()
	aborted, err := l.abortedFromStore(p, q)
	if err != nil {
		return from, -1, fmt.Errorf("wal: read committed %s/%d: %w", topic, part, err)
	}
	if from >= lso {
		// Nothing to read: from stays. (Read moves a from below the
		// start up to it, but this from is at or past lso, and the start
		// a reader may be moved to is capped at lso: this returned
		// max(from, min(start, lso)) after another partition lookup and
		// lock, which is from. It is the read of every delivery loop that
		// has caught up, just before it parks.)
		return from, -1, nil
	}
	over = -1
	next, err = l.Read(ctx, topic, part, from, max, func(e *Entry) error {
		if e.Offset >= to {
			if to < lso {
				over = e.Offset
			}
			return errAtLSO
		}
		if len(aborted) > 0 && e.Kafka && e.Batch.Transactional() && !e.Batch.Control() {
			for _, a := range aborted {
				if a.ProducerID == e.Batch.ProducerID && e.Offset >= a.FirstOffset && e.Offset < a.LastOffset {
					e.Aborted = true
					break
				}
			}
		}
		return fn(e)
	})
	if errors.Is(err, errAtLSO) {
		return next, over, nil
	}
	return next, -1, err
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// NotifyCommitted is Notify for ReadCommitted readers: the channel is
// closed once the partition's last stable offset is past after (or the
// log closes), or, while it is not, at the partition's next change, when
// the reader looks again.
func (l *Log) NotifyCommitted(topic string, part int32, after int64) (<-chan struct{}, error) {
	_, p, err := l.partition(topic, part)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.lsoLocked(p) > after || l.closed.Load() {
		return closedChan, nil
	}
	if p.notify == nil {
		p.notify = make(chan struct{})
	}
	return p.notify, nil
}
