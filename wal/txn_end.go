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
//
// Offsets that fail validation (a partition deleted meanwhile, an offset
// past the end) are dropped, never the markers: a transaction must end
// whatever happened to its input, or its partitions' LSO would stay
// behind it. It returns ErrClosed, the dropped offsets' errors (after
// writing the rest), or the commit's or ctx's error while waiting (the
// markers then stay queued and may still be stored).
func (l *Log) EndTransaction(ctx context.Context, end TxnEnd) error {
	if l.closed.Load() {
		return ErrClosed
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
	commitOffsets := len(offsets) > 0
	type target struct {
		p   *partition
		end int64
	}
	var targets []target
	var version uint64
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
		e := l.queueMarkerLocked(p, end.ProducerID, end.Epoch, end.Commit)
		if e >= 0 && l.cfg.policy != PolicySync {
			p.wakeLocked()
			fire = append(fire, p.takeWatchersLocked(e, false)...)
		}
		p.mu.Unlock()
		if e >= 0 {
			targets = append(targets, target{p, e})
		}
	}
	var err error
	if commitOffsets {
		for g, offs := range offsets {
			err = errors.Join(err, l.CommitCursors(ctx, g, offs, false))
		}
		l.curMu.Lock()
		version = l.stateVersion
		l.curMu.Unlock()
	}
	l.roundMu.Unlock()
	fireAll(fire)
	l.kickCommitter()
	if err != nil {
		// Validated above: only a partition deleted meanwhile gets here.
		dropped = append(dropped, err)
	}
	for _, t := range targets {
		if err := l.waitStored(ctx, t.p, t.end); err != nil {
			return fmt.Errorf("wal: end transaction of producer %d: %w", end.ProducerID, err)
		}
	}
	if commitOffsets {
		if err := l.waitDurable(ctx, version); err != nil {
			return fmt.Errorf("wal: end transaction of producer %d: %w", end.ProducerID, err)
		}
	} else if l.cfg.policy == PolicyInterval && len(targets) > 0 {
		if err := l.durable.sync(ctx, l.syncStore); err != nil {
			return fmt.Errorf("wal: end transaction of producer %d: %w", end.ProducerID, err)
		}
	}
	if len(dropped) > 0 {
		return fmt.Errorf("wal: end transaction of producer %d: offsets dropped: %w", end.ProducerID, errors.Join(dropped...))
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
