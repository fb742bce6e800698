//go:build otlp

package daemon

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// OTLPBuilt says whether this binary exports traces over OTLP (built
// with -tags otlp).
const OTLPBuilt = true

// startTracing exports spans over OTLP/HTTP to the endpoint of the
// standard OTEL_EXPORTER_OTLP_* environment variables, and returns the
// exporter's shutdown (which flushes what is buffered).
func startTracing(ctx context.Context) (func(context.Context) error, error) {
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("onexbusd: OTLP exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp.Shutdown, nil
}
