package schema

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/store"
)

// Mode is how a topic's publishes are validated.
type Mode string

// The modes.
const (
	// ModeOff validates nothing (the default).
	ModeOff Mode = "off"
	// ModeWarn validates and logs (and counts) what fails, storing it anyway.
	ModeWarn Mode = "warn"
	// ModeReject refuses a message that fails, or that has no schema.
	ModeReject Mode = "reject"
)

func parseMode(m string) (Mode, error) {
	switch v := Mode(m); v {
	case "":
		return ModeOff, nil
	case ModeOff, ModeWarn, ModeReject:
		return v, nil
	}
	return "", fmt.Errorf("%w: %q (off, warn or reject)", ErrInvalidMode, m)
}

// Stats counts validations since Open.
type Stats struct {
	Validated int64 // messages checked (warn and reject modes)
	Warned    int64 // failures stored anyway (warn mode)
	Rejected  int64 // failures refused (reject mode)
}

type counters struct{ validated, warned, rejected atomic.Int64 }

// Stats returns the validation counters.
func (r *Registry) Stats() Stats {
	return Stats{Validated: r.stats.validated.Load(), Warned: r.stats.warned.Load(), Rejected: r.stats.rejected.Load()}
}

// SetValidation sets topic's validation mode, durably (ModeOff too, so
// a topic can be off under a WithDefaultMode of warn or reject). It
// returns ErrInvalidMode for an unknown mode.
func (r *Registry) SetValidation(ctx context.Context, topic string, mode Mode) error {
	if err := r.begin(); err != nil {
		return err
	}
	m, err := parseMode(string(mode))
	if err != nil {
		return err
	}
	if err := core.ValidateTopic(topic); err != nil {
		return fmt.Errorf("schema: set validation: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	key := []byte(prefixTopic + topic)
	err = r.bus.ExtUpdate(extName, func(b store.Bucket) error { return putJSON(b, key, topicRec{Mode: m}) })
	if err != nil {
		return r.wrapBusErr("set validation of "+topic, err)
	}
	r.mu.Lock()
	r.topics[topic] = m
	r.mu.Unlock()
	r.recountStrict()
	return nil
}

// Validation returns the mode that applies to topic.
func (r *Registry) Validation(topic string) Mode {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.modeLocked(topic)
}

func (r *Registry) modeLocked(topic string) Mode {
	if m, ok := r.topics[topic]; ok {
		return m
	}
	if r.defaultMode == "" {
		return ModeOff
	}
	return r.defaultMode
}

func (r *Registry) recountStrict() {
	r.mu.RLock()
	var n int32
	for _, m := range r.topics {
		if m != ModeOff {
			n++
		}
	}
	if r.defaultMode != "" && r.defaultMode != ModeOff {
		n++
	}
	r.mu.RUnlock()
	r.strict.Store(n)
}

// ValidatePublish is the bus's publish validator (core.PublishValidator):
// it validates m by its topic's mode. The message's value is checked
// against subject <topic>-value, or when that subject has no live
// version, against the subject named by its type (the event_type
// header); its key against <topic>-key when that subject exists.
func (r *Registry) ValidatePublish(m *core.Message) error {
	return r.ValidateRecord(m.Topic, m.Headers.EventType, m.Key, m.Value)
}

// ValidateRecord validates one record of topic by the topic's mode, as
// ValidatePublish does for a Bus publish: the seam for the Kafka
// listener, which calls it for each record of a produced batch
// (eventType from its event_type header, "" when absent) and answers an
// error with INVALID_RECORD. In ModeOff (and for topics without a mode,
// and after Close) it returns nil at once; in ModeWarn it logs and counts a failure and
// returns nil; in ModeReject it returns the failure: errors wrapping
// ErrInvalidPayload, ErrNoSchema, ErrUnknownSchemaID or
// ErrSchemaNotInSubject.
//
// A value in the Confluent wire format (magic byte 0, a 4-byte big-endian
// schema id, the payload) is checked against that id, which must be a
// live version of the subject; any other value is checked against the
// subject's latest version, which must be a JSON schema (Avro payloads
// carry no marker of their own, so they must come in the wire format).
// An empty value (a tombstone) passes.
func (r *Registry) ValidateRecord(topic, eventType string, key, value []byte) error {
	if r.strict.Load() == 0 || r.closed.Load() {
		return nil
	}
	r.mu.RLock()
	mode := r.modeLocked(topic)
	if mode == ModeOff {
		r.mu.RUnlock()
		return nil
	}
	err := r.checkLocked(topic, eventType, key, value)
	r.mu.RUnlock()
	r.stats.validated.Add(1)
	if err == nil {
		return nil
	}
	if mode == ModeWarn {
		r.stats.warned.Add(1)
		r.log.Warn("message fails its schema, stored anyway (warn mode)", "topic", topic, "event_type", eventType, "error", err)
		return nil
	}
	r.stats.rejected.Add(1)
	return fmt.Errorf("schema: topic %s: %w", topic, err)
}

// Validate checks one payload (in the wire format or not, as
// ValidateRecord says) against subject, whatever any topic's mode.
func (r *Registry) Validate(subject string, payload []byte) error {
	if err := r.begin(); err != nil {
		return err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.liveSchemasLocked(subject)) == 0 {
		return fmt.Errorf("%w: subject %s", ErrSubjectNotFound, subject)
	}
	return r.checkPayloadLocked(subject, payload)
}

func (r *Registry) checkLocked(topic, eventType string, key, value []byte) error {
	subject := topic + "-value"
	if !r.hasLiveLocked(subject) {
		if eventType == "" || !r.hasLiveLocked(eventType) {
			return fmt.Errorf("%w: no subject %s or %q", ErrNoSchema, subject, eventType)
		}
		subject = eventType
	}
	if err := r.checkPayloadLocked(subject, value); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	if ks := topic + "-key"; len(key) > 0 && r.hasLiveLocked(ks) {
		if err := r.checkPayloadLocked(ks, key); err != nil {
			return fmt.Errorf("key: %w", err)
		}
	}
	return nil
}

func (r *Registry) hasLiveLocked(subject string) bool {
	s := r.subjects[subject]
	if s == nil {
		return false
	}
	for _, v := range s.Versions {
		if !v.Deleted {
			return true
		}
	}
	return false
}

// WireHeaderSize is the length of the Confluent wire format's prefix:
// magic byte 0 and the 4-byte big-endian schema id.
const WireHeaderSize = 5

// ParseWire splits a payload in the Confluent wire format into its
// schema id and the encoded value; ok is false when b does not start
// with the magic byte or is too short.
func ParseWire(b []byte) (id int, payload []byte, ok bool) {
	if len(b) < WireHeaderSize || b[0] != 0 {
		return 0, nil, false
	}
	return int(binary.BigEndian.Uint32(b[1:5])), b[WireHeaderSize:], true
}

// AppendWire appends the wire format's prefix for schema id to dst.
func AppendWire(dst []byte, id int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, 0), uint32(id))
}

func (r *Registry) checkPayloadLocked(subject string, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if id, payload, ok := ParseWire(b); ok {
		c := r.byID[id]
		if c == nil {
			return fmt.Errorf("%w: %d", ErrUnknownSchemaID, id)
		}
		found := false
		for _, v := range r.subjects[subject].Versions {
			if v.ID == id && !v.Deleted {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("%w: id %d, subject %s", ErrSchemaNotInSubject, id, subject)
		}
		return c.validate(payload)
	}
	live := r.liveSchemasLocked(subject)
	latest := live[len(live)-1]
	if latest.typ != JSON {
		return fmt.Errorf("%w: subject %s is %s: the payload must be in the Confluent wire format", ErrInvalidPayload, subject, latest.typ)
	}
	return latest.validate(b)
}
