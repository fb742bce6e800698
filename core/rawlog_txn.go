package core

import (
	"context"

	"github.com/onexbus/onexbus/wal"
)

// Kafka transactions as the bus sees them (see wal's txn.go): the broker
// ends transactions through the KafkaLog; the bus's own delivery reads
// under read_committed, so embedded subscribers never get a record past a
// partition's last stable offset, a record of an aborted transaction, or
// a control record.

// TxnPartition names one partition of a transaction; see wal.TxnPartition.
type TxnPartition = wal.TxnPartition

// TxnEnd is the end of one Kafka transaction; see wal.TxnEnd.
type TxnEnd = wal.TxnEnd

// AbortedTxn is one aborted transaction of a partition; see wal.AbortedTxn.
type AbortedTxn = wal.AbortedTxn

// TxnProducer is what the log keeps for a transactional id; see
// wal.TxnProducer.
type TxnProducer = wal.TxnProducer

// CursorCommit is one partition's offset in a transaction's commit; see
// wal.CursorCommit.
type CursorCommit = wal.CursorCommit

// LastStableOffset returns a partition's last stable offset (Kafka's LSO:
// the end for read_committed readers). See wal.Log.LastStableOffset.
func (k *KafkaLog) LastStableOffset(topic string, part int32) (int64, error) {
	if k.b.closed.Load() {
		return 0, ErrClosed
	}
	v, err := k.b.log.LastStableOffset(topic, part)
	return v, k.b.wrapLogErr(err)
}

// ReadBatchesIsolated is ReadBatches under an isolation level: with
// readCommitted it stops at the last stable offset. See
// wal.Log.ReadBatchesIsolated.
func (k *KafkaLog) ReadBatchesIsolated(ctx context.Context, topic string, part int32, from int64, maxBytes int, dst []byte, readCommitted bool) ([]byte, int64, error) {
	if k.b.closed.Load() {
		return dst, from, ErrClosed
	}
	dst, next, err := k.b.log.ReadBatchesIsolated(ctx, topic, part, from, maxBytes, dst, readCommitted)
	return dst, next, k.b.wrapLogErr(err)
}

// AbortedTransactions returns the aborted transactions with records in
// [from, to) of a partition. See wal.Log.AbortedTransactions.
func (k *KafkaLog) AbortedTransactions(topic string, part int32, from, to int64) ([]AbortedTxn, error) {
	if k.b.closed.Load() {
		return nil, ErrClosed
	}
	a, err := k.b.log.AbortedTransactions(topic, part, from, to)
	return a, k.b.wrapLogErr(err)
}

// EndTransaction writes a transaction's commit or abort markers and, on a
// commit, its group offsets, in one store transaction, and returns once
// it is durable. See wal.Log.EndTransaction.
func (k *KafkaLog) EndTransaction(ctx context.Context, end TxnEnd) error {
	if k.b.closed.Load() {
		return ErrClosed
	}
	return k.b.wrapLogErr(k.b.log.EndTransaction(ctx, end))
}

// TxnEnding is a transaction end whose markers are queued; see
// QueueTransactionEnd.
type TxnEnding struct {
	k *KafkaLog
	e *wal.TxnEnding
}

// QueueTransactionEnd queues a transaction's end (EndTransaction without
// the wait): the markers and, on a commit, the group offsets go into the
// next store transaction. See wal.Log.QueueTransactionEnd.
func (k *KafkaLog) QueueTransactionEnd(end TxnEnd) (*TxnEnding, error) {
	if k.b.closed.Load() {
		return nil, ErrClosed
	}
	e, err := k.b.log.QueueTransactionEnd(end)
	if err != nil {
		return nil, k.b.wrapLogErr(err)
	}
	return &TxnEnding{k: k, e: e}, nil
}

// Wait returns once the end is durable; after an error (a failed store
// commit: the end stays queued and is retried) it may be called again.
// See wal.TxnEnding.Wait.
func (e *TxnEnding) Wait(ctx context.Context) error { return e.k.b.wrapLogErr(e.e.Wait(ctx)) }

// Dropped returns the errors of the group offsets the end dropped (a
// partition deleted meanwhile, an offset past the end); nil: none.
func (e *TxnEnding) Dropped() error { return e.e.Dropped() }

// TouchTxnProducer records a use of a transactional id now (a
// transaction's start), which pushes back its expiry. See
// wal.Log.TouchTxnProducer.
func (k *KafkaLog) TouchTxnProducer(id string) { k.b.log.TouchTxnProducer(id) }

// AbortedIndexInMemory returns how many aborted-transaction entries the
// log keeps in memory (TxnLimits.AbortedIndexMemory bounds it).
func (k *KafkaLog) AbortedIndexInMemory() int { return k.b.log.AbortedIndexInMemory() }

// TxnIDCount returns how many transactional ids the log registers.
func (k *KafkaLog) TxnIDCount() int { return k.b.log.TxnIDCount() }

// OpenTransactions returns, per producer id, the partitions where it has
// a transaction open.
func (k *KafkaLog) OpenTransactions() map[int64][]TxnPartition { return k.b.log.OpenTransactions() }

// TxnProducer returns the producer id, epoch and timeout stored for a
// transactional id.
func (k *KafkaLog) TxnProducer(id string) (TxnProducer, bool) { return k.b.log.TxnProducer(id) }

// SetTxnProducer stores a transactional id's producer id, epoch and
// timeout durably. See wal.Log.SetTxnProducer.
func (k *KafkaLog) SetTxnProducer(ctx context.Context, id string, tp TxnProducer) error {
	if k.b.closed.Load() {
		return ErrClosed
	}
	return k.b.wrapLogErr(k.b.log.SetTxnProducer(ctx, id, tp))
}

// readDelivery is the delivery loops' read of the log: read_committed
// (wal.Log.ReadCommitted), so that aborted records come flagged and
// nothing past the last stable offset comes at all.
func (b *Bus) readDelivery(ctx context.Context, topic string, part int32, from int64, max int, fn func(*wal.Entry) error) (int64, error) {
	return b.log.ReadCommitted(ctx, topic, part, from, max, fn)
}

// notifyDelivery is the delivery loops' wait for records: it fires once
// the last stable offset passes after (or at the partition's next change).
func (b *Bus) notifyDelivery(topic string, part int32, after int64) (<-chan struct{}, error) {
	return b.log.NotifyCommitted(topic, part, after)
}
