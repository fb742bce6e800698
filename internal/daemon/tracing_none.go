//go:build !otlp

package daemon

import "context"

// OTLPBuilt says whether this binary exports traces over OTLP (built
// with -tags otlp). This one does not: spans go to otel's global
// provider, a no-op unless an embedding program sets one.
const OTLPBuilt = false

// startTracing does nothing without the otlp build tag.
func startTracing(context.Context) (func(context.Context) error, error) {
	return func(context.Context) error { return nil }, nil
}
