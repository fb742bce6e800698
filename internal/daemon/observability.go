package daemon

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dispatch/schema"
	"github.com/onexbus/onexbus/metrics"
	onexotel "github.com/onexbus/onexbus/metrics/otel"
	httpapi "github.com/onexbus/onexbus/transport/http"
	"github.com/onexbus/onexbus/transport/kafka"
)

// DefaultHTTPAPI is the HTTP API New mounts on http.addr unless
// WithHTTPAPI says otherwise: transport/http on the daemon's bus. A full
// forwarder backlog answers 503 with Retry-After. The daemon serves the
// Schema Registry API beside it (withSchemaRegistry).
var DefaultHTTPAPI APIFactory = func(bus *core.Bus, s HTTPSettings) (http.Handler, error) {
	opts := []httpapi.Option{httpapi.WithLogger(s.Logger), httpapi.WithUnavailableErrors(kafka.ErrBacklogFull)}
	if s.Auth != nil {
		opts = append(opts, httpapi.WithAuth(s.Auth))
	}
	if s.RateLimiter != nil {
		opts = append(opts, httpapi.WithRateLimiter(s.RateLimiter))
	}
	api, err := httpapi.New(bus, opts...)
	if err != nil {
		return nil, err
	}
	return closingHandler{Handler: api.Handler(), close: api.Close}, nil
}

// openSchemas opens the schema registry of dispatch/schema on the bus:
// validation on publish per topic (off unless set), shared by the HTTP
// listener's /schema-registry/ and the Kafka listener's produce.
func (d *Daemon) openSchemas(bus *core.Bus) error {
	reg, err := schema.Open(bus, schema.WithLogger(d.log.Named("schema")))
	if err != nil {
		return fmt.Errorf("onexbusd: schema registry: %w", err)
	}
	d.schemas = reg
	return nil
}

// withSchemaRegistry serves the Confluent Schema Registry API subset under
// /schema-registry/ (clients: sr.URLs("http://127.0.0.1:8080/schema-registry"))
// and h for everything else.
func (d *Daemon) withSchemaRegistry(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/schema-registry/", http.StripPrefix("/schema-registry", schema.NewRegistryHandler(d.schemas)))
	mux.Handle("/", h)
	return closingHandler{Handler: mux, close: func(ctx context.Context) error { return closeAPI(ctx, h) }}
}

// schemaValidator adapts the registry to the broker's record check.
type schemaValidator struct{ reg *schema.Registry }

func (v schemaValidator) ValidatesTopic(topic string) bool {
	return v.reg.Validation(topic) != schema.ModeOff
}

func (v schemaValidator) ValidateRecord(topic, eventType string, key, value []byte) error {
	return v.reg.ValidateRecord(topic, eventType, key, value)
}

// closingHandler is an API handler with goroutines of its own (pull and
// push groups, operations), stopped after its listener drained.
type closingHandler struct {
	http.Handler
	close func(context.Context) error
}

// Close stops the API's goroutines.
func (h closingHandler) Close(ctx context.Context) error { return h.close(ctx) }

// closeAPI stops h's goroutines when it has any.
func closeAPI(ctx context.Context, h http.Handler) error {
	if c, ok := h.(interface{ Close(context.Context) error }); ok {
		return c.Close(ctx)
	}
	return nil
}

// newObservability builds the daemon's metrics (served on /metrics of
// the admin listener) and tracer; both are core hooks of the bus.
func newObservability(cfg Config) (*metrics.Metrics, []core.Hook, error) {
	m, err := metrics.New(metrics.WithDataFile(filepath.Join(cfg.DataDir, DataFile)), metrics.WithVersion(Version),
		metrics.WithDurability(durabilityLabel(cfg.Durability)))
	if err != nil {
		return nil, nil, fmt.Errorf("onexbusd: metrics: %w", err)
	}
	return m, []core.Hook{m, onexotel.New()}, nil
}

func durabilityLabel(policy string) string {
	switch policy {
	case "interval", "none":
		return policy
	}
	return "fsync"
}

// kafkaTracing traces the forwarder's and the ingest's Kafka clients with
// franz-go's kotel plugin: record headers carry the trace context to and
// from the upstream cluster.
func kafkaTracing() []kgo.Opt {
	k := kotel.NewKotel(kotel.WithTracer(kotel.NewTracer()))
	return []kgo.Opt{kgo.WithHooks(k.Hooks()...)}
}

// observeForwarder puts the forwarder's backlog against its budget, and
// whether the upstream is up, on /metrics.
func (d *Daemon) observeForwarder(f *kafka.Forwarder, cfg Config) {
	var budget int64
	if v, ok := cfg.Upstream.Value("KAFKA_BACKLOG_BUDGET_BYTES"); ok {
		budget, _ = strconv.ParseInt(v, 10, 64) // validated by the config
	}
	up := func() bool { return f.BreakerState() == kafka.BreakerClosed }
	if err := d.metrics.ObserveForwarder(f, budget, up); err != nil {
		d.log.Warn("forwarder metrics unavailable", "error", err)
	}
}

// SchemaRegistry returns the daemon's schema registry, nil before the
// bus is recovered.
func (d *Daemon) SchemaRegistry() *schema.Registry { return d.schemas }
