package core

import "context"

// AllocateProducerID returns a producer id never handed out before by
// this log, across restarts (Kafka's InitProducerId for an idempotent
// producer). See wal.Log.AllocateProducerID.
func (k *KafkaLog) AllocateProducerID(ctx context.Context) (int64, error) {
	if k.b.closed.Load() {
		return 0, ErrClosed
	}
	id, err := k.b.log.AllocateProducerID(ctx)
	return id, k.b.wrapLogErr(err)
}
