package wal

import (
	"context"

	"github.com/onexbus/onexbus/internal/kbatch"
)

// admitBatchLocked is the idempotent-producer seam of AppendBatch
// (walstate owns its body; walfmt keeps the call stable). It runs under
// p.mu, before the batch gets offsets: base is the offset the batch will
// get if admitted. It returns:
//   - duplicate true and original, the first copy's base offset, for a
//     retry of a batch in the producer's window (the batch is not stored;
//     AppendBatch answers once the original is durable);
//   - an error (ErrOutOfOrderSequence, ErrInvalidProducerEpoch, ...) to
//     refuse the batch: nothing is queued and done is never called;
//   - otherwise base and false: the batch is appended at base.
//
// Producer state it records must be written by the commit that stores
// the batch (a hook in commit, walstate's), so that after a crash stored
// batches and producer windows agree. Batches with h.ProducerID < 0 carry
// no sequence. Until walstate lands its window, every batch is admitted.
func (l *Log) admitBatchLocked(p *partition, h *kbatch.Header, base int64) (original int64, duplicate bool, err error) {
	_, _ = p, h
	return base, false, nil
}

// forgetTopicState is DeleteTopic's seam into the group state (walstate
// owns its body): the deleted topic's cursors, failure histories and
// in-flight marks go, durably, so that a topic created again under the
// name starts clean. (The append-time marks of dedup.go are keyed by
// partition too: walstate, drop them here as well.)
func (l *Log) forgetTopicState(ctx context.Context, name string) error {
	for _, g := range l.Groups(name) {
		if err := l.deleteState(ctx, g, func(k cursorKey) bool { return k.topic == name }, false); err != nil {
			return err
		}
	}
	return nil
}
