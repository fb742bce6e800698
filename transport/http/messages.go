package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	stdhttp "net/http"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/core"
)

// Value encodings of a message body in JSON.
const (
	encodingAuto   = "auto"
	encodingJSON   = "json"
	encodingText   = "text"
	encodingBase64 = "base64"
)

// EncodedKey is a key in JSON: as text when it is UTF-8, else in base64.
type EncodedKey struct {
	Key    *string `json:"key,omitempty" doc:"The key as text, when it is valid UTF-8."`
	KeyB64 []byte  `json:"key_b64,omitempty" doc:"The key in base64, when it is not UTF-8."`
}

func encodeKey(k []byte) EncodedKey {
	switch {
	case k == nil:
		return EncodedKey{}
	case utf8.Valid(k):
		s := string(k)
		return EncodedKey{Key: &s}
	}
	return EncodedKey{KeyB64: k}
}

// EncodedValue is a value in JSON. Exactly one of Value, ValueText and
// ValueB64 is set, as ValueEncoding says; a nil value has none of them
// and the encoding "null".
type EncodedValue struct {
	Value         json.RawMessage `json:"value,omitempty" doc:"The value, when it is JSON."`
	ValueText     *string         `json:"value_text,omitempty" doc:"The value as text."`
	ValueB64      []byte          `json:"value_b64,omitempty" doc:"The value in base64."`
	ValueEncoding string          `json:"value_encoding" enum:"json,text,base64,null"`
}

// encodeValue renders v in enc (auto: JSON when the bytes are JSON, else
// text when they are UTF-8, else base64; json and text fall back to
// base64 for bytes they cannot carry).
func encodeValue(v []byte, enc string) EncodedValue {
	switch {
	case v == nil:
		return EncodedValue{ValueEncoding: "null"}
	case (enc == encodingAuto || enc == encodingJSON) && json.Valid(v):
		return EncodedValue{Value: json.RawMessage(v), ValueEncoding: encodingJSON}
	case (enc == encodingAuto || enc == encodingText) && utf8.Valid(v):
		s := string(v)
		return EncodedValue{ValueText: &s, ValueEncoding: encodingText}
	}
	return EncodedValue{ValueB64: v, ValueEncoding: encodingBase64}
}

// MessageOut is a message as the API returns it.
type MessageOut struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp time.Time         `json:"timestamp"`
	Headers   map[string]string `json:"headers"`
	EncodedKey
	EncodedValue

	Group          string     `json:"group,omitempty" doc:"The pull or push group, on leased and pushed deliveries."`
	LeaseID        string     `json:"lease_id,omitempty" doc:"The lease to ack, nack or extend."`
	LeaseExpiresAt *time.Time `json:"lease_expires_at,omitempty"`
	Attempt        int        `json:"attempt,omitempty" doc:"The delivery attempt, from 1."`
}

// MessageIn is a message to publish. At most one of Value, ValueText and
// ValueB64 may be set; none publishes a nil value.
type MessageIn struct {
	Topic     string            `json:"topic,omitempty" doc:"The topic; only in multi-topic publishes, where it is required."`
	Key       *string           `json:"key,omitempty" doc:"The key as text."`
	KeyB64    []byte            `json:"key_b64,omitempty" doc:"The key in base64."`
	Partition *int32            `json:"partition,omitempty" doc:"An explicit partition; by default the key's (Kafka's murmur2)."`
	Headers   map[string]string `json:"headers,omitempty" doc:"Headers by their Kafka names (message_id, correlation_id, event_type, ...); unknown names are kept as extra headers."`
	Value     json.RawMessage   `json:"value,omitempty" doc:"The value as JSON, stored as its bytes."`
	ValueText *string           `json:"value_text,omitempty" doc:"The value as text."`
	ValueB64  []byte            `json:"value_b64,omitempty" doc:"The value in base64."`
}

// toMessage builds the core message for m on topic.
func (m *MessageIn) toMessage(topic string, log hclog.Logger) (*core.Message, error) {
	set := 0
	var value []byte
	if len(m.Value) > 0 && !bytes.Equal(bytes.TrimSpace(m.Value), []byte("null")) {
		set++
		value = bytes.Clone(m.Value)
	}
	if m.ValueText != nil {
		set++
		value = []byte(*m.ValueText)
	}
	if m.ValueB64 != nil {
		set++
		value = m.ValueB64
	}
	if set > 1 {
		return nil, problemf(stdhttp.StatusBadRequest, "invalid_message", "set at most one of value, value_text and value_b64")
	}
	if m.Key != nil && m.KeyB64 != nil {
		return nil, problemf(stdhttp.StatusBadRequest, "invalid_message", "set at most one of key and key_b64")
	}
	msg := &core.Message{Topic: topic, Value: value}
	if m.Key != nil {
		msg.Key = []byte(*m.Key)
	} else if m.KeyB64 != nil {
		msg.Key = m.KeyB64
	}
	if m.Partition != nil {
		if *m.Partition < 0 {
			return nil, problemf(stdhttp.StatusBadRequest, "invalid_partition", "partition %d is negative", *m.Partition)
		}
		msg.Partition = *m.Partition
		msg.ExplicitPartition = true
	}
	if len(m.Headers) > 0 {
		msg.Headers = headersFromMap(m.Headers, log)
	}
	return msg, nil
}

// headersFromMap maps header names to the message's headers through the
// one Kafka header mapping: bad values fall back to defaults with a
// logged warning, exactly as for Kafka records.
func headersFromMap(in map[string]string, log hclog.Logger) core.Headers {
	rh := make([]core.RecordHeader, 0, len(in))
	for k, v := range in {
		rh = append(rh, core.RecordHeader{Key: k, Value: []byte(v)})
	}
	return core.HeadersFromRecord(rh, log)
}

// headersToMap lists m's headers by their Kafka names.
func headersToMap(h *core.Headers) map[string]string {
	rh := h.AppendRecordHeaders(nil)
	out := make(map[string]string, len(rh)+len(h.Unparsed))
	for _, r := range rh {
		out[r.Key] = string(r.Value)
	}
	for _, u := range h.Unparsed {
		if _, ok := out[u.Key]; !ok {
			out[u.Key] = u.Value
		}
	}
	return out
}

// parseEncoding checks a value_encoding query parameter.
func parseEncoding(s string) (string, error) {
	switch s {
	case "", encodingAuto:
		return encodingAuto, nil
	case encodingJSON, encodingText, encodingBase64:
		return s, nil
	}
	return "", problemf(stdhttp.StatusBadRequest, "invalid_encoding", "value_encoding %q is not auto, json, text or base64", s)
}

// messageOut renders m with its value in enc (see encodeValue).
func messageOut(m *core.Message, enc string) MessageOut {
	return MessageOut{
		Topic:        m.Topic,
		Partition:    m.Partition,
		Offset:       m.Offset,
		Timestamp:    m.Timestamp.UTC(),
		Headers:      headersToMap(&m.Headers),
		EncodedKey:   encodeKey(m.Key),
		EncodedValue: encodeValue(m.Value, enc),
	}
}

// PublishResult is the outcome of publishing one message: where it is,
// or the problem that stopped it.
type PublishResult struct {
	Topic     string     `json:"topic,omitempty"`
	Partition int32      `json:"partition"`
	Offset    int64      `json:"offset"`
	MessageID string     `json:"message_id,omitempty"`
	Timestamp *time.Time `json:"timestamp,omitempty"`
	Duplicate bool       `json:"duplicate" doc:"The message_id was published within the dedup window: not stored again; the offset is the first copy's."`
	Error     *Problem   `json:"error,omitempty"`
}

func publishResult(m *core.Message) PublishResult {
	ts := m.Timestamp.UTC()
	return PublishResult{
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		MessageID: m.Headers.MessageID.String(),
		Timestamp: &ts,
		Duplicate: m.Duplicate,
	}
}

// errResult is the result of a message that was not published.
func errResult(topic string, err error) PublishResult {
	return PublishResult{Topic: topic, Partition: -1, Offset: -1, Error: toProblem(err)}
}

// jsonLine encodes v as one NDJSON line.
func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("http: encode: %w", err)
	}
	return append(b, '\n'), nil
}
