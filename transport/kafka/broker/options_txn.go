package broker

import "time"

// WithMaxTransactionTimeout sets Kafka's transaction.max.timeout.ms: an
// InitProducerId asking for a longer transaction.timeout.ms gets
// INVALID_TRANSACTION_TIMEOUT. Default 15 minutes; below 1 ms is an
// invalid option.
func WithMaxTransactionTimeout(d time.Duration) Option {
	return func(c *config) { c.maxTxnTimeout = d }
}
