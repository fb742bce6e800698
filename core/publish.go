package core

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/message"
	"github.com/onexbus/onexbus/wal"
)

// encodeBuf holds the encoding of one publish; pooled so that publishing
// does not allocate a buffer per message.
type encodeBuf struct {
	b     []byte
	recs  []wal.Record
	kafka kafkaBuf // FormatKafka topics (kafkarecord_publish.go)
}

var encodePool = sync.Pool{New: func() any { return &encodeBuf{b: make([]byte, 0, 1024)} }}

// Publish appends msg to its topic and returns its offset once it is
// durable by the bus's policy (by default: fsync'd). It fills in msg's
// Partition, Offset, Timestamp (when zero) and header defaults (see
// Headers). The topic is created with the default configuration on first
// use. A message_id already published within the dedup window is not
// stored again: Publish returns the first copy's offset. Once it returns
// the bus keeps no reference to msg or to the bytes of its Key and
// Value: the caller may reuse them for the next publish (reset msg
// first, or its message_id makes the next one a duplicate).
//
// It returns ErrClosed after Close, errors wrapping ErrInvalidTopic,
// ErrNotONEXTopic, ErrInvalidHeaders, ErrInvalidPartition or
// ErrMessageTooLarge for a bad message, or the context's error. A handler
// failing never fails Publish.
func (b *Bus) Publish(ctx context.Context, msg *Message) (int64, error) {
	msgs := [1]*Message{msg}
	var start time.Time
	if len(b.hooks.publish) > 0 {
		start = time.Now()
	}
	if len(b.hooks.pubCtx) > 0 {
		b.publishContext(ctx, msgs[:])
	}
	err := b.publish(ctx, msgs[:])
	b.observePublish(msgs[:], start, err)
	if err != nil {
		return 0, err
	}
	return msg.Offset, nil
}

// PublishBatch publishes msgs, all to the same topic or not, as Publish
// does, and returns once all are durable. Messages of one partition keep
// their order in the batch. The batch is all or nothing: every message is
// checked before any is stored, and all of them, whatever their topics
// and partitions, are stored by one store transaction, so a crash keeps
// all or none (see the package doc, Transactions). A store commit that
// fails is returned as is; the batch then stays queued whole and a later
// commit may store it all: publish it again with the same message ids
// (dedup keeps one copy) or call Sync.
func (b *Bus) PublishBatch(ctx context.Context, msgs []*Message) error {
	var start time.Time
	if len(b.hooks.publish) > 0 {
		start = time.Now()
	}
	if len(b.hooks.pubCtx) > 0 {
		b.publishContext(ctx, msgs)
	}
	var err error
	if b.batchNeedsAtomic(msgs) {
		err = b.publishBatchAtomic(ctx, msgs)
	} else {
		err = b.publish(ctx, msgs)
	}
	b.observePublish(msgs, start, err)
	return err
}

func (b *Bus) publish(ctx context.Context, msgs []*Message) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := b.cfg.now()
	// Fresh message ids (generated below) skip the dedup lookup; a batch
	// of up to 64 is tracked without allocating.
	var freshBits uint64
	var first *topicState
	for i, m := range msgs {
		t, fresh, err := b.prepareTopic(m, now)
		if err != nil {
			return err
		}
		if i == 0 {
			first = t
		}
		if i < 64 && fresh {
			freshBits |= 1 << i
		}
	}
	buf := encodePool.Get().(*encodeBuf)
	defer putEncodeBuf(buf)
	// Runs of consecutive messages for the same partition go to the log
	// in one append; a single message is the common case.
	for i := 0; i < len(msgs); {
		j := i + 1
		for j < len(msgs) && msgs[j].Topic == msgs[i].Topic && msgs[j].Partition == msgs[i].Partition {
			j++
		}
		var fresh uint64
		if i < 64 {
			fresh = freshBits >> i
		}
		// The first run's format is known from prepare: a single
		// message (the common case) looks its topic up once.
		var format Format
		if i == 0 {
			format = first.format
		} else {
			format = b.topicFormat(msgs[i].Topic)
		}
		if err := b.appendRun(ctx, buf, msgs[i:j], fresh, now, format); err != nil {
			return err
		}
		i = j
	}
	return nil
}

func (b *Bus) appendRun(ctx context.Context, buf *encodeBuf, run []*Message, fresh uint64, now time.Time, format Format) error {
	if format == FormatKafka {
		return b.appendKafkaRun(ctx, buf, run, fresh)
	}
	buf.b = buf.b[:0]
	buf.recs = buf.recs[:0]
	ends := [16]int{}
	var endsSlice []int
	if len(run) <= len(ends) {
		endsSlice = ends[:0]
	}
	for _, m := range run {
		buf.b = message.AppendRecord(buf.b, m, recordEnvelope(m))
		endsSlice = append(endsSlice, len(buf.b))
	}
	start := 0
	// The publish's one clock reading serves the log too.
	appendTime := now.UnixNano()
	for i, m := range run {
		buf.recs = append(buf.recs, wal.Record{
			Timestamp:     m.Timestamp.UnixNano(),
			MessageID:     m.Headers.MessageID,
			CorrelationID: m.Headers.CorrelationID,
			Payload:       buf.b[start:endsSlice[i]],
			FreshID:       i < 64 && fresh&(1<<i) != 0,
			AppendTime:    appendTime,
		})
		start = endsSlice[i]
	}
	first := run[0]
	if err := b.admit(ctx, first.Topic, len(run), len(buf.b)); err != nil {
		return err
	}
	if err := b.log.Append(ctx, first.Topic, first.Partition, buf.recs); err != nil {
		return fmt.Errorf("onexbus: publish to %s/%d: %w", first.Topic, first.Partition, b.wrapLogErr(err))
	}
	for i, m := range run {
		m.Partition = buf.recs[i].Partition
		m.Offset = buf.recs[i].Offset
		m.Duplicate = buf.recs[i].Duplicate
	}
	return nil
}

// prepare checks m and fills in what Publish sets: timestamp, header
// defaults, partition. It reports whether the message id was generated.
func (b *Bus) prepare(m *Message, now time.Time) (fresh bool, err error) {
	_, fresh, err = b.prepareTopic(m, now)
	return fresh, err
}

// prepareTopic is prepare that also returns the topic's state, which it
// looks up anyway.
func (b *Bus) prepareTopic(m *Message, now time.Time) (t *topicState, fresh bool, err error) {
	if m == nil {
		return nil, false, fmt.Errorf("%w: nil message", ErrInvalidHeaders)
	}
	fresh = m.Headers.MessageID == uuid.Nil
	t, err = b.topic(m.Topic)
	if err != nil {
		return nil, false, err
	}
	if m.Timestamp.IsZero() {
		m.Timestamp = now
	}
	if _, err := wal.UnixNano(m.Timestamp); err != nil {
		// The log keeps nanoseconds: a time it cannot hold would be stored
		// overflowed and found at the wrong place by time queries.
		return nil, false, fmt.Errorf("onexbus: publish to %s: %w: message timestamp: %w", m.Topic, ErrInvalidHeaders, err)
	}
	m.Headers.ApplyDefaults(m.Topic, b.cfg.source, m.Timestamp)
	if err := b.checkMessage(m); err != nil {
		return nil, false, fmt.Errorf("onexbus: publish to %s: %w", m.Topic, err)
	}
	if m.ExplicitPartition {
		if m.Partition < 0 || m.Partition >= t.partitions {
			return nil, false, fmt.Errorf("%w: %s/%d (topic has %d)", ErrInvalidPartition, m.Topic, m.Partition, t.partitions)
		}
	} else {
		m.Partition = t.partitionFor(m)
	}
	return t, fresh, nil
}

// PublishAsync appends msg as Publish does but returns once it is queued;
// done is called with msg once the message is durable by the bus's
// policy, with nil, or with the error that kept it from being stored
// (then, as with Publish, the message may still be stored by a later
// commit: publish it again with the same message_id to be sure; dedup
// keeps one copy). msg belongs to the bus until done is called, which
// sets its Partition and Offset first. Many messages in flight share
// group commits, which is how a few publishers reach the disk's
// throughput. done runs on the bus's commit goroutine (or before
// PublishAsync returns, when the policy does not wait for the disk, or
// on the goroutine of a Close or DeleteTopic that ends the message while
// it is queued, with ErrClosed or ErrUnknownTopic); it must not block or
// call the Bus. PublishAsync itself blocks only while
// too much is queued, and when it returns an error done is never called.
// A nil done is refused with ErrNilCallback; a done that panics is
// recovered (and logged), as a handler's panic is.
func (b *Bus) PublishAsync(ctx context.Context, msg *Message, done func(*Message, error)) error {
	if done == nil {
		return ErrNilCallback
	}
	if b.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(b.hooks.pubCtx) > 0 {
		b.publishContext(ctx, []*Message{msg})
	}
	now := b.cfg.now()
	t, fresh, err := b.prepareTopic(msg, now)
	if err != nil {
		return err
	}
	buf := encodePool.Get().(*encodeBuf)
	defer putEncodeBuf(buf)
	if t.format == FormatKafka {
		return b.publishKafkaAsync(ctx, buf, msg, fresh, done)
	}
	buf.b = message.AppendRecord(buf.b[:0], msg, recordEnvelope(msg))
	if err := b.admit(ctx, msg.Topic, 1, len(buf.b)); err != nil {
		return err
	}
	a := &asyncPublish{bus: b, msg: msg, done: done, part: msg.Partition}
	a.rec[0] = wal.Record{
		Timestamp:     msg.Timestamp.UnixNano(),
		MessageID:     msg.Headers.MessageID,
		CorrelationID: msg.Headers.CorrelationID,
		Payload:       buf.b,
		FreshID:       fresh,
		AppendTime:    now.UnixNano(),
	}
	if len(b.hooks.publish) > 0 {
		a.start = time.Now()
	}
	if err := b.log.AppendAsyncTo(ctx, msg.Topic, a.part, a.rec[:], a); err != nil {
		return fmt.Errorf("onexbus: publish to %s/%d: %w", msg.Topic, a.part, b.wrapLogErr(err))
	}
	return nil
}

// asyncPublish is one PublishAsync in flight: its record and what its
// callback needs, in the publish's one allocation. The log tells it
// (wal.Completion) once the record is durable, on the commit goroutine.
type asyncPublish struct {
	rec   [1]wal.Record // the log sets its position before AppendDone
	bus   *Bus
	msg   *Message
	done  func(*Message, error)
	part  int32     // the partition published to
	start time.Time // for the publish hooks; zero without them
}

// AppendDone reports the publish to its caller's done.
func (a *asyncPublish) AppendDone(err error) {
	msg, rec, b := a.msg, &a.rec[0], a.bus
	msg.Partition, msg.Offset, msg.Duplicate = rec.Partition, rec.Offset, rec.Duplicate
	if err != nil {
		err = fmt.Errorf("onexbus: publish to %s/%d: %w", msg.Topic, a.part, b.wrapLogErr(err))
	}
	if len(b.hooks.publish) > 0 {
		b.observePublish([]*Message{msg}, a.start, err)
	}
	b.callDone(a.done, msg, err)
}

// partitionFor picks the partition of m: Kafka's murmur2 of the key (or of
// the partition_key header), round-robin when there is neither.
func (t *topicState) partitionFor(m *Message) int32 {
	if t.partitions == 1 {
		return 0
	}
	if len(m.Key) > 0 {
		return KafkaPartition(m.Key, t.partitions)
	}
	if pk := m.Headers.PartitionKey; pk != "" {
		// The partitioner only reads the bytes: no copy is needed.
		return KafkaPartition(unsafe.Slice(unsafe.StringData(pk), len(pk)), t.partitions)
	}
	return int32(t.rr.Add(1) % uint32(t.partitions))
}
