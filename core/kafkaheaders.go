package core

import (
	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/message"
)

// The mapping of Headers to and from Kafka record headers is implemented
// in package message (message/kafkaheaders.go); these are the same names.

// RecordHeader is one Kafka record header; see message.RecordHeader.
type RecordHeader = message.RecordHeader

// Wire names of the Headers fields, as on Kafka record headers; see
// message.HeaderCorrelationID.
const (
	HeaderCorrelationID = message.HeaderCorrelationID
	HeaderMessageID     = message.HeaderMessageID
	HeaderTimestamp     = message.HeaderTimestamp
	HeaderSource        = message.HeaderSource
	HeaderEventType     = message.HeaderEventType
	HeaderContentType   = message.HeaderContentType
	HeaderSchemaVersion = message.HeaderSchemaVersion
	HeaderDestination   = message.HeaderDestination
	HeaderTraceID       = message.HeaderTraceID
	HeaderSpanID        = message.HeaderSpanID
	HeaderParentSpanID  = message.HeaderParentSpanID
	HeaderOperationName = message.HeaderOperationName
	HeaderPriority      = message.HeaderPriority
	HeaderRoutingKey    = message.HeaderRoutingKey
	HeaderPartitionKey  = message.HeaderPartitionKey
	HeaderRetryCount    = message.HeaderRetryCount
	HeaderMaxRetries    = message.HeaderMaxRetries
	HeaderTTLSeconds    = message.HeaderTTLSeconds
	HeaderTraceParent   = message.HeaderTraceParent
)

// HeadersFromRecord decodes Kafka record headers into Headers, never
// failing; see message.HeadersFromRecord.
func HeadersFromRecord(rh []RecordHeader, log hclog.Logger) Headers {
	return message.HeadersFromRecord(rh, log)
}
