package daemon

import "github.com/onexbus/onexbus/core"

// txnLimits maps the transactions.* settings to the bus's bounds of the
// Kafka transaction state: core.TxnLimits takes a zero as its default,
// so transactions.aborted_index_memory 0 (none in memory) is passed as
// a negative count.
func txnLimits(cfg Config) core.TxnLimits {
	aborted := cfg.TxnAbortedIndexMemory
	if aborted == 0 {
		aborted = -1
	}
	return core.TxnLimits{
		IDExpiry:           cfg.TxnIDExpiration,
		MaxIDs:             cfg.TxnMaxIDs,
		AbortedIndexMemory: aborted,
		ProducerIDExpiry:   cfg.ProducerIDExpiration,
	}
}
