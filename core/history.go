package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/wal"
)

type historyQuery struct {
	onePartition   bool // InPartition was given
	partition      int32
	from, to       int64 // offsets, [from, to); to < 0: unbounded
	since, until   time.Time
	correlationID  uuid.UUID
	hasCorrelation bool
}

// HistoryOption narrows a History query.
type HistoryOption func(*historyQuery)

// InPartition limits the query to partition p (default: all). A p
// outside the topic, negative included, makes History fail with an error
// wrapping ErrInvalidPartition.
func InPartition(p int32) HistoryOption {
	return func(q *historyQuery) { q.onePartition, q.partition = true, p }
}

// OffsetRange limits the query to offsets in [from, to); to < 0 means no
// upper bound. Offsets are per partition: combine with InPartition for
// topics with several.
func OffsetRange(from, to int64) HistoryOption {
	return func(q *historyQuery) { q.from, q.to = from, to }
}

// TimeRange limits the query to messages whose Timestamp is in
// [since, until); a zero time leaves that side open.
func TimeRange(since, until time.Time) HistoryOption {
	return func(q *historyQuery) { q.since, q.until = since, until }
}

// WithCorrelationID limits the query to messages with that correlation_id.
func WithCorrelationID(id uuid.UUID) HistoryOption {
	return func(q *historyQuery) { q.correlationID, q.hasCorrelation = id, true }
}

// History returns the newest limit messages of topic that match opts,
// oldest first (by timestamp across partitions, by offset within one).
// limit 0 returns none; a negative limit is an error wrapping
// ErrInvalidLimit. A name that breaks Kafka's topic rules is an error
// wrapping ErrInvalidTopic; an unknown (valid) topic has no history.
// Retention decides how far back history goes.
func (b *Bus) History(ctx context.Context, topic string, limit int, opts ...HistoryOption) ([]*Message, error) {
	if limit < 0 {
		return nil, fmt.Errorf("%w: %d (0 returns none; there is no 'all')", ErrInvalidLimit, limit)
	}
	if b.closed.Load() {
		return nil, ErrClosed
	}
	if err := ValidateTopic(topic); err != nil {
		return nil, err
	}
	q := historyQuery{to: -1}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil HistoryOption", ErrInvalidConfig)
		}
		o(&q)
	}
	if q.onePartition && q.partition < 0 {
		return nil, fmt.Errorf("%w: %s/%d", ErrInvalidPartition, topic, q.partition)
	}
	if limit == 0 {
		return []*Message{}, nil
	}
	tc, ok := b.log.Topic(topic)
	if !ok {
		return []*Message{}, nil
	}
	parts := []int32{}
	if q.onePartition {
		if q.partition >= tc.Partitions {
			return nil, fmt.Errorf("%w: %s/%d (topic has %d)", ErrInvalidPartition, topic, q.partition, tc.Partitions)
		}
		parts = append(parts, q.partition)
	} else {
		for p := range tc.Partitions {
			parts = append(parts, p)
		}
	}
	var out []*Message
	for _, p := range parts {
		msgs, err := b.partitionHistory(ctx, topic, p, limit, &q)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	if len(parts) > 1 {
		slices.SortStableFunc(out, func(a, c *Message) int {
			if r := a.Timestamp.Compare(c.Timestamp); r != 0 {
				return r
			}
			if a.Partition != c.Partition {
				return int(a.Partition - c.Partition)
			}
			return int(a.Offset - c.Offset)
		})
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// partitionHistory returns the newest limit matches of one partition.
func (b *Bus) partitionHistory(ctx context.Context, topic string, part int32, limit int, q *historyQuery) ([]*Message, error) {
	start, end, err := b.log.Offsets(topic, part)
	if err != nil {
		return nil, b.wrapLogErr(err)
	}
	lo, hi := max(start, q.from), end
	if q.to >= 0 {
		hi = min(hi, q.to)
	}
	timed := !q.since.IsZero() || !q.until.IsZero()
	since, until := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.since.IsZero() {
		since = saturatedNanos(q.since)
		// Nothing before the first record at or after since matches. No
		// such bound holds for until: timestamps need not follow offsets.
		off, err := b.log.OffsetForTime(ctx, topic, part, since)
		if err != nil {
			return nil, b.wrapLogErr(err)
		}
		lo = max(lo, off)
	}
	if !q.until.IsZero() {
		until = saturatedNanos(q.until)
	}
	if lo >= hi {
		return nil, nil
	}
	var out []*Message
	keep := func(e *wal.Entry) error {
		if e.Offset < lo || e.Offset >= hi {
			return nil
		}
		m, err := b.decodeEntry(topic, part, e)
		if err != nil {
			return err
		}
		if m == nil {
			return nil // a Kafka control record
		}
		if q.hasCorrelation && m.Headers.CorrelationID != q.correlationID {
			return nil // a Kafka topic's records, read in full below
		}
		if (!q.since.IsZero() && m.Timestamp.Before(q.since)) || (!q.until.IsZero() && !m.Timestamp.Before(q.until)) {
			return nil
		}
		out = append(out, m)
		if len(out) > limit {
			out = out[1:]
		}
		return nil
	}
	switch {
	case q.hasCorrelation && b.topicFormat(topic) == FormatKafka:
		// Kafka records carry the correlation id as a header the log does
		// not index: read the range and match decoded messages.
		_, err = b.log.Read(ctx, topic, part, lo, int(hi-lo), keep)
	case q.hasCorrelation:
		err = b.log.ReadCorrelation(ctx, topic, part, q.correlationID, keep)
	case timed:
		// Every record in the range, skipping chunks by their time range.
		err = b.log.ReadTime(ctx, topic, part, since, until, keep)
	default:
		from := max(lo, hi-int64(limit))
		_, err = b.log.Read(ctx, topic, part, from, int(hi-from), keep)
	}
	if err != nil {
		return nil, fmt.Errorf("onexbus: history of %s/%d: %w", topic, part, b.wrapLogErr(err))
	}
	return out, nil
}

// saturatedNanos is t in Unix nanoseconds, clamped to the int64 range
// (UnixNano is undefined outside years 1678-2262).
func saturatedNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// Fetch returns up to max messages of a partition from offset from, in
// order, like a Kafka fetch. A from below the retained start begins at the
// start; max 0 returns none and a negative max is ErrInvalidLimit.
func (b *Bus) Fetch(ctx context.Context, topic string, part int32, from int64, max int) ([]*Message, error) {
	if max < 0 {
		return nil, fmt.Errorf("%w: %d", ErrInvalidLimit, max)
	}
	if b.closed.Load() {
		return nil, ErrClosed
	}
	out := []*Message{}
	_, err := b.log.Read(ctx, topic, part, from, max, func(e *wal.Entry) error {
		m, err := b.decodeEntry(topic, part, e)
		if err != nil {
			return err
		}
		if m != nil { // nil: a Kafka control record
			out = append(out, m)
		}
		return nil
	})
	if errors.Is(err, wal.ErrUnknownTopic) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("onexbus: fetch %s/%d: %w", topic, part, b.wrapLogErr(err))
	}
	return out, nil
}
