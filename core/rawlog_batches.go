package core

import (
	"context"
	"fmt"

	"github.com/onexbus/onexbus/wal"
)

// BatchResult is what AppendBatch reports once a batch is durable; see
// wal.BatchResult.
type BatchResult = wal.BatchResult

// WatchPos is one partition a Watch waits on; see wal.WatchPos.
type WatchPos = wal.WatchPos

// AppendBatch appends one Kafka v2 record batch, already validated by the
// caller (kbatch.Validate), to a partition of a Kafka-format topic. done is
// called once, without locks, after the batch is durable by the bus's
// policy (fsync'd under the default sync policy); a retried idempotent
// batch is answered with its original offset (Duplicate). Errors returned
// here mean nothing was queued: ErrClosed, ErrUnknownTopic,
// ErrInvalidPartition, ErrMessageTooLarge (wrapped), or the log's batch
// and producer errors (wal.ErrInvalidBatch, wal.ErrOutOfOrderSequence,
// wal.ErrInvalidProducerEpoch, wal.ErrWrongFormat).
func (k *KafkaLog) AppendBatch(ctx context.Context, topic string, part int32, batch []byte, done func(BatchResult)) error {
	if k.b.closed.Load() {
		return ErrClosed
	}
	return k.b.wrapLogErr(k.b.log.AppendBatch(ctx, topic, part, batch, done))
}

// ReadBatches appends to dst whole stored batches of a partition from the
// one holding offset from, up to maxBytes but at least one batch when any
// is visible; it returns dst and the offset after the last batch. Only
// durable records are visible. See wal.Log.ReadBatches.
func (k *KafkaLog) ReadBatches(ctx context.Context, topic string, part int32, from int64, maxBytes int, dst []byte) ([]byte, int64, error) {
	if k.b.closed.Load() {
		return dst, from, ErrClosed
	}
	dst, next, err := k.b.log.ReadBatches(ctx, topic, part, from, maxBytes, dst)
	return dst, next, k.b.wrapLogErr(err)
}

// Watch calls fn once when any position's partition has visible records
// past its After, is deleted, or the bus closes; see wal.Log.Watch. fn
// must not block.
func (k *KafkaLog) Watch(positions []WatchPos, fn func()) (cancel func(), err error) {
	if k.b.closed.Load() {
		return nil, ErrClosed
	}
	cancel, err = k.b.log.Watch(positions, fn)
	return cancel, k.b.wrapLogErr(err)
}

// OffsetForTime returns the first offset whose record timestamp is at or
// after ts (Unix milliseconds, as Kafka's ListOffsets), or the end offset
// when there is none.
func (k *KafkaLog) OffsetForTime(ctx context.Context, topic string, part int32, tsMillis int64) (int64, error) {
	if k.b.closed.Load() {
		return 0, ErrClosed
	}
	const maxMillis int64 = (1<<63 - 1) / 1_000_000
	if tsMillis > maxMillis {
		_, end, err := k.Offsets(topic, part)
		return end, err
	}
	off, err := k.b.log.OffsetForTime(ctx, topic, part, max(tsMillis, -maxMillis)*1e6)
	return off, k.b.wrapLogErr(err)
}

// MaxTimestamp returns the largest record timestamp of a partition (Unix
// milliseconds) and the first offset carrying it; -1, -1 when empty.
func (k *KafkaLog) MaxTimestamp(ctx context.Context, topic string, part int32) (tsMillis, off int64, err error) {
	if k.b.closed.Load() {
		return 0, 0, ErrClosed
	}
	ts, off, err := k.b.log.MaxTimestamp(ctx, topic, part)
	if err != nil || off < 0 {
		return -1, -1, k.b.wrapLogErr(err)
	}
	return ts / 1e6, off, nil
}

// DeleteRecords moves a partition's start offset to before (Kafka's
// DeleteRecords; -1 means the end) and returns the new start.
func (k *KafkaLog) DeleteRecords(ctx context.Context, topic string, part int32, before int64) (int64, error) {
	if k.b.closed.Load() {
		return 0, ErrClosed
	}
	if before == -1 {
		_, end, err := k.Offsets(topic, part)
		if err != nil {
			return 0, err
		}
		before = end
	}
	start, err := k.b.log.DeleteRecords(ctx, topic, part, before)
	return start, k.b.wrapLogErr(err)
}

// DeleteTopic deletes a topic, its records, its group positions and its
// Kafka settings.
func (k *KafkaLog) DeleteTopic(ctx context.Context, name string) error {
	if k.b.closed.Load() {
		return ErrClosed
	}
	if err := k.b.log.DeleteTopic(ctx, name); err != nil {
		return fmt.Errorf("onexbus: delete topic %s: %w", name, k.b.wrapLogErr(err))
	}
	k.b.deleteTopic(name)
	return k.SetTopicSettings(name, nil)
}

// CreatePartitions grows a topic to total partitions.
func (k *KafkaLog) CreatePartitions(ctx context.Context, name string, total int32) error {
	if k.b.closed.Load() {
		return ErrClosed
	}
	k.b.mu.Lock()
	defer k.b.mu.Unlock()
	if err := k.b.log.CreatePartitions(ctx, name, total); err != nil {
		return fmt.Errorf("onexbus: create partitions of %s: %w", name, k.b.wrapLogErr(err))
	}
	// Let the topic's state and live groups see the new partitions.
	cur, _ := k.b.log.Topic(name)
	if _, err := k.b.createTopicLocked(name, cur); err != nil {
		return err
	}
	return nil
}

// SetRetention sets a topic's retention.
func (k *KafkaLog) SetRetention(ctx context.Context, name string, r Retention) error {
	if k.b.closed.Load() {
		return ErrClosed
	}
	return k.b.wrapLogErr(k.b.log.SetRetention(ctx, name, r))
}
