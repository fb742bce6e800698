package wal

import (
	"slices"
	"time"
)

// ActiveProducer is one producer a partition knows (Kafka's
// DescribeProducers): its idempotence window, not yet expired, and its
// open transaction there if any.
type ActiveProducer struct {
	// ProducerID and Epoch are the producer's id and its epoch on the
	// partition.
	ProducerID int64
	Epoch      int16
	// LastSequence is the sequence of the last record of its newest batch,
	// -1 when the window holds none.
	LastSequence int32
	// LastAppend is when its last batch was appended.
	LastAppend time.Time
	// TxnStartOffset is the first offset of its transaction open on the
	// partition, -1 when it has none.
	TxnStartOffset int64
}

// ActiveProducers returns the producers a partition knows, by producer
// id: every producer whose idempotence window has not expired, and every
// producer with a transaction open there. It returns ErrUnknownTopic or
// ErrInvalidPartition for a partition that does not exist.
func (l *Log) ActiveProducers(topic string, part int32) ([]ActiveProducer, error) {
	_, p, err := l.partition(topic, part)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	out := make([]ActiveProducer, 0, len(p.prod.windows)+len(p.prod.txn.open))
	for pid, w := range p.prod.windows {
		a := ActiveProducer{ProducerID: pid, Epoch: w.epoch, LastSequence: -1, LastAppend: time.UnixMilli(w.lastAt), TxnStartOffset: -1}
		if w.n > 0 {
			a.LastSequence = w.batches[w.n-1].last
		}
		if o, ok := p.prod.txn.open[pid]; ok {
			a.TxnStartOffset = o.first
		}
		out = append(out, a)
	}
	for pid, o := range p.prod.txn.open {
		if _, ok := p.prod.windows[pid]; !ok {
			out = append(out, ActiveProducer{ProducerID: pid, Epoch: o.epoch, LastSequence: -1, TxnStartOffset: o.first})
		}
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b ActiveProducer) int { return int(min(max(a.ProducerID-b.ProducerID, -1), 1)) })
	return out, nil
}
