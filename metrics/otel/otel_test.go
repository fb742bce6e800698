package otel_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/internal/testutil"
	onexotel "github.com/onexbus/onexbus/metrics/otel"
	"github.com/onexbus/onexbus/store/bolt"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

// A message published over HTTP with a traceparent is delivered in a
// process span that is the producer span's child; its dead letter keeps
// the traceparent, and the replayed delivery continues the same trace.
func TestTraceThroughHTTPDeliveryDLQAndReplay(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	st, err := bolt.Open(filepath.Join(t.TempDir(), "bus.db"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.New(core.WithStore(st), core.WithEnforcement(core.EnforceOff),
		core.WithHooks(onexotel.New(onexotel.WithTracerProvider(tp))))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	api, err := httpapi.New(b)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	defer api.Close(context.Background())

	calls := make(chan trace.SpanContext, 4)
	var fail atomic.Bool
	fail.Store(true)
	if _, err := b.Subscribe(context.Background(), "traced", "g", func(ctx context.Context, m *core.Message) error {
		calls <- trace.SpanContextFromContext(ctx)
		if fail.Load() {
			return core.Permanent(errors.New("rejected"))
		}
		return nil
	}, core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	const traceID, parentSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest("POST", srv.URL+"/v1/topics/traced/messages", bytes.NewReader([]byte(`{"value_text":"x"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentSpan+"-01")
	resp, err := srv.Client().Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("publish: %v %v", resp, err)
	}
	resp.Body.Close()

	first := receive(t, calls)
	if first.TraceID().String() != traceID {
		t.Fatalf("handler runs in trace %s, want %s", first.TraceID(), traceID)
	}
	span := endedSpan(t, rec, first.SpanID())
	if span.Parent().SpanID().String() != parentSpan || span.SpanKind() != trace.SpanKindConsumer || span.Name() != "process traced" {
		t.Fatalf("span %s kind %v parent %s", span.Name(), span.SpanKind(), span.Parent().SpanID())
	}
	attrs := map[string]string{}
	for _, a := range span.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["messaging.system"] != "onexbus" || attrs["messaging.destination.name"] != "traced" || attrs["messaging.consumer.group.name"] != "g" {
		t.Fatalf("attributes %v", attrs)
	}
	if span.Status().Code.String() != "Error" {
		t.Fatalf("failed delivery's span status %v", span.Status())
	}

	var letters []dlq.Letter
	testutil.Eventually(t, 10*time.Second, func() bool {
		letters, _ = b.DeadLetters().List(context.Background(), dlq.Filter{Limit: dlq.All})
		return len(letters) > 0
	}, "the dead letter arrives")
	kept := false
	for _, h := range letters[0].Headers {
		kept = kept || (h.Key == "traceparent" && strings.Contains(h.Value, traceID))
	}
	if !kept {
		t.Fatalf("dead letter lost the traceparent: %v", letters[0].Headers)
	}
	fail.Store(false)
	if n, err := b.ReplayDeadLetters(context.Background(), dlq.Filter{Limit: dlq.All}, dlq.ReplayOptions{}); err != nil || n != 1 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	again := receive(t, calls)
	if again.TraceID().String() != traceID {
		t.Fatalf("replayed delivery runs in trace %s, want %s", again.TraceID(), traceID)
	}
}

// A publisher's context becomes the traceparent of a message without one.
func TestPublishInjectsCallerContext(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	b, err := core.New(core.WithStore(mustBolt(t)), core.WithHooks(onexotel.New(onexotel.WithTracerProvider(tp))))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	ctx, span := tp.Tracer("test").Start(context.Background(), "send")
	m := &core.Message{Topic: "t", Value: []byte("x")}
	if _, err := b.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	span.End()
	if !strings.Contains(m.Headers.TraceParent, span.SpanContext().TraceID().String()) {
		t.Fatalf("traceparent %q does not carry the caller's trace", m.Headers.TraceParent)
	}
	own := &core.Message{Topic: "t", Value: []byte("y")}
	own.Headers.TraceParent = "00-11111111111111111111111111111111-2222222222222222-01"
	if _, err := b.Publish(ctx, own); err != nil {
		t.Fatal(err)
	}
	if own.Headers.TraceParent != "00-11111111111111111111111111111111-2222222222222222-01" {
		t.Fatalf("an existing traceparent was replaced: %q", own.Headers.TraceParent)
	}
}

func mustBolt(t *testing.T) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "bus.db"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func receive(t *testing.T, ch <-chan trace.SpanContext) trace.SpanContext {
	t.Helper()
	select {
	case sc := <-ch:
		return sc
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
	}
	return trace.SpanContext{}
}

// endedSpan waits for the span with id to end and returns it.
func endedSpan(t *testing.T, rec *tracetest.SpanRecorder, id trace.SpanID) sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range rec.Ended() {
			if s.SpanContext().SpanID() == id {
				return s
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("span %s never ended", id)
	return nil
}
