package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/message"
	"github.com/onexbus/onexbus/wal"
)

// ReadMessages is Fetch for a reader that copies each message elsewhere
// at once (the Kafka forwarder copies it into a record batch): it calls fn
// for up to max messages of a partition from offset from, in order,
// without allocating a Message per message or copying its bytes twice.
//
// m is one Message that ReadMessages reuses for every call, and its Key
// and Value alias the log's own storage: both are valid only until fn
// returns, and fn must not modify them or keep m; a reader that keeps
// them copies them. Topic, Partition, Offset, Timestamp and Headers are
// as Fetch gives them. Kafka control records and records of aborted
// transactions are skipped, as Fetch skips them.
//
// A from below the retained start begins at the start; max 0 reads none
// and a negative max is ErrInvalidLimit. An unknown topic reads none. An
// error of fn stops the read and is returned as is; a read error of the
// log is wrapped like Fetch's. It returns how many messages fn was called
// with.
func (b *Bus) ReadMessages(ctx context.Context, topic string, part int32, from int64, max int, fn func(m *Message) error) (int, error) {
	if max < 0 {
		return 0, fmt.Errorf("%w: %d", ErrInvalidLimit, max)
	}
	if b.closed.Load() {
		return 0, ErrClosed
	}
	var m Message
	var fnErr error
	n := 0
	_, err := b.log.Read(ctx, topic, part, from, max, func(e *wal.Entry) error {
		ok, err := b.decodeEntryView(topic, part, e, &m)
		if err != nil || !ok {
			return err
		}
		n++
		if err := fn(&m); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	switch {
	case fnErr != nil && errors.Is(err, fnErr):
		return n, fnErr
	case errors.Is(err, wal.ErrUnknownTopic):
		return n, nil
	case err != nil:
		return n, fmt.Errorf("onexbus: read %s/%d: %w", topic, part, b.wrapLogErr(err))
	}
	return n, nil
}

// decodeEntryView is decodeEntryInto with m's Key and Value aliasing
// e.Payload: false, nil for a Kafka control record or an aborted one.
func (b *Bus) decodeEntryView(topic string, part int32, e *wal.Entry, m *Message) (bool, error) {
	if !e.Kafka {
		// The log vouched for the frame, and the frame holds what the
		// body leaves out, as in decodeEntryInto.
		env := message.Envelope{Topic: topic, Timestamp: e.Timestamp, MessageID: e.MessageID, CorrelationID: e.CorrelationID}
		if err := message.DecodeRecordView(e.Payload, env, b.cfg.source, m); err != nil {
			return false, fmt.Errorf("%s/%d at offset %d: %w", topic, part, e.Offset, err)
		}
		m.Topic, m.Partition, m.Offset = topic, part, e.Offset
		m.ExplicitPartition, m.Duplicate = false, false
		return true, nil
	}
	if e.Batch.Control() || e.Aborted {
		return false, nil
	}
	var rec kbatch.Record
	if _, err := kbatch.ReadRecordRaw(e.Payload, &rec); err != nil {
		return false, kafkaRecordError(topic, part, e.Offset, err)
	}
	decodeKafkaRecord(topic, b.topicID(topic), part, e.Offset, &e.Batch, &rec, m, b.cfg.logger, true)
	return true, nil
}
