package message

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
)

// fullHeaders returns Headers with every field set.
func fullHeaders() Headers {
	return Headers{
		CorrelationID: uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
		MessageID:     uuid.MustParse("f47ac10b-58cc-4372-a567-0e02b2c3d479"),
		Timestamp:     time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.FixedZone("X", 3600)),
		Source:        "svc-orders",
		EventType:     "onex.evt.orders.created.v1",
		ContentType:   "application/json",
		SchemaVersion: "1.0.0",
		Destination:   "billing",
		TraceID:       "4bf92f3577b34da6a3ce929d0e0e4736",
		SpanID:        "00f067aa0ba902b7",
		ParentSpanID:  "00f067aa0ba902b6",
		OperationName: "create",
		Priority:      PriorityCritical,
		RoutingKey:    "orders.eu",
		PartitionKey:  "customer-42",
		RetryCount:    2,
		MaxRetries:    -1,
		TTLSeconds:    3600,
		TraceParent:   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		Extra:         []Header{{"x-tenant", "acme"}, {"x-empty", ""}, {"x-tenant", "dup"}},
	}
}

func TestAppendRecordHeaders(t *testing.T) {
	h := fullHeaders()
	rh := h.AppendRecordHeaders([]RecordHeader{{Key: "pre", Value: []byte("x")}})
	var keys []string
	for _, r := range rh {
		keys = append(keys, r.Key)
	}
	want := "pre correlation_id message_id timestamp source event_type content_type schema_version destination " +
		"trace_id span_id parent_span_id operation_name priority routing_key partition_key retry_count " +
		"max_retries ttl_seconds traceparent x-tenant x-empty x-tenant"
	if got := strings.Join(keys, " "); got != want {
		t.Fatalf("keys:\n%s\nwant\n%s", got, want)
	}
	vals := map[string]string{}
	for _, r := range rh[1:20] {
		vals[r.Key] = string(r.Value)
	}
	for k, v := range map[string]string{
		"correlation_id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		"timestamp":      "2026-03-04T04:06:07.890123456Z",
		"priority":       "critical",
		"max_retries":    "-1",
		"retry_count":    "2",
	} {
		if vals[k] != v {
			t.Errorf("%s = %q, want %q", k, vals[k], v)
		}
	}
	// Appending to one Value must not clobber the next.
	rh[1].Value = append(rh[1].Value, "zzz"...)
	if string(rh[2].Value) != "f47ac10b-58cc-4372-a567-0e02b2c3d479" {
		t.Fatalf("values alias: %q", rh[2].Value)
	}
	var empty Headers
	if got := empty.AppendRecordHeaders(nil); len(got) != 0 {
		t.Fatalf("zero Headers wrote %v", got)
	}
}

// TestHeadersRoundTrip covers ACCEPTANCE 7 and 8 on the Kafka wire: the
// headers, correlation_id first, come back as they were.
func TestHeadersRoundTrip(t *testing.T) {
	var defaulted Headers
	defaulted.ApplyDefaults("orders", "svc", time.Now())
	many := fullHeaders()
	for i := range 40 {
		many.Extra = append(many.Extra, Header{Key: "k" + strings.Repeat("x", i), Value: strings.Repeat("v", i)})
	}
	for name, h := range map[string]Headers{"full": fullHeaders(), "defaulted": defaulted, "zero": {}, "many extra": many} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			got := HeadersFromRecord(h.AppendRecordHeaders(nil), hclog.New(&hclog.LoggerOptions{Output: &buf}))
			if !headersEqual(got, h) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, h)
			}
			if got.CorrelationID != h.CorrelationID {
				t.Fatal("correlation_id changed")
			}
			if buf.Len() != 0 {
				t.Fatalf("logged: %s", buf.String())
			}
		})
	}
}

// TestHeadersFromRecordForeign covers ACCEPTANCE 8: foreign headers that
// do not parse fall back to defaults with a warning naming the header, and
// the raw value is kept.
func TestHeadersFromRecordForeign(t *testing.T) {
	tests := []struct {
		key, value string
		check      func(Headers) bool
	}{
		{"correlation_id", "not-a-uuid", func(h Headers) bool { return h.CorrelationID == uuid.Nil }},
		{"message_id", "1234", func(h Headers) bool { return h.MessageID == uuid.Nil }},
		{"timestamp", "2024-01-02T03:04:05.123456", func(h Headers) bool { return h.Timestamp.IsZero() }},
		{"timestamp", "yesterday", func(h Headers) bool { return h.Timestamp.IsZero() }},
		{"priority", "urgent", func(h Headers) bool { return h.Priority == PriorityUnset }},
		{"retry_count", "two", func(h Headers) bool { return h.RetryCount == 0 }},
		{"retry_count", "-1", func(h Headers) bool { return h.RetryCount == 0 }},
		{"max_retries", "99999999999999999999", func(h Headers) bool { return h.MaxRetries == 0 }},
		{"ttl_seconds", "1.5", func(h Headers) bool { return h.TTLSeconds == 0 }},
		{"source", strings.Repeat("s", 300), func(h Headers) bool { return h.Source == "" }},
		{"", "nameless", func(h Headers) bool { return len(h.Extra) == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value[:min(len(tt.value), 20)], func(t *testing.T) {
			var buf bytes.Buffer
			log := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Warn})
			rh := []RecordHeader{
				{Key: "event_type", Value: []byte("orders")},
				{Key: tt.key, Value: []byte(tt.value)},
				{Key: "x-other", Value: []byte("kept")},
			}
			h := HeadersFromRecord(rh, log)
			if !tt.check(h) {
				t.Fatalf("field not left at its zero value: %+v", h)
			}
			if len(h.Unparsed) != 1 || h.Unparsed[0] != (Header{tt.key, tt.value}) {
				t.Fatalf("Unparsed = %v", h.Unparsed)
			}
			if h.EventType != "orders" || len(h.Extra) != 1 || h.Extra[0] != (Header{"x-other", "kept"}) {
				t.Fatalf("other headers lost: %+v", h)
			}
			out := buf.String()
			if strings.Count(out, "[WARN]") != 1 || !strings.Contains(out, "header="+tt.key) {
				t.Fatalf("want one warning naming %q, got %q", tt.key, out)
			}
			h.ApplyDefaults("orders", "svc", time.Now())
			if err := h.Validate(); err != nil {
				t.Fatalf("Validate after defaults: %v", err)
			}
		})
	}
	t.Run("nil logger", func(t *testing.T) {
		h := HeadersFromRecord([]RecordHeader{{Key: "priority", Value: []byte("?")}}, nil)
		if len(h.Unparsed) != 1 {
			t.Fatalf("Unparsed = %v", h.Unparsed)
		}
	})
	t.Run("zoned and case-insensitive values parse", func(t *testing.T) {
		h := HeadersFromRecord([]RecordHeader{
			{Key: "timestamp", Value: []byte("2024-01-02T03:04:05.123456+02:00")},
			{Key: "priority", Value: []byte("HIGH")},
			{Key: "correlation_id", Value: []byte("{6ba7b810-9dad-11d1-80b4-00c04fd430c8}")},
			{Key: "source", Value: nil},
		}, nil)
		if h.Timestamp.Hour() != 1 || h.Priority != PriorityHigh || h.CorrelationID.String() != "6ba7b810-9dad-11d1-80b4-00c04fd430c8" || len(h.Unparsed) != 0 {
			t.Fatalf("got %+v", h)
		}
	})
	t.Run("last named header wins", func(t *testing.T) {
		h := HeadersFromRecord([]RecordHeader{{Key: "source", Value: []byte("a")}, {Key: "source", Value: []byte("b")}}, nil)
		if h.Source != "b" {
			t.Fatalf("Source = %q", h.Source)
		}
	})
}

func BenchmarkHeadersRecordRoundTrip(b *testing.B) {
	h := fullHeaders()
	rh := make([]RecordHeader, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		rh = h.AppendRecordHeaders(rh[:0])
		_ = HeadersFromRecord(rh, nil)
	}
}

// FuzzHeadersFromRecord checks that decoding never panics, that after
// defaults the result validates, and that it survives a round trip.
func FuzzHeadersFromRecord(f *testing.F) {
	enc := func(rh []RecordHeader) []byte {
		var b []byte
		for _, r := range rh {
			b = append(b, byte(len(r.Key)))
			b = append(b, r.Key...)
			b = append(b, byte(len(r.Value)))
			b = append(b, r.Value...)
		}
		return b
	}
	h := fullHeaders()
	f.Add(enc(h.AppendRecordHeaders(nil)))
	f.Add(enc([]RecordHeader{{"priority", []byte("x")}, {"timestamp", []byte("2024-01-02T03:04:05")}, {"", nil}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		// data is a list of (len, key, len, value).
		var rh []RecordHeader
		for len(data) > 0 {
			kl := min(int(data[0]), len(data)-1)
			key := string(data[1 : 1+kl])
			data = data[1+kl:]
			var val []byte
			if len(data) > 0 {
				vl := min(int(data[0]), len(data)-1)
				val = data[1 : 1+vl]
				data = data[1+vl:]
			}
			rh = append(rh, RecordHeader{Key: key, Value: val})
		}
		h := HeadersFromRecord(rh, nil)
		h.Unparsed = nil
		again := HeadersFromRecord(h.AppendRecordHeaders(nil), nil)
		if !headersEqual(h, again) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, h)
		}
		h.ApplyDefaults("t", "s", time.Now())
		if err := h.Validate(); err != nil {
			t.Fatalf("Validate after defaults: %v", err)
		}
		again = HeadersFromRecord(h.AppendRecordHeaders(nil), nil)
		if !headersEqual(h, again) {
			t.Fatalf("round trip after defaults:\n got %+v\nwant %+v", again, h)
		}
	})
}
