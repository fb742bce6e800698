package core

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/message"
	"github.com/onexbus/onexbus/wal"
)

// The atomic publish path: messages to any partitions of any topics, and
// cursor moves, in one wal.AppendAtomic (one store transaction). Used by
// transactional handlers (txn.go), PublishCommit, and PublishBatch when a
// batch spans more than one write.

// atomicPart is the messages of one partition, in publish order.
type atomicPart struct {
	topic string
	part  int32
	kafka bool
	idx   []int // indices into the publish's messages
}

// kafkaSegment is one batch of a FormatKafka partition in an atomic op:
// seg are the indices (into the publish's messages) of its records.
type kafkaSegment struct {
	write int // index of its wal.AtomicWrite
	seg   []int
}

// publishAtomic stores msgs (prepared: partition set, defaults applied;
// fresh[i] says msgs[i]'s id was generated) and cursors in one store
// transaction, and sets each message's Partition, Offset and Duplicate.
// Nothing is stored when it returns an error, except an error wrapping
// wal.ErrCommit, after which the whole op stays queued and a later
// commit may store it (all of it).
func (b *Bus) publishAtomic(ctx context.Context, msgs []*Message, fresh []bool, cursors []wal.AtomicCursor) error {
	// Partitions in order of first appearance; a partition's messages
	// keep their order.
	var parts []atomicPart
	for i, m := range msgs {
		j := slices.IndexFunc(parts, func(p atomicPart) bool { return p.topic == m.Topic && p.part == m.Partition })
		if j < 0 {
			parts = append(parts, atomicPart{topic: m.Topic, part: m.Partition, kafka: b.topicFormat(m.Topic) == FormatKafka})
			j = len(parts) - 1
		}
		parts[j].idx = append(parts[j].idx, i)
	}
	var writes []wal.AtomicWrite
	var segments []*kafkaSegment
	firstCopy := make([]int, len(msgs)) // for a message whose id is repeated earlier in msgs, that index
	for i := range firstCopy {
		firstCopy[i] = -1
	}
	for _, p := range parts {
		bytesIn := 0
		if !p.kafka {
			recs := make([]wal.Record, len(p.idx))
			for n, i := range p.idx {
				m := msgs[i]
				payload := message.AppendRecord(nil, m, recordEnvelope(m))
				bytesIn += len(payload)
				recs[n] = wal.Record{Timestamp: m.Timestamp.UnixNano(), MessageID: m.Headers.MessageID,
					CorrelationID: m.Headers.CorrelationID, Payload: payload, FreshID: fresh[i]}
			}
			if err := b.admit(ctx, p.topic, len(p.idx), bytesIn); err != nil {
				return err
			}
			writes = append(writes, wal.AtomicWrite{Topic: p.topic, Part: p.part, Records: recs})
			continue
		}
		// Kafka keeps millisecond timestamps; ids repeated inside the op
		// are stored once (the log checks only against what it holds).
		var pending []int
		seen := map[uuid.UUID]int{}
		for _, i := range p.idx {
			m := msgs[i]
			m.Timestamp = m.Timestamp.Truncate(time.Millisecond)
			if !fresh[i] {
				if j, ok := seen[m.Headers.MessageID]; ok {
					firstCopy[i] = j
					continue
				}
				seen[m.Headers.MessageID] = i
			}
			pending = append(pending, i)
		}
		for rest := pending; len(rest) > 0; {
			n := kafkaSegmentLen(msgs, rest)
			seg := slices.Clone(rest[:n])
			rest = rest[n:]
			batch, ids, err := b.buildAtomicBatch(msgs, seg, fresh)
			if err != nil {
				return err
			}
			bytesIn += len(batch)
			s := &kafkaSegment{write: len(writes), seg: seg}
			segments = append(segments, s)
			writes = append(writes, wal.AtomicWrite{Topic: p.topic, Part: p.part, Batch: batch, IDs: ids,
				Rebuild: b.rebuildAtomicBatch(msgs, fresh, s)})
		}
		if err := b.admit(ctx, p.topic, len(p.idx), bytesIn); err != nil {
			return err
		}
	}
	if err := b.log.AppendAtomic(ctx, writes, cursors); err != nil {
		return b.wrapLogErr(err)
	}
	// Positions: frames records carry theirs; Kafka segments' records
	// follow their batch's base offset.
	for _, p := range parts {
		if p.kafka {
			continue
		}
		for wi := range writes {
			w := &writes[wi]
			if w.Batch != nil || w.Topic != p.topic || w.Part != p.part {
				continue
			}
			for n, i := range p.idx {
				r := &w.Records[n]
				msgs[i].Partition, msgs[i].Offset, msgs[i].Duplicate = r.Partition, r.Offset, r.Duplicate
			}
		}
	}
	for _, s := range segments {
		base := writes[s.write].BaseOffset
		part := writes[s.write].Part
		for n, i := range s.seg {
			msgs[i].Partition, msgs[i].Offset, msgs[i].Duplicate = part, base+int64(n), false
		}
	}
	for i, j := range firstCopy {
		if j >= 0 {
			msgs[i].Partition, msgs[i].Offset, msgs[i].Duplicate = msgs[j].Partition, msgs[j].Offset, true
		}
	}
	return nil
}

// buildAtomicBatch builds the batch of msgs[i], i in seg, into bytes of
// its own (an op holds several batches at once).
func (b *Bus) buildAtomicBatch(msgs []*Message, seg []int, fresh []bool) ([]byte, []wal.BatchID, error) {
	buf := encodePool.Get().(*encodeBuf)
	defer putEncodeBuf(buf)
	k := &buf.kafka
	var bits uint64
	all := make([]*Message, len(seg))
	idx := make([]int, len(seg))
	for n, i := range seg {
		all[n], idx[n] = msgs[i], n
		if n < 64 && fresh[i] { // later ones are looked up: correct, only slower
			bits |= 1 << n
		}
	}
	if err := buildKafkaBatch(k, all, idx, bits); err != nil {
		return nil, nil, err
	}
	return bytes.Clone(k.batch), slices.Clone(k.ids), nil
}

// rebuildAtomicBatch is the wal.AtomicWrite.Rebuild of segment s: it
// marks the messages the log found in its dedup window as duplicates (at
// their first copies' positions) and builds the batch without them.
func (b *Bus) rebuildAtomicBatch(msgs []*Message, fresh []bool, s *kafkaSegment) func([]wal.BatchDuplicate) ([]byte, []wal.BatchID, error) {
	return func(dups []wal.BatchDuplicate) ([]byte, []wal.BatchID, error) {
		for _, d := range dups {
			if d.Index < 0 || d.Index >= len(s.seg) {
				return nil, nil, fmt.Errorf("onexbus: atomic publish: duplicate at index %d of a batch of %d", d.Index, len(s.seg))
			}
			m := msgs[s.seg[d.Index]]
			m.Partition, m.Offset, m.Duplicate = d.Partition, d.Offset, true
			s.seg[d.Index] = -1
		}
		s.seg = slices.DeleteFunc(s.seg, func(i int) bool { return i < 0 })
		if len(s.seg) == 0 {
			return nil, nil, nil
		}
		return b.buildAtomicBatch(msgs, s.seg, fresh)
	}
}

// batchNeedsAtomic says whether a PublishBatch of msgs needs the atomic
// path: the plain one stores each partition's run with its own append,
// one Append being atomic on its own only for one FormatFrames partition
// (a FormatKafka run may take several batches, each its own append).
func (b *Bus) batchNeedsAtomic(msgs []*Message) bool {
	if len(msgs) < 2 {
		return false
	}
	first := msgs[0]
	if first == nil || b.topicFormat(first.Topic) == FormatKafka {
		return true
	}
	t, err := b.topic(first.Topic)
	if err != nil || t.partitions > 1 && !first.ExplicitPartition {
		return true // the partitions are not known before prepare
	}
	for _, m := range msgs[1:] {
		if m == nil || m.Topic != first.Topic || m.ExplicitPartition != first.ExplicitPartition ||
			m.ExplicitPartition && m.Partition != first.Partition {
			return true
		}
	}
	return false
}

// publishBatchAtomic is PublishBatch through the atomic path: every
// message prepared first, then one wal.AppendAtomic.
func (b *Bus) publishBatchAtomic(ctx context.Context, msgs []*Message) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := b.cfg.now()
	fresh := make([]bool, len(msgs))
	for i, m := range msgs {
		f, err := b.prepare(m, now)
		if err != nil {
			return err
		}
		fresh[i] = f
	}
	return b.publishAtomic(ctx, msgs, fresh, nil)
}
