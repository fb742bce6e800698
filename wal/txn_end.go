package wal

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
)

// TxnPartition names one partition of a transaction.
type TxnPartition struct {
	Topic string
	Part  int32
}

// TxnEnd is the end of one Kafka transaction (EndTransaction).
type TxnEnd struct {
	// ProducerID and Epoch are written into the markers.
	ProducerID int64
	Epoch      int16
	// Commit commits the transaction; false aborts it.
	Commit bool
	// Partitions are the partitions the transaction added. Those holding
	// none of its records get no marker.
	Partitions []TxnPartition
	// Offsets are the consumer-group offsets the transaction commits
	// (TxnOffsetCommit), by group: stored with the markers on a commit,
	// dropped on an abort.
	Offsets map[string][]CursorCommit
}

// EndTransaction ends producer end.ProducerID's transaction: a commit or
// abort marker on every partition of end.Partitions where it has records
// open, and on a commit the group offsets, all in one store transaction
// (the committer takes them in one round), so that a crash keeps the
// whole end or none of it. It returns once that transaction committed
// (and, under PolicyInterval, the store synced). Until then the
// partitions' last stable offsets stay before the transaction's records.
// It is QueueTransactionEnd followed by TxnEnding.Wait, with the dropped
// offsets' errors joined.
//
// Offsets that fail validation (a partition deleted meanwhile, an offset
// past the end) are dropped, never the markers: a transaction must end
// whatever happened to its input, or its partitions' LSO would stay
// behind it. It returns ErrClosed, the dropped offsets' errors (after
// writing the rest), or the commit's or ctx's error while waiting (the
// markers then stay queued and may still be stored).
func (l *Log) EndTransaction(ctx context.Context, end TxnEnd) error {
	e, err := l.QueueTransactionEnd(end)
	if err != nil {
		return err
	}
	if err := e.Wait(ctx); err != nil {
		return err
	}
	if err := e.Dropped(); err != nil {
		return fmt.Errorf("wal: end transaction of producer %d: offsets dropped: %w", end.ProducerID, err)
	}
	return nil
}

// TxnEnding is a transaction end whose markers and offsets are queued
// (QueueTransactionEnd): Wait tells when they are durable. A failed
// commit leaves them queued, in front of anything queued later on the
// same partitions, and the committer retries them; so a Wait that failed
// may be called again, and returns nil once they are durable. It is safe
// for concurrent use.
type TxnEnding struct {
	l       *Log
	pid     int64
	targets []txnTarget
	offsets bool   // group offsets were queued
	version uint64 // their state version
	dropped error
}

type txnTarget struct {
	p   *partition
	end int64 // the offset after the marker
}

// QueueTransactionEnd queues the end of producer end.ProducerID's
// transaction (see EndTransaction) without waiting for it. It returns
// ErrClosed; offsets that fail validation are dropped (TxnEnding.Dropped
// names them), never the markers.
func (l *Log) QueueTransactionEnd(end TxnEnd) (*TxnEnding, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	var dropped []error
	offsets := make(map[string][]CursorCommit)
	if end.Commit {
		for g, offs := range end.Offsets {
			if err := validGroup(g); err != nil {
				dropped = append(dropped, err)
				continue
			}
			for _, c := range offs {
				if err := l.validCommit(c); err != nil {
					dropped = append(dropped, err)
					continue
				}
				offsets[g] = append(offsets[g], c)
			}
		}
	}
	e := &TxnEnding{l: l, pid: end.ProducerID, offsets: len(offsets) > 0}
	var fire []*watcher
	l.roundMu.Lock()
	for _, tp := range dedupPartitions(end.Partitions) {
		_, p, err := l.partition(tp.Topic, tp.Part)
		if err != nil {
			continue // deleted with the transaction's records
		}
		p.mu.Lock()
		if p.deleted || p.format != FormatKafka {
			p.mu.Unlock()
			continue
		}
		next := l.queueMarkerLocked(p, end.ProducerID, end.Epoch, end.Commit)
		if next >= 0 && l.cfg.policy != PolicySync {
			p.wakeLocked()
			fire = append(fire, p.takeWatchersLocked(next, false)...)
		}
		p.mu.Unlock()
		if next >= 0 {
			e.targets = append(e.targets, txnTarget{p, next})
		}
	}
	var err error
	if e.offsets {
		// The context only matters to a wait, and CommitCursors does not
		// wait here.
		for g, offs := range offsets {
			err = errors.Join(err, l.CommitCursors(context.Background(), g, offs, false))
		}
		l.curMu.Lock()
		e.version = l.stateVersion
		l.curMu.Unlock()
	}
	l.roundMu.Unlock()
	fireAll(fire)
	l.kickCommitter()
	if err != nil {
		// Validated above: only a partition deleted meanwhile gets here.
		dropped = append(dropped, err)
	}
	e.dropped = errors.Join(dropped...)
	l.touchTxnPID(end.ProducerID)
	return e, nil
}

// Dropped returns the errors of the offsets QueueTransactionEnd dropped
// (nil: none).
func (e *TxnEnding) Dropped() error { return e.dropped }

// Wait returns once the queued markers and offsets are durable: stored
// by a commit and, under PolicyInterval, synced. A partition deleted
// meanwhile needs its marker no more. It returns the commit's error (the
// end stays queued: call Wait again), ctx's error, ErrClosed when the
// log closed before storing it, or the close's error when the final
// commit or sync failed.
func (e *TxnEnding) Wait(ctx context.Context) error {
	l := e.l
	for _, t := range e.targets {
		t.p.mu.Lock()
		gone := t.p.deleted
		t.p.mu.Unlock()
		if gone {
			continue
		}
		if err := l.waitStored(ctx, t.p, t.end); err != nil && !errors.Is(err, ErrUnknownTopic) {
			return fmt.Errorf("wal: end transaction of producer %d: %w", e.pid, err)
		}
	}
	if e.offsets {
		if err := l.waitDurable(ctx, e.version); err != nil {
			return fmt.Errorf("wal: end transaction of producer %d: %w", e.pid, err)
		}
	} else if l.cfg.policy == PolicyInterval && len(e.targets) > 0 {
		select {
		case <-l.done:
			// The committer synced the store after its final commit; a
			// failure there (closeErr, set before done closed) means
			// the markers may not be durable.
			if l.closeErr != nil {
				return fmt.Errorf("wal: end transaction of producer %d: the final commit or sync at close failed: %w", e.pid, l.closeErr)
			}
			return nil
		default:
		}
		if err := l.durable.sync(ctx, l.syncStore); err != nil {
			return fmt.Errorf("wal: end transaction of producer %d: %w", e.pid, err)
		}
	}
	return nil
}

func dedupPartitions(in []TxnPartition) []TxnPartition {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b TxnPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Part) - int(b.Part)
	})
	return slices.Compact(out)
}

// OpenTransactions returns, per producer id, the partitions where it has
// a transaction open (records and no marker yet).
func (l *Log) OpenTransactions() map[int64][]TxnPartition {
	l.mu.RLock()
	parts := l.parts
	l.mu.RUnlock()
	out := make(map[int64][]TxnPartition)
	for _, p := range parts {
		p.mu.Lock()
		for pid := range p.prod.txn.open {
			out[pid] = append(out[pid], TxnPartition{Topic: p.topic, Part: p.id})
		}
		p.mu.Unlock()
	}
	return out
}

// abortOpenTransactions aborts, at Open, every transaction a crash left
// open: the producer's registered epoch is bumped first (durably), so
// that the old instance is fenced, and the abort markers carry the new
// epoch. A producer the registry does not know gets markers at the epoch
// of its records.
func (l *Log) abortOpenTransactions() error {
	open := l.OpenTransactions()
	if len(open) == 0 {
		return nil
	}
	ctx := context.Background()
	var errs []error
	for pid, parts := range open {
		epoch := int16(0)
		for _, tp := range parts {
			_, p, _ := l.partition(tp.Topic, tp.Part)
			p.mu.Lock()
			epoch = max(epoch, p.prod.txn.open[pid].epoch)
			p.mu.Unlock()
		}
		if id, ok := l.TxnIDOf(pid); ok {
			tp, _ := l.TxnProducer(id)
			if tp.ProducerID == pid && tp.Epoch < math.MaxInt16-1 {
				tp.Epoch = max(tp.Epoch, epoch) + 1
				if err := l.SetTxnProducer(ctx, id, tp); err != nil {
					errs = append(errs, err)
					continue
				}
				epoch = tp.Epoch
			}
		}
		l.cfg.logger.Info("aborting a transaction left open", "producer", pid, "epoch", epoch, "partitions", len(parts))
		if err := l.EndTransaction(ctx, TxnEnd{ProducerID: pid, Epoch: epoch, Partitions: parts}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wal: recover: abort open transactions: %w", err)
	}
	return nil
}
