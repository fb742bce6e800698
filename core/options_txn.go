package core

import (
	"time"

	"github.com/onexbus/onexbus/wal"
)

// TxnLimits bound the Kafka transaction and idempotence state the log
// keeps (the broker's transactional ids, aborted-transaction index and
// producer windows), so that memory follows configuration rather than the
// ids clients use. A zero field keeps its default.
type TxnLimits struct {
	// IDExpiry is Kafka's transactional.id.expiration.ms: a transactional
	// id with no transaction open whose last use (InitProducerId or the
	// end of a transaction) is older is forgotten, in the store too, and
	// starts over with a new producer id at epoch 0. Default 7 days
	// (wal.DefaultTxnIDExpiry), at least 1m.
	IDExpiry time.Duration
	// MaxIDs is how many transactional ids are registered at once; a new
	// one past it fails with ErrTxnIDsFull until another expires. Default
	// 100,000 (wal.DefaultMaxTxnIDs).
	MaxIDs int
	// AbortedIndexMemory is how many aborted-transaction entries the log
	// keeps in memory, all partitions together; the others are read from
	// the store by the read_committed reads that need them. Default
	// 100,000 (wal.DefaultAbortedIndexMemory); negative keeps none.
	AbortedIndexMemory int
	// ProducerIDExpiry is Kafka's producer.id.expiration.ms: an
	// idempotent producer idle on a partition for longer is forgotten
	// there (its next batch is accepted with any sequence). Default 24h,
	// at least 1m.
	ProducerIDExpiry time.Duration
}

// WithTxnLimits sets the bounds of the Kafka transaction state; see
// TxnLimits. New reports a field out of range.
func WithTxnLimits(l TxnLimits) Option { return func(c *config) { c.txnLimits = l } }

func (l TxnLimits) walOptions() []wal.Option {
	var opts []wal.Option
	if l.IDExpiry != 0 {
		opts = append(opts, wal.WithTxnIDExpiry(l.IDExpiry))
	}
	if l.MaxIDs != 0 {
		opts = append(opts, wal.WithMaxTxnIDs(l.MaxIDs))
	}
	switch {
	case l.AbortedIndexMemory < 0:
		opts = append(opts, wal.WithAbortedIndexMemory(0))
	case l.AbortedIndexMemory > 0:
		opts = append(opts, wal.WithAbortedIndexMemory(l.AbortedIndexMemory))
	}
	if l.ProducerIDExpiry != 0 {
		opts = append(opts, wal.WithProducerExpiry(l.ProducerIDExpiry))
	}
	return opts
}
