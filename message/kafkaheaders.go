package message

import (
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
)

// RecordHeader is one Kafka record header. It mirrors kgo.RecordHeader
// field for field (so a transport converts with a plain loop) without
// importing franz-go.
type RecordHeader struct {
	// Key is the header name.
	Key string
	// Value is the header value; for the named fields, UTF-8 text.
	Value []byte
}

// Wire names of the Headers fields, as on Kafka record headers.
const (
	HeaderCorrelationID = "correlation_id"
	HeaderMessageID     = "message_id"
	HeaderTimestamp     = "timestamp"
	HeaderSource        = "source"
	HeaderEventType     = "event_type"
	HeaderContentType   = "content_type"
	HeaderSchemaVersion = "schema_version"
	HeaderDestination   = "destination"
	HeaderTraceID       = "trace_id"
	HeaderSpanID        = "span_id"
	HeaderParentSpanID  = "parent_span_id"
	HeaderOperationName = "operation_name"
	HeaderPriority      = "priority"
	HeaderRoutingKey    = "routing_key"
	HeaderPartitionKey  = "partition_key"
	HeaderRetryCount    = "retry_count"
	HeaderMaxRetries    = "max_retries"
	HeaderTTLSeconds    = "ttl_seconds"
	HeaderTraceParent   = "traceparent"
)

// isWireName reports whether k is the wire name of a Headers field.
func isWireName(k string) bool {
	switch k {
	case HeaderCorrelationID, HeaderMessageID, HeaderTimestamp, HeaderSource,
		HeaderEventType, HeaderContentType, HeaderSchemaVersion, HeaderDestination,
		HeaderTraceID, HeaderSpanID, HeaderParentSpanID, HeaderOperationName,
		HeaderPriority, HeaderRoutingKey, HeaderPartitionKey, HeaderRetryCount,
		HeaderMaxRetries, HeaderTTLSeconds, HeaderTraceParent:
		return true
	}
	return false
}

// AppendRecordHeaders appends h as Kafka record headers to dst and returns
// the extended slice: every non-zero field under its wire name, in the
// order correlation_id, message_id, timestamp (RFC 3339 with nanoseconds,
// UTC), source, event_type, content_type, schema_version, destination,
// trace_id, span_id, parent_span_id, operation_name, priority,
// routing_key, partition_key, retry_count, max_retries, ttl_seconds,
// traceparent, then Extra in order. Unparsed is not written: those values
// were replaced by the fields' defaults, which are.
//
// The Values share one newly allocated buffer; the caller owns it.
func (h *Headers) AppendRecordHeaders(dst []RecordHeader) []RecordHeader {
	// Offsets into buf, fixed up into Values once buf stops growing.
	type span struct{ start, end int }
	size := 2*36 + 35 + 3*20 + 8
	for i := range textHeaders {
		size += len(*textHeaders[i].field(h))
	}
	for _, x := range h.Extra {
		size += len(x.Value)
	}
	buf := make([]byte, 0, size)
	first := len(dst)
	var spans [32]span
	var more []span // spans past len(spans), for Extra
	add := func(key string, start int) {
		dst = append(dst, RecordHeader{Key: key})
		if n := len(dst) - first; n <= len(spans) {
			spans[n-1] = span{start, len(buf)}
		} else {
			more = append(more, span{start, len(buf)})
		}
	}
	if h.CorrelationID != uuid.Nil {
		s := len(buf)
		buf = appendUUID(buf, h.CorrelationID)
		add(HeaderCorrelationID, s)
	}
	if h.MessageID != uuid.Nil {
		s := len(buf)
		buf = appendUUID(buf, h.MessageID)
		add(HeaderMessageID, s)
	}
	if !h.Timestamp.IsZero() {
		s := len(buf)
		buf = h.Timestamp.UTC().AppendFormat(buf, time.RFC3339Nano)
		add(HeaderTimestamp, s)
	}
	text := func(name, v string) {
		if v != "" {
			s := len(buf)
			buf = append(buf, v...)
			add(name, s)
		}
	}
	num := func(name string, v int) {
		if v != 0 {
			s := len(buf)
			buf = strconv.AppendInt(buf, int64(v), 10)
			add(name, s)
		}
	}
	text(HeaderSource, h.Source)
	text(HeaderEventType, h.EventType)
	text(HeaderContentType, h.ContentType)
	text(HeaderSchemaVersion, h.SchemaVersion)
	text(HeaderDestination, h.Destination)
	text(HeaderTraceID, h.TraceID)
	text(HeaderSpanID, h.SpanID)
	text(HeaderParentSpanID, h.ParentSpanID)
	text(HeaderOperationName, h.OperationName)
	if h.Priority != PriorityUnset {
		// An out-of-range priority is written as its String form so
		// that nothing is silently dropped; the reader falls back.
		text(HeaderPriority, h.Priority.String())
	}
	text(HeaderRoutingKey, h.RoutingKey)
	text(HeaderPartitionKey, h.PartitionKey)
	num(HeaderRetryCount, h.RetryCount)
	num(HeaderMaxRetries, h.MaxRetries)
	num(HeaderTTLSeconds, h.TTLSeconds)
	text(HeaderTraceParent, h.TraceParent)
	for _, x := range h.Extra {
		s := len(buf)
		buf = append(buf, x.Value...)
		add(x.Key, s)
	}
	for i := first; i < len(dst); i++ {
		n := i - first
		sp := span{}
		if n < len(spans) {
			sp = spans[n]
		} else {
			sp = more[n-len(spans)]
		}
		dst[i].Value = buf[sp.start:sp.end:sp.end]
	}
	return dst
}

// appendUUID appends the canonical text form of u.
func appendUUID(dst []byte, u uuid.UUID) []byte {
	var b [36]byte
	const hex = "0123456789abcdef"
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
	}
	return append(dst, b[:]...)
}

// HeadersFromRecord decodes Kafka record headers into Headers. It never
// fails: a value that does not parse (a bad UUID, a timestamp without a
// zone, an unknown priority, a count that is not a non-negative integer,
// a text value longer than MaxHeaderLen) leaves its field at the zero
// value, so that ApplyDefaults fills it; the raw header is kept in
// Unparsed and one warning naming the header is logged on log. A header
// with an empty value counts as absent. When a named header repeats, the
// last one wins. Headers with other names go to Extra, in order, except
// one with an empty name, which goes to Unparsed with a warning.
//
// A nil log discards the warnings. For every h that passes Validate,
// HeadersFromRecord(h.AppendRecordHeaders(nil), nil) equals h except for
// Unparsed (not written) and Timestamp's location and monotonic reading
// (it comes back in UTC). The result, after ApplyDefaults with a
// non-empty topic, passes Validate.
func HeadersFromRecord(rh []RecordHeader, log hclog.Logger) Headers {
	var h Headers
	bad := func(r RecordHeader, why string) {
		h.Unparsed = append(h.Unparsed, Header{Key: r.Key, Value: string(r.Value)})
		if log == nil {
			return
		}
		v := r.Value
		if len(v) > 64 {
			v = v[:64]
		}
		log.Warn("foreign header does not parse; using the default", "header", r.Key, "value", string(v), "error", why)
	}
	text := func(r RecordHeader, dst *string) {
		if len(r.Value) > MaxHeaderLen {
			*dst = ""
			bad(r, fmt.Sprintf("%d bytes long, more than %d", len(r.Value), MaxHeaderLen))
			return
		}
		*dst = internString(r.Value)
	}
	count := func(r RecordHeader, dst *int, negOK bool) {
		n, err := strconv.Atoi(string(r.Value))
		switch {
		case err != nil:
			*dst = 0
			bad(r, "not an integer")
		case n < 0 && !negOK:
			*dst = 0
			bad(r, "negative")
		default:
			*dst = n
		}
	}
	id := func(r RecordHeader, dst *uuid.UUID) {
		u, err := uuid.ParseBytes(r.Value)
		if err != nil {
			*dst = uuid.Nil
			bad(r, "not a UUID")
			return
		}
		*dst = u
	}
	for _, r := range rh {
		if len(r.Value) == 0 && isWireName(r.Key) {
			continue
		}
		switch r.Key {
		case HeaderCorrelationID:
			id(r, &h.CorrelationID)
		case HeaderMessageID:
			id(r, &h.MessageID)
		case HeaderTimestamp:
			t, err := time.Parse(time.RFC3339Nano, string(r.Value))
			if err != nil {
				h.Timestamp = time.Time{}
				bad(r, "not an RFC 3339 time with a zone")
				continue
			}
			h.Timestamp = t.UTC()
		case HeaderSource:
			text(r, &h.Source)
		case HeaderEventType:
			text(r, &h.EventType)
		case HeaderContentType:
			text(r, &h.ContentType)
		case HeaderSchemaVersion:
			text(r, &h.SchemaVersion)
		case HeaderDestination:
			text(r, &h.Destination)
		case HeaderTraceID:
			text(r, &h.TraceID)
		case HeaderSpanID:
			text(r, &h.SpanID)
		case HeaderParentSpanID:
			text(r, &h.ParentSpanID)
		case HeaderOperationName:
			text(r, &h.OperationName)
		case HeaderPriority:
			p, ok := parsePriority(string(r.Value))
			if !ok {
				h.Priority = PriorityUnset
				bad(r, "not low, normal, high or critical")
				continue
			}
			h.Priority = p
		case HeaderRoutingKey:
			text(r, &h.RoutingKey)
		case HeaderPartitionKey:
			text(r, &h.PartitionKey)
		case HeaderRetryCount:
			count(r, &h.RetryCount, false)
		case HeaderMaxRetries:
			count(r, &h.MaxRetries, true)
		case HeaderTTLSeconds:
			count(r, &h.TTLSeconds, false)
		case HeaderTraceParent:
			text(r, &h.TraceParent)
		case "":
			bad(r, "empty header name")
		default:
			h.Extra = append(h.Extra, Header{Key: r.Key, Value: string(r.Value)})
		}
	}
	return h
}

// internString returns b as a string, without allocating for the common
// constant values.
func internString(b []byte) string {
	switch string(b) { // no allocation: the compiler compares in place
	case DefaultContentType:
		return DefaultContentType
	case DefaultSchemaVersion:
		return DefaultSchemaVersion
	}
	return string(b)
}
