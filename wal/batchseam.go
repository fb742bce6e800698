package wal

import (
	"context"
	"fmt"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/store"
)

// admitBatchLocked is the idempotent-producer seam of AppendBatch
// (walstate owns its body; walfmt keeps the call stable). It runs under
// p.mu, before the batch gets offsets: base is the offset the batch will
// get if admitted. It returns:
//   - duplicate true and original, the first copy's base offset, for a
//     retry of a batch in the producer's window (the batch is not stored;
//     AppendBatch answers once the original is durable);
//   - an error (ErrOutOfOrderSequence, ErrInvalidProducerEpoch) to refuse
//     the batch: nothing is queued and done is never called;
//   - otherwise base and false: the batch is appended at base.
//
// The window (producer.go) advances here; the commit that stores the
// batch writes it in the same transaction.
func (l *Log) admitBatchLocked(p *partition, h *kbatch.Header, base int64) (original int64, duplicate bool, err error) {
	return l.admitProducerLocked(p, h, base)
}

// forgetTopicState is DeleteTopic's seam into the group state (walstate
// owns its body): the deleted topic's producer windows and append-time
// marks go from the store, and its cursors, failure histories and
// in-flight marks go durably, so that a topic created again under the
// name starts clean.
func (l *Log) forgetTopicState(ctx context.Context, name string) error {
	err := l.st.Update(func(tx store.Tx) error {
		if err := deleteProducers(tx, name); err != nil {
			return err
		}
		return deleteAppendTimes(tx, name)
	})
	if err != nil {
		return fmt.Errorf("wal: forget producers and append times of %s: %w", name, err)
	}
	for _, g := range l.Groups(name) {
		if err := l.deleteState(ctx, g, func(k cursorKey) bool { return k.topic == name }, false); err != nil {
			return err
		}
	}
	return nil
}
