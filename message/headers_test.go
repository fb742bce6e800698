package message

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// headersEqual compares Headers as values: times by instant, nil and empty
// lists alike.
func headersEqual(a, b Headers) bool {
	if !a.Timestamp.Equal(b.Timestamp) || !listsEqual(a.Extra, b.Extra) || !listsEqual(a.Unparsed, b.Unparsed) {
		return false
	}
	a.Timestamp, b.Timestamp = time.Time{}, time.Time{}
	a.Extra, b.Extra, a.Unparsed, b.Unparsed = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

func listsEqual(a, b []Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestApplyDefaults covers ACCEPTANCE 6: omitted headers get defaults;
// given ones are kept.
func TestApplyDefaults(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	t.Run("all omitted", func(t *testing.T) {
		var h Headers
		h.ApplyDefaults("orders", "svc-a", now)
		if h.Source != "svc-a" || h.EventType != "orders" || h.ContentType != "application/json" ||
			h.SchemaVersion != "1.0.0" || h.Priority != PriorityNormal || h.RetryCount != 0 ||
			h.MaxRetries != 3 || !h.Timestamp.Equal(now) {
			t.Fatalf("defaults not applied: %+v", h)
		}
		if h.MessageID == uuid.Nil || h.CorrelationID == uuid.Nil || h.MessageID == h.CorrelationID {
			t.Fatalf("UUIDs: message_id %v, correlation_id %v", h.MessageID, h.CorrelationID)
		}
		for _, u := range []uuid.UUID{h.MessageID, h.CorrelationID} {
			if u.Version() != 4 || u.Variant() != uuid.RFC4122 {
				t.Fatalf("%v is not a version 4 UUID", u)
			}
		}
		if err := h.Validate(); err != nil {
			t.Fatalf("Validate after defaults: %v", err)
		}
	})
	t.Run("given kept", func(t *testing.T) {
		corr, msg := uuid.New(), uuid.New()
		ts := now.Add(-time.Hour)
		h := Headers{CorrelationID: corr, MessageID: msg, Timestamp: ts, Source: "s", EventType: "e",
			ContentType: "text/plain", SchemaVersion: "2", Priority: PriorityHigh, RetryCount: 2, MaxRetries: 7}
		want := h
		h.ApplyDefaults("orders", "svc-a", now)
		if !headersEqual(h, want) {
			t.Fatalf("got %+v, want %+v", h, want)
		}
	})
	t.Run("negative max_retries means none", func(t *testing.T) {
		h := Headers{MaxRetries: -5}
		h.ApplyDefaults("t", "s", now)
		if h.MaxRetries != -1 || h.Retries() != 0 {
			t.Fatalf("MaxRetries %d, Retries %d", h.MaxRetries, h.Retries())
		}
		h.ApplyDefaults("t", "s", now)
		if h.MaxRetries != -1 {
			t.Fatalf("second ApplyDefaults changed MaxRetries to %d", h.MaxRetries)
		}
	})
	t.Run("idempotent", func(t *testing.T) {
		var h Headers
		h.ApplyDefaults("t", "s", now)
		once := h
		h.ApplyDefaults("u", "v", now.Add(time.Hour))
		if !headersEqual(h, once) {
			t.Fatalf("second ApplyDefaults changed %+v to %+v", once, h)
		}
	})
	t.Run("empty event_type fails validation", func(t *testing.T) {
		var h Headers
		h.ApplyDefaults("", "s", now)
		if err := h.Validate(); !errors.Is(err, ErrInvalidHeaders) || !strings.Contains(err.Error(), "event_type") {
			t.Fatalf("Validate = %v, want ErrInvalidHeaders naming event_type", err)
		}
	})
}

func TestApplyDefaultsAllocs(t *testing.T) {
	// Under -race, sync.Pool drops a quarter of its Puts, and the next
	// Get makes a generator (newUUIDGen: under 2 allocations), fewer
	// than one a call on average, which AllocsPerRun rounds down; one
	// allocation on every call still fails.
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		var h Headers
		h.ApplyDefaults("orders", "svc", now)
	}); n != 0 {
		t.Fatalf("ApplyDefaults allocates %v times, want 0", n)
	}
}

func TestNewUUIDUnique(t *testing.T) {
	seen := make(map[uuid.UUID]bool)
	var ones, zeros uuid.UUID // bits seen set, and seen clear
	// Crosses many of ChaCha8's refills (992 bytes) and rekeys, one at a
	// time and in pairs.
	for i := range 20000 {
		us := []uuid.UUID{newUUID()}
		if i%3 == 0 {
			a, b := newUUIDPair()
			us = append(us, a, b)
		}
		for _, u := range us {
			if seen[u] {
				t.Fatalf("duplicate UUID %v", u)
			}
			if u.Version() != 4 || u.Variant() != uuid.RFC4122 {
				t.Fatalf("UUID %v: version %d, variant %v", u, u.Version(), u.Variant())
			}
			seen[u] = true
			for j := range u {
				ones[j] |= u[j]
				zeros[j] |= ^u[j]
			}
		}
	}
	// Every bit but the 6 of version and variant is random: each was
	// seen both set and clear.
	want := uuid.UUID{6: 0x0f, 8: 0x3f}
	for j := range want {
		if j != 6 && j != 8 {
			want[j] = 0xff
		}
		if ones[j]&zeros[j] != want[j] {
			t.Fatalf("byte %d: bits seen both ways %08b, want %08b", j, ones[j]&zeros[j], want[j])
		}
	}
}

// Goroutines generating at once never get the same UUID: each takes a
// generator of its own from the pool.
func TestNewUUIDUniqueConcurrent(t *testing.T) {
	const goroutines, each = 8, 2000
	out := make([][]uuid.UUID, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				out[g] = append(out[g], newUUID())
			}
		})
	}
	wg.Wait()
	seen := make(map[uuid.UUID]bool, goroutines*each)
	for _, us := range out {
		for _, u := range us {
			if seen[u] {
				t.Fatalf("duplicate UUID %v", u)
			}
			if u.Version() != 4 || u.Variant() != uuid.RFC4122 {
				t.Fatalf("UUID %v: version %d, variant %v", u, u.Version(), u.Variant())
			}
			seen[u] = true
		}
	}
}

func BenchmarkApplyDefaults(b *testing.B) {
	b.ReportAllocs()
	now := time.Now()
	for b.Loop() {
		var h Headers
		h.ApplyDefaults("onex.evt.orders.created.v1", "svc", now)
	}
}

// BenchmarkValidate validates the headers of a published message.
func BenchmarkValidate(b *testing.B) {
	var h Headers
	h.ApplyDefaults("onex.evt.orders.created.v1", "svc", time.Now())
	for b.Loop() {
		if err := h.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("x", MaxHeaderLen+1)
	ok := func() Headers {
		var h Headers
		h.ApplyDefaults("t", "s", time.Now())
		return h
	}
	tests := []struct {
		name  string
		edit  func(*Headers)
		field string // "" means valid
	}{
		{"valid", func(*Headers) {}, ""},
		{"255 source", func(h *Headers) { h.Source = long[1:] }, ""},
		{"unset priority", func(h *Headers) { h.Priority = PriorityUnset }, ""},
		{"negative max_retries", func(h *Headers) { h.MaxRetries = -1 }, ""},
		{"empty event_type", func(h *Headers) { h.EventType = "" }, "event_type"},
		{"priority", func(h *Headers) { h.Priority = PriorityCritical + 1 }, "priority"},
		{"retry_count", func(h *Headers) { h.RetryCount = -1 }, "retry_count"},
		{"ttl_seconds", func(h *Headers) { h.TTLSeconds = -1 }, "ttl_seconds"},
		{"long source", func(h *Headers) { h.Source = long }, "source"},
		{"long event_type", func(h *Headers) { h.EventType = long }, "event_type"},
		{"long traceparent", func(h *Headers) { h.TraceParent = long }, "traceparent"},
		{"timestamp", func(h *Headers) { h.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "timestamp"},
		{"year 9999 in UTC", func(h *Headers) { h.Timestamp = time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC) }, ""},
		{"year 10000 in its zone", func(h *Headers) {
			h.Timestamp = time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC).In(time.FixedZone("E", 2*3600))
		}, "timestamp"},
		{"year 0", func(h *Headers) { h.Timestamp = time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC) }, ""},
		{"year -1", func(h *Headers) { h.Timestamp = time.Date(-1, 12, 31, 23, 0, 0, 0, time.UTC) }, "timestamp"},
		{"year 0 in its zone", func(h *Headers) {
			h.Timestamp = time.Date(0, 1, 1, 0, 30, 0, 0, time.UTC).In(time.FixedZone("W", -3600))
		}, "timestamp"},
		{"long routing_key", func(h *Headers) { h.RoutingKey = long }, "routing_key"},
		{"empty extra key", func(h *Headers) { h.Extra = []Header{{"a", "b"}, {"", "c"}} }, "extra header 1"},
		{"reserved extra key", func(h *Headers) { h.Extra = []Header{{"priority", "high"}} }, `"priority"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := ok()
			tt.edit(&h)
			err := h.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidHeaders) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate = %v, want ErrInvalidHeaders naming %s", err, tt.field)
			}
		})
	}
}

func TestPriority(t *testing.T) {
	for p, s := range map[Priority]string{PriorityLow: "low", PriorityNormal: "normal", PriorityHigh: "high", PriorityCritical: "critical"} {
		t.Run(s, func(t *testing.T) {
			if p.String() != s {
				t.Fatalf("String() = %q", p.String())
			}
			for _, in := range []string{s, strings.ToUpper(s)} {
				if got, err := ParsePriority(in); err != nil || got != p {
					t.Fatalf("ParsePriority(%q) = %v, %v", in, got, err)
				}
			}
		})
	}
	for _, bad := range []string{"", "urgent", "2", " high"} {
		if _, err := ParsePriority(bad); err == nil {
			t.Errorf("ParsePriority(%q) succeeded", bad)
		}
	}
	if PriorityUnset.String() != "" || Priority(9).String() != "Priority(9)" {
		t.Fatal("String of unset or out-of-range priority")
	}
}

// Every named text header is held to MaxHeaderLen, and the error names
// it: Validate's quick check of the longest text covers each field of
// textHeaders.
func TestValidateEveryTextHeaderLength(t *testing.T) {
	long := strings.Repeat("x", MaxHeaderLen+1)
	for i := range textHeaders {
		f := &textHeaders[i]
		var h Headers
		h.ApplyDefaults("t", "s", time.Now())
		*f.field(&h) = long
		if err := h.Validate(); !errors.Is(err, ErrInvalidHeaders) || !strings.Contains(err.Error(), f.name+" is") {
			t.Errorf("%s of %d bytes: Validate = %v", f.name, len(long), err)
		}
		*f.field(&h) = long[1:]
		if err := h.Validate(); err != nil {
			t.Errorf("%s of %d bytes: Validate = %v", f.name, MaxHeaderLen, err)
		}
	}
}

// Each generator has a seed of its own: two made one after the other
// (as the pool makes them for publishers on several cores) never give
// the same UUIDs.
func TestUUIDGeneratorsSeededApart(t *testing.T) {
	g1, g2 := newUUIDGen(), newUUIDGen()
	seen := make(map[uuid.UUID]bool)
	for range 64 {
		for _, u := range []uuid.UUID{uuidFrom(g1), uuidFrom(g2)} {
			if seen[u] {
				t.Fatalf("duplicate UUID %v from two generators", u)
			}
			seen[u] = true
		}
	}
}

// BenchmarkNewUUIDPair is the two ids of a publish that sets neither.
func BenchmarkNewUUIDPair(b *testing.B) {
	var sink byte
	for b.Loop() {
		x, y := newUUIDPair()
		sink ^= x[0] ^ y[15]
	}
	_ = sink
}
