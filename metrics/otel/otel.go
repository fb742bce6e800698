// Package otel traces onexbus with the OpenTelemetry API, following the
// messaging semantic conventions: the publisher's trace context travels
// in the message's W3C traceparent (and tracestate) headers, verbatim
// through the log, the dead-letter queue, replays, the Kafka wire and
// the forwarder, and each delivery runs in a "process {topic}" consumer
// span whose parent is the producer's context.
//
// Pass a Tracer to core.WithHooks. It depends on the API only: which
// exporter the spans go to is the TracerProvider's business (onexbusd
// builds the OTLP one only with the otlp build tag).
package otel

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/onexbus/onexbus/core"
)

// Header names of W3C Trace Context.
const (
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// Tracer implements core's context hooks. It is safe for concurrent use.
type Tracer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// Option configures a Tracer.
type Option func(*Tracer)

// WithTracerProvider takes spans from tp (default: otel's global).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(t *Tracer) { t.tracer = tp.Tracer("github.com/onexbus/onexbus") }
}

// New builds a Tracer.
func New(opts ...Option) *Tracer {
	t := &Tracer{prop: propagation.TraceContext{}}
	for _, o := range opts {
		if o != nil {
			o(t)
		}
	}
	if t.tracer == nil {
		t.tracer = otel.GetTracerProvider().Tracer("github.com/onexbus/onexbus")
	}
	return t
}

// OnPublishContext implements core.PublishContextHook: a message without
// a traceparent gets the caller's, so its consumers continue the trace.
// A traceparent already set (a Kafka producer's, an HTTP client's) is
// kept verbatim.
func (t *Tracer) OnPublishContext(ctx context.Context, m *core.Message) {
	if m.Headers.TraceParent != "" || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	t.prop.Inject(ctx, Carrier{m})
}

// OnHandlerStart implements core.HandlerContextHook: the handler runs in
// a consumer span "process {topic}" whose parent is the producer's
// context; the span ends with the handler, marked as an error when it
// failed.
func (t *Tracer) OnHandlerStart(ctx context.Context, m *core.Message, d core.DeliveryInfo) (context.Context, func(error)) {
	parent := t.prop.Extract(ctx, Carrier{m})
	ctx, span := t.tracer.Start(parent, "process "+m.Topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "onexbus"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.operation.name", "process"),
			attribute.String("messaging.destination.name", m.Topic),
			attribute.String("messaging.destination.partition.id", strconv.Itoa(int(m.Partition))),
			attribute.String("messaging.consumer.group.name", d.Group),
			attribute.String("messaging.message.id", m.Headers.MessageID.String()),
			attribute.Int64("messaging.kafka.offset", m.Offset),
			attribute.Int("messaging.onexbus.attempt", d.Attempt),
		))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "handler failed")
		}
		span.End()
	}
}

// Carrier is a message's headers as a propagation.TextMapCarrier:
// traceparent is the named header, tracestate an extra one.
type Carrier struct{ M *core.Message }

// Get returns the value of header key.
func (c Carrier) Get(key string) string {
	if key == HeaderTraceParent {
		return c.M.Headers.TraceParent
	}
	for _, h := range c.M.Headers.Extra {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

// Set sets header key to value.
func (c Carrier) Set(key, value string) {
	if key == HeaderTraceParent {
		c.M.Headers.TraceParent = value
		return
	}
	for i := range c.M.Headers.Extra {
		if c.M.Headers.Extra[i].Key == key {
			c.M.Headers.Extra[i].Value = value
			return
		}
	}
	c.M.Headers.Extra = append(c.M.Headers.Extra, core.Header{Key: key, Value: value})
}

// Keys lists the trace headers the message has.
func (c Carrier) Keys() []string {
	var out []string
	if c.M.Headers.TraceParent != "" {
		out = append(out, HeaderTraceParent)
	}
	for _, h := range c.M.Headers.Extra {
		if h.Key == HeaderTraceState {
			out = append(out, h.Key)
		}
	}
	return out
}
