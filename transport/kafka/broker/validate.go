package broker

import (
	"errors"
	"fmt"

	"github.com/onexbus/onexbus/internal/kbatch"
)

// RecordValidator checks the records a client produces against schemas;
// dispatch/schema's registry is one (through a small adapter). Both
// methods are called concurrently from the connections' goroutines.
type RecordValidator interface {
	// ValidatesTopic reports whether topic's records are checked at all;
	// it is called for every produced batch and must be cheap.
	ValidatesTopic(topic string) bool
	// ValidateRecord checks one record: its event_type header (or ""),
	// key and value (nil for null). An error refuses the whole batch.
	// key and value alias the request's buffer, which is reused once
	// the produce is handled: copy what is kept after the call.
	ValidateRecord(topic, eventType string, key, value []byte) error
}

// WithRecordValidator checks produced records with v (default none): a
// batch with a record v refuses is answered INVALID_RECORD with v's
// reason, and nothing of it is stored.
func WithRecordValidator(v RecordValidator) Option { return func(c *config) { c.validator = v } }

// errRecordRefused stops the walk at the first refused record.
var errRecordRefused = errors.New("record refused")

// validateRecords runs the validator over the batch's records; nil when
// there is no validator or the topic is not checked.
func (s *Server) validateRecords(c *conn, topic string, h kbatch.Header, batch []byte) error {
	v := s.cfg.validator
	if v == nil || !v.ValidatesTopic(topic) {
		return nil
	}
	records := batch[kbatch.HeaderSize:h.Len()]
	if h.Codec() != kbatch.CodecNone {
		var err error
		if records, err = kbatch.Decompress(h, batch, c.scratch[:0]); err != nil {
			return fmt.Errorf("records not readable: %w", err)
		}
		c.scratch = records[:0] // the connection's executor runs one request at a time
	}
	var why error
	err := kbatch.ForEachRecord(h, records, func(r *kbatch.Record) error {
		eventType := ""
		for _, hd := range r.Headers {
			if string(hd.Key) == "event_type" {
				eventType = string(hd.Value)
			}
		}
		if err := v.ValidateRecord(topic, eventType, r.Key, r.Value); err != nil {
			why = fmt.Errorf("record at offset delta %d: %w", r.OffsetDelta, err)
			return errRecordRefused
		}
		return nil
	})
	if why != nil {
		return why
	}
	return err
}
