package message

import (
	"time"

	"github.com/google/uuid"
)

// Message is one record of a topic: what a producer publishes and what a
// handler receives.
//
// Publish fills in Partition, Offset, Timestamp (when zero) and the
// defaults of Headers on the message it is given. A handler owns the
// message it is given: every delivery is a fresh copy.
type Message struct {
	// Topic is the name the message is published to.
	Topic string
	// Partition is the partition of Topic that holds the message. It is
	// chosen by Publish from Key (or Headers.PartitionKey) with Kafka's
	// murmur2 partitioner, unless the publisher sets ExplicitPartition.
	Partition int32
	// Offset is the position of the message in its partition: dense, from 0.
	Offset int64
	// Key orders messages: messages with the same key land on the same
	// partition and are delivered in publish order. It may be nil.
	Key []byte
	// Value is the payload. It may be nil.
	Value []byte
	// Headers carries the message's metadata; see Headers.
	Headers Headers
	// Timestamp is when the log accepted the message (or the time the
	// publisher set). Publish sets it to the current time when zero.
	Timestamp time.Time
	// ExplicitPartition makes Publish keep Partition as given instead of
	// choosing it from the key.
	ExplicitPartition bool
	// Duplicate is set by Publish when the message's message_id was
	// already published to the topic within the dedup window: the message
	// was not stored again, and Partition and Offset are the first copy's.
	Duplicate bool
}

// Header is one free-form header: a name and its text value.
type Header struct {
	// Key is the header name as on the Kafka wire.
	Key string
	// Value is the header value as UTF-8 text.
	Value string
}

// Priority is a message's priority header.
type Priority uint8

// Priorities. PriorityUnset is replaced by PriorityNormal when defaults
// are applied.
const (
	PriorityUnset Priority = iota
	PriorityLow
	PriorityNormal
	PriorityHigh
	PriorityCritical
)

// Headers is the structured metadata of a message. The field names on the
// Kafka wire are given in each field's doc; values travel as UTF-8 text.
// Fields left zero get their defaults when the message is published (see
// each field).
type Headers struct {
	// CorrelationID (correlation_id) ties together the messages of one
	// flow. Default: a fresh UUID. The one given is kept on every copy.
	CorrelationID uuid.UUID
	// MessageID (message_id) identifies this message; publishing the same
	// MessageID twice within the dedup window stores it once.
	// Default: a fresh UUID.
	MessageID uuid.UUID
	// Timestamp (timestamp) is when the event happened. Default: the
	// message's Timestamp.
	Timestamp time.Time
	// Source (source) names the producer. Default: the bus's configured
	// source.
	Source string
	// EventType (event_type) names the kind of event. Default: the topic.
	EventType string
	// ContentType (content_type) describes Value. Default: application/json.
	ContentType string
	// SchemaVersion (schema_version) of Value. Default: 1.0.0.
	SchemaVersion string
	// Destination (destination) optionally names the intended receiver.
	Destination string
	// TraceID (trace_id) for tracing.
	TraceID string
	// SpanID (span_id) for tracing.
	SpanID string
	// ParentSpanID (parent_span_id) for tracing.
	ParentSpanID string
	// OperationName (operation_name) for tracing.
	OperationName string
	// Priority (priority): low, normal, high or critical. Default: normal.
	Priority Priority
	// RoutingKey (routing_key) for routers.
	RoutingKey string
	// PartitionKey (partition_key) picks the partition when Key is empty.
	PartitionKey string
	// RetryCount (retry_count) is how many times the message was retried.
	RetryCount int
	// MaxRetries (max_retries) is how many retries the producer allows.
	// Zero means the default, 3; a negative value means no retries.
	MaxRetries int
	// TTLSeconds (ttl_seconds) is how long the message stays relevant;
	// zero means forever.
	TTLSeconds int
	// TraceParent (traceparent) is the W3C trace context.
	TraceParent string
	// Extra holds free-form headers, in order.
	Extra []Header
	// Unparsed keeps, as received, the foreign headers whose values did
	// not parse and were replaced by defaults.
	Unparsed []Header
}
