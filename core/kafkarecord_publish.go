package core

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/wal"
)

// Publishing to a FormatKafka topic: each run of messages for one
// partition becomes one uncompressed v2 batch (producer id -1) built once,
// with message_id dedup applied by the log to the whole batch
// (wal.AppendOwnBatch) before anything is stored.

// kafkaBuf is the part of a pooled encodeBuf the Kafka path uses.
type kafkaBuf struct {
	builder kbatch.Builder
	batch   []byte
	ids     []wal.BatchID
	pending []int // indices into the run to store
	seg     []int // the part of pending in the batch being built
	done    chan wal.BatchResult
	onDone  func(wal.BatchResult) // sends to done; made once per buffer
	// abandoned marks a buffer whose done channel may still receive (its
	// publisher stopped waiting): it is not pooled again.
	abandoned bool
}

// putEncodeBuf returns buf to the pool unless a result may still arrive on it.
func putEncodeBuf(buf *encodeBuf) {
	if buf.kafka.abandoned {
		return
	}
	encodePool.Put(buf)
}

// buildKafkaBatch builds the batch of the messages run[i] for i in idx,
// with their ids; fresh has bit i set for a generated message id.
func buildKafkaBatch(k *kafkaBuf, run []*Message, idx []int, fresh uint64) error {
	k.builder.Reset(kbatch.CodecNone)
	k.ids = k.ids[:0]
	for _, i := range idx {
		m := run[i]
		appendKafkaRecord(&k.builder, m)
		if err := k.builder.EndRecord(); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMessageTooLarge, m.Topic, err)
		}
		k.ids = append(k.ids, wal.BatchID{MessageID: m.Headers.MessageID, Fresh: i < 64 && fresh&(1<<i) != 0})
	}
	var err error
	if k.batch, err = k.builder.Finish(k.batch[:0]); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMessageTooLarge, run[0].Topic, err)
	}
	return nil
}

// appendKafkaRun stores run (one topic and partition) as batches of about
// kafkaBatchBytes and waits until they are durable by the bus's policy. Messages whose message_id
// the topic already holds within the dedup window, earlier in the run
// included, are not stored: they get the first copy's position and
// Duplicate.
func (b *Bus) appendKafkaRun(ctx context.Context, buf *encodeBuf, run []*Message, fresh uint64) error {
	k := &buf.kafka
	topic, part := run[0].Topic, run[0].Partition
	k.pending = k.pending[:0]
	// firstCopy[i] is the earlier index in run with the same id, or -1.
	var small [16]int
	firstCopy := small[:0]
	// Small runs compare ids pairwise; large ones (PublishBatch) use a map.
	var seen map[uuid.UUID]int
	if len(run) > 32 {
		seen = make(map[uuid.UUID]int, len(run))
	}
	for i, m := range run {
		// Kafka keeps millisecond timestamps: the publisher's copy says
		// what every reader will see.
		m.Timestamp = m.Timestamp.Truncate(time.Millisecond)
		j := -1
		switch {
		case i < 64 && fresh&(1<<i) != 0:
			// A generated id: no earlier message carries it.
		case seen != nil:
			if p, ok := seen[m.Headers.MessageID]; ok {
				j = p
			} else {
				seen[m.Headers.MessageID] = i
			}
		default:
			for _, p := range k.pending {
				if run[p].Headers.MessageID == m.Headers.MessageID {
					j = p
					break
				}
			}
		}
		firstCopy = append(firstCopy, j)
		if j < 0 {
			k.pending = append(k.pending, i)
		}
	}
	for rest := k.pending; len(rest) > 0; {
		n := kafkaSegmentLen(run, rest)
		k.seg = append(k.seg[:0], rest[:n]...)
		rest = rest[n:]
		if err := b.storeKafkaSegment(ctx, k, run, fresh, topic, part); err != nil {
			return err
		}
	}
	for i, j := range firstCopy {
		if j >= 0 {
			run[i].Partition, run[i].Offset, run[i].Duplicate = run[j].Partition, run[j].Offset, true
		}
	}
	return nil
}

// kafkaBatchBytes is about the most record bytes the bus puts in one
// batch: a large PublishBatch becomes several batches, each well under the
// log's maximum record size (1 MiB by default).
const kafkaBatchBytes = 256 << 10

// kafkaSegmentLen returns how many of the messages run[i], i in idx, go
// into the next batch: at least one, and as many as fit kafkaBatchBytes by
// an estimate of their encoded size (key, value and about 512 bytes of
// headers and framing).
func kafkaSegmentLen(run []*Message, idx []int) int {
	size := 0
	for n, i := range idx {
		size += len(run[i].Key) + len(run[i].Value) + 512
		if size > kafkaBatchBytes && n > 0 {
			return n
		}
	}
	return len(idx)
}

// storeKafkaSegment stores the messages run[i], i in k.seg, as one batch
// and waits until it is durable: duplicates found by the log are marked
// (first copy's position, Duplicate) and the batch is built again without
// them.
func (b *Bus) storeKafkaSegment(ctx context.Context, k *kafkaBuf, run []*Message, fresh uint64, topic string, part int32) error {
	admitted := false
	for len(k.seg) > 0 {
		if err := buildKafkaBatch(k, run, k.seg, fresh); err != nil {
			return err
		}
		if !admitted {
			if err := b.admit(ctx, topic, len(k.seg), len(k.batch)); err != nil {
				return err
			}
			admitted = true
		}
		if k.done == nil {
			ch := make(chan wal.BatchResult, 1)
			k.done, k.onDone = ch, func(r wal.BatchResult) { ch <- r }
		}
		dups, err := b.log.AppendOwnBatch(ctx, topic, part, k.batch, k.ids, k.onDone)
		if err != nil {
			return fmt.Errorf("onexbus: publish to %s/%d: %w", topic, part, b.wrapLogErr(err))
		}
		if dups != nil {
			// Nothing was stored: drop the duplicates and build again.
			for _, d := range dups {
				m := run[k.seg[d.Index]]
				m.Partition, m.Offset, m.Duplicate = d.Partition, d.Offset, true
				k.seg[d.Index] = -1
			}
			kept := k.seg[:0]
			for _, i := range k.seg {
				if i >= 0 {
					kept = append(kept, i)
				}
			}
			k.seg = kept
			continue
		}
		var r wal.BatchResult
		select {
		case r = <-k.done:
		case <-ctx.Done():
			k.abandoned = true // the result still arrives on k.done
			return ctx.Err()
		}
		if r.Err != nil {
			return fmt.Errorf("onexbus: publish to %s/%d: %w", topic, part, b.wrapLogErr(r.Err))
		}
		for n, i := range k.seg {
			run[i].Partition, run[i].Offset, run[i].Duplicate = part, r.BaseOffset+int64(n), false
		}
		return nil
	}
	return nil
}

// publishKafkaAsync is PublishAsync for a FormatKafka topic: one batch of
// msg, done called once it is durable (or at once for a duplicate).
func (b *Bus) publishKafkaAsync(ctx context.Context, buf *encodeBuf, msg *Message, fresh bool, done func(*Message, error)) error {
	k := &buf.kafka
	msg.Timestamp = msg.Timestamp.Truncate(time.Millisecond)
	run := [1]*Message{msg}
	idx := [1]int{0}
	var bits uint64
	if fresh {
		bits = 1
	}
	if err := buildKafkaBatch(k, run[:], idx[:], bits); err != nil {
		return err
	}
	topic, part := msg.Topic, msg.Partition
	if err := b.admit(ctx, topic, 1, len(k.batch)); err != nil {
		return err
	}
	dups, err := b.log.AppendOwnBatch(ctx, topic, part, k.batch, k.ids, func(r wal.BatchResult) {
		msg.Partition, msg.Offset = part, r.BaseOffset
		err := r.Err
		if err != nil {
			err = fmt.Errorf("onexbus: publish to %s/%d: %w", topic, part, b.wrapLogErr(err))
		}
		done(msg, err)
	})
	if err != nil {
		return fmt.Errorf("onexbus: publish to %s/%d: %w", topic, part, b.wrapLogErr(err))
	}
	if dups != nil {
		msg.Partition, msg.Offset, msg.Duplicate = dups[0].Partition, dups[0].Offset, true
		done(msg, nil)
	}
	return nil
}
