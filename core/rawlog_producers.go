package core

import "github.com/onexbus/onexbus/wal"

// ActiveProducer is one producer a partition knows; see
// wal.ActiveProducer.
type ActiveProducer = wal.ActiveProducer

// ActiveProducers returns the producers a partition knows, by producer id
// (Kafka's DescribeProducers). See wal.Log.ActiveProducers.
func (k *KafkaLog) ActiveProducers(topic string, part int32) ([]ActiveProducer, error) {
	if k.b.closed.Load() {
		return nil, ErrClosed
	}
	a, err := k.b.log.ActiveProducers(topic, part)
	return a, k.b.wrapLogErr(err)
}

// TxnIDs returns every transactional id the log keeps, sorted (Kafka's
// ListTransactions).
func (k *KafkaLog) TxnIDs() []string { return k.b.log.TxnIDs() }
