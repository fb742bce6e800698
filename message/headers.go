package message

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Header defaults applied by ApplyDefaults.
const (
	// DefaultContentType is the content_type of a message that sets none.
	DefaultContentType = "application/json"
	// DefaultSchemaVersion is the schema_version of a message that sets none.
	DefaultSchemaVersion = "1.0.0"
	// DefaultMaxRetries is the max_retries of a message that sets zero.
	DefaultMaxRetries = 3
	// MaxHeaderLen caps the length in bytes of each named text header
	// (source, event_type, content_type, and so on). Extra header values
	// are limited only by the message size.
	MaxHeaderLen = 255
)

// ApplyDefaults fills the fields of h left zero:
//
//   - Source = source; EventType = topic;
//   - ContentType = DefaultContentType; SchemaVersion = DefaultSchemaVersion;
//   - Priority = PriorityNormal;
//   - MaxRetries: 0 becomes DefaultMaxRetries; a negative value becomes -1,
//     the one spelling of "no retries" (it must stay negative: a 0 would
//     turn into 3 retries the next time defaults are applied, after a
//     Kafka round trip or a DLQ replay);
//   - MessageID and CorrelationID (when uuid.Nil): fresh random UUIDs;
//   - Timestamp = now.
//
// RetryCount and TTLSeconds stay as they are. Applying defaults twice
// changes nothing the second time. ApplyDefaults does not allocate: the
// UUIDs come from a pool of random bytes read ahead from crypto/rand
// (without touching uuid's process-wide pool setting).
func (h *Headers) ApplyDefaults(topic, source string, now time.Time) {
	if h.Source == "" {
		h.Source = source
	}
	if h.EventType == "" {
		h.EventType = topic
	}
	if h.ContentType == "" {
		h.ContentType = DefaultContentType
	}
	if h.SchemaVersion == "" {
		h.SchemaVersion = DefaultSchemaVersion
	}
	if h.Priority == PriorityUnset {
		h.Priority = PriorityNormal
	}
	switch {
	case h.MaxRetries == 0:
		h.MaxRetries = DefaultMaxRetries
	case h.MaxRetries < 0:
		h.MaxRetries = -1
	}
	switch {
	case h.MessageID == uuid.Nil && h.CorrelationID == uuid.Nil:
		h.MessageID, h.CorrelationID = newUUIDPair()
	case h.MessageID == uuid.Nil:
		h.MessageID = newUUID()
	case h.CorrelationID == uuid.Nil:
		h.CorrelationID = newUUID()
	}
	if h.Timestamp.IsZero() {
		h.Timestamp = now
	}
}

// Retries returns how many retries the message allows: DefaultMaxRetries
// when MaxRetries is 0, none when it is negative, MaxRetries otherwise.
func (h *Headers) Retries() int {
	switch {
	case h.MaxRetries == 0:
		return DefaultMaxRetries
	case h.MaxRetries < 0:
		return 0
	}
	return h.MaxRetries
}

// Validate checks h, normally after ApplyDefaults. The error wraps
// ErrInvalidHeaders and names the first field at fault: an empty
// event_type, a priority out of range, a negative retry_count or
// ttl_seconds, a named text header longer than MaxHeaderLen, a timestamp
// outside the years 0-9999 (which RFC 3339 cannot carry), an Extra header
// with an empty name or with the wire name of a field (it would be read
// back as that field).
func (h *Headers) Validate() error {
	if h.EventType == "" {
		return fmt.Errorf("%w: event_type is empty", ErrInvalidHeaders)
	}
	if h.Priority > PriorityCritical {
		return fmt.Errorf("%w: priority %d out of range", ErrInvalidHeaders, uint8(h.Priority))
	}
	if h.RetryCount < 0 {
		return fmt.Errorf("%w: retry_count %d is negative", ErrInvalidHeaders, h.RetryCount)
	}
	if h.TTLSeconds < 0 {
		return fmt.Errorf("%w: ttl_seconds %d is negative", ErrInvalidHeaders, h.TTLSeconds)
	}
	// The year is computed only near the ends of the range (a day's
	// margin covers any zone offset): Year is the costly part of a
	// publish's validation.
	if sec := h.Timestamp.Unix(); (sec < minSafeUnix || sec > maxSafeUnix) && !h.Timestamp.IsZero() {
		if y := h.Timestamp.Year(); y < 0 || y > 9999 {
			return fmt.Errorf("%w: timestamp year %d outside 0-9999", ErrInvalidHeaders, y)
		}
	}
	if len(h.Source) > MaxHeaderLen || len(h.EventType) > MaxHeaderLen || len(h.ContentType) > MaxHeaderLen ||
		len(h.SchemaVersion) > MaxHeaderLen || len(h.Destination) > MaxHeaderLen || len(h.TraceID) > MaxHeaderLen ||
		len(h.SpanID) > MaxHeaderLen || len(h.ParentSpanID) > MaxHeaderLen || len(h.OperationName) > MaxHeaderLen ||
		len(h.RoutingKey) > MaxHeaderLen || len(h.PartitionKey) > MaxHeaderLen || len(h.TraceParent) > MaxHeaderLen {
		for i := range textHeaders {
			f := &textHeaders[i]
			if v := *f.field(h); len(v) > MaxHeaderLen {
				return fmt.Errorf("%w: %s is %d bytes long, more than %d", ErrInvalidHeaders, f.name, len(v), MaxHeaderLen)
			}
		}
	}
	for i, x := range h.Extra {
		if x.Key == "" {
			return fmt.Errorf("%w: extra header %d has an empty name", ErrInvalidHeaders, i)
		}
		if isWireName(x.Key) {
			return fmt.Errorf("%w: extra header %q has the name of a standard header", ErrInvalidHeaders, x.Key)
		}
	}
	return nil
}

// The Unix seconds between which every time, in any zone, is within the
// years 1-9998: Validate needs no Year for them.
var (
	minSafeUnix = time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC).Unix()
	maxSafeUnix = time.Date(9998, 12, 30, 0, 0, 0, 0, time.UTC).Unix()
)

// textHeaders lists the named text fields of Headers with their wire
// names, in wire order.
var textHeaders = [...]struct {
	name  string
	field func(*Headers) *string
}{
	{"source", func(h *Headers) *string { return &h.Source }},
	{"event_type", func(h *Headers) *string { return &h.EventType }},
	{"content_type", func(h *Headers) *string { return &h.ContentType }},
	{"schema_version", func(h *Headers) *string { return &h.SchemaVersion }},
	{"destination", func(h *Headers) *string { return &h.Destination }},
	{"trace_id", func(h *Headers) *string { return &h.TraceID }},
	{"span_id", func(h *Headers) *string { return &h.SpanID }},
	{"parent_span_id", func(h *Headers) *string { return &h.ParentSpanID }},
	{"operation_name", func(h *Headers) *string { return &h.OperationName }},
	{"routing_key", func(h *Headers) *string { return &h.RoutingKey }},
	{"partition_key", func(h *Headers) *string { return &h.PartitionKey }},
	{"traceparent", func(h *Headers) *string { return &h.TraceParent }},
}

// String returns low, normal, high or critical; "" for PriorityUnset.
func (p Priority) String() string {
	switch p {
	case PriorityUnset:
		return ""
	case PriorityLow:
		return "low"
	case PriorityNormal:
		return "normal"
	case PriorityHigh:
		return "high"
	case PriorityCritical:
		return "critical"
	}
	return fmt.Sprintf("Priority(%d)", uint8(p))
}

// ParsePriority parses low, normal, high or critical, case-insensitively.
// Anything else, the empty string included, is an error.
func ParsePriority(s string) (Priority, error) {
	if p, ok := parsePriority(s); ok {
		return p, nil
	}
	return PriorityUnset, fmt.Errorf("onexbus: unknown priority %q (want low, normal, high or critical)", s)
}

func parsePriority(s string) (Priority, bool) {
	switch {
	case s == "normal" || strings.EqualFold(s, "normal"):
		return PriorityNormal, true
	case strings.EqualFold(s, "low"):
		return PriorityLow, true
	case strings.EqualFold(s, "high"):
		return PriorityHigh, true
	case strings.EqualFold(s, "critical"):
		return PriorityCritical, true
	}
	return PriorityUnset, false
}
