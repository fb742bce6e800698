package wal

import (
	"fmt"
	"time"
)

// Bounds of the Kafka transaction state the log keeps in memory: the
// transactional-id registry (txn_registry.go) and the aborted-transaction
// index (txn_index.go).

// txnConfig holds the transaction options.
type txnConfig struct {
	idExpiry        time.Duration // transactional.id.expiration.ms
	maxIDs          int           // transactional ids registered at once
	abortedInMemory int           // aborted-index entries kept in memory, all partitions together
}

// Defaults of the transaction options.
const (
	// DefaultTxnIDExpiry is Kafka's transactional.id.expiration.ms: 7 days.
	DefaultTxnIDExpiry = 7 * 24 * time.Hour
	// DefaultMaxTxnIDs is how many transactional ids the log registers at
	// once unless WithMaxTxnIDs says otherwise.
	DefaultMaxTxnIDs = 100_000
	// DefaultAbortedIndexMemory is how many aborted-transaction entries
	// the log keeps in memory unless WithAbortedIndexMemory says
	// otherwise.
	DefaultAbortedIndexMemory = 100_000
)

func defaultTxnConfig() txnConfig {
	return txnConfig{idExpiry: DefaultTxnIDExpiry, maxIDs: DefaultMaxTxnIDs, abortedInMemory: DefaultAbortedIndexMemory}
}

func (c *txnConfig) validate() []error {
	var errs []error
	if c.idExpiry < time.Minute {
		errs = append(errs, fmt.Errorf("transactional id expiry %v below 1m", c.idExpiry))
	}
	if c.maxIDs < 1 || c.maxIDs > 100_000_000 {
		errs = append(errs, fmt.Errorf("max transactional ids %d not in [1, 100000000]", c.maxIDs))
	}
	if c.abortedInMemory < 0 || c.abortedInMemory > 100_000_000 {
		errs = append(errs, fmt.Errorf("aborted index entries in memory %d not in [0, 100000000]", c.abortedInMemory))
	}
	return errs
}

// WithTxnIDExpiry sets Kafka's transactional.id.expiration.ms (default
// DefaultTxnIDExpiry, at least 1m): a transactional id none of whose
// transactions ended (and that was not initialised) for longer than d,
// and that has no transaction open, is forgotten, in the store too. Its
// next InitProducerId starts over: a new producer id at epoch 0.
func WithTxnIDExpiry(d time.Duration) Option { return func(c *config) { c.txn.idExpiry = d } }

// WithMaxTxnIDs sets how many transactional ids the log registers at
// once (default DefaultMaxTxnIDs, 1 to 100,000,000). Registering one
// more fails with ErrTxnIDsFull until another expires (WithTxnIDExpiry).
func WithMaxTxnIDs(n int) Option { return func(c *config) { c.txn.maxIDs = n } }

// WithAbortedIndexMemory sets how many aborted-transaction entries the
// log keeps in memory, all partitions together (default
// DefaultAbortedIndexMemory, 0 to 100,000,000; 0 keeps none). Every entry
// is in the store; the ones memory does not hold are read from the store
// by the read_committed reads whose range needs them (AbortedTransactions,
// ReadCommitted), which then cost a store read transaction.
func WithAbortedIndexMemory(n int) Option { return func(c *config) { c.txn.abortedInMemory = n } }
