package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/onexbus/onexbus/dlq"
)

// rejected reports whether Kafka (or kgo, before sending) refused a record
// for what it is, so that producing it again cannot succeed until someone
// changes the record or the topic's configuration: too large, invalid, or
// a timestamp outside the topic's accepted range (an old backlog).
func rejected(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.InvalidTimestamp)
}

// rejection counts how many times in a row the record at off was rejected
// on its own.
type rejection struct {
	off         int64
	count       int
	first, last time.Time
}

// failed records one more rejection of the record at off and returns the
// count.
func (r *rejection) failed(off int64) int {
	now := time.Now()
	if r.count == 0 || r.off != off {
		*r = rejection{off: off, first: now}
	}
	r.count++
	r.last = now
	return r.count
}

// deadLetter stores the message at off of partition k, which Kafka
// rejected r.count times with cause, in the bus's dead-letter queue under
// the forwarder's group, with its place in the local log. It returns once
// the letter is durable.
func (f *Forwarder) deadLetter(k tpKey, off int64, r rejection, cause error) error {
	// The batch held the record, not the message: read it again.
	msgs, err := f.bus.Fetch(f.ctx, k.topic, k.part, off, 1)
	switch {
	case err != nil:
		return fmt.Errorf("kafka: dead-letter %s/%d@%d: read it: %w", k.topic, k.part, off, err)
	case len(msgs) != 1 || msgs[0].Offset != off:
		return fmt.Errorf("kafka: dead-letter %s/%d@%d: %w", k.topic, k.part, off, errGoneFromLog)
	}
	m := msgs[0]
	hdrs := m.Headers.AppendRecordHeaders(nil)
	l := &dlq.Letter{
		Topic: k.topic, Partition: k.part, Offset: m.Offset,
		Key: m.Key, Value: m.Value,
		Headers:      make([]dlq.Header, len(hdrs)),
		Group:        f.fc.group,
		Attempts:     r.count,
		Error:        "kafka rejected the record: " + cause.Error(),
		FirstFailure: r.first, LastFailure: r.last,
	}
	for i, h := range hdrs {
		l.Headers[i] = dlq.Header{Key: h.Key, Value: string(h.Value)}
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.v.Timeout)
	defer cancel()
	if _, err := f.bus.DeadLetters().Add(ctx, l); err != nil {
		return fmt.Errorf("kafka: dead-letter %s/%d@%d: %w", k.topic, k.part, m.Offset, err)
	}
	f.log.Warn("Kafka rejects a record: dead-lettered, forwarding continues after it",
		"topic", k.topic, "partition", k.part, "offset", m.Offset, "letter", l.ID, "error", cause)
	return nil
}
